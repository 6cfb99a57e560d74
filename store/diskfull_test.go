package store

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// fakeDiskFS is an in-memory file system whose available space the test
// sets (vfs.MemFS cannot report any).
type fakeDiskFS struct {
	vfs.FS
	avail atomic.Int64
}

func (f *fakeDiskFS) GetDiskUsage(string) (vfs.DiskUsage, error) {
	a := max(f.avail.Load(), 0)
	return vfs.DiskUsage{AvailBytes: uint64(a), TotalBytes: 1 << 40, UsedBytes: 1<<40 - uint64(a)}, nil
}

// setAvail sets the available space and makes the guard measure it at the
// next write (it otherwise trusts its last figure for up to
// diskRecheckInterval).
func setAvail(db *DB, fs *fakeDiskFS, n int64) {
	fs.avail.Store(n)
	db.disk.mu.Lock()
	db.disk.mu.at = time.Time{}
	db.disk.mu.Unlock()
}

// TestDiskFullReserve: below the reserve writes fail with ErrDiskFull and
// write nothing, deletes and drops go on down to half the reserve, reads
// keep working, the failure is not sticky, and everything acknowledged
// survives a reopen.
func TestDiskFullReserve(t *testing.T) {
	rng := seededRand(t)
	const reserve = 1 << 20
	fs := &fakeDiskFS{FS: vfs.NewMem()}
	fs.avail.Store(1 << 30)
	opts := testOptions(t, "/db")
	opts.FS = fs
	opts.MinFreeBytes = reserve
	opts.CheckpointInterval = -1
	db := openT(t, opts)
	const dim = 16
	c, err := db.CreateCollection(CollectionConfig{Name: "default", Dim: dim, Family: FamilyV1, Index: &IndexConfig{M: 8, EfConstruction: 32}})
	must(t, "create", err)
	other, err := db.CreateCollection(CollectionConfig{Name: "other", Dim: dim, Family: FamilyV1})
	must(t, "create other", err)
	must(t, "put other", other.Put(1, randVec(rng, dim)))
	acked := map[uint64][]float32{}
	for i := uint64(0); i < 100; i++ {
		v := randVec(rng, dim)
		must(t, "put", c.Put(i, v))
		acked[i] = v
	}

	// Room for a small write, not for a 60 KiB payload.
	setAvail(db, fs, reserve+16<<10)
	v := randVec(rng, dim)
	must(t, "small put above the reserve", c.Put(100, v))
	acked[100] = v
	big := []byte(fmt.Sprintf(`{"pad":%q}`, bytes.Repeat([]byte("x"), 60<<10)))
	mustErr(t, "60 KiB payload past the reserve", c.PutWithPayload(101, randVec(rng, dim), big), ErrDiskFull)
	if _, err := c.Vector(101, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a refused write is readable: %v", err)
	}

	// Below the reserve: writes refused, reads and deletes work.
	setAvail(db, fs, reserve-1)
	mustErr(t, "put below the reserve", c.Put(102, randVec(rng, dim)), ErrDiskFull)
	mustErr(t, "update below the reserve", c.Update([]Entry{{ID: 103, Vector: randVec(rng, dim)}}, nil), ErrDiskFull)
	_, err = db.CreateCollection(CollectionConfig{Name: "new", Dim: dim, Family: FamilyV1})
	mustErr(t, "create collection below the reserve", err, ErrDiskFull)
	if err := db.Err(); err != nil {
		t.Fatalf("ErrDiskFull made the DB fail: %v", err)
	}
	got, err := c.Vector(5, nil)
	must(t, "read while full", err)
	if !equalFloats(got, acked[5]) {
		t.Fatal("vector 5 changed")
	}
	res, err := c.Search(acked[7], 1, 32, nil, nil)
	must(t, "search while full", err)
	if len(res) != 1 || res[0].ID != 7 {
		t.Fatalf("search while full: %v", res)
	}
	must(t, "delete below the reserve", c.Delete(0))
	delete(acked, 0)
	must(t, "drop below the reserve", db.DropCollection("other"))

	// Under half the reserve even deletes stop.
	setAvail(db, fs, reserve/2-1)
	mustErr(t, "delete under half the reserve", c.Delete(1), ErrDiskFull)

	// A checkpoint needs room for the whole index above the reserve.
	setAvail(db, fs, reserve+1024)
	mustErr(t, "checkpoint without room", c.Checkpoint(), ErrDiskFull)

	// A bulk load that runs out of room midway leaves the collection empty.
	bulk, err := db.CreateCollection(CollectionConfig{Name: "bulk", Dim: 64, Family: FamilyV1})
	must(t, "create bulk", err)
	const n = 2 * bulkChunkBytes / (64 * 4) // two chunks
	body := floatsLE(randVec(rng, n*64))
	setAvail(db, fs, reserve+bulkChunkBytes/2)
	_, err = bulk.BulkLoad(bytes.NewReader(body), n, 2)
	mustErr(t, "bulk load past the reserve", err, ErrDiskFull)
	if info, err := bulk.Info(); err != nil || info.Size != 0 {
		t.Fatalf("after a refused bulk load: size %d, err %v", info.Size, err)
	}

	// Space returns: writes succeed at once (a refusal always measures
	// again), the bulk load too.
	fs.avail.Store(1 << 30)
	v = randVec(rng, dim)
	must(t, "put after space returned", c.Put(102, v))
	acked[102] = v
	_, err = bulk.BulkLoad(bytes.NewReader(body), n, 2)
	must(t, "bulk load after space returned", err)
	must(t, "checkpoint after space returned", c.Checkpoint())

	// Concurrent writers while the space flips: every error is
	// ErrDiskFull, every acknowledged write is kept.
	var mu sync.Mutex
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(3 * time.Millisecond):
			}
			if i%2 == 0 {
				setAvail(db, fs, reserve-1)
			} else {
				setAvail(db, fs, 1<<30)
			}
		}
	}()
	var refused atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := uint64(1000 + w*1000 + i)
				v := make([]float32, dim)
				for j := range v {
					v[j] = float32(id) + float32(j)
				}
				err := c.Put(id, v)
				switch {
				case err == nil:
					mu.Lock()
					acked[id] = v
					mu.Unlock()
				case errors.Is(err, ErrDiskFull):
					refused.Add(1)
				default:
					t.Errorf("put %d: %v", id, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	t.Logf("concurrent writers: %d acknowledged in all, %d refused", len(acked), refused.Load())
	fs.avail.Store(1 << 30)
	closeT(t, db)

	db = openT(t, opts)
	defer closeT(t, db)
	c, err = db.Collection("default")
	must(t, "reopen", err)
	for id, want := range acked {
		got, err := c.Vector(id, nil)
		if err != nil || !equalFloats(got, want) {
			t.Fatalf("acknowledged vector %d after reopen: %v, %v", id, got, err)
		}
	}
	if _, err := c.Vector(0, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted vector 0 is back: %v", err)
	}
	if _, err := db.Collection("other"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("dropped collection is back: %v", err)
	}
	bulk, err = db.Collection("bulk")
	must(t, "bulk after reopen", err)
	if info, _ := bulk.Info(); info.Size != int64(n) {
		t.Fatalf("bulk collection holds %d vectors after reopen, want %d", info.Size, n)
	}
}

// TestDiskGuardDisabled: a negative MinFreeBytes turns the check off, and a
// file system that cannot report its usage is not checked.
func TestDiskGuardDisabled(t *testing.T) {
	fs := &fakeDiskFS{FS: vfs.NewMem()}
	opts := testOptions(t, "/db")
	opts.FS = fs
	opts.MinFreeBytes = -1
	db := openT(t, opts)
	defer closeT(t, db)
	c, err := db.CreateCollection(CollectionConfig{Name: "a", Dim: 2, Family: FamilyV1})
	must(t, "create with no space and no reserve", err)
	must(t, "put with no space and no reserve", c.Put(1, []float32{1, 2}))

	g := &diskGuard{fs: vfs.NewMem(), dir: "/", reserve: 1 << 40, log: newTestLogger(t)}
	if err := g.admit(1<<20, false); err != nil {
		t.Fatalf("a file system without usage figures was checked: %v", err)
	}
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
