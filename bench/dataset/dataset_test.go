package dataset

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lsmvec/lsmvec/kernels"
)

// ---- encoders the tests write their own files with ----

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// encodeVecs writes TEXMEX rows; elem writes one value.
func encodeVecs[T any](rows [][]T, elem func(*bytes.Buffer, T)) []byte {
	var b bytes.Buffer
	for _, r := range rows {
		binary.Write(&b, binary.LittleEndian, int32(len(r)))
		for _, v := range r {
			elem(&b, v)
		}
	}
	return b.Bytes()
}

func f32LE(b *bytes.Buffer, v float32) { binary.Write(b, binary.LittleEndian, v) }
func i32LE(b *bytes.Buffer, v int32)   { binary.Write(b, binary.LittleEndian, v) }
func u8(b *bytes.Buffer, v uint8)      { b.WriteByte(v) }

// encodeIDX writes an IDX header then raw (already big-endian) data.
func encodeIDX(typ byte, sizes []uint32, raw []byte) []byte {
	b := []byte{0, 0, typ, byte(len(sizes))}
	for _, s := range sizes {
		b = binary.BigEndian.AppendUint32(b, s)
	}
	return append(b, raw...)
}

// encodeNpy writes a .npy file of the given version with header dict hdr
// (padded as numpy does) followed by raw.
func encodeNpy(major byte, hdr string, raw []byte) []byte {
	pre := 10
	if major >= 2 {
		pre = 12
	}
	total := pre + len(hdr) + 1
	pad := (64 - total%64) % 64
	hdr += strings.Repeat(" ", pad) + "\n"
	b := append([]byte("\x93NUMPY"), major, 0)
	if major >= 2 {
		b = binary.LittleEndian.AppendUint32(b, uint32(len(hdr)))
	} else {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(hdr)))
	}
	b = append(b, hdr...)
	return append(b, raw...)
}

func npyDict(descr string, fortran bool, shape string) string {
	fo := "False"
	if fortran {
		fo = "True"
	}
	return fmt.Sprintf("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }", descr, fo, shape)
}

func newRand(t testing.TB) *rand.Rand {
	seed := uint64(rand.Int64())
	if s := os.Getenv("LSMVEC_TEST_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("LSMVEC_TEST_SEED: %v", err)
		}
		seed = v
	}
	t.Logf("seed %d (set LSMVEC_TEST_SEED to repeat)", seed)
	return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
}

// ---- readers ----

// readerCase is one small file: its bytes, name and the expected content.
type readerCase struct {
	name       string
	file       []byte
	want       []float32
	rows, dim  int
	readStream func(io.Reader) ([]float32, int, int, error)
}

func readerCases(t testing.TB) []readerCase {
	// 3 rows of dimension 4 with negative, fractional and large values.
	f := []float32{1.5, -2, 0, 3.25, 1e6, -1e-3, 7, 8, 9, 10, 11, 12}
	rowsF := [][]float32{f[0:4], f[4:8], f[8:12]}
	u := []uint8{0, 1, 127, 128, 200, 255, 3, 4}
	rowsU := [][]uint8{u[0:4], u[4:8]}
	iv := []int32{5, -7, 1 << 20, 0, 2, 3}
	rowsI := [][]int32{iv[0:3], iv[3:6]}
	toF := func(xs ...float64) []float32 {
		out := make([]float32, len(xs))
		for i, x := range xs {
			out[i] = float32(x)
		}
		return out
	}
	var f32be bytes.Buffer
	for _, v := range f {
		binary.Write(&f32be, binary.BigEndian, v)
	}
	var f64be bytes.Buffer
	for _, v := range f {
		binary.Write(&f64be, binary.BigEndian, float64(v))
	}
	var i16be bytes.Buffer
	for _, v := range []int16{-300, 2, 32767, -32768} {
		binary.Write(&i16be, binary.BigEndian, v)
	}
	var i32be bytes.Buffer
	for _, v := range iv {
		binary.Write(&i32be, binary.BigEndian, v)
	}
	le := func(vals any) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, vals)
		return b.Bytes()
	}
	bigE := func(vals any) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, vals)
		return b.Bytes()
	}
	f64 := make([]float64, len(f))
	for i, v := range f {
		f64[i] = float64(v)
	}
	i8 := []int8{-128, -1, 0, 1, 127, 5}
	return []readerCase{
		{"a.fvecs", encodeVecs(rowsF, f32LE), f, 3, 4, ReadFvecs},
		{"a.bvecs", encodeVecs(rowsU, u8), toF(0, 1, 127, 128, 200, 255, 3, 4), 2, 4, ReadBvecs},
		{"a.ivecs", encodeVecs(rowsI, i32LE), toF(5, -7, 1<<20, 0, 2, 3), 2, 3, readIvecsF32},
		{"empty.fvecs", nil, nil, 0, 0, ReadFvecs},
		{"train-images-idx3-ubyte", encodeIDX(0x08, []uint32{2, 2, 2}, u), toF(0, 1, 127, 128, 200, 255, 3, 4), 2, 4, ReadIDX},
		{"labels-idx1-ubyte", encodeIDX(0x08, []uint32{3}, u[:3]), toF(0, 1, 127), 3, 1, ReadIDX},
		{"a.idx", encodeIDX(0x09, []uint32{2, 3}, []byte{0x80, 0xff, 0, 1, 0x7f, 5}), toF(-128, -1, 0, 1, 127, 5), 2, 3, ReadIDX},
		{"f-idx2-float", encodeIDX(0x0D, []uint32{3, 4}, f32be.Bytes()), f, 3, 4, ReadIDX},
		{"d-idx2-double", encodeIDX(0x0E, []uint32{2, 6}, f64be.Bytes()), f, 2, 6, ReadIDX},
		{"s-idx2-short", encodeIDX(0x0B, []uint32{2, 2}, i16be.Bytes()), toF(-300, 2, 32767, -32768), 2, 2, ReadIDX},
		{"i-idx2-int", encodeIDX(0x0C, []uint32{3, 2}, i32be.Bytes()), toF(5, -7, 1<<20, 0, 2, 3), 3, 2, ReadIDX},
		{"zero-idx2", encodeIDX(0x08, []uint32{0, 784}, nil), []float32{}, 0, 784, ReadIDX},
		{"f4.npy", encodeNpy(1, npyDict("<f4", false, "(3, 4)"), le(f)), f, 3, 4, ReadNpy},
		{"f4v2.npy", encodeNpy(2, npyDict("<f4", false, "(4, 3)"), le(f)), f, 4, 3, ReadNpy},
		{"f4v3.npy", encodeNpy(3, npyDict("<f4", false, "(2, 6)"), le(f)), f, 2, 6, ReadNpy},
		{"f4be.npy", encodeNpy(1, npyDict(">f4", false, "(3, 4)"), bigE(f)), f, 3, 4, ReadNpy},
		{"f8.npy", encodeNpy(1, npyDict("<f8", false, "(3, 4)"), le(f64)), f, 3, 4, ReadNpy},
		{"f2.npy", encodeNpy(1, npyDict("<f2", false, "(1, 5)"), le([]uint16{0x3c00, 0xc000, 0x0001, 0x7bff, 0x8000})),
			toF(1, -2, math.Ldexp(1, -24), 65504, 0), 1, 5, ReadNpy},
		{"u1.npy", encodeNpy(1, npyDict("|u1", false, "(2, 4)"), u), toF(0, 1, 127, 128, 200, 255, 3, 4), 2, 4, ReadNpy},
		{"i1.npy", encodeNpy(1, npyDict("|i1", false, "(6,)"), le(i8)), toF(-128, -1, 0, 1, 127, 5), 6, 1, ReadNpy},
		{"i4.npy", encodeNpy(1, npyDict("<i4", false, "(2, 3)"), le(iv)), toF(5, -7, 1<<20, 0, 2, 3), 2, 3, ReadNpy},
		{"3d.npy", encodeNpy(1, npyDict("<f4", false, "(3, 2, 2)"), le(f)), f, 3, 4, ReadNpy},
		{"py2.npy", encodeNpy(1, "{'descr':'<f4','fortran_order':False,'shape':(3L, 4L)}", le(f)), f, 3, 4, ReadNpy},
		{"reordered.npy", encodeNpy(1, `{"shape": (3, 4), "fortran_order": False, "descr": "<f4"}`, le(f)), f, 3, 4, ReadNpy},
		{"empty.npy", encodeNpy(1, npyDict("<f4", false, "(0, 128)"), nil), []float32{}, 0, 128, ReadNpy},
	}
}

