package transform

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/athlake/athlake/schemas"
)

// parseJSON parses one raw JSON value as a column of type t. Missing and null
// are null, never zero; integers are accepted where floats belong and
// integral floats where integers belong; a value of another kind is an error.
func parseJSON(raw json.RawMessage, t schemas.Type) (value, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return value{null: true}, nil
	}
	switch t {
	case schemas.JSON:
		return value{s: string(raw)}, nil
	case schemas.String:
		s, err := jsonString(raw, "a string")
		if err != nil {
			return value{}, err
		}
		return value{s: s}, nil
	case schemas.Int64:
		if !isNumber(raw) {
			return value{}, fmt.Errorf("want a number, got %s", kindOf(raw))
		}
		return parseInt(string(raw))
	case schemas.Float64:
		if !isNumber(raw) {
			return value{}, fmt.Errorf("want a number, got %s", kindOf(raw))
		}
		f, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return value{}, fmt.Errorf("bad number %s", raw)
		}
		return value{f: f}, nil
	case schemas.Bool:
		switch string(raw) {
		case "true":
			return value{b: true}, nil
		case "false":
			return value{b: false}, nil
		}
		return value{}, fmt.Errorf("want a boolean, got %s", kindOf(raw))
	case schemas.Duration:
		if raw[0] != '"' {
			return value{}, fmt.Errorf("want an ISO-8601 duration, got %s", kindOf(raw))
		}
		ms, err := parseISODuration(raw[1 : len(raw)-1])
		if err != nil {
			return value{}, fmt.Errorf("bad ISO-8601 duration %s", raw)
		}
		return value{i: ms}, nil
	case schemas.Date:
		s, err := jsonString(raw, "a date string")
		if err != nil {
			return value{}, err
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return value{}, fmt.Errorf("bad date %q (want YYYY-MM-DD)", s)
		}
		return value{t: t}, nil
	case schemas.Timestamp, schemas.WallTime:
		s, err := jsonString(raw, "a timestamp string")
		if err != nil {
			return value{}, err
		}
		ts, err := ParseTime(s, t == schemas.WallTime)
		if err != nil {
			return value{}, err
		}
		return value{t: ts}, nil
	}
	return value{}, fmt.Errorf("unsupported column type %v", t)
}

// jsonString decodes raw, which must be a JSON string; want names what was
// expected, for the error when it is not.
func jsonString(raw []byte, want string) (string, error) {
	if raw[0] != '"' {
		return "", fmt.Errorf("want %s, got %s", want, kindOf(raw))
	}
	return unquote(raw)
}

// unquote decodes a JSON string; strings without escapes (nearly all) are
// sliced rather than decoded.
func unquote(raw []byte) (string, error) {
	if n := len(raw); n >= 2 && raw[n-1] == '"' {
		inner := raw[1 : n-1]
		if bytes.IndexByte(inner, '\\') < 0 && bytes.IndexByte(inner, '"') < 0 && utf8.Valid(inner) {
			for _, c := range inner {
				if c < 0x20 {
					return "", errors.New("control character in string")
				}
			}
			return string(inner), nil
		}
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	return s, nil
}

func parseInt(s string) (value, error) {
	if i, err := strconv.ParseInt(s, 10, 64); err == nil {
		return value{i: i}, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return value{}, fmt.Errorf("want a whole number, got %s", s)
	}
	return value{i: int64(f)}, nil
}

// ParseTime parses an ISO-8601 instant. With wall=false it must carry a zone
// or offset and is returned in UTC; with wall=true it must not, and is
// returned as a wall-clock time in a UTC container.
func ParseTime(s string, wall bool) (time.Time, error) {
	if wall {
		for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "2006-01-02"} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, nil
			}
		}
		return time.Time{}, fmt.Errorf("bad wall-clock time %q", s)
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad timestamp %q (want RFC 3339 with a zone)", s)
	}
	return t.UTC(), nil
}

func isNumber(raw json.RawMessage) bool {
	c := raw[0]
	return c == '-' || ('0' <= c && c <= '9')
}

func kindOf(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch c := raw[0]; {
	case c == '"':
		return "a string " + truncate(string(raw), 40)
	case c == '{':
		return "an object"
	case c == '[':
		return "a list"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	default:
		return "a number " + truncate(string(raw), 40)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// WallToUTC converts a wall-clock reading (held in a UTC time.Time) to the
// instant it names in loc. Across a change to winter time the hour repeats:
// the first occurrence (summer time) is taken. Across a change to summer
// time an hour does not exist: it is read in the offset before the change,
// as a clock that was not put forward would show it.
func WallToUTC(wall time.Time, loc *time.Location) time.Time {
	var best time.Time
	for _, probe := range []time.Duration{-12 * time.Hour, 12 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		at := wall.Add(-time.Duration(off) * time.Second)
		if _, real := at.In(loc).Zone(); real != off {
			continue // that offset is not in force at that instant
		}
		if best.IsZero() || at.Before(best) {
			best = at
		}
	}
	if best.IsZero() {
		_, off := wall.Add(-12 * time.Hour).In(loc).Zone()
		best = wall.Add(-time.Duration(off) * time.Second)
	}
	return best.UTC()
}
