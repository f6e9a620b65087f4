package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"

	"github.com/athlake/athlake/load/store"
	"github.com/athlake/athlake/pipeline"
)

// rawLine is one response in a raw file (a line of JSON).
type rawLine struct {
	Endpoint  string            `json:"endpoint"`
	FetchedAt time.Time         `json:"fetched_at"`
	Body      string            `json:"body"`
	Skip      []int             `json:"skip,omitempty"`
	With      map[string]string `json:"with,omitempty"`
}

// maxRawLine bounds one response in a raw file: the transport refuses
// larger bodies, and a body's JSON escaping at most doubles it.
const maxRawLine = 512 << 20

// ReadRaw streams the responses of the raw file at key to fn, one at a
// time, in the order the stream received them.
func ReadRaw(ctx context.Context, st store.Store, key string, fn func(pipeline.Raw) error) error {
	r, err := st.Open(ctx, key)
	if err != nil {
		return err
	}
	defer r.Close()
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 1<<20)
	// Lines are read into one buffer, and each body copied out of it at
	// its size: what a decoder holds is its body, not a line's buffer
	// grown by doubling.
	var buf []byte
	for n := 1; ; n++ {
		line, err := readLine(br, buf[:0])
		buf = line
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: %w", key, err)
		}
		raw, err := parseRawLine(line)
		if err != nil {
			return fmt.Errorf("%s line %d: %w", key, n, err)
		}
		raw.Body = bytes.Clone(raw.Body)
		if err := fn(raw); err != nil {
			return err
		}
	}
}

// readLine reads one line, however long, up to maxRawLine, appending it
// to line.
func readLine(br *bufio.Reader, line []byte) ([]byte, error) {
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxRawLine {
			return nil, fmt.Errorf("a response of over %d bytes", maxRawLine)
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return line, err
		}
	}
}

// parseRawLine reads a line as the sink writes it: the endpoint, the time,
// the body, then what decoding it took. The body, megabytes of JSON
// escaped in a JSON string, is found and unescaped in one pass instead of
// being validated first; a line in any other shape is decoded in full.
func parseRawLine(line []byte) (pipeline.Raw, error) {
	var l rawLine
	head, body, tail, ok := splitRawLine(line)
	if ok {
		if err := json.Unmarshal(append(head, '}'), &l); err == nil {
			if err := json.Unmarshal(append([]byte{'{'}, bytes.TrimPrefix(tail, []byte(","))...), &l); err == nil {
				b, ok := unescape(body)
				if !ok {
					return pipeline.Raw{}, errors.New("the body has an escape JSON does not have")
				}
				return pipeline.Raw{Endpoint: l.Endpoint, FetchedAt: l.FetchedAt, Body: b, Skip: l.Skip, With: l.With}, nil
			}
		}
		l = rawLine{}
	}
	if err := json.Unmarshal(line, &l); err != nil {
		return pipeline.Raw{}, err
	}
	return pipeline.Raw{Endpoint: l.Endpoint, FetchedAt: l.FetchedAt, Body: []byte(l.Body), Skip: l.Skip, With: l.With}, nil
}

// bodyKey starts the body in a line.
var bodyKey = []byte(`,"body":"`)

// splitRawLine cuts a line into the object before the body (without its
// closing brace; appending to it copies), the body's escaped text and the
// members after it (with the closing brace).
func splitRawLine(line []byte) (head, body, tail []byte, ok bool) {
	line = bytes.TrimRight(line, "\r\n")
	i := bytes.Index(line, bodyKey)
	if i < 0 || len(line) == 0 || line[0] != '{' {
		return nil, nil, nil, false
	}
	rest := line[i+len(bodyKey):]
	for j := 0; j < len(rest); {
		k := bytes.IndexAny(rest[j:], `"\`)
		if k < 0 {
			return nil, nil, nil, false
		}
		j += k
		if rest[j] == '\\' {
			j += 2
			continue
		}
		return line[:i:i], rest[:j], rest[j+1:], true
	}
	return nil, nil, nil, false
}

// unescape undoes a JSON string's escapes in place (what an escape stands
// for is never longer than the escape) and returns the text; ok is false
// for an escape JSON does not have, and s is then garbage.
func unescape(s []byte) ([]byte, bool) {
	out := s[:0]
	for len(s) > 0 {
		i := bytes.IndexByte(s, '\\')
		if i < 0 {
			return append(out, s...), true
		}
		out = append(out, s[:i]...)
		if i+1 >= len(s) {
			return nil, false
		}
		switch c := s[i+1]; c {
		case '"', '\\', '/':
			out = append(out, c)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, n, ok := unicodeEscape(s[i:])
			if !ok {
				return nil, false
			}
			out = utf8.AppendRune(out, r)
			s = s[i+n:]
			continue
		default:
			return nil, false
		}
		s = s[i+2:]
	}
	return out, true
}

// unicodeEscape reads \uXXXX at the start of s, or a surrogate pair of
// two, and says how many bytes it took.
func unicodeEscape(s []byte) (rune, int, bool) {
	hex := func(b []byte) (rune, bool) {
		if len(b) < 6 || b[0] != '\\' || b[1] != 'u' {
			return 0, false
		}
		v, err := strconv.ParseUint(string(b[2:6]), 16, 16)
		return rune(v), err == nil
	}
	r, ok := hex(s)
	if !ok {
		return 0, 0, false
	}
	if utf16.IsSurrogate(r) {
		if r2, ok := hex(s[6:]); ok {
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 12, true
			}
		}
		return utf8.RuneError, 6, true
	}
	return r, 6, true
}
