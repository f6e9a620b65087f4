package pqwriter

import (
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// pageWindow is the zstd window of a page's compression: a data page is
// about 1 MiB (parquet's default page size), a dictionary page at most
// DictionaryPageLimit.
const pageWindow = 1 << 20

// pageCodec is arrow-go's zstd codec with encoders sized for pages.
// arrow-go's pools encoders with zstd's default 8 MiB window, which
// allocate 16 MiB of history each; the collector empties a sync.Pool, so
// a writer allocated (and cleared) them again and again: a third of the
// heap and a tenth of the CPU of a raw-samples rebuild. The pages it
// writes are the same format, read by any zstd decoder.
type pageCodec struct{ zstdCodec }

// zstdCodec is what arrow-go's zstd codec implements.
type zstdCodec interface {
	compress.Codec
	compress.StreamingCodec
	DecodeWithError(dst, src []byte) ([]byte, error)
}

var pageEncoders = sync.Pool{New: func() any {
	enc, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(zstd.SpeedDefault),
		zstd.WithEncoderConcurrency(1), zstd.WithAllLitEntropyCompression(true),
		zstd.WithWindowSize(pageWindow), zstd.WithLowerEncoderMem(true))
	if err != nil {
		panic(err) // the options are constants
	}
	return enc
}}

func init() {
	if c, err := compress.GetCodec(compress.Codecs.Zstd); err == nil {
		if z, ok := c.(zstdCodec); ok {
			compress.RegisterCodec(compress.Codecs.Zstd, pageCodec{z})
		}
	}
}

// Encode compresses a page at zstd's default level.
func (c pageCodec) Encode(dst, src []byte) []byte {
	enc := pageEncoders.Get().(*zstd.Encoder)
	defer pageEncoders.Put(enc)
	return enc.EncodeAll(src, dst[:0])
}

// EncodeLevel compresses a page; the lake's files use the default level.
func (c pageCodec) EncodeLevel(dst, src []byte, level int) []byte {
	if level != compress.DefaultCompressionLevel {
		return c.zstdCodec.EncodeLevel(dst, src, level)
	}
	return c.Encode(dst, src)
}
