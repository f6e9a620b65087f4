package schemas

import (
	"path"
	"strings"
	"testing"
)

func TestEscapeHive(t *testing.T) {
	cases := map[string]string{
		"2026-05":   "2026-05",
		"a/b":       "a%2Fb",
		"k=v":       "k%3Dv",
		"%2F":       "%252F",
		"":          DefaultPartition,
		"..":        "%2E%2E",
		"../x":      "..%2Fx",
		`quo"te'`:   "quo%22te%27",
		"with spc":  "with spc",
		"ünï":       "ünï",
		"tab\there": "tab%09here",
	}
	for in, want := range cases {
		if got := EscapeHive(in); got != want {
			t.Errorf("EscapeHive(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzEscapeHive(f *testing.F) {
	for _, s := range []string{"../evil", "a/b", "k=v", "%2F", "with space", `quo"te'`, "ünïcødé-✓", ".", "..", strings.Repeat("x", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		e := EscapeHive(v)
		if strings.ContainsAny(e, "/\\") || e == "." || e == ".." || e == "" {
			t.Fatalf("EscapeHive(%q) = %q leaves its folder", v, e)
		}
		if dir := path.Join("table", "k="+e); path.Dir(dir) != "table" {
			t.Fatalf("EscapeHive(%q): %q escapes the table folder", v, dir)
		}
		if v != "" && v != DefaultPartition && UnescapeHive(e) != v {
			t.Fatalf("UnescapeHive(EscapeHive(%q)) = %q", v, UnescapeHive(e))
		}
	})
}
