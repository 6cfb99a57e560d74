package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"path/filepath"
	"unsafe"

	"github.com/lsmvec/lsmvec/bench/dataset"
)

// GTCache says where GroundTruthCached looks for and writes cached ground
// truth. The zero value caches next to the base file and falls back to
// UserCacheDir().
type GTCache struct {
	// Dirs are tried in order when writing: the first one a file can be
	// created in receives it. Reading looks in all of them. Default: the
	// base file's folder, then UserCacheDir().
	Dirs []string
}

// UserCacheDir returns the per-user cache folder for lsmvec:
// $XDG_CACHE_HOME/lsmvec, else ~/.cache/lsmvec (os.UserCacheDir's rules).
func UserCacheDir() (string, error) {
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("cannot find user cache folder: %w", err)
	}
	return filepath.Join(d, "lsmvec"), nil
}

// gtMinK is the smallest k cached: a cache made for k=10 then also serves
// k=100, the usual sizes.
const gtMinK = 100

// GTCacheName returns the cache file name of the ground truth of queries
// against base (both row-major, dim values a row) for k and metric:
// "<base file name>.gt-k<k>-<metric>-<fingerprint>.ivecs", where the
// fingerprint is a CRC-32C of the dimension and both vector arrays, so that
// another query file or a changed base never reuses a stale file.
func GTCacheName(basePath string, base, queries []float32, dim, k int, metric string) string {
	h := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	var hdr [16]byte
	binary.LittleEndian.PutUint64(hdr[:8], uint64(dim))
	binary.LittleEndian.PutUint64(hdr[8:], uint64(len(base)))
	h.Write(hdr[:])
	h.Write(f32Bytes(base))
	h.Write(f32Bytes(queries))
	return fmt.Sprintf("%s.gt-k%d-%s-%08x.ivecs", filepath.Base(basePath), k, metric, h.Sum32())
}

func f32Bytes(v []float32) []byte {
	if len(v) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*4)
}

// GroundTruthCached returns the exact k nearest base vectors of every query
// (dataset.GroundTruth) for a data set read from basePath, computing them
// only when no cache file holds them. It computes max(k, 100) neighbours,
// caches them as .ivecs under GTCacheName, written through a temporary file
// and a rename so that a reader never sees half a file, and returns rows
// clipped to k. A cache file that is malformed or does not match (rows,
// length, ids) is ignored and rewritten. fromCache reports whether the
// result was read from path; path is "" when nothing could be written
// (the result is still returned, with the write error joined into err only
// when no folder accepted the file: callers may log it and go on).
func (c GTCache) GroundTruthCached(basePath string, base, queries []float32, dim, k int, metric string) (gt [][]int32, path string, fromCache bool, err error) {
	if dim <= 0 || len(base)%dim != 0 || len(queries)%dim != 0 || len(base) == 0 {
		return nil, "", false, fmt.Errorf("cannot compute ground truth: %w: %d base and %d query values for dimension %d",
			ErrInvalidConfig, len(base), len(queries), dim)
	}
	if err := dataset.ValidateMetric(metric); err != nil {
		return nil, "", false, err
	}
	if k < 1 {
		return nil, "", false, fmt.Errorf("cannot compute ground truth: %w: k = %d", ErrInvalidConfig, k)
	}
	n, nq := len(base)/dim, len(queries)/dim
	kc := max(k, gtMinK)
	want := min(kc, n)
	dirs := c.Dirs
	if len(dirs) == 0 {
		dirs = []string{filepath.Dir(basePath)}
		if d, err := UserCacheDir(); err == nil {
			dirs = append(dirs, d)
		}
	}
	name := GTCacheName(basePath, base, queries, dim, kc, metric)
	for _, d := range dirs {
		p := filepath.Join(d, name)
		rows, err := dataset.ReadIvecsFile(p)
		if err != nil || !gtMatches(rows, nq, want, n) {
			continue
		}
		return clip(rows, k), p, true, nil
	}
	gt = dataset.GroundTruth(base, queries, dim, kc, metric)
	var errs []error
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := writeIvecsAtomic(p, gt); err != nil {
			errs = append(errs, err)
			continue
		}
		return clip(gt, k), p, false, nil
	}
	return clip(gt, k), "", false, fmt.Errorf("cannot cache ground truth: %w", errors.Join(errs...))
}

// gtMatches reports whether rows is a plausible cached answer: nq rows of
// exactly want ids, each in [0, n).
func gtMatches(rows [][]int32, nq, want, n int) bool {
	if len(rows) != nq {
		return false
	}
	for _, r := range rows {
		if len(r) != want {
			return false
		}
		for _, id := range r {
			if id < 0 || int(id) >= n {
				return false
			}
		}
	}
	return true
}

func clip(rows [][]int32, k int) [][]int32 {
	out := make([][]int32, len(rows))
	for i, r := range rows {
		out[i] = r[:min(k, len(r)):min(k, len(r))]
	}
	return out
}

// WriteIvecs writes rows as .ivecs: per row a little-endian int32 length,
// then the values.
func WriteIvecs(w io.Writer, rows [][]int32) error {
	var buf []byte
	for _, r := range rows {
		if len(r) > math.MaxInt32 {
			return fmt.Errorf("cannot write ivecs: %w: row of %d values", ErrInvalidConfig, len(r))
		}
		buf = binary.LittleEndian.AppendUint32(buf[:0], uint32(len(r)))
		for _, v := range r {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(v))
		}
		if _, err := w.Write(buf); err != nil {
			return fmt.Errorf("cannot write ivecs: %w", err)
		}
	}
	return nil
}

// writeIvecsAtomic writes rows to path through a temporary file in the same
// folder, synced and renamed over path. It creates the folder if needed.
func writeIvecsAtomic(path string, rows [][]int32) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, ".gt-*.tmp")
	if err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := WriteIvecs(f, rows); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("cannot write %s: %w", path, err)
	}
	return nil
}