func TestReaders(t *testing.T) {
	dir := t.TempDir()
	for _, c := range readerCases(t) {
		for _, zip := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/gzip=%v", c.name, zip), func(t *testing.T) {
				b := c.file
				name := c.name
				if zip {
					b = gz(t, b)
					name += ".gz"
				}
				check := func(how string, data []float32, rows, dim int, err error) {
					t.Helper()
					if err != nil {
						t.Fatalf("%s: %v", how, err)
					}
					if rows != c.rows || dim != c.dim || len(data) != rows*dim {
						t.Fatalf("%s: rows %d dim %d len %d, want %d, %d, %d", how, rows, dim, len(data), c.rows, c.dim, c.rows*c.dim)
					}
					if !slices.Equal(data, c.want) {
						t.Fatalf("%s: data %v, want %v", how, data, c.want)
					}
				}
				data, rows, dim, err := c.readStream(bytes.NewReader(b))
				check("stream", data, rows, dim, err)
				// One byte at a time: streaming must not depend on read sizes.
				data, rows, dim, err = c.readStream(io.MultiReader(oneByteReader{bytes.NewReader(b)}))
				check("one-byte reads", data, rows, dim, err)
				p := filepath.Join(dir, name)
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
				data, rows, dim, err = ReadFile(p)
				check("ReadFile", data, rows, dim, err)
			})
		}
	}
}

type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// TestGzipByMagic: compression is detected from the content, not the name.
func TestGzipByMagic(t *testing.T) {
	dir := t.TempDir()
	rows := [][]float32{{1, 2}, {3, 4}}
	plain := encodeVecs(rows, f32LE)
	for name, b := range map[string][]byte{
		"gzip-named-plain.fvecs":    gz(t, plain),
		"plain-named-gzip.fvecs.gz": plain,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		data, n, d, err := ReadFile(p)
		if err != nil || n != 2 || d != 2 || !slices.Equal(data, []float32{1, 2, 3, 4}) {
			t.Errorf("%s: %v %d %d %v", name, data, n, d, err)
		}
	}
	// Concatenated gzip members read as one stream, as gzip(1) does.
	two := append(gz(t, plain[:12]), gz(t, plain[12:])...)
	if data, _, _, err := ReadFvecs(bytes.NewReader(two)); err != nil || !slices.Equal(data, []float32{1, 2, 3, 4}) {
		t.Errorf("multi-member gzip: %v %v", data, err)
	}
}

func TestReadIvecs(t *testing.T) {
	rows := [][]int32{{3, 1, 2}, {-1, 1 << 30, 7}}
	for _, zip := range []bool{false, true} {
		b := encodeVecs(rows, i32LE)
		if zip {
			b = gz(t, b)
		}
		got, err := ReadIvecs(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || !slices.Equal(got[0], rows[0]) || !slices.Equal(got[1], rows[1]) {
			t.Fatalf("gzip=%v: got %v", zip, got)
		}
		if cap(got[0]) != 3 {
			t.Errorf("row capacity %d, want 3 (clipped)", cap(got[0]))
		}
		p := filepath.Join(t.TempDir(), "gt.ivecs")
		os.WriteFile(p, b, 0o644)
		got2, err := ReadIvecsFile(p)
		if err != nil || !slices.Equal(got2[1], rows[1]) {
			t.Fatalf("ReadIvecsFile: %v %v", got2, err)
		}
	}
	if got, err := ReadIvecs(bytes.NewReader(nil)); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}

func TestReadNpyInt32(t *testing.T) {
	le := func(vals any) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, vals)
		return b.Bytes()
	}
	want := [][]int32{{1, 2, 3}, {4, 5, -6}}
	for _, c := range []struct {
		descr string
		raw   []byte
	}{
		{"<i4", le([]int32{1, 2, 3, 4, 5, -6})},
		{"<i8", le([]int64{1, 2, 3, 4, 5, -6})},
		{"<i2", le([]int16{1, 2, 3, 4, 5, -6})},
		{"|i1", le([]int8{1, 2, 3, 4, 5, -6})},
	} {
		got, err := ReadNpyInt32(bytes.NewReader(gz(t, encodeNpy(1, npyDict(c.descr, false, "(2, 3)"), c.raw))))
		if err != nil {
			t.Fatalf("%s: %v", c.descr, err)
		}
		if len(got) != 2 || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
			t.Errorf("%s: %v", c.descr, got)
		}
	}
	big := encodeNpy(1, npyDict("<i8", false, "(1,)"), le([]int64{1 << 40}))
	if _, err := ReadNpyInt32(bytes.NewReader(big)); !errors.Is(err, ErrMalformed) {
		t.Errorf("int64 overflow: %v, want ErrMalformed", err)
	}
	if _, err := ReadNpyInt32(bytes.NewReader(encodeNpy(1, npyDict("<f4", false, "(1,)"), le([]float32{1})))); !errors.Is(err, ErrUnsupported) {
		t.Errorf("float as int32: %v, want ErrUnsupported", err)
	}
}

