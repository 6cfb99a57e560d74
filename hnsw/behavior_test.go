package hnsw

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func fill(t testing.TB, x *Index, vecs [][]float32, base uint64) map[uint64][]float32 {
	t.Helper()
	m := map[uint64][]float32{}
	for i, v := range vecs {
		id := base + uint64(i)
		if err := x.Add(id, v); err != nil {
			t.Fatal(err)
		}
		m[id] = v
	}
	return m
}

func meanRecall(x *Index, m Metric, live map[uint64][]float32, queries [][]float32, k, ef int, f Filter, allow func(uint64) bool) float64 {
	var sum float64
	for _, q := range queries {
		got := x.SearchFilter(q, k, ef, f, nil)
		sum += recallOf(got, bruteForce(m, live, q, k, allow))
	}
	return sum / float64(len(queries))
}

func TestUpsertDeleteRepair(t *testing.T) {
	rng := newRNG(t)
	const dim, k = 16, 10
	n := size(2000, 1000)
	x := mustNew(t, Options{Dim: dim, RepairInterval: -1})
	all := randVecs(rng, n+300+800, dim) // one distribution for all phases
	live := fill(t, x, all[:n], 0)

	// Upsert: the id moves to the new vector at once.
	for id := uint64(0); id < 300; id++ {
		v := all[n+int(id)]
		if err := x.Add(id, v); err != nil {
			t.Fatal(err)
		}
		live[id] = v
		got := x.Search(v, 1, 64, nil)
		if len(got) != 1 || got[0].ID != id || got[0].Distance > 1e-3 {
			t.Fatalf("upserted id %d: search for its vector gave %v", id, got)
		}
		if back, ok := x.Vector(id, nil); !ok || back[0] != v[0] || back[dim-1] != v[dim-1] {
			t.Fatalf("Vector(%d) = %v, %v", id, back, ok)
		}
	}
	// Delete: gone from results at once.
	gone := map[uint64]bool{}
	for len(gone) < 500 {
		id := uint64(rng.Intn(n))
		if gone[id] {
			continue
		}
		if !x.Delete(id) {
			t.Fatalf("Delete(%d) = false", id)
		}
		gone[id] = true
		delete(live, id)
		if x.Contains(id) {
			t.Fatalf("Contains(%d) after delete", id)
		}
	}
	queries := randVecs(rng, 50, dim)
	for _, q := range queries {
		for _, r := range x.Search(q, 50, 100, nil) {
			if gone[r.ID] {
				t.Fatalf("deleted id %d returned", r.ID)
			}
		}
	}
	st := x.Stats()
	if st.Live != n-500 || st.Tombstones != 800 || st.Slots != n+300 || st.DeletesEver != 500 || st.InsertsEver != int64(n+300) {
		t.Fatalf("stats before repair: %+v", st)
	}
	if err := x.Repair(context.Background()); err != nil {
		t.Fatal(err)
	}
	st = x.Stats()
	if st.Tombstones != 0 || st.Repairs != 800 || st.FreeSlots != 800 {
		t.Fatalf("stats after repair: %+v", st)
	}
	// No list may point at a reclaimed slot.
	g := &x.g
	for slot := uint32(0); slot < uint32(g.numSlots()); slot++ {
		if g.state(slot) == stateFree {
			continue
		}
		for l := 0; l <= g.level(slot); l++ {
			list := g.links(slot, l)
			for _, e := range list[1 : 1+list[0]] {
				if g.state(e) != stateLive {
					t.Fatalf("slot %d level %d links to slot %d in state %d", slot, l, e, g.state(e))
				}
			}
		}
	}
	r := meanRecall(x, L2, live, queries, k, 128, nil, nil)
	t.Logf("recall after repair: %.4f", r)
	if r < 0.95 {
		t.Fatalf("recall after repair %.4f", r)
	}
	// Reinserting reuses the reclaimed slots.
	for id, v := range fill(t, x, all[n+300:], 1<<32) {
		live[id] = v
	}
	st = x.Stats()
	if st.Slots != n+300 || st.FreeSlots != 0 || st.Live != n+300 {
		t.Fatalf("stats after reinsert: %+v", st)
	}
	if r := meanRecall(x, L2, live, queries, k, 128, nil, nil); r < 0.95 {
		t.Fatalf("recall after reinsert %.4f", r)
	}
}

