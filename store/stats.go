package store

import (
	"fmt"
)

// CollectionStats are a collection's counters.
type CollectionStats struct {
	Name   string
	Dim    int
	Metric string // "" without an index
	// Live is the number of vectors stored.
	Live int64
	// Tombstones are deleted nodes still linked in the graph (0 without an
	// index).
	Tombstones int64
	// InsertsEver counts inserts and replaces; DeletesEver deletes. With an
	// index they come from the index (persisted in its checkpoints); without
	// one they count since the DB was opened.
	InsertsEver int64
	DeletesEver int64
	// MemoryBytes estimates the index's memory (vectors, links, maps);
	// PayloadIndexBytes the in-memory payload index's.
	MemoryBytes       int64
	PayloadIndexBytes int64
	// Seq is the last log sequence; CheckpointSeq the one the last
	// checkpoint covers; WritesSinceCheckpoint what a restart would replay.
	Seq                   uint64
	CheckpointSeq         uint64
	WritesSinceCheckpoint int64
	HasIndex              bool
	Muted                 bool
}

// Stats returns the collection's counters.
func (c *Collection) Stats() (CollectionStats, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.readableLocked(); err != nil {
		return CollectionStats{}, fmt.Errorf("cannot get stats of %q: %w", c.name, err)
	}
	s := CollectionStats{
		Name: c.name, Dim: c.dim, Live: c.live.Load(), Seq: c.seq.Load(),
		WritesSinceCheckpoint: c.dirty.Load(), Muted: c.mu.meta.Muted,
		PayloadIndexBytes: c.payIdx.MemoryBytes(),
	}
	if x := c.mu.index; x != nil {
		st := x.Stats()
		s.HasIndex = true
		s.Metric = c.mu.meta.Index.Metric
		s.Tombstones = int64(st.Tombstones)
		s.InsertsEver = int64(st.InsertsEver)
		s.DeletesEver = int64(st.DeletesEver)
		s.MemoryBytes = int64(st.MemoryBytes)
	} else {
		s.InsertsEver = c.inserts.Load()
		s.DeletesEver = c.deletes.Load()
	}
	if c.ckptMu.TryLock() {
		s.CheckpointSeq = c.ckptSeq
		c.ckptMu.Unlock()
	}
	return s, nil
}

// EngineStats are Pebble's figures.
type EngineStats struct {
	// BloomHits counts point lookups that a table's bloom filter answered
	// "absent" (a read avoided); BloomMisses those it let through. They are
	// Pebble's Metrics().Filter.Hits and .Misses.
	BloomHits   int64
	BloomMisses int64
	// Compactions and CompactionBytes: completed compactions and the bytes
	// they wrote (flushes excluded).
	Compactions     int64
	CompactionBytes uint64
	Flushes         int64
	// DiskUsageBytes is Pebble's total on-disk size (tables, WAL, manifest);
	// CheckpointBytes the index checkpoint files.
	DiskUsageBytes  uint64
	CheckpointBytes int64
	Tables          int64
	MemTableBytes   uint64
	BlockCacheBytes int64
	BlockCacheHits  int64
	BlockCacheMiss  int64
	WALBytes        uint64
	ReadAmp         int
	// SyncCommits counts synced Pebble commits; SyncedWrites the write
	// requests they carried (their ratio is the mean group-commit size).
	SyncCommits  int64
	SyncedWrites int64
}

// EngineStats returns Pebble's metrics and the checkpoint files' size (zero
// after Close).
func (db *DB) EngineStats() EngineStats {
	db.mu.Lock()
	if db.closing.Load() {
		db.mu.Unlock()
		return EngineStats{}
	}
	m := db.pdb.Metrics()
	db.mu.Unlock()
	s := EngineStats{
		BloomHits:       m.Filter.Hits,
		BloomMisses:     m.Filter.Misses,
		Compactions:     m.Compact.Count,
		Flushes:         m.Flush.Count,
		DiskUsageBytes:  m.DiskSpaceUsage(),
		MemTableBytes:   m.MemTable.Size,
		BlockCacheBytes: m.BlockCache.Size,
		BlockCacheHits:  m.BlockCache.Hits,
		BlockCacheMiss:  m.BlockCache.Misses,
		WALBytes:        m.WAL.PhysicalSize,
		ReadAmp:         m.ReadAmp(),
	}
	s.SyncCommits, s.SyncedWrites = db.group.counts()
	for i := range m.Levels {
		s.Tables += m.Levels[i].NumFiles
		s.CompactionBytes += m.Levels[i].BytesCompacted
	}
	fs := db.opts.FS
	if names, err := fs.List(db.ckptDir); err == nil {
		for _, n := range names {
			if st, err := fs.Stat(fs.PathJoin(db.ckptDir, n)); err == nil {
				s.CheckpointBytes += st.Size()
			}
		}
	}
	return s
}
