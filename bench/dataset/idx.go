package dataset

import (
	"encoding/binary"
	"fmt"
	"io"
)

// IDX (LeCun's MNIST format): a big-endian header 0x00 0x00 type ndim, then
// ndim big-endian uint32 sizes, then the values in row-major order, big-endian.
// Types: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
// 0x0E float64.

// idxTypes maps an IDX type byte to its element size and converter.
var idxTypes = map[byte]struct {
	size int
	conv func(dst []float32, src []byte)
}{
	0x08: {1, convU8},
	0x09: {1, convI8},
	0x0B: {2, convI16BE},
	0x0C: {4, convI32BE},
	0x0D: {4, convF32BE},
	0x0E: {8, convF64BE},
}

// ReadIDX reads an IDX stream (gzip or plain, by magic bytes) into a
// row-major []float32: rows is the first size, dim the product of the others
// (1 for a one-dimensional file), each value converted to float32 as-is.
// Bytes after the data are an error.
func ReadIDX(r io.Reader) (data []float32, rows, dim int, err error) {
	hint := hintOf(r)
	r, err = Reader(r)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("cannot read idx: %w", err)
	}
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, 0, fmt.Errorf("cannot read idx header: %w", wrapData(err))
	}
	if hdr[0] != 0 || hdr[1] != 0 {
		return nil, 0, 0, fmt.Errorf("cannot read idx: %w: bad magic % x (want 00 00 type ndim)", ErrMalformed, hdr)
	}
	t, ok := idxTypes[hdr[2]]
	if !ok {
		return nil, 0, 0, fmt.Errorf("cannot read idx: %w: element type 0x%02x", ErrUnsupported, hdr[2])
	}
	ndim := int(hdr[3])
	if ndim == 0 {
		return nil, 0, 0, fmt.Errorf("cannot read idx: %w: zero dimensions", ErrMalformed)
	}
	sizes := make([]uint64, ndim)
	var b [4]byte
	for i := range sizes {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, 0, 0, fmt.Errorf("cannot read idx size %d: %w", i, wrapData(err))
		}
		sizes[i] = uint64(binary.BigEndian.Uint32(b[:]))
	}
	total, ok := checkedProduct(sizes)
	if !ok {
		return nil, 0, 0, fmt.Errorf("cannot read idx: %w: sizes %v exceed %d elements", ErrMalformed, sizes, MaxElements)
	}
	d, _ := checkedProduct(sizes[1:])
	if d > MaxDim {
		return nil, 0, 0, fmt.Errorf("cannot read idx: %w: row dimension %d exceeds %d", ErrMalformed, d, MaxDim)
	}
	trusted := hint.confirms(int64(4+4*ndim) + int64(total)*int64(t.size))
	data, err = readArray(r, total, t.size, trusted, t.conv)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("cannot read idx data: %w", err)
	}
	if err := expectEOF(r); err != nil {
		return nil, 0, 0, fmt.Errorf("cannot read idx: %w", err)
	}
	return data, int(sizes[0]), d, nil
}
