package scale

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]Scale{"small": Small, "medium": Medium, "large": Large, " Large ": Large} {
		got, err := Parse(in)
		if err != nil || got != want {
			t.Errorf("Parse(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := Parse("huge"); err == nil {
		t.Error("Parse(huge) did not fail")
	}
}

func TestString(t *testing.T) {
	for s, want := range map[Scale]string{Small: "small", Medium: "medium", Large: "large", Scale(7): "Scale(7)"} {
		if got := s.String(); got != want {
			t.Errorf("Scale(%d).String() = %q, want %q", int(s), got, want)
		}
		if s == Scale(7) {
			continue
		}
		if back, err := Parse(want); err != nil || back != s {
			t.Errorf("Parse(%q) = %v, %v; want %v", want, back, err, s)
		}
	}
}
