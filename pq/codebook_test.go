package pq

import (
	"encoding/binary"
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/lsmvec/lsmvec/kernels"
)

// testSeed seeds every randomized test in the package; tests log it.
const testSeed = 20261122

func newRand(t testing.TB) *rand.Rand {
	t.Logf("seed %d", testSeed)
	return rand.New(rand.NewPCG(testSeed, 1))
}

func randVecs(rng *rand.Rand, n, dim int) []float32 {
	v := make([]float32, n*dim)
	for i := range v {
		v[i] = float32(rng.NormFloat64())
	}
	return v
}

// randCodebook returns a codebook with random centroids, rows per
// subquantizer varying between 1 and 2^bits (capped at maxRows).
func randCodebook(t testing.TB, rng *rand.Rand, dim, m, bits, maxRows int) *Codebook {
	t.Helper()
	subs := make([][]float32, m)
	for j := range subs {
		rows := 1 + rng.IntN(maxRows)
		if j == 0 {
			rows = maxRows
		}
		subs[j] = randVecs(rng, rows, dim/m)
	}
	cb, err := NewCodebook(dim, bits, subs)
	if err != nil {
		t.Fatal(err)
	}
	return cb
}

func TestNewCodebookValidation(t *testing.T) {
	ok := func(rows, dsub int) []float32 { return make([]float32, rows*dsub) }
	nan := ok(3, 4)
	nan[5] = float32(math.NaN())
	tests := []struct {
		name string
		dim  int
		bits int
		subs [][]float32
		want error
	}{
		{"valid pq8", 8, 8, [][]float32{ok(256, 4), ok(3, 4)}, nil},
		{"valid pq16", 8, 16, [][]float32{ok(257, 4), ok(1, 4)}, nil},
		{"bits 4", 8, 4, [][]float32{ok(3, 4), ok(3, 4)}, ErrInvalidArgument},
		{"no subquantizers", 8, 8, nil, ErrInvalidArgument},
		{"zero dim", 0, 8, [][]float32{ok(3, 4)}, ErrInvalidArgument},
		{"dim not divisible", 10, 8, [][]float32{ok(3, 4), ok(3, 4), ok(3, 4)}, ErrInvalidArgument},
		{"ragged rows", 8, 8, [][]float32{ok(3, 4), make([]float32, 7)}, ErrInvalidArgument},
		{"wrong sub dim", 8, 8, [][]float32{ok(3, 4), ok(2, 3)}, ErrInvalidArgument},
		{"empty matrix", 8, 8, [][]float32{ok(3, 4), nil}, ErrInvalidArgument},
		{"too many rows pq8", 8, 8, [][]float32{ok(257, 4), ok(3, 4)}, ErrTooManyCentroids},
		{"too many rows pq16", 2, 16, [][]float32{ok(65537, 1), ok(3, 1)}, ErrTooManyCentroids},
		{"nan centroid", 8, 8, [][]float32{ok(3, 4), nan}, ErrNotFinite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cb, err := NewCodebook(tc.dim, tc.bits, tc.subs)
			if !errors.Is(err, tc.want) {
				t.Fatalf("NewCodebook error = %v, want %v", err, tc.want)
			}
			if tc.want == nil {
				if cb.M != len(tc.subs) || cb.Dim != tc.dim || cb.Bits != tc.bits || cb.SubDim() != tc.dim/len(tc.subs) {
					t.Fatalf("codebook %d/%d/%d/%d", cb.Dim, cb.M, cb.Bits, cb.SubDim())
				}
			}
		})
	}
}

func TestCodebookCopiesInput(t *testing.T) {
	sub := []float32{1, 2, 3, 4}
	cb, err := NewCodebook(2, 8, [][]float32{sub})
	if err != nil {
		t.Fatal(err)
	}
	sub[0] = 100
	if cb.Centroids[0][0] != 1 {
		t.Fatal("codebook aliases the caller's matrix")
	}
}