func TestFormatOf(t *testing.T) {
	for _, c := range []struct {
		name string
		want Format
	}{
		{"x.fvecs", FormatFvecs},
		{"/a/b/SIFT_BASE.FVECS.GZ", FormatFvecs},
		{"x.bvecs.gz", FormatBvecs},
		{"gt.ivecs", FormatIvecs},
		{"x.npy.gz", FormatNpy},
		{"train-images-idx3-ubyte.gz", FormatIDX},
		{"t10k-labels-idx1-ubyte", FormatIDX},
		{"x.idx", FormatIDX},
		{"idxfoo-idx3-ubyte", FormatIDX},
		{"x.hdf5", ""},
		{"x.h5", ""},
		{"x.txt", ""},
		{"idx", ""},
		{"x.gz", ""},
	} {
		got, err := FormatOf(c.name)
		if got != c.want || (c.want == "") != (err != nil) {
			t.Errorf("FormatOf(%q) = %q, %v; want %q", c.name, got, err, c.want)
		}
		if c.want == "" && !errors.Is(err, ErrUnsupported) {
			t.Errorf("FormatOf(%q) error %v does not wrap ErrUnsupported", c.name, err)
		}
	}
	if _, err := FormatOf("glove.hdf5"); err == nil || !strings.Contains(err.Error(), "h5py") {
		t.Errorf("hdf5 error %v should point at the h5py conversion", err)
	}
	if _, _, _, err := ReadFile(filepath.Join(t.TempDir(), "missing.fvecs")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestTruncated cuts every valid file at every length: a cut inside a row or
// header is an error wrapping ErrMalformed and io.ErrUnexpectedEOF; a TEXMEX
// cut at a row boundary is a valid shorter file.
func TestTruncated(t *testing.T) {
	for _, c := range readerCases(t) {
		for l := 0; l < len(c.file); l++ {
			data, rows, _, err := c.readStream(bytes.NewReader(c.file[:l]))
			vecs := strings.HasSuffix(c.name, "vecs")
			rowBytes := 0
			if vecs && c.rows > 0 {
				rowBytes = len(c.file) / c.rows
			}
			if vecs && l%rowBytes == 0 {
				if err != nil || rows != l/rowBytes || len(data) != rows*c.dim {
					t.Errorf("%s cut at %d (row boundary): rows %d, %v", c.name, l, rows, err)
				}
				continue
			}
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("%s cut at %d: %v, want ErrMalformed", c.name, l, err)
				continue
			}
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s cut at %d: %v, want io.ErrUnexpectedEOF", c.name, l, err)
			}
		}
		// A gzip stream cut anywhere is an error (the checksum and size
		// trailer are verified), except an empty input.
		z := gz(t, c.file)
		for l := 1; l < len(z); l++ {
			if _, _, _, err := c.readStream(bytes.NewReader(z[:l])); err == nil {
				t.Errorf("%s gzip cut at %d/%d: no error", c.name, l, len(z))
			}
		}
	}
}

