package store

import (
	"fmt"
	"log"
	"os"
	"runtime"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// Limits the store enforces on user input.
const (
	// MaxNameLen is the longest collection, matrix or PQ name.
	MaxNameLen = 128
	// MaxDim is the largest vector dimension.
	MaxDim = 65536
	// MaxPayloadBytes is the largest JSON payload (an object) per vector.
	MaxPayloadBytes = 64 << 10
	// MaxCasperID is the largest id of a Casper collection (ids are u32).
	MaxCasperID = 1<<32 - 1
)

// Logger receives the store's (and Pebble's) log lines. Implementations must
// be safe for concurrent use.
type Logger interface {
	Infof(format string, args ...any)
	Errorf(format string, args ...any)
}

// stdLogger writes to the standard library's log package.
type stdLogger struct{ l *log.Logger }

func (s stdLogger) Infof(format string, args ...any)  { s.l.Printf("store: "+format, args...) }
func (s stdLogger) Errorf(format string, args ...any) { s.l.Printf("store: ERROR "+format, args...) }

// DefaultLogger logs to standard error.
var DefaultLogger Logger = stdLogger{log.New(os.Stderr, "", log.LstdFlags)}

// Options configures a DB. The zero value of every field but Dir selects the
// default written in its comment; EnsureDefaults fills them in.
type Options struct {
	// Dir is the data directory (required). Pebble lives in Dir/pebble, index
	// checkpoints in Dir/checkpoints.
	Dir string
	// FS is the file system everything is written through. Default
	// vfs.Default; tests pass vfs.NewStrictMem() or an errorfs wrapper.
	FS vfs.FS
	// CacheSize is Pebble's block cache size in bytes. Default 64 MiB.
	CacheSize int64
	// MemTableSize is Pebble's memtable size in bytes. Default 64 MiB.
	MemTableSize uint64
	// CheckpointWrites is the number of writes to an indexed collection after
	// which its graph is checkpointed in the background. Default 8192. Each
	// write since the last checkpoint is replayed on open, at about the cost
	// of an insert, so this bounds recovery time.
	CheckpointWrites int
	// CheckpointInterval is the longest time a written-to indexed collection
	// goes without a checkpoint. Default 60 s; a negative value disables the
	// timer (checkpoints then happen after CheckpointWrites writes and on
	// Close).
	CheckpointInterval time.Duration
	// BuildThreads is the number of goroutines that build an index over
	// existing vectors, replay the log on open and bulk load. Default
	// runtime.GOMAXPROCS(0).
	BuildThreads int
	// MinFreeBytes is the disk space reserve: a write that would leave less
	// than this many bytes available on Dir's file system fails with
	// ErrDiskFull (deletes may use half of it), so that Pebble, which does
	// not survive ENOSPC, keeps room to flush and compact (diskspace.go).
	// Default 4·MemTableSize (256 MiB with the default memtable): one
	// memtable flushing while its WAL still exists, the next one's
	// preallocated WAL, and the compaction the flush starts. A negative
	// value disables the check.
	MinFreeBytes int64
	// Logger receives log lines. Default DefaultLogger.
	Logger Logger
}

// EnsureDefaults fills in the default of every zero field and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.CacheSize == 0 {
		o.CacheSize = 64 << 20
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = 64 << 20
	}
	if o.MinFreeBytes == 0 {
		o.MinFreeBytes = 4 * int64(o.MemTableSize)
	}
	if o.CheckpointWrites == 0 {
		o.CheckpointWrites = 8192
	}
	if o.CheckpointInterval == 0 {
		o.CheckpointInterval = 60 * time.Second
	}
	if o.BuildThreads == 0 {
		o.BuildThreads = runtime.GOMAXPROCS(0)
	}
	if o.Logger == nil {
		o.Logger = DefaultLogger
	}
	return o
}

// Validate reports the first invalid field, wrapping ErrInvalid.
func (o *Options) Validate() error {
	switch {
	case o.Dir == "":
		return fmt.Errorf("cannot use options: Dir is empty: %w", ErrInvalid)
	case o.CacheSize < 0:
		return fmt.Errorf("cannot use options: CacheSize %d < 0: %w", o.CacheSize, ErrInvalid)
	case o.MemTableSize < 1<<20 || o.MemTableSize >= 4<<30:
		return fmt.Errorf("cannot use options: MemTableSize %d outside [1 MiB, 4 GiB): %w", o.MemTableSize, ErrInvalid)
	case o.CheckpointWrites < 1:
		return fmt.Errorf("cannot use options: CheckpointWrites %d < 1: %w", o.CheckpointWrites, ErrInvalid)
	case o.BuildThreads < 1:
		return fmt.Errorf("cannot use options: BuildThreads %d < 1: %w", o.BuildThreads, ErrInvalid)
	}
	return nil
}
