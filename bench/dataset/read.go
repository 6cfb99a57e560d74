package dataset

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Limits on what a header may claim. Allocations grow with the bytes actually
// read, so these only reject absurd headers early and keep the size
// arithmetic from overflowing.
const (
	// MaxDim is the largest row dimension the readers accept.
	MaxDim = 1 << 20
	// MaxElements is the largest element count (rows × dim) the readers accept.
	MaxElements = 1 << 36
)

// initialCap bounds the up-front allocation made from a header's claimed
// size (in elements): beyond it, buffers grow as data actually arrives.
const initialCap = 1 << 22

// chunkBytes is the read granularity of the array readers.
const chunkBytes = 1 << 16

// Reader returns a reader of r's content, decompressed when it starts with
// the gzip magic bytes (0x1f 0x8b) and as-is otherwise. The file name plays
// no part. The returned reader is buffered; it must not be used concurrently
// and r must not be read from while it is in use.
func Reader(r io.Reader) (io.Reader, error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, chunkBytes)
	}
	magic, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("cannot read header: %w", err)
	}
	if len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("cannot open gzip stream: %w", wrapData(err))
		}
		return bufio.NewReaderSize(zr, chunkBytes), nil
	}
	return br, nil
}

// Format names a file format ReadFile understands.
type Format string

// The formats FormatOf recognises.
const (
	FormatFvecs Format = "fvecs"
	FormatBvecs Format = "bvecs"
	FormatIvecs Format = "ivecs"
	FormatIDX   Format = "idx"
	FormatNpy   Format = "npy"
)

// FormatOf returns the format a file name implies: a trailing ".gz" is
// stripped, then ".fvecs", ".bvecs", ".ivecs", ".npy" or IDX (a name ending
// in ".idx" or containing "idx<digit>", as in train-images-idx3-ubyte). It
// returns an error wrapping ErrUnsupported otherwise.
func FormatOf(path string) (Format, error) {
	name := strings.ToLower(filepath.Base(path))
	name = strings.TrimSuffix(name, ".gz")
	switch ext := filepath.Ext(name); ext {
	case ".fvecs":
		return FormatFvecs, nil
	case ".bvecs":
		return FormatBvecs, nil
	case ".ivecs":
		return FormatIvecs, nil
	case ".npy":
		return FormatNpy, nil
	case ".idx":
		return FormatIDX, nil
	case ".hdf5", ".h5":
		return "", fmt.Errorf("cannot read %s: %w: HDF5 has no pure-Go reader; convert it to .npy with h5py (see the package doc)", path, ErrUnsupported)
	}
	for i := strings.Index(name, "idx"); i >= 0; {
		if j := i + 3; j < len(name) && name[j] >= '0' && name[j] <= '9' {
			return FormatIDX, nil
		}
		k := strings.Index(name[i+3:], "idx")
		if k < 0 {
			break
		}
		i += 3 + k
	}
	return "", fmt.Errorf("cannot read %s: %w: unknown file name extension (want .fvecs, .bvecs, .ivecs, .npy or IDX, optionally .gz)", path, ErrUnsupported)
}

