// Package scale is the size of the data the simulators generate. Every
// simulator takes the same Scale; what each size means is the simulator's
// own (its Options.Scale says).
package scale

import (
	"fmt"
	"strings"
)

// Scale is the size of a simulated organisation.
type Scale int

// The scales, smallest first. Small is the demo's (and the zero value).
const (
	Small Scale = iota
	Medium
	Large
)

// String returns "small", "medium" or "large".
func (s Scale) String() string {
	switch s {
	case Small:
		return "small"
	case Medium:
		return "medium"
	case Large:
		return "large"
	}
	return fmt.Sprintf("Scale(%d)", int(s))
}

// Parse parses "small", "medium" or "large" (any case, spaces around
// ignored).
func Parse(s string) (Scale, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "small":
		return Small, nil
	case "medium":
		return Medium, nil
	case "large":
		return Large, nil
	}
	return 0, fmt.Errorf("unknown scale %q (want small, medium or large)", s)
}
