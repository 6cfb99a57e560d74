package pq

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"github.com/lsmvec/lsmvec/kernels"
)

// Codebook is a product quantizer: the vector space of dimension Dim is cut
// into M contiguous subspaces of Dim/M values, and each subspace has its own
// list of centroids (at most 2^Bits of them). A vector's code is the index of
// the nearest centroid in each subspace: M bytes for pq8, M little-endian
// uint16 (2·M bytes) for pq16.
//
// A Codebook is built by NewCodebook or Train and is immutable afterwards; its
// exported fields must not be modified. It is safe for concurrent use.
type Codebook struct {
	// Dim is the dimension of the vectors the codebook encodes.
	Dim int
	// M is the number of subquantizers; Dim is a multiple of M.
	M int
	// Bits is the code width per subquantizer: 8 or 16.
	Bits int
	// Centroids holds one row-major matrix per subquantizer: Centroids[j]
	// has Rows(j) rows of Dim/M values each. It is the codebook's own copy.
	Centroids [][]float32

	dsub int
	rows []int
}

// NewCodebook validates a PQ configuration and returns the codebook. subs
// holds one row-major matrix per subquantizer (M = len(subs)); each must hold
// a whole number of rows of dim/M values, at least one and at most 2^bits
// rows, all finite. bits is 8 or 16. The matrices are copied; the caller keeps
// ownership of subs.
func NewCodebook(dim, bits int, subs [][]float32) (*Codebook, error) {
	if bits != 8 && bits != 16 {
		return nil, fmt.Errorf("cannot build codebook: bits = %d, want 8 or 16: %w", bits, ErrInvalidArgument)
	}
	m := len(subs)
	if dim <= 0 || m == 0 {
		return nil, fmt.Errorf("cannot build codebook: dim = %d with %d subquantizers: %w", dim, m, ErrInvalidArgument)
	}
	if dim%m != 0 {
		return nil, fmt.Errorf("cannot build codebook: dim %d is not divisible by %d subquantizers: %w", dim, m, ErrInvalidArgument)
	}
	dsub := dim / m
	c := &Codebook{Dim: dim, M: m, Bits: bits, Centroids: make([][]float32, m), dsub: dsub, rows: make([]int, m)}
	for j, s := range subs {
		if len(s) == 0 || len(s)%dsub != 0 {
			return nil, fmt.Errorf("cannot build codebook: subquantizer %d has %d values, want a positive multiple of dim/M = %d: %w", j, len(s), dsub, ErrInvalidArgument)
		}
		r := len(s) / dsub
		if r > 1<<bits {
			return nil, fmt.Errorf("cannot build codebook: subquantizer %d has %d centroids, pq%d allows %d: %w", j, r, bits, 1<<bits, ErrTooManyCentroids)
		}
		for i, v := range s {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("cannot build codebook: subquantizer %d row %d: %w", j, i/dsub, ErrNotFinite)
			}
		}
		c.Centroids[j] = append([]float32(nil), s...)
		c.rows[j] = r
	}
	return c, nil
}

// SubDim returns Dim/M, the dimension of one subspace.
func (c *Codebook) SubDim() int { return c.dsub }

// Rows returns the number of centroids of subquantizer j.
func (c *Codebook) Rows(j int) int { return c.rows[j] }

// CodeSize returns the size in bytes of one vector's code: M for pq8, 2·M for
// pq16.
func (c *Codebook) CodeSize() int { return c.M * c.Bits / 8 }

// TableSize returns the length of the distance table Table fills:
// M·2^Bits values (one 2^Bits stride per subquantizer, the layout kernels.ADC8
// and kernels.ADC16 read).
func (c *Codebook) TableSize() int { return c.M << c.Bits }

// nearestBufs pools the distance buffers of nearest (256 values each).
var nearestBufs = sync.Pool{New: func() any { return new([256]float32) }}

// nearest returns the index of the centroid of subquantizer j closest (in L2)
// to x, which holds Dim/M values; ties go to the lower index. It scans the
// centroids 256 rows per kernels.L2SqBatch call.
func (c *Codebook) nearest(j int, x []float32) int {
	cents := c.Centroids[j]
	d := c.dsub
	buf := nearestBufs.Get().(*[256]float32)
	best, bestD := 0, float32(math.Inf(1))
	for lo := 0; lo < c.rows[j]; lo += len(buf) {
		out := buf[:min(len(buf), c.rows[j]-lo)]
		kernels.L2SqBatch(x, cents[lo*d:], out)
		for r, dist := range out {
			if dist < bestD {
				best, bestD = lo+r, dist
			}
		}
	}
	nearestBufs.Put(buf)
	return best
}

func (c *Codebook) checkVec(vec []float32, op string) error {
	if len(vec) != c.Dim {
		return fmt.Errorf("cannot %s: vector has %d values, want %d: %w", op, len(vec), c.Dim, ErrInvalidArgument)
	}
	return nil
}

