package store

import (
	"fmt"
	"math/rand"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble"

	"github.com/lsmvec/lsmvec/kernels"
)

// BenchmarkRerankFetch prices the rerank step of a quantized index: r
// exact L2 distances to random stored vectors (fashion-mnist's shape,
// 60 000 × 784, random values), by where the float32 vectors come from:
//
//   - src=ram: a float32 arena on the heap (the copy a quantized index
//     kept in RAM before: fast, 3 136 B a vector of heap);
//   - src=file-mmap: the vector file through its mapping (what the store
//     does: no copy, no system call);
//   - src=file-pread: the vector file through ReadAt (the fallback without
//     a file descriptor);
//   - src=pebble-get: one Pebble Get per vector (the store's default 64 MiB
//     block cache; the vectors are 188 MB);
//   - src=pebble-iter: one iterator per query, the ids sorted, SeekGE each
//     (adjacent keys share blocks).
//
// Warm: every vector was read once before timing. ns/op is per query of r
// vectors.
//
//	go test -run '^$' -bench RerankFetch -benchtime 2000x ./store
func BenchmarkRerankFetch(b *testing.B) {
	const n, dim = 60000, 784
	rng := rand.New(rand.NewSource(20261122))
	b.Logf("seed 20261122")
	arena := make([]float32, n*dim)
	for i := range arena {
		arena[i] = float32(rng.Intn(256))
	}
	opts := testOptions(b, b.TempDir())
	opts.CacheSize = 64 << 20 // the store's default
	db := openT(b, opts)
	defer closeT(b, db)
	c, err := db.CreateCollection(CollectionConfig{Name: "fetch", Dim: dim, Family: FamilyV1})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.BulkLoad(&floatReader{v: arena}, n, 2); err != nil {
		b.Fatal(err)
	}
	lo, hi := collectionBounds(c.id)
	if err := db.pdb.Compact(lo, hi, true); err != nil {
		b.Fatal(err)
	}
	ef, _, err := openExactFile(db, 1<<30, dim, false, true)
	if err != nil {
		b.Fatal(err)
	}
	defer ef.remove()
	var buf []byte
	for i := 0; i < n; i++ {
		ef.set(uint32(i), arena[i*dim:(i+1)*dim], &buf)
	}
	pread := &exactFile{db: db, fs: ef.fs, path: ef.path, cid: ef.cid, dim: dim, slotBytes: ef.slotBytes, f: ef.f, size: ef.size}
	q := arena[:dim]
	key := make([]byte, 0, idKeyLen)
	vec := make([]float32, 0, dim)
	var sink float32
	get := func(id int) {
		key = appendIDKey(key[:0], c.id, subVector, uint64(id))
		v, closer, err := db.pdb.Get(key)
		if err != nil {
			b.Fatal(err)
		}
		vec = decodeFloats(vec[:0], v)
		_ = closer.Close()
		sink += kernels.L2Sq(q, vec)
	}
	for i := 0; i < n; i++ { // warm the page cache, the mapping and the block cache
		get(i)
		v, _ := ef.ViewVector(uint32(i))
		sink += kernels.L2Sq(q, v)
	}
	srcs := []struct {
		name string
		fn   func(ids []int)
	}{
		{"ram", func(ids []int) {
			for _, id := range ids {
				sink += kernels.L2Sq(q, arena[id*dim:(id+1)*dim])
			}
		}},
		{"file-mmap", func(ids []int) {
			for _, id := range ids {
				v, _ := ef.ViewVector(uint32(id))
				sink += kernels.L2Sq(q, v)
			}
		}},
		{"file-pread", func(ids []int) {
			for _, id := range ids {
				vec, _ = pread.AppendVector(uint32(id), vec[:0])
				sink += kernels.L2Sq(q, vec)
			}
		}},
		{"pebble-get", func(ids []int) {
			for _, id := range ids {
				get(id)
			}
		}},
		{"pebble-iter", func(ids []int) {
			slices.Sort(ids)
			lo, hi := subBounds(c.id, subVector)
			it, err := db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
			if err != nil {
				b.Fatal(err)
			}
			for _, id := range ids {
				key = appendIDKey(key[:0], c.id, subVector, uint64(id))
				if !it.SeekGE(key) {
					b.Fatal("missing vector")
				}
				vec = decodeFloats(vec[:0], it.Value())
				sink += kernels.L2Sq(q, vec)
			}
			_ = it.Close()
		}},
	}
	ids := make([]int, 64)
	for _, r := range []int{10, 20, 64} {
		for _, src := range srcs {
			b.Run(fmt.Sprintf("r=%d/src=%s", r, src.name), func(b *testing.B) {
				b.SetBytes(int64(r * dim * 4))
				b.ReportAllocs()
				for b.Loop() {
					for i := range ids[:r] {
						ids[i] = rng.Intn(n)
					}
					src.fn(ids[:r])
				}
			})
		}
	}
	_ = sink
}