// ReadFile reads a whole vector file into a row-major []float32 holding
// rows×dim values, choosing the format from the file name (FormatOf) and
// decompressing gzip by its magic bytes. .ivecs values are converted to
// float32 (exact up to 2^24 in magnitude); use ReadIvecsFile for ids. IDX and
// NumPy arrays of more than two dimensions are flattened after the first
// (rows = shape[0], dim = the product of the rest); one-dimensional arrays
// read as rows of dimension 1.
func ReadFile(path string) (data []float32, rows, dim int, err error) {
	f, err := FormatOf(path)
	if err != nil {
		return nil, 0, 0, err
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer fh.Close()
	switch f {
	case FormatFvecs:
		data, rows, dim, err = ReadFvecs(fh)
	case FormatBvecs:
		data, rows, dim, err = ReadBvecs(fh)
	case FormatIvecs:
		data, rows, dim, err = readIvecsF32(fh)
	case FormatIDX:
		data, rows, dim, err = ReadIDX(fh)
	case FormatNpy:
		data, rows, dim, err = ReadNpy(fh)
	default:
		panic("BUG: FormatOf returned " + string(f))
	}
	if err != nil {
		return nil, 0, 0, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return data, rows, dim, nil
}

// ReadIvecsFile reads a whole .ivecs file (gzip or plain, by magic bytes)
// into one []int32 row per vector; see ReadIvecs.
func ReadIvecsFile(path string) ([][]int32, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer fh.Close()
	rows, err := ReadIvecs(fh)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return rows, nil
}

// ReadIDsFile reads a neighbour-id file into one []int32 per row: .ivecs
// (ReadIvecs) or an integer .npy (ReadNpyInt32), gzip or plain.
func ReadIDsFile(path string) ([][]int32, error) {
	f, err := FormatOf(path)
	if err != nil {
		return nil, err
	}
	if f != FormatIvecs && f != FormatNpy {
		return nil, fmt.Errorf("cannot read ids from %s: %w: want .ivecs or .npy", path, ErrUnsupported)
	}
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	defer fh.Close()
	var rows [][]int32
	if f == FormatIvecs {
		rows, err = ReadIvecs(fh)
	} else {
		rows, err = ReadNpyInt32(fh)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return rows, nil
}

// wrapData classifies a read error: truncation and corrupt compressed data
// become ErrMalformed (truncation also keeps io.ErrUnexpectedEOF); other
// errors (the underlying file's) pass unchanged.
func wrapData(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %w", ErrMalformed, io.ErrUnexpectedEOF)
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.As(err, &corrupt):
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return err
}

// expectEOF reads past the end of the payload: it reports trailing bytes as
// malformed and, for gzip, makes the reader verify the checksum it only
// checks at end of stream.
func expectEOF(r io.Reader) error {
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		if n > 0 {
			return fmt.Errorf("%w: trailing bytes after the data", ErrMalformed)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return wrapData(err)
		}
	}
}

// grow returns s with room for at least n more elements. Capacity doubles
// (never beyond limit when limit ≥ len(s)+n, the total a header claimed), so
// filling a claimed size costs few copies while a lying header costs no more
// than the data that actually arrived.
func grow[T any](s []T, n, limit int) []T {
	need := len(s) + n
	if need <= cap(s) {
		return s
	}
	c := max(2*cap(s), need, 1024)
	if limit >= need {
		c = min(c, limit)
	}
	ns := make([]T, len(s), c)
	copy(ns, s)
	return ns
}

// checkedProduct multiplies sizes, failing beyond MaxElements.
func checkedProduct(sizes []uint64) (int, bool) {
	p := uint64(1)
	for _, s := range sizes {
		if s == 0 {
			return 0, true
		}
	}
	for _, s := range sizes {
		if s > MaxElements || p > MaxElements/s {
			return 0, false
		}
		p *= s
	}
	return int(p), true
}

// readArray reads total elements of elemSize bytes each from r, converting
// them with conv into float32. It allocates all total elements up front when
// trusted (the stream's known size confirms the header's claim), else at most
// initialCap, growing with the data read.
func readArray(r io.Reader, total, elemSize int, trusted bool, conv func(dst []float32, src []byte)) ([]float32, error) {
	c := total
	if !trusted {
		c = min(total, initialCap)
	}
	out := make([]float32, 0, c)
	buf := make([]byte, chunkBytes-chunkBytes%elemSize)
	for len(out) < total {
		n := min(total-len(out), len(buf)/elemSize)
		if _, err := io.ReadFull(r, buf[:n*elemSize]); err != nil {
			return nil, fmt.Errorf("cannot read element %d of %d: %w", len(out), total, wrapData(err))
		}
		out = grow(out, n, total)
		k := len(out)
		out = out[:k+n]
		conv(out[k:], buf[:n*elemSize])
	}
	return out, nil
}

// maxDeflateRatio bounds how much deflate can expand: 258-byte matches coded
// in 2 bits give at most about 1032:1.
const maxDeflateRatio = 1032

// sizeHint is what the file behind a reader says about the length of the
// (decompressed) stream, used to size buffers in one allocation instead of
// growing them. It never replaces the checks on the data actually read.
type sizeHint struct {
	n     int64 // the stream length, mod 2^32 when mod32; -1 when unknown
	max   int64 // an upper bound on the stream length
	mod32 bool  // n is gzip's ISIZE: the length mod 2^32 (of the last member)
}

var noHint = sizeHint{n: -1}

// hintOf returns the size hint for r: a regular *os.File read from its
// current offset has a known length when plain, and gzip's ISIZE trailer
// (bounded by the deflate expansion limit) when compressed. Other readers
// give noHint. It does not move r's offset.
func hintOf(r io.Reader) sizeHint {
	f, ok := r.(*os.File)
	if !ok {
		return noHint
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return noHint
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || off > fi.Size() {
		return noHint
	}
	size := fi.Size() - off
	var m [2]byte
	if n, _ := f.ReadAt(m[:], off); n < 2 || m[0] != 0x1f || m[1] != 0x8b {
		return sizeHint{n: size, max: size}
	}
	var t [4]byte
	if size < 18 || off != 0 {
		return noHint
	}
	if _, err := f.ReadAt(t[:], fi.Size()-4); err != nil {
		return noHint
	}
	return sizeHint{n: int64(binary.LittleEndian.Uint32(t[:])), max: size * maxDeflateRatio, mod32: true}
}

// confirms reports whether the hint confirms a stream of exactly n bytes.
func (h sizeHint) confirms(n int64) bool {
	switch {
	case h.n < 0 || n < 0 || n > h.max:
		return false
	case h.mod32:
		return n&0xffffffff == h.n
	}
	return n == h.n
}

// rows estimates how many rows of rowBytes a stream holds (0 when unknown).
func (h sizeHint) rows(rowBytes int) int {
	if h.n < 0 || rowBytes <= 0 {
		return 0
	}
	return int(min(h.n, h.max) / int64(rowBytes))
}
