package pq_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble"
)

// BenchmarkExactFetch prices the two ways a quantized index can get the
// full-precision vectors it reranks: kept in RAM next to the codes (one copy
// of dim float32 per candidate) or fetched from the Pebble store (one Get
// per candidate, compacted, block cache warm). A search
// reranks ef candidates, so multiply by ef for the per-query cost. dim=784
// (fashion-mnist), 60 000 vectors.
func BenchmarkExactFetch(b *testing.B) {
	const n, dim = 60000, 784
	rng := rand.New(rand.NewPCG(20261122, 2))
	b.Logf("seed 20261122")
	ram := make([]float32, n*dim)
	for i := range ram {
		ram[i] = float32(rng.IntN(256))
	}
	dst := make([]float32, dim)
	b.Run("src=ram", func(b *testing.B) {
		b.SetBytes(dim * 4)
		for b.Loop() {
			i := rng.IntN(n)
			copy(dst, ram[i*dim:(i+1)*dim])
		}
	})
	db, err := pebble.Open(b.TempDir(), &pebble.Options{Cache: pebble.NewCache(256 << 20)})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	key := func(i int) []byte {
		var k [9]byte
		k[0] = 'v'
		binary.BigEndian.PutUint64(k[1:], uint64(i))
		return k[:]
	}
	val := make([]byte, dim*4)
	batch := db.NewBatch()
	for i := 0; i < n; i++ {
		for j, v := range ram[i*dim : (i+1)*dim] {
			binary.LittleEndian.PutUint32(val[4*j:], math.Float32bits(v))
		}
		if err := batch.Set(key(i), val, nil); err != nil {
			b.Fatal(err)
		}
		if batch.Len() > 16<<20 {
			if err := batch.Commit(pebble.NoSync); err != nil {
				b.Fatal(err)
			}
			batch = db.NewBatch()
		}
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		b.Fatal(err)
	}
	if err := db.Compact(key(0), key(n), true); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ { // warm the block cache
		v, closer, err := db.Get(key(i))
		if err != nil || len(v) != dim*4 {
			b.Fatalf("get %d: %v", i, err)
		}
		closer.Close()
	}
	b.Run("src=pebble", func(b *testing.B) {
		b.SetBytes(dim * 4)
		for b.Loop() {
			v, closer, err := db.Get(key(rng.IntN(n)))
			if err != nil {
				b.Fatal(err)
			}
			for j := range dst {
				dst[j] = math.Float32frombits(binary.LittleEndian.Uint32(v[4*j:]))
			}
			closer.Close()
		}
	})
}
