package transform

import (
	"errors"
)

// A small JSON scanner for the hot path: it walks objects and arrays and
// hands out the raw bytes of each value without decoding them into maps
// (encoding/json's map decoding was ~75% of a sync's CPU). It checks
// structure as it goes and never panics on malformed input.

var errSyntax = errors.New("malformed JSON")

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the value starting at b[i].
func skipValue(b []byte, i int) (int, error) {
	i = skipSpace(b, i)
	if i >= len(b) {
		return 0, errSyntax
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{' || c == '[':
		return skipContainer(b, i)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || ('0' <= c && c <= '9'):
		j := i + 1
		for j < len(b) && (('0' <= b[j] && b[j] <= '9') || b[j] == '.' || b[j] == 'e' || b[j] == 'E' || b[j] == '+' || b[j] == '-') {
			j++
		}
		return j, nil
	}
	return 0, errSyntax
}

func skipLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errSyntax
	}
	return i + len(lit), nil
}

// skipString returns the index past the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, error) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, errSyntax
}

// containerByte marks the bytes skipContainer stops at: everything else
// inside an object or array is skipped in a tight loop.
var containerByte = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true}

// skipContainer skips an object or array, tracking nesting and strings.
func skipContainer(b []byte, i int) (int, error) {
	depth := 0
	for j := i; j < len(b); j++ {
		for j < len(b) && !containerByte[b[j]] {
			j++
		}
		if j == len(b) {
			break
		}
		switch b[j] {
		case '"':
			end, err := skipString(b, j)
			if err != nil {
				return 0, err
			}
			j = end - 1
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1, nil
			}
		}
	}
	return 0, errSyntax
}

// eachMember calls fn with the raw key (quotes included) and raw value of
// each member of the object b.
func eachMember(b []byte, fn func(key, val []byte)) error {
	return eachItem(b, '{', '}', func(i int) (int, error) {
		if i >= len(b) || b[i] != '"' {
			return 0, errSyntax
		}
		kEnd, err := skipString(b, i)
		if err != nil {
			return 0, err
		}
		j := skipSpace(b, kEnd)
		if j >= len(b) || b[j] != ':' {
			return 0, errSyntax
		}
		vStart := skipSpace(b, j+1)
		vEnd, err := skipValue(b, vStart)
		if err != nil {
			return 0, err
		}
		fn(b[i:kEnd], b[vStart:vEnd])
		return vEnd, nil
	})
}

// eachElement calls fn with the raw bytes of each element of the array b.
func eachElement(b []byte, fn func(val []byte)) error {
	return eachItem(b, '[', ']', func(i int) (int, error) {
		end, err := skipValue(b, i)
		if err != nil {
			return 0, err
		}
		fn(b[i:end])
		return end, nil
	})
}

// eachItem walks the comma-separated items of b between open and close,
// which must be all of b but for white space. item is called with the
// offset of each item (after white space) and returns where it ends.
func eachItem(b []byte, open, close byte, item func(i int) (end int, err error)) error {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != open {
		return errSyntax
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == close {
		return trailing(b, i+1)
	}
	for {
		end, err := item(skipSpace(b, i))
		if err != nil {
			return err
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return errSyntax
		}
		if b[i] == close {
			return trailing(b, i+1)
		}
		if b[i] != ',' {
			return errSyntax
		}
		i++
	}
}

func trailing(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errSyntax
	}
	return nil
}

// Members returns the raw values of the named top-level members of the JSON
// object b (nil where absent), scanning it once without decoding the rest:
// a player session's details carry megabytes of samples.
func Members(b []byte, names ...string) [][]byte {
	out := make([][]byte, len(names))
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = quote(n)
	}
	eachMember(b, func(k, v []byte) {
		for i, q := range quoted {
			if string(k) == q {
				out[i] = v
			}
		}
	})
	return out
}
