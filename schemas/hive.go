package schemas

import (
	"strings"
	"time"
)

// DefaultPartition is Hive's folder value for a null partition value.
const DefaultPartition = "__HIVE_DEFAULT_PARTITION__"

// Value returns the partition value for a time; ok=false gives the default
// partition.
func (p Partitioning) Value(t time.Time, ok bool) string {
	if !ok {
		return DefaultPartition
	}
	switch p.Granularity {
	case Day:
		return t.Format("2006-01-02")
	case Month:
		return t.Format("2006-01")
	}
	return ""
}

// Dir returns the partition folder "<key>=<escaped value>", or "" for an
// unpartitioned table.
func (p Partitioning) Dir(value string) string {
	if p.Granularity == None {
		return ""
	}
	return p.Key + "=" + EscapeHive(value)
}

// EscapeHive escapes a partition value the way Hive and Spark do
// (FileUtils.escapePathName), which DuckDB and Arrow decode: '%' and every
// character that is special in paths or URLs becomes %XX. The mapping is
// injective, and no escaped value contains '/', so a value can neither leave
// its folder nor share one with another value. The empty string maps to the
// default partition.
func EscapeHive(v string) string {
	if v == "" {
		return DefaultPartition
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if needsEscape(c) {
			const hex = "0123456789ABCDEF"
			b.WriteByte('%')
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&0xF])
			continue
		}
		b.WriteByte(c)
	}
	s := b.String()
	// "." and ".." are path navigation, not names.
	if s == "." || s == ".." {
		return strings.ReplaceAll(s, ".", "%2E")
	}
	return s
}

// UnescapeHive reverses EscapeHive.
func UnescapeHive(s string) string {
	if s == DefaultPartition {
		return ""
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func needsEscape(c byte) bool {
	if c < 0x20 || c == 0x7F {
		return true
	}
	return strings.IndexByte("\"#%'*/:=?\\{[]^", c) >= 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
