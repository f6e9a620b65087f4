package load

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

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
	for n := 1; ; n++ {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) && len(line) == 0 {
			return nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return fmt.Errorf("%s: %w", key, err)
		}
		var l rawLine
		if err := json.Unmarshal(line, &l); err != nil {
			return fmt.Errorf("%s line %d: %w", key, n, err)
		}
		if err := fn(pipeline.Raw{Endpoint: l.Endpoint, FetchedAt: l.FetchedAt, Body: []byte(l.Body), Skip: l.Skip, With: l.With}); err != nil {
			return err
		}
	}
}

// readLine reads one line, however long, up to maxRawLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
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
