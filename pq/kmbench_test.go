package pq

import (
	"testing"

	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/internal/cputime"
)

// BenchmarkTrainFashion times Train of 16×256 pq8 on fashion-mnist (60 000
// vectors): the k-means figure of docs/benchmarks.md. It reports wall and
// process CPU time (cpu-s/op).
func BenchmarkTrainFashion(b *testing.B) {
	s := dataset.LoadOrSkip(b, dataset.FashionMNIST)
	cpu0 := cputime.Process()
	for b.Loop() {
		if _, err := Train(s.Base, s.Dim, 16, 8, TrainOptions{Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
	// The process's CPU seconds per training: on the shared 2-core machine
	// wall time also counts the time other jobs held the cores.
	b.ReportMetric((cputime.Process()-cpu0).Seconds()/float64(b.N), "cpu-s/op")
}
