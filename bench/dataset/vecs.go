package dataset

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// TEXMEX vector files (.fvecs, .bvecs, .ivecs): per vector, a little-endian
// int32 dimension d, then d values (float32, uint8 or int32). Every row of a
// file must share d.

// ReadFvecs reads a .fvecs stream (gzip or plain, by magic bytes) into a
// row-major []float32 of rows×dim values. An empty stream yields no rows.
func ReadFvecs(r io.Reader) (data []float32, rows, dim int, err error) {
	rows, dim, err = scanVecs(r, "fvecs", 4, func(n int) { data = make([]float32, 0, n) }, func(row []byte) {
		data = grow(data, len(row)/4, 0)
		k := len(data)
		data = data[:k+len(row)/4]
		convF32LE(data[k:], row)
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return data, rows, dim, nil
}

// ReadBvecs reads a .bvecs stream (gzip or plain) into a row-major []float32
// of rows×dim values, each uint8 converted as-is (0..255).
func ReadBvecs(r io.Reader) (data []float32, rows, dim int, err error) {
	rows, dim, err = scanVecs(r, "bvecs", 1, func(n int) { data = make([]float32, 0, n) }, func(row []byte) {
		data = grow(data, len(row), 0)
		k := len(data)
		data = data[:k+len(row)]
		convU8(data[k:], row)
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return data, rows, dim, nil
}

// ReadIvecs reads an .ivecs stream (gzip or plain) into one []int32 per row.
// The rows share one backing array and have their capacity clipped.
func ReadIvecs(r io.Reader) ([][]int32, error) {
	var flat []int32
	rows, dim, err := scanVecs(r, "ivecs", 4, func(n int) { flat = make([]int32, 0, n) }, func(row []byte) {
		flat = grow(flat, len(row)/4, 0)
		for i := 0; i+4 <= len(row); i += 4 {
			flat = append(flat, int32(binary.LittleEndian.Uint32(row[i:])))
		}
	})
	if err != nil {
		return nil, err
	}
	out := make([][]int32, rows)
	for i := range out {
		out[i] = flat[i*dim : (i+1)*dim : (i+1)*dim]
	}
	return out, nil
}

// readIvecsF32 reads an .ivecs stream as float32 values for ReadFile.
func readIvecsF32(r io.Reader) (data []float32, rows, dim int, err error) {
	rows, dim, err = scanVecs(r, "ivecs", 4, func(n int) { data = make([]float32, 0, n) }, func(row []byte) {
		data = grow(data, len(row)/4, 0)
		for i := 0; i+4 <= len(row); i += 4 {
			data = append(data, float32(int32(binary.LittleEndian.Uint32(row[i:]))))
		}
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return data, rows, dim, nil
}

// scanVecs walks the rows of a TEXMEX stream, calling emit with each row's
// raw values (the slice is reused; emit must not retain it). Once the first
// row's dimension is known it calls reserve with the number of values the
// stream likely holds when its size is known (see hintOf), so that emit's
// appends rarely copy.
func scanVecs(r io.Reader, format string, elemSize int, reserve func(n int), emit func(row []byte)) (rows, dim int, err error) {
	hint := hintOf(r)
	r, err = Reader(r)
	if err != nil {
		return 0, 0, fmt.Errorf("cannot read %s: %w", format, err)
	}
	var hdr [4]byte
	var row []byte
	for {
		n, err := io.ReadFull(r, hdr[:])
		if n == 0 && err == io.EOF {
			return rows, dim, nil
		}
		if err != nil {
			return 0, 0, fmt.Errorf("cannot read %s row %d dimension: %w", format, rows, wrapData(err))
		}
		d := int64(int32(binary.LittleEndian.Uint32(hdr[:])))
		if d <= 0 || d > MaxDim {
			return 0, 0, fmt.Errorf("cannot read %s row %d: %w: dimension %d outside [1, %d]", format, rows, ErrMalformed, d, MaxDim)
		}
		if rows == 0 {
			dim = int(d)
			row = make([]byte, dim*elemSize)
			if est := hint.rows(4 + dim*elemSize); est > 1 {
				reserve(min(est*dim, MaxElements))
			}
		} else if int(d) != dim {
			return 0, 0, fmt.Errorf("cannot read %s row %d: %w: dimension %d differs from the first row's %d (all rows must share d)",
				format, rows, ErrMalformed, d, dim)
		}
		if (rows+1)*dim > MaxElements {
			return 0, 0, fmt.Errorf("cannot read %s row %d: %w: more than %d values", format, rows, ErrMalformed, MaxElements)
		}
		if _, err := io.ReadFull(r, row); err != nil {
			return 0, 0, fmt.Errorf("cannot read %s row %d values: %w", format, rows, wrapData(err))
		}
		emit(row)
		rows++
	}
}

// Element converters: dst and src describe the same count of elements.

func convF32LE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func convF32BE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = math.Float32frombits(binary.BigEndian.Uint32(src[4*i:]))
	}
}

func convF64LE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = float32(math.Float64frombits(binary.LittleEndian.Uint64(src[8*i:])))
	}
}

func convF64BE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = float32(math.Float64frombits(binary.BigEndian.Uint64(src[8*i:])))
	}
}

func convF16LE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = f16(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func convF16BE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = f16(binary.BigEndian.Uint16(src[2*i:]))
	}
}

func convU8(dst []float32, src []byte) {
	src = src[:len(dst)]
	for i, b := range src {
		dst[i] = float32(b)
	}
}

func convI8(dst []float32, src []byte) {
	src = src[:len(dst)]
	for i, b := range src {
		dst[i] = float32(int8(b))
	}
}

func convI16LE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = float32(int16(binary.LittleEndian.Uint16(src[2*i:])))
	}
}

func convI16BE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = float32(int16(binary.BigEndian.Uint16(src[2*i:])))
	}
}

func convU16LE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = float32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

func convU16BE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = float32(binary.BigEndian.Uint16(src[2*i:]))
	}
}

func convI32LE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = float32(int32(binary.LittleEndian.Uint32(src[4*i:])))
	}
}

func convI32BE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = float32(int32(binary.BigEndian.Uint32(src[4*i:])))
	}
}

func convI64LE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = float32(int64(binary.LittleEndian.Uint64(src[8*i:])))
	}
}

func convI64BE(dst []float32, src []byte) {
	for i := range dst {
		dst[i] = float32(int64(binary.BigEndian.Uint64(src[8*i:])))
	}
}

// f16 converts an IEEE 754 binary16 value to float32.
func f16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // Inf, NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0: // normal
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // ±0
		return math.Float32frombits(sign)
	}
	// Subnormal: mant × 2^-24.
	f := float32(mant) * (1.0 / (1 << 24))
	if sign != 0 {
		f = -f
	}
	return f
}