// bruteNearest is the reference for Encode: the nearest row by exact
// float64 squared distance, ties to the lower index.
func bruteNearest(x, rows []float32) int {
	d := len(x)
	best, bestD := -1, math.Inf(1)
	for r := 0; r < len(rows)/d; r++ {
		var s float64
		for i := range x {
			v := float64(x[i]) - float64(rows[r*d+i])
			s += v * v
		}
		if s < bestD {
			best, bestD = r, s
		}
	}
	return best
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	rng := newRand(t)
	for _, bits := range []int{8, 16} {
		const dim, m = 24, 6
		maxRows := 256
		if bits == 16 {
			maxRows = 700
		}
		cb := randCodebook(t, rng, dim, m, bits, maxRows)
		code := make([]byte, cb.CodeSize())
		dec := make([]float32, dim)
		// A decoded vector is made of centroids, so it encodes to the same
		// code and decodes to itself exactly.
		for trial := 0; trial < 200; trial++ {
			for j := 0; j < m; j++ {
				k := rng.IntN(cb.Rows(j))
				if bits == 8 {
					code[j] = byte(k)
				} else {
					binary.LittleEndian.PutUint16(code[2*j:], uint16(k))
				}
			}
			if err := cb.Decode(code, dec); err != nil {
				t.Fatal(err)
			}
			again := make([]byte, len(code))
			if err := cb.Encode(dec, again); err != nil {
				t.Fatal(err)
			}
			dec2 := make([]float32, dim)
			if err := cb.Decode(again, dec2); err != nil {
				t.Fatal(err)
			}
			for i := range dec {
				if dec[i] != dec2[i] {
					t.Fatalf("pq%d: decode(encode(decode(c))) differs at %d: %v vs %v", bits, i, dec[i], dec2[i])
				}
			}
		}
		// A random vector encodes to the nearest centroid of each subspace.
		x := randVecs(rng, 1, dim)
		if err := cb.Encode(x, code); err != nil {
			t.Fatal(err)
		}
		var c16 []uint16
		if bits == 16 {
			c16 = make([]uint16, m)
			if err := cb.Encode16(x, c16); err != nil {
				t.Fatal(err)
			}
		}
		for j := 0; j < m; j++ {
			want := bruteNearest(x[j*4:(j+1)*4], cb.Centroids[j])
			if got := cb.code(code, j); got != want {
				t.Fatalf("pq%d sub %d: code %d, nearest %d", bits, j, got, want)
			}
			if bits == 16 && int(c16[j]) != want {
				t.Fatalf("pq16 sub %d: Encode16 gives %d, want %d", j, c16[j], want)
			}
		}
	}
}

func TestEncodeDecodeErrors(t *testing.T) {
	rng := newRand(t)
	cb := randCodebook(t, rng, 8, 2, 8, 5)
	if err := cb.Encode(make([]float32, 7), make([]byte, 2)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("short vector: %v", err)
	}
	if err := cb.Encode(make([]float32, 8), make([]byte, 1)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("short code buffer: %v", err)
	}
	if err := cb.Encode16(make([]float32, 8), make([]uint16, 2)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Encode16 on pq8: %v", err)
	}
	if err := cb.Decode([]byte{0}, make([]float32, 8)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("short code: %v", err)
	}
	if err := cb.Decode([]byte{0, 200}, make([]float32, 8)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("index past the rows: %v", err)
	}
	if err := cb.Table(make([]float32, 8), Cosine, make([]float32, cb.TableSize())); !errors.Is(err, ErrCosine) {
		t.Fatalf("cosine table: %v", err)
	}
	if err := cb.Table(make([]float32, 8), L2, make([]float32, 10)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("short table: %v", err)
	}
}