func TestMalformed(t *testing.T) {
	le := func(vals any) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.LittleEndian, vals)
		return b.Bytes()
	}
	corrupt := gz(t, encodeVecs([][]float32{{1, 2, 3, 4}}, f32LE))
	corrupt[len(corrupt)-6] ^= 0xff // CRC32 trailer
	for _, c := range []struct {
		name string
		read func(io.Reader) ([]float32, int, int, error)
		in   []byte
		want error
		msg  string
	}{
		{"fvecs inconsistent d", ReadFvecs, encodeVecs([][]float32{{1, 2}, {1, 2, 3}}, f32LE), ErrMalformed, "all rows must share d"},
		{"fvecs d=0", ReadFvecs, le([]int32{0}), ErrMalformed, "dimension 0"},
		{"fvecs d<0", ReadFvecs, le([]int32{-4, 1, 2}), ErrMalformed, "dimension -4"},
		{"fvecs d huge", ReadFvecs, le([]int32{1 << 30, 1}), ErrMalformed, "outside"},
		{"bvecs inconsistent d", ReadBvecs, encodeVecs([][]uint8{{1}, {1, 2}}, u8), ErrMalformed, "all rows must share d"},
		{"gzip crc", ReadFvecs, corrupt, ErrMalformed, "checksum"},
		{"gzip bad header", ReadFvecs, []byte{0x1f, 0x8b, 0, 0, 0}, ErrMalformed, ""},
		{"idx bad magic", ReadIDX, []byte{1, 0, 8, 1, 0, 0, 0, 1, 5}, ErrMalformed, "bad magic"},
		{"idx unknown type", ReadIDX, encodeIDX(0x07, []uint32{1}, []byte{1}), ErrUnsupported, "0x07"},
		{"idx ndim 0", ReadIDX, []byte{0, 0, 8, 0}, ErrMalformed, "zero dimensions"},
		{"idx absurd sizes", ReadIDX, encodeIDX(0x08, []uint32{math.MaxUint32, math.MaxUint32, math.MaxUint32}, nil), ErrMalformed, "exceed"},
		{"idx dim too large", ReadIDX, encodeIDX(0x08, []uint32{1, 1 << 21}, nil), ErrMalformed, "row dimension"},
		{"idx trailing", ReadIDX, encodeIDX(0x08, []uint32{2}, []byte{1, 2, 3}), ErrMalformed, "trailing"},
		{"npy bad magic", ReadNpy, []byte("\x93NUMPZ\x01\x00\x00\x00"), ErrMalformed, "bad magic"},
		{"npy version 9", ReadNpy, []byte("\x93NUMPY\x09\x00\x00\x00"), ErrUnsupported, "version 9"},
		{"npy fortran", ReadNpy, encodeNpy(1, npyDict("<f4", true, "(1, 1)"), le([]float32{1})), ErrUnsupported, "fortran_order"},
		{"npy complex", ReadNpy, encodeNpy(1, npyDict("<c8", false, "(1,)"), make([]byte, 8)), ErrUnsupported, "dtype"},
		{"npy object", ReadNpy, encodeNpy(1, npyDict("|O", false, "(1,)"), make([]byte, 8)), ErrUnsupported, "dtype"},
		{"npy structured", ReadNpy, encodeNpy(1, "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", make([]byte, 4)), ErrMalformed, ""},
		{"npy |f4", ReadNpy, encodeNpy(1, npyDict("|f4", false, "(1,)"), make([]byte, 4)), ErrUnsupported, "byte order"},
		{"npy scalar", ReadNpy, encodeNpy(1, npyDict("<f4", false, "()"), make([]byte, 4)), ErrUnsupported, "zero-dimensional"},
		{"npy no shape", ReadNpy, encodeNpy(1, "{'descr': '<f4', 'fortran_order': False}", nil), ErrMalformed, "'shape'"},
		{"npy garbage dict", ReadNpy, encodeNpy(1, "{'descr': '<f4', 'fortran_order': Flase, 'shape': (1,)}", nil), ErrMalformed, ""},
		{"npy unterminated", ReadNpy, encodeNpy(1, "{'descr: '<f4'", nil), ErrMalformed, ""},
		{"npy nested tuple", ReadNpy, encodeNpy(1, "{'shape': ((((1,),),),)}", nil), ErrMalformed, ""},
		{"npy absurd shape", ReadNpy, encodeNpy(1, npyDict("<f4", false, "(18446744073709551615, 2)"), nil), ErrMalformed, "exceeds"},
		{"npy shape overflow", ReadNpy, encodeNpy(1, npyDict("<f4", false, "(99999999999999999999999,)"), nil), ErrMalformed, ""},
		{"npy header too long", ReadNpy, append([]byte("\x93NUMPY\x02\x00"), le([]uint32{1 << 30})...), ErrMalformed, "header length"},
		{"npy trailing", ReadNpy, encodeNpy(1, npyDict("|u1", false, "(1,)"), []byte{1, 2}), ErrMalformed, "trailing"},
	} {
		_, _, _, err := c.read(bytes.NewReader(c.in))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%s: %q does not mention %q", c.name, err, c.msg)
		}
		if !strings.HasPrefix(err.Error(), "cannot ") {
			t.Errorf("%s: %q is not worded \"cannot ...\"", c.name, err)
		}
	}
}

// TestLyingHeaderAllocatesLittle: a header claiming far more data than the
// stream holds costs an allocation bounded by initialCap, not by the claim.
func TestLyingHeaderAllocatesLittle(t *testing.T) {
	for name, in := range map[string][]byte{
		"idx": encodeIDX(0x0D, []uint32{1 << 16, 1 << 16}, make([]byte, 100)),
		"npy": encodeNpy(1, npyDict("<f8", false, "(1000000000, 16)"), make([]byte, 100)),
	} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		var err error
		if name == "idx" {
			_, _, _, err = ReadIDX(bytes.NewReader(in))
		} else {
			_, _, _, err = ReadNpy(bytes.NewReader(in))
		}
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 4*initialCap+(4<<20) {
			t.Errorf("%s: allocated %d bytes for a 100-byte body", name, got)
		}
	}
}

// ---- recall ----

func TestRecall(t *testing.T) {
	truth := []int32{4, 8, 15, 16, 23, 42}
	for _, c := range []struct {
		name  string
		got   []uint64
		truth []int32
		k     int
		want  float64
	}{
		{"all", []uint64{4, 8, 15}, truth, 3, 1},
		{"order free", []uint64{15, 4, 8}, truth, 3, 1},
		{"one miss", []uint64{4, 8, 99}, truth, 3, 2.0 / 3},
		{"beyond k in truth", []uint64{4, 8, 16}, truth, 3, 2.0 / 3},
		{"beyond k in got", []uint64{4, 99, 98, 8}, truth, 3, 1.0 / 3},
		{"short got", []uint64{4}, truth, 3, 1.0 / 3},
		{"empty got", nil, truth, 3, 0},
		{"duplicates count once", []uint64{4, 4, 4}, truth, 3, 1.0 / 3},
		{"k=1", []uint64{4, 5}, truth, 1, 1},
		{"k=1 miss", []uint64{8}, truth, 1, 0},
		{"k=6", []uint64{42, 23, 16, 15, 8, 4}, truth, 6, 1},
		{"truth shorter than k", []uint64{7, 3}, []int32{3, 7}, 10, 1},
		{"truth shorter than k, miss", []uint64{7}, []int32{3, 7}, 10, 0.5},
		{"negative truth id", []uint64{math.MaxUint64}, []int32{-1}, 1, 0},
		{"k=0", []uint64{1}, truth, 0, 1},
		{"no truth", []uint64{1}, nil, 10, 1},
	} {
		if got := Recall(c.got, c.truth, c.k); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: Recall(%v, %v, %d) = %v, want %v", c.name, c.got, c.truth, c.k, got, c.want)
		}
	}
	if got := MeanRecall([][]uint64{{4}, {99}}, [][]int32{truth, truth}, 1); got != 0.5 {
		t.Errorf("MeanRecall = %v, want 0.5", got)
	}
	got := make([]uint64, 100)
	tr := make([]int32, 100)
	for i := range got {
		got[i], tr[i] = uint64(99-i), int32(i)
	}
	if a := testing.AllocsPerRun(100, func() { Recall(got, tr, 100) }); a != 0 {
		t.Errorf("Recall allocates %v times per call", a)
	}
}