func TestDeleteEverything(t *testing.T) {
	rng := newRNG(t)
	x := mustNew(t, Options{Dim: 8, M: 4, RepairInterval: -1})
	vecs := randVecs(rng, 500, 8)
	fill(t, x, vecs, 0)
	for round := 0; round < 3; round++ {
		// Delete the upper levels first so the entry point has to move.
		for id := 0; id < 500; id++ {
			if !x.Delete(uint64(id)) {
				t.Fatalf("round %d: Delete(%d) failed", round, id)
			}
			if id%97 == 0 {
				if err := x.Repair(context.Background()); err != nil {
					t.Fatal(err)
				}
				if got := x.Search(vecs[499], 5, 0, nil); len(got) != min(5, 499-id) {
					t.Fatalf("round %d after deleting %d: %d results", round, id+1, len(got))
				}
			}
		}
		if err := x.Repair(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := x.Stats(); st.Live != 0 || st.Tombstones != 0 || st.MaxLevel != -1 || st.FreeSlots != 500 {
			t.Fatalf("round %d: %+v", round, st)
		}
		fill(t, x, vecs, 0)
		// With M=4 the pruning heuristic can drop the last edge into a
		// node as later inserts rewrite its neighbours' lists (seed
		// 1795370429141645553 strands id 7 in round 0); Reconnect links it.
		x.Reconnect()
		if got := x.Search(vecs[7], 1, 0, nil); len(got) != 1 || got[0].ID != 7 {
			t.Fatalf("round %d after refill: %v", round, got)
		}
	}
}

// TestConcurrent runs inserts, upserts, deletes, searches, filtered
// searches, snapshots and repairs at once (run it with -race). A deleted id
// must never come back from a search that started after Delete returned.
func TestConcurrent(t *testing.T) {
	rng := newRNG(t)
	const dim = 12
	n := 3000
	if testing.Short() {
		n = 800
	}
	x := mustNew(t, Options{Dim: dim, M: 8, EfConstruction: 40, RepairInterval: 5 * time.Millisecond, RepairRatio: 0.02})
	// Clustered vectors: under this much churn with M=8, rebuilt lists
	// drop bridges between clusters, which repair's reconnect step restores.
	vecs := randVecs(rng, n, dim)
	var mu sync.Mutex
	goneAt := map[uint64]int64{} // id -> sequence number when Delete returned
	var seq atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Bool
	fail := func(format string, args ...any) {
		if failed.CompareAndSwap(false, true) {
			t.Errorf(format, args...)
		}
	}
	stop := make(chan struct{})
	// Inserters: ids [0, n) in two halves.
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 2 {
				if err := x.Add(uint64(i), vecs[i]); err != nil {
					fail("Add: %v", err)
				}
			}
		}()
	}
	// Upserter: ids [n, n+100) rewritten over and over.
	wg.Add(1)
	upSeed := rng.Int63()
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewSource(upSeed))
		for i := 0; i < 2*n; i++ {
			if err := x.Add(uint64(n+r.Intn(100)), vecs[r.Intn(n)]); err != nil {
				fail("Add: %v", err)
			}
		}
	}()
	// Deleter: deletes odd ids once they exist.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; i < n; i += 2 {
			id := uint64(i)
			for !x.Contains(id) {
				select {
				case <-stop:
					return
				default:
					time.Sleep(10 * time.Microsecond)
				}
			}
			if !x.Delete(id) {
				fail("Delete(%d) = false", id)
			}
			mu.Lock()
			goneAt[id] = seq.Add(1)
			mu.Unlock()
		}
	}()
	// Searchers.
	search := func(filtered bool, seed int64) {
		defer wg.Done()
		r := rand.New(rand.NewSource(seed))
		res := make([]Result, 0, 20)
		f := FilterFunc(func(id uint64) bool { return id%3 == 0 })
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := seq.Load()
			if filtered {
				res = x.SearchFilter(vecs[r.Intn(n)], 20, 40, f, res[:0])
			} else {
				res = x.Search(vecs[r.Intn(n)], 20, 40, res[:0])
			}
			mu.Lock()
			for _, h := range res {
				if s, ok := goneAt[h.ID]; ok && s <= start {
					fail("id %d deleted (seq %d) returned by a search started at seq %d", h.ID, s, start)
				}
				if filtered && h.ID%3 != 0 {
					fail("filtered search returned id %d", h.ID)
				}
			}
			mu.Unlock()
		}
	}
	for i := 0; i < 3; i++ {
		wg.Add(1)
		go search(i == 2, rng.Int63())
	}
	// Snapshots under load.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 3; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			var buf bytes.Buffer
			if _, err := x.WriteTo(&buf); err != nil {
				fail("WriteTo: %v", err)
				return
			}
			y, err := Read(&buf, nil)
			if err != nil {
				fail("Read: %v", err)
				return
			}
			y.Close()
		}
	}()
	// Wait for the writers, then stop the readers.
	done := make(chan struct{})
	go func() {
		for x.Stats().InsertsEver < int64(3*n) || x.Stats().DeletesEver < int64(n/2) {
			time.Sleep(time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		t.Error("writers did not finish")
	}
	close(stop)
	wg.Wait()
	if err := x.Repair(context.Background()); err != nil {
		t.Fatal(err)
	}
	x.Reconnect()
	st := x.Stats()
	want := n/2 + 100
	if st.Live != want || x.Len() != want || st.Tombstones != 0 {
		t.Fatalf("stats %+v, want %d live and no tombstones", st, want)
	}
	if st.Slots-st.FreeSlots != want {
		t.Fatalf("slots in use %d, want %d (leak)", st.Slots-st.FreeSlots, want)
	}
	// Every surviving vector is still reachable: a search for it with a
	// beam as wide as the index (which then walks everything reachable from
	// the entry point) finds it. The background repairer reconnects only in
	// passes that find tombstones, so nodes stranded by the last concurrent
	// inserts are linked by Reconnect (above), the call the store makes
	// after parallel builds. With a beam of 64 a rare one may be missed: at
	// least 97% (99.1% or more in 90 runs, quiet or four at once).
	found, reach, tried := 0, 0, 0
	for i := 0; i < n; i += 2 {
		tried++
		if got := x.Search(vecs[i], 1, 64, nil); len(got) == 1 && got[0].Distance <= 1e-4 {
			found++
		}
		if got := x.Search(vecs[i], 1, n, nil); len(got) == 1 && got[0].Distance <= 1e-4 {
			reach++
		}
	}
	t.Logf("%d of %d surviving vectors found by searching for themselves at ef 64, %d at ef %d (reconnects %d)",
		found, tried, reach, n, x.Stats().Reconnects)
	if reach != tried {
		t.Fatalf("only %d of %d surviving vectors reachable after churn, repair and reconnect", reach, tried)
	}
	if float64(found) < 0.97*float64(tried) {
		t.Fatalf("only %d of %d surviving vectors found at ef 64 after churn", found, tried)
	}
}

// FilterFunc adapts a function to Filter (tests only).
type FilterFunc func(uint64) bool

func (f FilterFunc) Allow(id uint64) bool { return f(id) }

type listFilter struct {
	FilterFunc
	ids []uint64
}

func (l listFilter) AllowedIDs() []uint64 { return l.ids }

func TestFilteredSearch(t *testing.T) {
	rng := newRNG(t)
	const dim, k = 16, 10
	n := uint64(size(5000, 2000))
	x := mustNew(t, Options{Dim: dim})
	live := fill(t, x, randVecs(rng, int(n), dim), 0)
	queries := randVecs(rng, size(40, 15), dim)
	for _, tc := range []struct {
		name     string
		mod      uint64
		exactMax int
		list     bool
	}{
		{"1pct", 100, 2048, false},
		{"10pct", 10, 2048, false},
		{"1pct/graph", 100, 0, false},
		{"10pct/graph", 10, 0, false},
		{"1pct/list", 100, 2048, true},
		{"10pct/list-too-big", 10, 100, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x.exactFilterMax = tc.exactMax
			defer func() { x.exactFilterMax = 2048 }()
			allow := func(id uint64) bool { return id%tc.mod == 3 }
			var f Filter = FilterFunc(allow)
			if tc.list {
				var ids []uint64
				for id := uint64(3); id < n; id += tc.mod {
					ids = append(ids, id, id) // duplicates must not duplicate results
				}
				f = listFilter{FilterFunc(allow), ids}
			}
			var sum float64
			for _, q := range queries {
				got := x.SearchFilter(q, k, 64, f, nil)
				if len(got) != k {
					t.Fatalf("%d results, want %d", len(got), k)
				}
				seen := map[uint64]bool{}
				for _, r := range got {
					if !allow(r.ID) || seen[r.ID] {
						t.Fatalf("bad or repeated id %d", r.ID)
					}
					seen[r.ID] = true
				}
				sum += recallOf(got, bruteForce(L2, live, q, k, allow))
			}
			r := sum / float64(len(queries))
			t.Logf("recall@%d %.4f", k, r)
			if r < 0.95 {
				t.Fatalf("filtered recall %.4f < 0.95", r)
			}
		})
	}
	// Fewer matches than k: exactly the matches, whatever the path.
	for _, exactMax := range []int{0, 2048} {
		x.exactFilterMax = exactMax
		few := FilterFunc(func(id uint64) bool { return id == 5 || id == n-1 || id == 77 })
		if got := x.SearchFilter(queries[0], k, 64, few, nil); len(got) != 3 {
			t.Fatalf("exactMax %d: %d results, want 3", exactMax, len(got))
		}
		none := FilterFunc(func(uint64) bool { return false })
		if got := x.SearchFilter(queries[0], k, 64, none, nil); len(got) != 0 {
			t.Fatalf("%d results for an empty filter", len(got))
		}
	}
	x.exactFilterMax = 2048
	// Deleted ids never match.
	x.Delete(5)
	few := listFilter{FilterFunc(func(id uint64) bool { return id == 5 || id == 6 }), []uint64{5, 6, 999999}}
	if got := x.SearchFilter(queries[0], k, 64, few, nil); len(got) != 1 || got[0].ID != 6 {
		t.Fatalf("after delete: %v", got)
	}
}

func TestSearchAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("skipping: the race detector makes sync.Pool drop items")
	}
	rng := newRNG(t)
	const dim = 32
	x := mustNew(t, Options{Dim: dim})
	vecs := randVecs(rng, 3000, dim)
	fill(t, x, vecs, 0)
	dst := make([]Result, 0, 100)
	q := vecs[17]
	f := FilterFunc(func(id uint64) bool { return id%10 == 0 })
	var tiny Filter = listFilter{FilterFunc(func(id uint64) bool { return id < 20 }), []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}
	for name, fn := range map[string]func(){
		"search":         func() { dst = x.Search(q, 10, 64, dst[:0]) },
		"filter/exact":   func() { dst = x.SearchFilter(q, 10, 64, tiny, dst[:0]) },
		"filter/scan":    func() { dst = x.SearchFilter(q, 10, 64, f, dst[:0]) },
		"search/deletes": func() { x.Delete(3); dst = x.Search(q, 10, 64, dst[:0]) },
	} {
		fn()
		if a := testing.AllocsPerRun(200, fn); a != 0 {
			t.Errorf("%s: %v allocs per run, want 0", name, a)
		}
	}
	x.exactFilterMax = 0
	fn := func() { dst = x.SearchFilter(q, 10, 64, f, dst[:0]) }
	fn()
	if a := testing.AllocsPerRun(200, fn); a != 0 {
		t.Errorf("filter/graph: %v allocs per run, want 0", a)
	}
}

