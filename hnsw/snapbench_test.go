package hnsw

import (
	"bytes"
	"math/rand"
	"testing"
)

func BenchmarkSnapshot(b *testing.B) {
	const n, dim = 4000, 784
	x, _ := New(Options{Dim: dim, M: 16, EfConstruction: 20})
	defer x.Close()
	rng := rand.New(rand.NewSource(1))
	v := make([]float32, dim)
	for i := 0; i < n; i++ {
		for j := range v {
			v[j] = rng.Float32()
		}
		x.Add(uint64(i), v)
	}
	var buf bytes.Buffer
	x.WriteTo(&buf)
	b.Run("write", func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		for i := 0; i < b.N; i++ {
			var w bytes.Buffer
			w.Grow(buf.Len())
			x.WriteTo(&w)
		}
	})
	b.Run("read", func(b *testing.B) {
		b.SetBytes(int64(buf.Len()))
		for i := 0; i < b.N; i++ {
			y, err := Read(bytes.NewReader(buf.Bytes()), nil)
			if err != nil {
				b.Fatal(err)
			}
			y.Close()
		}
	})
}