// TestADCEqualsDecodedDistance checks that the table sums (through the
// kernels and through Distance) equal the exact distance from the query to
// the decoded vector.
func TestADCEqualsDecodedDistance(t *testing.T) {
	rng := newRand(t)
	for _, bits := range []int{8, 16} {
		for _, metric := range []Metric{L2, InnerProduct} {
			const dim, m, n = 32, 8, 50
			cb := randCodebook(t, rng, dim, m, bits, 256)
			table := make([]float32, cb.TableSize())
			q := randVecs(rng, 1, dim)
			if err := cb.Table(q, metric, table); err != nil {
				t.Fatal(err)
			}
			data := randVecs(rng, n, dim)
			codes := make([]byte, n*cb.CodeSize())
			codes8 := make([]uint8, n*m)
			codes16 := make([]uint16, n*m)
			for i := 0; i < n; i++ {
				x := data[i*dim : (i+1)*dim]
				if err := cb.Encode(x, codes[i*cb.CodeSize():]); err != nil {
					t.Fatal(err)
				}
				if bits == 8 {
					if err := cb.Encode8(x, codes8[i*m:]); err != nil {
						t.Fatal(err)
					}
				} else if err := cb.Encode16(x, codes16[i*m:]); err != nil {
					t.Fatal(err)
				}
			}
			adc := make([]float32, n)
			if bits == 8 {
				kernels.ADC8(table, codes8, adc)
			} else {
				kernels.ADC16(table, codes16, adc)
			}
			dec := make([]float32, dim)
			for i := 0; i < n; i++ {
				code := codes[i*cb.CodeSize() : (i+1)*cb.CodeSize()]
				if err := cb.Decode(code, dec); err != nil {
					t.Fatal(err)
				}
				var want float64
				for j := range q {
					if metric == L2 {
						d := float64(q[j]) - float64(dec[j])
						want += d * d
					} else {
						want -= float64(q[j]) * float64(dec[j])
					}
				}
				tol := 1e-4 * (1 + math.Abs(want))
				if got := cb.Distance(table, code); math.Abs(float64(got)-want) > tol {
					t.Fatalf("pq%d %v vector %d: Distance %v, decoded %v", bits, metric, i, got, want)
				}
				if math.Abs(float64(adc[i])-want) > tol {
					t.Fatalf("pq%d %v vector %d: ADC kernel %v, decoded %v", bits, metric, i, adc[i], want)
				}
			}
		}
	}
}

func TestCodebookAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race (sync.Pool drops items on purpose)")
	}
	rng := newRand(t)
	cb := randCodebook(t, rng, 64, 16, 8, 256)
	x := randVecs(rng, 1, 64)
	code := make([]byte, cb.CodeSize())
	table := make([]float32, cb.TableSize())
	if a := testing.AllocsPerRun(50, func() { _ = cb.Encode(x, code) }); a != 0 {
		t.Errorf("Encode allocates %v times", a)
	}
	if a := testing.AllocsPerRun(50, func() { _ = cb.Table(x, L2, table) }); a != 0 {
		t.Errorf("Table(L2) allocates %v times", a)
	}
	if a := testing.AllocsPerRun(50, func() { _ = cb.Table(x, InnerProduct, table) }); a != 0 {
		t.Errorf("Table(IP) allocates %v times", a)
	}
}

func BenchmarkTable(b *testing.B) {
	rng := rand.New(rand.NewPCG(testSeed, 1))
	for _, tc := range []struct{ dim, m int }{{784, 16}, {128, 16}} {
		subs := make([][]float32, tc.m)
		for j := range subs {
			subs[j] = randVecs(rng, 256, tc.dim/tc.m)
		}
		cb, _ := NewCodebook(tc.dim, 8, subs)
		q := randVecs(rng, 1, tc.dim)
		table := make([]float32, cb.TableSize())
		b.Run("dim="+strconv.Itoa(tc.dim)+"/m="+strconv.Itoa(tc.m), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = cb.Table(q, L2, table)
			}
		})
	}
}