func TestSnapshot(t *testing.T) {
	rng := newRNG(t)
	const dim = 20
	for _, m := range []Metric{L2, Cosine} {
		x := mustNew(t, Options{Dim: dim, Metric: m, M: 8, M0: 20, EfConstruction: 50, RepairInterval: -1})
		vecs := randVecs(rng, size(3000, 800), dim)
		fill(t, x, vecs, 1000)
		for id := uint64(1000); id < 1300; id++ {
			x.Delete(id)
		}
		if err := x.Repair(context.Background()); err != nil {
			t.Fatal(err)
		}
		for id := uint64(1300); id < 1400; id++ { // tombstones in the snapshot
			x.Delete(id)
		}
		var buf bytes.Buffer
		n, err := x.WriteTo(&buf)
		if err != nil || n != int64(buf.Len()) {
			t.Fatalf("WriteTo = %d, %v (buffer %d)", n, err, buf.Len())
		}
		snap := buf.Bytes()
		y, err := Read(bytes.NewReader(snap), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer y.Close()
		sx, sy := x.Stats(), y.Stats()
		if sx.Live != sy.Live || sx.Tombstones != sy.Tombstones || sx.Slots != sy.Slots || sx.FreeSlots != sy.FreeSlots || sx.MaxLevel != sy.MaxLevel || sx.InsertsEver != sy.InsertsEver {
			t.Fatalf("stats differ:\n%+v\n%+v", sx, sy)
		}
		if y.Options().Metric != m || y.Options().M0 != 20 {
			t.Fatalf("options %+v", y.Options())
		}
		for i := 0; i < 50; i++ {
			q := vecs[rng.Intn(len(vecs))]
			a, b := x.Search(q, 10, 50, nil), y.Search(q, 10, 50, nil)
			if len(a) != len(b) {
				t.Fatalf("results differ: %v vs %v", a, b)
			}
			for j := range a {
				if a[j] != b[j] {
					t.Fatalf("results differ: %v vs %v", a, b)
				}
			}
		}
		// The loaded index keeps working: repair its tombstones, add more.
		if err := y.Repair(context.Background()); err != nil {
			t.Fatal(err)
		}
		fill(t, y, randVecs(rng, 200, dim), 1<<40)
		if st := y.Stats(); st.Tombstones != 0 || st.FreeSlots != 200 || st.Live != len(vecs)-200 {
			t.Fatalf("loaded index after repair and adds: %+v", st)
		}
		// Corruption: every flipped byte in a sample, and truncations.
		for i := 0; i < size(200, 40); i++ {
			bad := bytes.Clone(snap)
			p := rng.Intn(len(bad))
			bad[p] ^= byte(1 + rng.Intn(255))
			if _, err := Read(bytes.NewReader(bad), nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("flipped byte %d: got %v, want ErrCorrupt", p, err)
			}
		}
		for _, cut := range []int{0, 5, 40, 100, len(snap) / 2, len(snap) - 1} {
			if _, err := Read(bytes.NewReader(snap[:cut]), nil); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("truncated at %d: got %v, want ErrCorrupt", cut, err)
			}
		}
	}
	if _, err := Read(io.LimitReader(rand.New(rand.NewSource(1)), 1<<16), nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("noise: %v", err)
	}
}