// ---- ground truth ----

// naiveGT is the oracle: every distance with the single-vector kernels, a
// full sort by (distance, id).
func naiveGT(base, queries []float32, dim, k int, metric string, allow func(int) bool) [][]int32 {
	n, nq := len(base)/dim, len(queries)/dim
	out := make([][]int32, nq)
	for qi := range nq {
		q := queries[qi*dim : (qi+1)*dim]
		type cand struct {
			d  float32
			id int32
		}
		var cs []cand
		for i := range n {
			if allow != nil && !allow(i) {
				continue
			}
			b := base[i*dim : (i+1)*dim]
			var d float32
			switch metric {
			case MetricL2:
				d = kernels.L2Sq(q, b)
			case MetricIP:
				d = -kernels.Dot(q, b)
			case MetricCosine:
				d = kernels.CosineDistance(q, b)
			}
			cs = append(cs, cand{d, int32(i)})
		}
		slices.SortFunc(cs, func(a, b cand) int {
			if a.d != b.d {
				if a.d < b.d {
					return -1
				}
				return 1
			}
			return int(a.id - b.id)
		})
		row := []int32{}
		for _, c := range cs[:min(k, len(cs))] {
			row = append(row, c.id)
		}
		out[qi] = row
	}
	return out
}

func randVecs(r *rand.Rand, n, dim int) []float32 {
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func equalGT(t *testing.T, what string, got, want [][]int32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !slices.Equal(got[i], want[i]) {
			t.Fatalf("%s: query %d:\n got %v\nwant %v", what, i, got[i], want[i])
		}
	}
}

// equalGTTies is equalGT for float32 results that may order near-ties
// differently (the batch kernels and the pair kernels round differently):
// where the ids differ, the two ids must be at the same float64 distance
// from the query within 1e-5 relative.
func equalGTTies(t *testing.T, what string, got, want [][]int32, base, queries []float32, dim int, metric string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	dist := func(q, b []float32) float64 {
		var dot, nq, nb, l2 float64
		for i := range q {
			x, y := float64(q[i]), float64(b[i])
			dot += x * y
			nq += x * x
			nb += y * y
			l2 += (x - y) * (x - y)
		}
		switch metric {
		case MetricL2:
			return l2
		case MetricIP:
			return -dot
		}
		if nq == 0 || nb == 0 {
			return 1
		}
		return 1 - dot/math.Sqrt(nq*nb)
	}
	for qi := range got {
		if len(got[qi]) != len(want[qi]) {
			t.Fatalf("%s: query %d: %d ids, want %d", what, qi, len(got[qi]), len(want[qi]))
		}
		q := queries[qi*dim : (qi+1)*dim]
		for j := range got[qi] {
			a, b := got[qi][j], want[qi][j]
			if a == b {
				continue
			}
			da := dist(q, base[int(a)*dim:int(a+1)*dim])
			db := dist(q, base[int(b)*dim:int(b+1)*dim])
			if math.Abs(da-db) > 1e-5*math.Max(1, math.Abs(db)) {
				t.Fatalf("%s: query %d rank %d: id %d at %g, want id %d at %g:\n got %v\nwant %v",
					what, qi, j, a, da, b, db, got[qi], want[qi])
			}
		}
	}
}

func TestGroundTruth(t *testing.T) {
	r := newRand(t)
	for _, dim := range []int{1, 3, 16, 100} {
		n, nq := 1000+r.IntN(500), 37
		base, queries := randVecs(r, n, dim), randVecs(r, nq, dim)
		// A zero base vector and a zero query exercise cosine's zero rule.
		clear(base[5*dim : 6*dim])
		clear(queries[:dim])
		for _, metric := range []string{MetricL2, MetricIP, MetricCosine} {
			for _, k := range []int{1, 10, 100} {
				what := fmt.Sprintf("dim=%d/%s/k=%d", dim, metric, k)
				want := naiveGT(base, queries, dim, k, metric, nil)
				eq := func(what string, got, want [][]int32) {
					t.Helper()
					equalGTTies(t, what, got, want, base, queries, dim, metric)
				}
				eq(what, GroundTruth(base, queries, dim, k, metric), want)
				// Every group size gives the same answer.
				eq(what+"/group=1", groundTruth(base, queries, dim, k, metric, nil, 1), want)
				eq(what+"/group=5", groundTruth(base, queries, dim, k, metric, nil, 5), want)
				allow := func(i int) bool { return i%3 != 1 }
				eq(what+"/filtered", GroundTruthFiltered(base, queries, dim, k, metric, allow),
					naiveGT(base, queries, dim, k, metric, allow))
			}
		}
	}
}

func TestGroundTruthTies(t *testing.T) {
	// Base: rows 0..9 hold only four distinct vectors, so most distances tie;
	// the lower id must come first.
	dim := 4
	protos := [][]float32{{1, 0, 0, 0}, {0, 1, 0, 0}, {1, 1, 0, 0}, {0, 0, 0, 0}}
	var base []float32
	which := []int{2, 0, 1, 0, 3, 1, 2, 0, 3, 1}
	for _, w := range which {
		base = append(base, protos[w]...)
	}
	q := []float32{1, 0, 0, 0}
	// l2 to q: proto0 0, proto2 1, proto3 1, proto1 2.
	want := []int32{1, 3, 7, 0, 4, 6, 8, 2, 5, 9}
	got := GroundTruth(base, q, dim, 10, MetricL2)
	if !slices.Equal(got[0], want) {
		t.Errorf("l2 ties: %v, want %v", got[0], want)
	}
	if got := GroundTruth(base, q, dim, 4, MetricL2); !slices.Equal(got[0], want[:4]) {
		t.Errorf("l2 ties k=4: %v, want %v", got[0], want[:4])
	}
	// ip with q: proto0 1, proto2 1, proto1 0, proto3 0 → 0,1,3,6,7 then 2,4,5,8,9.
	if got := GroundTruth(base, q, dim, 10, MetricIP); !slices.Equal(got[0], []int32{0, 1, 3, 6, 7, 2, 4, 5, 8, 9}) {
		t.Errorf("ip ties: %v", got[0])
	}
	// cosine: proto0 0, proto2 1-1/√2, proto1 and the zero vector 1.
	if got := GroundTruth(base, q, dim, 10, MetricCosine); !slices.Equal(got[0], []int32{1, 3, 7, 0, 6, 2, 4, 5, 8, 9}) {
		t.Errorf("cosine ties: %v", got[0])
	}
	for _, metric := range []string{MetricL2, MetricIP, MetricCosine} {
		equalGT(t, metric, GroundTruth(base, q, dim, 10, metric), naiveGT(base, q, dim, 10, metric, nil))
	}
}

