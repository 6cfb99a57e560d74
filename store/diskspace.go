package store

import (
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// Disk-full policy.
//
// Pebble v1.1.5 does not survive running out of space: a WAL write or sync
// error in a commit calls Logger.Fatalf ("pebble: fatal commit error"),
// creating the next WAL file when the memtable rotates panics with
// Pebble's own mutex held, and a failed MANIFEST write after a flush or a
// compaction calls Fatalf on a background goroutine, which ends the
// process. (Its vfs.OnDiskFull hook only lets a caller free a ballast file
// and retry once.) So the store never lets Pebble reach ENOSPC through its
// own writes: before each commit it checks the space available on the data
// directory's file system and refuses the write with ErrDiskFull when less
// than Options.MinFreeBytes would remain. The reserve is what Pebble's
// background work needs to finish: flushing the memtables (while their WALs
// still exist) and the compactions those flushes start. Writes that free
// space (deleting vectors, dropping a collection, rolling back a failed bulk
// load) may go on down to half the reserve, so that an operator can make
// room through the API. Checkpoint files, which are optional (a restart
// replays the log instead), are written only when they leave the whole
// reserve intact.
//
// ErrDiskFull is not sticky: the next write checks again, so writes succeed
// as soon as space returns (files deleted, the volume grown). Reads never
// check.

// diskRecheckInterval is how stale the guard's view of the available space
// may get: writes between two statfs calls are charged against the last
// figure, and the figure is refreshed at least this often (Pebble's
// background work and other processes also use the disk) and on every
// refusal.
const diskRecheckInterval = 100 * time.Millisecond

// diskGuard keeps writes from taking the data directory's file system below
// the reserve. It is safe for concurrent use.
type diskGuard struct {
	fs      vfs.FS
	dir     string
	reserve int64 // Options.MinFreeBytes; < 0: disabled
	log     Logger

	mu struct {
		sync.Mutex
		avail   int64     // bytes available at the last statfs, less the bytes admitted since
		at      time.Time // when avail was measured; zero: never
		unknown bool      // the file system cannot report its usage (logged once)
		full    bool      // the last admission was refused (for the log lines)
	}
}

func newDiskGuard(opts *Options) *diskGuard {
	return &diskGuard{fs: opts.FS, dir: opts.Dir, reserve: opts.MinFreeBytes, log: opts.Logger}
}

// admit charges n bytes about to be written against the available space.
// A write that frees space (freeing) may use half the reserve. It returns
// an error wrapping ErrDiskFull when the write would leave less than that.
func (g *diskGuard) admit(n int64, freeing bool) error {
	if g == nil || g.reserve < 0 {
		return nil
	}
	floor := g.reserve
	if freeing {
		floor /= 2
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	stale := g.mu.at.IsZero() || now.Sub(g.mu.at) >= diskRecheckInterval
	if stale || !g.mu.unknown && g.mu.avail-n < floor {
		g.refreshLocked(now)
	}
	if g.mu.unknown {
		return nil
	}
	if g.mu.avail-n < floor {
		if !g.mu.full {
			g.mu.full = true
			g.log.Errorf("disk full: %d bytes available in %s, reserve %d (MinFreeBytes): refusing writes until space is freed", g.mu.avail, g.dir, g.reserve)
		}
		return fmt.Errorf("cannot write %d bytes: %d bytes of disk available, below the reserve of %d bytes: %w",
			n, max(g.mu.avail, 0), floor, ErrDiskFull)
	}
	if g.mu.full && !freeing {
		g.mu.full = false
		g.log.Infof("disk space back: %d bytes available in %s; accepting writes", g.mu.avail, g.dir)
	}
	g.mu.avail -= n
	return nil
}

// refreshLocked measures the available space. A file system that cannot
// report it (an in-memory one in tests) disables the check.
func (g *diskGuard) refreshLocked(now time.Time) {
	u, err := g.fs.GetDiskUsage(g.dir)
	g.mu.at = now
	if err != nil {
		if !g.mu.unknown {
			g.log.Infof("cannot measure free disk space in %s (writes are not checked against the reserve): %v", g.dir, err)
		}
		g.mu.unknown = true
		return
	}
	g.mu.unknown = false
	g.mu.avail = int64(min(u.AvailBytes, 1<<62))
}
