package transform

import (
	"errors"
	"fmt"
	"math"
	"strings"
)

// ParseISODuration parses an ISO-8601 duration of days and time ("PT0.1S",
// "PT4S", "PT1M2.3S", "PT1H0M5S", "P1DT2H") into milliseconds, rounding
// fractions of a millisecond. Years, months and weeks have no fixed length
// and are refused.
func ParseISODuration(s string) (int64, error) {
	b := []byte(s)
	ms, err := parseISODuration(b)
	if err != nil {
		return 0, fmt.Errorf("bad ISO-8601 duration %q: %w", s, err)
	}
	return ms, nil
}

var errDuration = errors.New("want P[nD]T[nH][nM][n.nS]")

func parseISODuration(b []byte) (int64, error) {
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg, b = true, b[1:]
	}
	if len(b) < 2 || b[0] != 'P' {
		return 0, errDuration
	}
	b = b[1:]
	var total float64
	inTime, any := false, false
	last := 0 // units must come in order D, H, M, S, each once
	for len(b) > 0 {
		if b[0] == 'T' {
			if inTime {
				return 0, errDuration
			}
			inTime, b = true, b[1:]
			if len(b) == 0 {
				return 0, errDuration
			}
			continue
		}
		i, dot := 0, false
		for i < len(b) && ('0' <= b[i] && b[i] <= '9' || (b[i] == '.' && !dot)) {
			dot = dot || b[i] == '.'
			i++
		}
		if i == 0 || i == len(b) || b[0] == '.' || b[i-1] == '.' {
			return 0, errDuration
		}
		v, err := parseDecimal(b[:i])
		if err != nil {
			return 0, err
		}
		unit := b[i]
		b = b[i+1:]
		order := strings.IndexByte("DHMS", unit) + 1
		if order <= last {
			return 0, errDuration
		}
		last = order
		switch {
		case !inTime && unit == 'D':
			total += v * 86_400_000
		case inTime && unit == 'H':
			total += v * 3_600_000
		case inTime && unit == 'M':
			total += v * 60_000
		case inTime && unit == 'S':
			total += v * 1000
		default:
			return 0, errDuration
		}
		any = true
	}
	if !any || total > math.MaxInt64/2 {
		return 0, errDuration
	}
	ms := int64(math.Round(total))
	if neg {
		ms = -ms
	}
	return ms, nil
}

// parseDecimal parses digits with an optional fraction, exactly enough for
// milliseconds (no strconv allocation on the hot path).
func parseDecimal(b []byte) (float64, error) {
	var whole, frac, scale float64 = 0, 0, 1
	seenDot := false
	for _, c := range b {
		if c == '.' {
			seenDot = true
			continue
		}
		d := float64(c - '0')
		if seenDot {
			scale *= 10
			frac = frac*10 + d
		} else {
			whole = whole*10 + d
		}
		if whole > 1e15 || scale > 1e15 {
			return 0, errDuration
		}
	}
	return whole + frac/scale, nil
}