func TestGroundTruthEdges(t *testing.T) {
	base := []float32{0, 0, 1, 1, 2, 2}
	q := []float32{2, 2, 0, 0}
	if got := GroundTruth(base, q, 2, 10, MetricL2); !slices.Equal(got[0], []int32{2, 1, 0}) || !slices.Equal(got[1], []int32{0, 1, 2}) {
		t.Errorf("k > N: %v", got)
	}
	if got := GroundTruth(base, q, 2, 0, MetricL2); len(got) != 2 || len(got[0]) != 0 {
		t.Errorf("k=0: %v", got)
	}
	if got := GroundTruth(nil, q, 2, 5, MetricL2); len(got) != 2 || len(got[1]) != 0 {
		t.Errorf("empty base: %v", got)
	}
	if got := GroundTruth(base, nil, 2, 5, MetricL2); len(got) != 0 {
		t.Errorf("no queries: %v", got)
	}
	if got := GroundTruthFiltered(base, q, 2, 5, MetricL2, func(int) bool { return false }); len(got[0]) != 0 {
		t.Errorf("nothing allowed: %v", got)
	}
	if got := GroundTruthFiltered(base, q, 2, 5, MetricL2, func(i int) bool { return i == 1 }); !slices.Equal(got[0], []int32{1}) {
		t.Errorf("one allowed: %v", got)
	}
	nan := float32(math.NaN())
	if got := GroundTruth([]float32{nan, 0, 5, 5, 1, 1}, q[:2], 2, 3, MetricL2); !slices.Equal(got[0], []int32{2, 1, 0}) {
		t.Errorf("NaN must rank last: %v", got[0])
	}
	for _, bad := range []func(){
		func() { GroundTruth(base, q, 0, 1, MetricL2) },
		func() { GroundTruth(base, q, 4, 1, MetricL2) },
		func() { GroundTruth(base, q, 2, 1, "hamming") },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic on a programming error")
				}
			}()
			bad()
		}()
	}
	if err := ValidateMetric("hamming"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("ValidateMetric: %v", err)
	}
}

func TestNormalize(t *testing.T) {
	r := newRand(t)
	v := randVecs(r, 50, 7)
	clear(v[7:14])
	orig := slices.Clone(v)
	Normalize(v, 7)
	for i := range 50 {
		row := v[i*7 : (i+1)*7]
		n := kernels.Norm(row)
		if i == 1 {
			if n != 0 {
				t.Errorf("zero row changed: %v", row)
			}
			continue
		}
		if math.Abs(float64(n)-1) > 1e-5 {
			t.Errorf("row %d norm %v", i, n)
		}
		// Direction kept: cosine distance to the original is ~0.
		if d := kernels.CosineDistance(row, orig[i*7:(i+1)*7]); math.Abs(float64(d)) > 1e-5 {
			t.Errorf("row %d direction changed: %v", i, d)
		}
	}
}

// ---- Dir, Load, the shared data sets ----

func TestDir(t *testing.T) {
	root := t.TempDir()
	shared := filepath.Join(root, "shared", "datasets")
	deep := filepath.Join(root, "repo", "pkg", "sub")
	for _, d := range []string{shared, deep} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(EnvDir, "")
	t.Chdir(deep)
	if got, err := Dir(); err != nil || got != shared {
		t.Errorf("walk up: %q, %v; want %q", got, err, shared)
	}
	t.Setenv(EnvDir, deep)
	if got, err := Dir(); err != nil || got != deep {
		t.Errorf("env: %q, %v; want %q", got, err, deep)
	}
	t.Setenv(EnvDir, filepath.Join(root, "nope"))
	_, err := Dir()
	if !errors.Is(err, ErrNotFound) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("env to a missing folder: %v, want ErrNotFound and fs.ErrNotExist", err)
	}
	// A fresh cache reports ErrNotFound for an absent set folder, and
	// LoadOrSkip would skip on it.
	t.Setenv(EnvDir, shared)
	if _, err := newSetCache().load(SiftSmall); !errors.Is(err, ErrNotFound) {
		t.Errorf("absent set folder: %v, want ErrNotFound", err)
	}
	// A present but broken set is an error, not a skip.
	sift := filepath.Join(shared, SiftSmall)
	os.MkdirAll(sift, 0o755)
	os.WriteFile(filepath.Join(sift, "siftsmall_base.fvecs.gz"), gz(t, encodeVecs([][]float32{{1, 2}}, f32LE)), 0o644)
	os.WriteFile(filepath.Join(sift, "siftsmall_query.fvecs.gz"), encodeVecs([][]float32{{1, 2}}, f32LE), 0o644)
	os.WriteFile(filepath.Join(sift, "siftsmall_groundtruth.ivecs.gz"), encodeVecs([][]int32{{3}}, i32LE), 0o644)
	if _, err := newSetCache().load(SiftSmall); !errors.Is(err, ErrMalformed) || errors.Is(err, ErrNotFound) {
		t.Errorf("ground truth id out of range: %v, want ErrMalformed", err)
	}
	os.WriteFile(filepath.Join(sift, "siftsmall_groundtruth.ivecs.gz"), encodeVecs([][]int32{{0}}, i32LE), 0o644)
	c := newSetCache()
	s, err := c.load(SiftSmall)
	if err != nil || s.N() != 1 || s.NQ() != 1 || s.Dim != 2 || s.Metric != MetricL2 {
		t.Fatalf("tiny set: %+v, %v", s, err)
	}
	if s2, _ := c.load(SiftSmall); s2 != s {
		t.Error("second load did not return the memoized set")
	}
	// Concurrent first loads load once and agree (run under -race).
	c = newSetCache()
	got := make([]*Set, 8)
	done := make(chan int)
	for i := range got {
		go func() {
			got[i], _ = c.load(SiftSmall)
			done <- i
		}()
	}
	for range got {
		<-done
	}
	for i := range got {
		if got[i] == nil || got[i] != got[0] {
			t.Fatalf("concurrent loads returned %p and %p", got[0], got[i])
		}
	}
	if _, err := Load("sift1b"); !errors.Is(err, ErrUnknownSet) {
		t.Errorf("unknown name: %v", err)
	}
}

