package store

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/cockroachdb/pebble"
)

// matrixChunkFloats is the number of float32 values per matrix data key.
const matrixChunkFloats = 1 << 18 // 1 MiB

// MaxPQRows is the most rows a PQ codebook matrix may have (16-bit codes).
const MaxPQRows = 1 << 16

// MatrixInfo describes a stored matrix.
type MatrixInfo struct {
	Name    string `json:"name"`
	Dim     int    `json:"dim"`
	Rows    int    `json:"len"`
	Enabled bool   `json:"enabled"` // always true: every stored matrix is usable
}

// matrixMeta is the persisted form of a matrix (key 'x' name); its rows
// live under 'X' id chunk.
type matrixMeta struct {
	ID   uint32 `json:"id"`
	Name string `json:"name"`
	Dim  int    `json:"dim"`
	Rows int    `json:"rows"`
}

func (m *matrixMeta) info() MatrixInfo {
	return MatrixInfo{Name: m.Name, Dim: m.Dim, Rows: m.Rows, Enabled: true}
}

// PutMatrix creates or replaces (whole, atomically) the matrix name with
// rows = len(data)/dim rows of dim values. data is not retained. A matrix
// used by a PQ configuration may be replaced only by one of the same
// dimension, and not at all while an index uses that PQ (ErrInUse).
func (db *DB) PutMatrix(name string, dim int, data []float32) (MatrixInfo, error) {
	if err := db.writable(); err != nil {
		return MatrixInfo{}, fmt.Errorf("cannot store matrix %q: %w", name, err)
	}
	if !validName(name, true) || name == "." || name == ".." {
		return MatrixInfo{}, fmt.Errorf("cannot store matrix %q: name must match [A-Za-z0-9_.-]{1,128}: %w", name, ErrInvalid)
	}
	if dim < 1 || dim > MaxDim {
		return MatrixInfo{}, fmt.Errorf("cannot store matrix %q: dim %d outside 1..%d: %w", name, dim, MaxDim, ErrInvalid)
	}
	if len(data) == 0 || len(data)%dim != 0 {
		return MatrixInfo{}, fmt.Errorf("cannot store matrix %q: %d values is not a positive multiple of dim %d: %w", name, len(data), dim, ErrInvalid)
	}
	if err := checkVector(data, len(data)); err != nil {
		return MatrixInfo{}, fmt.Errorf("cannot store matrix %q: %w", name, err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.writable(); err != nil { // Close may have begun
		return MatrixInfo{}, fmt.Errorf("cannot store matrix %q: %w", name, err)
	}
	old := db.mu.matrices[name]
	if old != nil {
		for _, p := range db.pqsUsingMatrixLocked(name) {
			if db.mu.pqUsers[p] > 0 {
				return MatrixInfo{}, fmt.Errorf("cannot replace matrix %q: PQ %q is used by an index: %w", name, p, ErrInUse)
			}
			if dim != old.Dim {
				return MatrixInfo{}, fmt.Errorf("cannot replace matrix %q of dim %d by dim %d: PQ %q uses it: %w", name, old.Dim, dim, p, ErrInUse)
			}
		}
	}
	b := db.pdb.NewBatch()
	defer b.Close()
	m := &matrixMeta{ID: db.allocIDLocked(b), Name: name, Dim: dim, Rows: len(data) / dim}
	raw, _ := json.Marshal(m)
	_ = b.Set(nameKey(keyMatrix, name), raw, nil)
	var val []byte
	for chunk, off := uint32(0), 0; off < len(data); chunk, off = chunk+1, off+matrixChunkFloats {
		end := min(off+matrixChunkFloats, len(data))
		val = appendFloats(val[:0], data[off:end])
		_ = b.Set(matrixChunkKey(m.ID, chunk), val, nil)
	}
	if old != nil {
		lo, hi := matrixDataBounds(old.ID)
		_ = b.DeleteRange(lo, hi, nil)
	}
	if err := db.commit(b); err != nil {
		db.mu.nextID--
		return MatrixInfo{}, fmt.Errorf("cannot store matrix %q: %w", name, err)
	}
	db.mu.matrices[name] = m
	return m.info(), nil
}

// pqsUsingMatrixLocked returns the names of the PQ configurations that list
// matrix name as a codebook.
func (db *DB) pqsUsingMatrixLocked(name string) []string {
	var out []string
	for pn, p := range db.mu.pqs {
		for _, cb := range p.Codebooks {
			if cb == name {
				out = append(out, pn)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// Matrix returns the description of matrix name.
func (db *DB) Matrix(name string) (MatrixInfo, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	m, ok := db.mu.matrices[name]
	if !ok {
		return MatrixInfo{}, fmt.Errorf("cannot get matrix %q: %w", name, ErrNotFound)
	}
	return m.info(), nil
}

// MatrixData appends the rows of matrix name (row-major) to dst.
func (db *DB) MatrixData(name string, dst []float32) ([]float32, MatrixInfo, error) {
	db.mu.Lock() // held so that a concurrent PutMatrix cannot delete the rows
	defer db.mu.Unlock()
	if db.closing.Load() {
		return dst, MatrixInfo{}, fmt.Errorf("cannot read matrix %q: %w", name, ErrClosed)
	}
	m, ok := db.mu.matrices[name]
	if !ok {
		return dst, MatrixInfo{}, fmt.Errorf("cannot read matrix %q: %w", name, ErrNotFound)
	}
	lo, hi := matrixDataBounds(m.ID)
	it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return dst, MatrixInfo{}, fmt.Errorf("cannot read matrix %q: %w", name, err)
	}
	n := len(dst)
	for ok := it.First(); ok; ok = it.Next() {
		dst = decodeFloats(dst, it.Value())
	}
	if err := it.Close(); err != nil {
		return dst[:n], MatrixInfo{}, fmt.Errorf("cannot read matrix %q: %w", name, err)
	}
	if len(dst)-n != m.Rows*m.Dim {
		return dst[:n], MatrixInfo{}, fmt.Errorf("cannot read matrix %q: %d values, want %d: %w", name, len(dst)-n, m.Rows*m.Dim, ErrInvalid)
	}
	return dst, m.info(), nil
}

// Matrices returns every matrix, sorted by name.
func (db *DB) Matrices() []MatrixInfo {
	db.mu.Lock()
	defer db.mu.Unlock()
	out := make([]MatrixInfo, 0, len(db.mu.matrices))
	for _, m := range db.mu.matrices {
		out = append(out, m.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DeleteMatrix removes matrix name. ErrNotFound if absent, ErrInUse while
// a PQ configuration lists it.
func (db *DB) DeleteMatrix(name string) error {
	if err := db.writable(); err != nil {
		return fmt.Errorf("cannot delete matrix %q: %w", name, err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.writable(); err != nil { // Close may have begun
		return fmt.Errorf("cannot delete matrix %q: %w", name, err)
	}
	m, ok := db.mu.matrices[name]
	if !ok {
		return fmt.Errorf("cannot delete matrix %q: %w", name, ErrNotFound)
	}
	if users := db.pqsUsingMatrixLocked(name); len(users) > 0 {
		return fmt.Errorf("cannot delete matrix %q: PQ %q uses it: %w", name, users[0], ErrInUse)
	}
	b := db.pdb.NewBatch()
	defer b.Close()
	_ = b.Delete(nameKey(keyMatrix, name), nil)
	lo, hi := matrixDataBounds(m.ID)
	_ = b.DeleteRange(lo, hi, nil)
	if err := db.commit(b); err != nil {
		return fmt.Errorf("cannot delete matrix %q: %w", name, err)
	}
	delete(db.mu.matrices, name)
	return nil
}

// PQConfig is a product-quantizer configuration: the vectors' dimension and
// one codebook matrix per subspace (M = len(Codebooks) subspaces of
// Dim/M components; each matrix has Dim/M columns and at most 2^bits rows).
type PQConfig struct {
	Name      string   `json:"name"`
	Dim       int      `json:"dim"`
	Codebooks []string `json:"codebooks"`
	Enabled   bool     `json:"enabled"` // always true
}

// CreatePQ stores a PQ configuration. ErrExists if the name is taken,
// ErrNotFound if a codebook matrix is missing, ErrInvalid if the shapes do
// not fit.
func (db *DB) CreatePQ(cfg PQConfig) (PQConfig, error) {
	if err := db.writable(); err != nil {
		return PQConfig{}, fmt.Errorf("cannot create PQ %q: %w", cfg.Name, err)
	}
	if !validName(cfg.Name, true) || cfg.Name == "." || cfg.Name == ".." {
		return PQConfig{}, fmt.Errorf("cannot create PQ %q: name must match [A-Za-z0-9_.-]{1,128}: %w", cfg.Name, ErrInvalid)
	}
	if cfg.Dim < 1 || cfg.Dim > MaxDim {
		return PQConfig{}, fmt.Errorf("cannot create PQ %q: dim %d outside 1..%d: %w", cfg.Name, cfg.Dim, MaxDim, ErrInvalid)
	}
	m := len(cfg.Codebooks)
	if m == 0 || cfg.Dim%m != 0 {
		return PQConfig{}, fmt.Errorf("cannot create PQ %q: %d codebooks do not divide dim %d: %w", cfg.Name, m, cfg.Dim, ErrInvalid)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.writable(); err != nil { // Close may have begun
		return PQConfig{}, fmt.Errorf("cannot create PQ %q: %w", cfg.Name, err)
	}
	if _, ok := db.mu.pqs[cfg.Name]; ok {
		return PQConfig{}, fmt.Errorf("cannot create PQ %q: %w", cfg.Name, ErrExists)
	}
	for _, cb := range cfg.Codebooks {
		mm, ok := db.mu.matrices[cb]
		if !ok {
			return PQConfig{}, fmt.Errorf("cannot create PQ %q: codebook matrix %q: %w", cfg.Name, cb, ErrNotFound)
		}
		if mm.Dim != cfg.Dim/m {
			return PQConfig{}, fmt.Errorf("cannot create PQ %q: codebook %q has dim %d, want %d: %w", cfg.Name, cb, mm.Dim, cfg.Dim/m, ErrInvalid)
		}
		if mm.Rows > MaxPQRows {
			return PQConfig{}, fmt.Errorf("cannot create PQ %q: codebook %q has %d rows, at most %d: %w", cfg.Name, cb, mm.Rows, MaxPQRows, ErrInvalid)
		}
	}
	p := &PQConfig{Name: cfg.Name, Dim: cfg.Dim, Codebooks: append([]string(nil), cfg.Codebooks...), Enabled: true}
	raw, _ := json.Marshal(p)
	b := db.pdb.NewBatch()
	defer b.Close()
	_ = b.Set(nameKey(keyPQ, p.Name), raw, nil)
	if err := db.commit(b); err != nil {
		return PQConfig{}, fmt.Errorf("cannot create PQ %q: %w", cfg.Name, err)
	}
	db.mu.pqs[p.Name] = p
	return p.clone(), nil
}

func (p *PQConfig) clone() PQConfig {
	c := *p
	c.Codebooks = append([]string(nil), p.Codebooks...)
	return c
}

// PQ returns the PQ configuration name.
func (db *DB) PQ(name string) (PQConfig, error) {
	db.mu.Lock()
	defer db.mu.Unlock()
	p, ok := db.mu.pqs[name]
	if !ok {
		return PQConfig{}, fmt.Errorf("cannot get PQ %q: %w", name, ErrNotFound)
	}
	return p.clone(), nil
}

// PQs returns every PQ configuration, sorted by name.
func (db *DB) PQs() []PQConfig {
	db.mu.Lock()
	defer db.mu.Unlock()
	out := make([]PQConfig, 0, len(db.mu.pqs))
	for _, p := range db.mu.pqs {
		out = append(out, p.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// DeletePQ removes a PQ configuration. ErrNotFound if absent, ErrInUse while
// an index uses it (or is being built with it).
func (db *DB) DeletePQ(name string) error {
	if err := db.writable(); err != nil {
		return fmt.Errorf("cannot delete PQ %q: %w", name, err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if err := db.writable(); err != nil { // Close may have begun
		return fmt.Errorf("cannot delete PQ %q: %w", name, err)
	}
	if _, ok := db.mu.pqs[name]; !ok {
		return fmt.Errorf("cannot delete PQ %q: %w", name, ErrNotFound)
	}
	if db.mu.pqUsers[name] > 0 {
		return fmt.Errorf("cannot delete PQ %q: an index uses it: %w", name, ErrInUse)
	}
	b := db.pdb.NewBatch()
	defer b.Close()
	_ = b.Delete(nameKey(keyPQ, name), nil)
	if err := db.commit(b); err != nil {
		return fmt.Errorf("cannot delete PQ %q: %w", name, err)
	}
	delete(db.mu.pqs, name)
	return nil
}

// checkPQForIndexLocked validates the PQ reference of a new index.
func (db *DB) checkPQForIndexLocked(name string, dim int, quant string) error {
	p, ok := db.mu.pqs[name]
	if !ok {
		return fmt.Errorf("PQ %q: %w", name, ErrNotFound)
	}
	if p.Dim != dim {
		return fmt.Errorf("PQ %q has dim %d, the collection %d: %w", name, p.Dim, dim, ErrInvalid)
	}
	limit := MaxPQRows
	if quant == QuantPQ8 {
		limit = 256
	}
	for _, cb := range p.Codebooks {
		m, ok := db.mu.matrices[cb]
		if !ok {
			return fmt.Errorf("PQ %q codebook %q: %w", name, cb, ErrNotFound)
		}
		if m.Rows > limit {
			return fmt.Errorf("PQ %q codebook %q has %d rows, %s allows %d: %w", name, cb, m.Rows, quant, limit, ErrInvalid)
		}
	}
	return nil
}
