package store

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/cockroachdb/pebble/vfs/errorfs"
)

// faultInjector fails write and sync operations on the files its match
// function selects, while armed.
type faultInjector struct {
	armed atomic.Bool
	match atomic.Pointer[func(path string) bool]
	hits  atomic.Int64
}

func (f *faultInjector) MaybeError(op errorfs.Op, path string) error {
	if !f.armed.Load() || op.OpKind() != errorfs.OpKindWrite {
		return nil
	}
	if m := f.match.Load(); m != nil && (*m)(path) {
		f.hits.Add(1)
		return errorfs.ErrInjected
	}
	return nil
}

func (f *faultInjector) arm(match func(path string) bool) {
	f.match.Store(&match)
	f.armed.Store(true)
}

// TestFaultInjection: with the file system failing writes and syncs,
// operations return errors, nothing unwritten is acknowledged, and once the
// faults stop the database reopens consistent. The "crash" keeps only what
// was synced (vfs.NewStrictMem).
func TestFaultInjection(t *testing.T) {
	rng := seededRand(t)
	mem := vfs.NewStrictMem()
	inj := &faultInjector{}
	opts := testOptions(t, "/db")
	opts.FS = errorfs.Wrap(mem, inj)
	opts.CheckpointInterval = -1
	db := openT(t, opts)
	const dim = 8
	c, err := db.CreateCollection(CollectionConfig{Name: "default", Dim: dim, Family: FamilyV1, Index: &IndexConfig{M: 8, EfConstruction: 32}})
	must(t, "create", err)
	vecs := map[uint64][]float32{}
	for i := 0; i < 200; i++ {
		v := randVec(rng, dim)
		must(t, "put", c.PutWithPayload(uint64(i), v, []byte(fmt.Sprintf(`{"i":%d}`, i))))
		vecs[uint64(i)] = v
	}

	// Phase 1: checkpoint files cannot be written. The checkpoint fails,
	// the database keeps working and the previous state stays recoverable.
	inj.arm(func(p string) bool { return strings.Contains(p, "checkpoints") })
	if err := c.Checkpoint(); err == nil {
		t.Fatal("checkpoint succeeded on a failing file system")
	}
	if db.Err() != nil {
		t.Fatalf("a failed checkpoint failed the database: %v", db.Err())
	}
	for i := 200; i < 250; i++ {
		v := randVec(rng, dim)
		must(t, "put during checkpoint faults", c.Put(uint64(i), v))
		vecs[uint64(i)] = v
	}
	inj.armed.Store(false)
	must(t, "checkpoint after faults", c.Checkpoint())

	// Phase 2: the WAL fails. Concurrent writers get errors; whatever was
	// acknowledged must survive.
	for i := 250; i < 300; i++ {
		v := randVec(rng, dim)
		must(t, "put", c.Put(uint64(i), v))
		vecs[uint64(i)] = v
	}
	inj.arm(func(p string) bool { return strings.HasSuffix(p, ".log") })
	var mu sync.Mutex
	tried := map[uint64][]float32{}
	var wg sync.WaitGroup
	var acked, failed atomic.Int64
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				id := uint64(1000 + w*100 + i)
				v := randVec(newRand(int64(id)), dim)
				mu.Lock()
				tried[id] = v
				mu.Unlock()
				if err := c.Put(id, v); err != nil {
					if !errors.Is(err, ErrFailed) {
						t.Errorf("put under WAL faults: %v, want ErrFailed", err)
					}
					failed.Add(1)
					continue
				}
				acked.Add(1)
				mu.Lock()
				vecs[id] = v
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if failed.Load() == 0 || inj.hits.Load() == 0 {
		t.Fatalf("no write failed under WAL faults (acked %d, injected %d)", acked.Load(), inj.hits.Load())
	}
	if !errors.Is(db.Err(), ErrFailed) {
		t.Fatalf("db.Err() = %v, want ErrFailed", db.Err())
	}
	mustErr(t, "write after failure", c.Delete(1), ErrFailed)
	mustErr(t, "payload write after failure", c.SetPayload(1, []byte(`{}`)), ErrFailed)
	if _, err := c.Vector(1, nil); err != nil {
		t.Fatalf("read after failure: %v", err)
	}
	if _, err := c.Search(vecs[1], 1, 0, nil, nil); err != nil {
		t.Fatalf("search after failure: %v", err)
	}

	// The faults stop; the process "crashes": only synced data remains.
	inj.armed.Store(false)
	done := make(chan error, 1)
	go func() { done <- db.Close() }()
	select {
	case err := <-done:
		t.Logf("Close after failure: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close hangs after a WAL failure")
	}
	mem.ResetToSyncedState()
	opts.FS = errorfs.Wrap(mem, &faultInjector{})
	db = openT(t, opts)
	defer closeT(t, db)
	c, err = db.Collection("default")
	must(t, "collection", err)
	stored, err := c.IDs(nil)
	must(t, "ids", err)
	for id, v := range vecs {
		got, err := c.Vector(id, nil)
		if err != nil || fmt.Sprint(got) != fmt.Sprint(v) {
			t.Fatalf("acknowledged vector %d: %v %v, want %v", id, got, err, v)
		}
		res, _ := c.Search(v, 1, len(stored)+10, nil, nil)
		if len(res) == 0 || res[0].ID != id {
			t.Fatalf("self-search of %d after recovery: %v", id, res)
		}
	}
	for _, id := range stored {
		if _, ok := vecs[id]; ok {
			continue
		}
		// Not acknowledged: allowed only if it was tried, and then whole.
		v, ok := tried[id]
		got, _ := c.Vector(id, nil)
		if !ok || fmt.Sprint(got) != fmt.Sprint(v) {
			t.Fatalf("unacknowledged id %d present as %v (tried %v)", id, got, ok)
		}
	}
	if x := c.mu.index; x.Len() != len(stored) {
		t.Fatalf("index has %d vectors, store %d", x.Len(), len(stored))
	}
	p, err := c.Payload(7, nil)
	if err != nil || string(p) != `{"i":7}` {
		t.Fatalf("payload 7 = %s, %v", p, err)
	}
	t.Logf("acked %d, failed %d under faults; %d injected errors; %d ids after recovery", acked.Load(), failed.Load(), inj.hits.Load(), len(stored))
	must(t, "write after recovery", c.Put(5000, randVec(rng, dim)))
}