func TestSharedSets(t *testing.T) {
	for _, c := range []struct {
		name       string
		n, nq, dim int
		check      int // queries whose full ground truth is recomputed
	}{
		{SiftSmall, 10000, 100, 128, 100},
		{FashionMNIST, 60000, 10000, 784, 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			if testing.Short() && c.name == FashionMNIST {
				// About 2 s normally, 25 s under -race: the full run covers it.
				t.Skip("skipping fashion-mnist-784 in -short mode")
			}
			s := LoadOrSkip(t, c.name)
			if s.N() != c.n || s.NQ() != c.nq || s.Dim != c.dim || len(s.GroundTruth) != c.nq || s.Metric != MetricL2 {
				t.Fatalf("N %d NQ %d dim %d gt %d metric %q; want %d %d %d", s.N(), s.NQ(), s.Dim, len(s.GroundTruth), s.Metric, c.n, c.nq, c.dim)
			}
			for i, row := range s.GroundTruth {
				if len(row) != 100 {
					t.Fatalf("ground truth row %d has %d ids, want 100", i, len(row))
				}
			}
			if again, _ := Load(c.name); again != s {
				t.Error("Load did not memoize")
			}
			if len(s.BaseVec(c.n-1)) != c.dim || cap(s.Query(0)) != c.dim {
				t.Error("BaseVec/Query shape")
			}
			// Query 0's nearest neighbour, by a plain loop.
			best, bestD := -1, float32(math.Inf(1))
			for i := range s.N() {
				if d := kernels.L2Sq(s.Query(0), s.BaseVec(i)); d < bestD {
					best, bestD = i, d
				}
			}
			if int(s.GroundTruth[0][0]) != best {
				t.Errorf("ground truth of query 0 starts with %d, brute force says %d", s.GroundTruth[0][0], best)
			}
			check := c.check
			if testing.Short() {
				check = min(check, 4)
			}
			gt := GroundTruth(s.Base, s.Queries[:check*s.Dim], s.Dim, 100, MetricL2)
			for q := range check {
				// Compare exact distances, not ids: the files break ties by
				// their own rule, and float32 sums of large integers may
				// round. Values are integers, so float64 sums are exact.
				for j := range 100 {
					dg := exactSq(s.Query(q), s.BaseVec(int(gt[q][j])))
					dw := exactSq(s.Query(q), s.BaseVec(int(s.GroundTruth[q][j])))
					if dg != dw {
						t.Fatalf("query %d rank %d: ours id %d at %v, file id %d at %v", q, j, gt[q][j], dg, s.GroundTruth[q][j], dw)
					}
				}
				if r := Recall(toU64(gt[q]), s.GroundTruth[q], 10); r < 0.9 {
					t.Errorf("query %d: recall@10 of the brute force against the file %v", q, r)
				}
			}
		})
	}
}

func exactSq(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return s
}

func toU64(ids []int32) []uint64 {
	out := make([]uint64, len(ids))
	for i, id := range ids {
		out[i] = uint64(id)
	}
	return out
}

// ---- fuzz ----

// FuzzReaders feeds arbitrary bytes to every reader: none may panic, and a
// success must be self-consistent.
func FuzzReaders(f *testing.F) {
	for _, c := range readerCases(f) {
		f.Add(c.file)
		f.Add(gz(f, c.file))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, read := range []func(io.Reader) ([]float32, int, int, error){ReadFvecs, ReadBvecs, readIvecsF32, ReadIDX, ReadNpy} {
			data, rows, dim, err := read(bytes.NewReader(b))
			if err == nil && (len(data) != rows*dim || rows < 0 || dim < 0) {
				t.Fatalf("len %d rows %d dim %d", len(data), rows, dim)
			}
			if err != nil && (data != nil || rows != 0 || dim != 0) {
				t.Fatalf("error %v with data", err)
			}
		}
		if rows, err := ReadIvecs(bytes.NewReader(b)); err == nil {
			for _, r := range rows {
				if len(r) != len(rows[0]) {
					t.Fatal("ragged ivecs rows")
				}
			}
		}
		if rows, err := ReadNpyInt32(bytes.NewReader(b)); err == nil {
			for _, r := range rows {
				if len(r) != len(rows[0]) {
					t.Fatal("ragged npy rows")
				}
			}
		}
	})
}

// ---- benchmarks ----

// BenchmarkGroundTruth compares query grouping (group=1: each query streams
// the whole base) on a base that fits in cache and on one that does not
// (fashion-mnist's shape, 188 MB).
func BenchmarkGroundTruth(b *testing.B) {
	for _, c := range []struct{ n, nq, dim int }{{20000, 64, 128}, {60000, 16, 784}} {
		r := rand.New(rand.NewPCG(1, 2))
		base, queries := randVecs(r, c.n, c.dim), randVecs(r, c.nq, c.dim)
		for _, group := range []int{1, gtGroup} {
			b.Run(fmt.Sprintf("dim=%d/n=%d/group=%d", c.dim, c.n, group), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(c.n * c.nq * c.dim * 4))
				for b.Loop() {
					groundTruth(base, queries, c.dim, 100, MetricL2, nil, group)
				}
			})
		}
	}
}

func BenchmarkRecall(b *testing.B) {
	got := make([]uint64, 100)
	truth := make([]int32, 100)
	for i := range got {
		got[i], truth[i] = uint64(i*7%100), int32(i)
	}
	b.ReportAllocs()
	for b.Loop() {
		Recall(got, truth, 100)
	}
}