// Encode writes vec's code to dst, which must hold CodeSize bytes: one byte
// per subquantizer for pq8, a little-endian uint16 per subquantizer for pq16.
// Each subvector maps to its nearest centroid in L2 (whatever the search
// metric). It allocates nothing.
func (c *Codebook) Encode(vec []float32, dst []byte) error {
	if err := c.checkVec(vec, "encode vector"); err != nil {
		return err
	}
	if len(dst) < c.CodeSize() {
		return fmt.Errorf("cannot encode vector: code buffer holds %d bytes, want %d: %w", len(dst), c.CodeSize(), ErrInvalidArgument)
	}
	for j := 0; j < c.M; j++ {
		k := c.nearest(j, vec[j*c.dsub:(j+1)*c.dsub])
		if c.Bits == 8 {
			dst[j] = byte(k)
		} else {
			binary.LittleEndian.PutUint16(dst[2*j:], uint16(k))
		}
	}
	return nil
}

// Encode8 writes the pq8 code of vec to dst (M bytes), the in-memory form
// kernels.ADC8 reads. It fails on a pq16 codebook.
func (c *Codebook) Encode8(vec []float32, dst []uint8) error {
	if c.Bits != 8 {
		return fmt.Errorf("cannot encode vector: Encode8 on a pq%d codebook: %w", c.Bits, ErrInvalidArgument)
	}
	return c.Encode(vec, dst)
}

// Encode16 writes the pq16 code of vec to dst (M values), the in-memory form
// kernels.ADC16 reads. It fails on a pq8 codebook.
func (c *Codebook) Encode16(vec []float32, dst []uint16) error {
	if c.Bits != 16 {
		return fmt.Errorf("cannot encode vector: Encode16 on a pq%d codebook: %w", c.Bits, ErrInvalidArgument)
	}
	if err := c.checkVec(vec, "encode vector"); err != nil {
		return err
	}
	if len(dst) < c.M {
		return fmt.Errorf("cannot encode vector: code buffer holds %d values, want %d: %w", len(dst), c.M, ErrInvalidArgument)
	}
	for j := 0; j < c.M; j++ {
		dst[j] = uint16(c.nearest(j, vec[j*c.dsub:(j+1)*c.dsub]))
	}
	return nil
}

// code returns the centroid index of subquantizer j in a byte-form code.
func (c *Codebook) code(code []byte, j int) int {
	if c.Bits == 8 {
		return int(code[j])
	}
	return int(binary.LittleEndian.Uint16(code[2*j:]))
}

// Decode writes the reconstruction of a byte-form code (as Encode writes it)
// to dst, which must hold Dim values. A centroid index past a subquantizer's
// rows is an error (codes may come from disk).
func (c *Codebook) Decode(code []byte, dst []float32) error {
	if len(code) < c.CodeSize() {
		return fmt.Errorf("cannot decode code: %d bytes, want %d: %w", len(code), c.CodeSize(), ErrInvalidArgument)
	}
	if len(dst) < c.Dim {
		return fmt.Errorf("cannot decode code: output holds %d values, want %d: %w", len(dst), c.Dim, ErrInvalidArgument)
	}
	d := c.dsub
	for j := 0; j < c.M; j++ {
		k := c.code(code, j)
		if k >= c.rows[j] {
			return fmt.Errorf("cannot decode code: subquantizer %d index %d past %d centroids: %w", j, k, c.rows[j], ErrInvalidArgument)
		}
		copy(dst[j*d:(j+1)*d], c.Centroids[j][k*d:(k+1)*d])
	}
	return nil
}

// Table fills dst (TableSize values) with the asymmetric distance table of
// query q: for subquantizer j and centroid k, dst[j<<Bits + k] is
// ‖q_j − c_jk‖² for L2 and −⟨q_j, c_jk⟩ for InnerProduct, so that the sum
// over a code's entries (kernels.ADC8 / ADC16, or Distance) is the squared L2
// distance to the decoded vector, or ⟨q, x̂⟩ negated (the contract's
// inner-product distance is then 1 + sum). Entries past a subquantizer's rows
// are left unspecified: no valid code reads them. Cosine is refused with
// ErrCosine. Table allocates nothing; it costs one pass over the centroids.
func (c *Codebook) Table(q []float32, metric Metric, dst []float32) error {
	if metric == Cosine {
		return fmt.Errorf("cannot build distance table: %w", ErrCosine)
	}
	if metric != L2 && metric != InnerProduct {
		return fmt.Errorf("cannot build distance table: unknown metric %v: %w", metric, ErrInvalidArgument)
	}
	if err := c.checkVec(q, "build distance table"); err != nil {
		return err
	}
	if len(dst) < c.TableSize() {
		return fmt.Errorf("cannot build distance table: table holds %d values, want %d: %w", len(dst), c.TableSize(), ErrInvalidArgument)
	}
	d := c.dsub
	for j := 0; j < c.M; j++ {
		qs := q[j*d : (j+1)*d]
		out := dst[j<<c.Bits : j<<c.Bits+c.rows[j]]
		if metric == L2 {
			kernels.L2SqBatch(qs, c.Centroids[j], out)
		} else {
			kernels.DotBatch(qs, c.Centroids[j], out)
			for i := range out {
				out[i] = -out[i]
			}
		}
	}
	return nil
}

// Distance returns the sum of table entries a byte-form code selects (the
// value kernels.ADC8/ADC16 compute for in-memory codes): the squared L2
// distance for an L2 table, −⟨q, x̂⟩ for an inner-product one. The code must be
// valid for the codebook (as Encode writes it).
func (c *Codebook) Distance(table []float32, code []byte) float32 {
	var s float32
	for j := 0; j < c.M; j++ {
		s += table[j<<c.Bits+c.code(code, j)]
	}
	return s
}
