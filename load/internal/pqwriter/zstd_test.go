package pqwriter

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// TestPageCodec: the lake's files compress pages with pageCodec, whose
// frames any zstd decoder reads (arrow-go's and zstd's own), with a window
// no larger than pageWindow.
func TestPageCodec(t *testing.T) {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := c.(pageCodec); !ok {
		t.Fatalf("the zstd codec is %T, want pageCodec", c)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	page := make([]byte, 3*pageWindow/2) // longer than the window
	for i := range page {
		page[i] = byte(rng.IntN(16)) // compressible
	}
	out := c.EncodeLevel(nil, page, compress.DefaultCompressionLevel)
	if len(out) >= len(page) {
		t.Fatalf("compressed %d bytes to %d", len(page), len(out))
	}
	var h zstd.Header
	if err := h.Decode(out); err != nil {
		t.Fatal(err)
	}
	if h.WindowSize > pageWindow {
		t.Errorf("window %d, want at most %d", h.WindowSize, pageWindow)
	}
	for name, decode := range map[string]func() ([]byte, error){
		"arrow-go": func() ([]byte, error) { return compress.Decode(c, make([]byte, len(page)), out) },
		"zstd": func() ([]byte, error) {
			d, err := zstd.NewReader(nil)
			if err != nil {
				return nil, err
			}
			defer d.Close()
			return d.DecodeAll(out, nil)
		},
	} {
		got, err := decode()
		if err != nil || !bytes.Equal(got, page) {
			t.Errorf("%s: decoded %d bytes (%v), want the page's %d", name, len(got), err, len(page))
		}
	}
}