func BenchmarkLoad(b *testing.B) {
	dir, err := Dir()
	if err != nil {
		b.Skipf("skipping: %v", err)
	}
	p := filepath.Join(dir, FashionMNIST, "train-images-idx3-ubyte.gz")
	fi, err := os.Stat(p)
	if err != nil {
		b.Skipf("skipping: %v", err)
	}
	b.ReportAllocs()
	b.SetBytes(fi.Size())
	for b.Loop() {
		if _, _, _, err := ReadFile(p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFileHint: reading a regular file sizes the output in one allocation
// when the file's length (or gzip's ISIZE trailer) confirms the header, and a
// lying header in a file still allocates little.
func TestFileHint(t *testing.T) {
	dir := t.TempDir()
	// 20 MB of float32: more than initialCap, so that IDX and npy would grow
	// without the hint. -short keeps only the TEXMEX cases discriminating
	// (they always grow without a hint) and is 10x cheaper under -race.
	rows, dim := 10000, 500
	if testing.Short() {
		rows = 1000
	}
	u := make([]byte, rows*dim)
	for i := range u {
		u[i] = byte(i * 7)
	}
	vecRows := make([][]uint8, rows)
	for i := range vecRows {
		vecRows[i] = u[i*dim : (i+1)*dim]
	}
	files := map[string][]byte{
		"a-idx3-ubyte":    encodeIDX(0x08, []uint32{uint32(rows), 20, 25}, u),
		"a-idx3-ubyte.gz": gz(t, encodeIDX(0x08, []uint32{uint32(rows), 20, 25}, u)),
		"a.npy":           encodeNpy(1, npyDict("|u1", false, fmt.Sprintf("(%d, %d)", rows, dim)), u),
		"a.npy.gz":        gz(t, encodeNpy(1, npyDict("|u1", false, fmt.Sprintf("(%d, %d)", rows, dim)), u)),
		"a.bvecs":         encodeVecs(vecRows, u8),
		"a.bvecs.gz":      gz(t, encodeVecs(vecRows, u8)),
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		data, n, d, err := ReadFile(p)
		runtime.ReadMemStats(&after)
		if err != nil || n != rows || d != dim || data[rows*dim-1] != float32(u[rows*dim-1]) {
			t.Fatalf("%s: %d×%d, %v", name, n, d, err)
		}
		// One output buffer plus read buffers, not a doubling series.
		if got, want := after.TotalAlloc-before.TotalAlloc, uint64(4*rows*dim+(1<<20)); got > want {
			t.Errorf("%s: allocated %d bytes, want ≤ %d (one output buffer)", name, got, want)
		}
	}
	// A plain file whose header claims 2^32 elements holds 100 bytes.
	p := filepath.Join(dir, "liar-idx2-ubyte")
	os.WriteFile(p, encodeIDX(0x08, []uint32{1 << 16, 1 << 16}, make([]byte, 100)), 0o644)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, _, _, err := ReadFile(p)
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("liar: %v, want ErrMalformed", err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 4*initialCap+(4<<20) {
		t.Errorf("liar: allocated %d bytes for a 100-byte body", got)
	}
}

func TestReadIDsFile(t *testing.T) {
	dir := t.TempDir()
	want := [][]int32{{1, 2}, {3, 4}}
	var raw bytes.Buffer
	binary.Write(&raw, binary.LittleEndian, []int32{1, 2, 3, 4})
	files := map[string][]byte{
		"gt.ivecs.gz": gz(t, encodeVecs(want, i32LE)),
		"gt.npy":      encodeNpy(1, npyDict("<i4", false, "(2, 2)"), raw.Bytes()),
	}
	for name, b := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		got, err := ReadIDsFile(p)
		if err != nil || len(got) != 2 || !slices.Equal(got[0], want[0]) || !slices.Equal(got[1], want[1]) {
			t.Errorf("%s: %v, %v", name, got, err)
		}
	}
	if _, err := ReadIDsFile(filepath.Join(dir, "x.fvecs")); !errors.Is(err, ErrUnsupported) {
		t.Errorf("fvecs as ids: %v, want ErrUnsupported", err)
	}
}

func TestSetHelpers(t *testing.T) {
	r := newRand(t)
	const n, nq, dim = 500, 20, 8
	s := &Set{Name: "rand", Dim: dim, Base: randVecs(r, n, dim), Queries: randVecs(r, nq, dim), Metric: MetricL2}
	s.GroundTruth = GroundTruth(s.Base, s.Queries, dim, 10, MetricL2)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	f := s.FirstQueries(5)
	if f.NQ() != 5 || len(f.GroundTruth) != 5 || f.N() != n || &f.Query(4)[0] != &s.Query(4)[0] {
		t.Errorf("FirstQueries(5): NQ %d gt %d N %d", f.NQ(), len(f.GroundTruth), f.N())
	}
	if s.FirstQueries(0) != s || s.FirstQueries(nq+1) != s {
		t.Error("FirstQueries out of range should return s")
	}
	orig := slices.Clone(s.Base)
	c := f.Normalized(10, MetricCosine)
	if !slices.Equal(s.Base, orig) {
		t.Fatal("Normalized modified its receiver")
	}
	if c.Metric != MetricCosine || c.NQ() != 5 || c.N() != n {
		t.Errorf("Normalized: %q NQ %d N %d", c.Metric, c.NQ(), c.N())
	}
	if nb := kernels.Norm(c.BaseVec(3)); math.Abs(float64(nb)-1) > 1e-5 {
		t.Errorf("base not normalized: %v", nb)
	}
	// Cosine ground truth is invariant under normalization.
	want := GroundTruth(s.Base, f.Queries, dim, 10, MetricCosine)
	for q := range 5 {
		if r := Recall(toU64(c.GroundTruth[q]), want[q], 10); r < 0.9 {
			t.Errorf("query %d: normalized cosine truth recall %v against the raw one", q, r)
		}
	}
	bad := *s
	bad.GroundTruth = [][]int32{{int32(n)}}
	if err := bad.Validate(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Validate: %v", err)
	}
}
