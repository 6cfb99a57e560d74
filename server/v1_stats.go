package server

import (
	"github.com/valyala/fasthttp"
)

// v1StatsBody is the GET /v1/stats response. README.md ("## /v1 stats")
// documents every field; keep the two in step.
type v1StatsBody struct {
	Collection            string  `json:"collection"`
	Exists                bool    `json:"exists"`
	Vectors               int64   `json:"vectors"`
	Dim                   int     `json:"dim"`
	Metric                string  `json:"metric"`
	Tombstones            int64   `json:"tombstones"`
	TombstoneRatio        float64 `json:"tombstone_ratio"`
	TotalInsertsEver      int64   `json:"total_inserts_ever"`
	TotalDeletesEver      int64   `json:"total_deletes_ever"`
	MemoryBytes           int64   `json:"memory_bytes"`
	IndexMemoryBytes      int64   `json:"index_memory_bytes"`
	PayloadIndexBytes     int64   `json:"payload_index_bytes"`
	WritesSinceCheckpoint int64   `json:"writes_since_checkpoint"`
	LogSeq                uint64  `json:"log_seq"`
	CheckpointSeq         uint64  `json:"checkpoint_seq"`
	M                     int     `json:"m"`
	M0                    int     `json:"m0"`
	EfConstruction        int     `json:"ef_construction"`
	EfSearch              int     `json:"ef_search"`

	BloomHits        int64   `json:"bloom_hits"`
	BloomMisses      int64   `json:"bloom_misses"`
	BloomHitRatio    float64 `json:"bloom_hit_ratio"`
	DiskUsageBytes   uint64  `json:"disk_usage_bytes"`
	CheckpointBytes  int64   `json:"checkpoint_bytes"`
	WALBytes         uint64  `json:"wal_bytes"`
	MemTableBytes    uint64  `json:"memtable_bytes"`
	SSTables         int64   `json:"sstables"`
	ReadAmp          int     `json:"read_amp"`
	Compactions      int64   `json:"compactions"`
	CompactionBytes  uint64  `json:"compaction_bytes"`
	Flushes          int64   `json:"flushes"`
	BlockCacheBytes  int64   `json:"block_cache_bytes"`
	BlockCacheHits   int64   `json:"block_cache_hits"`
	BlockCacheMisses int64   `json:"block_cache_misses"`
	SyncCommits      int64   `json:"sync_commits"`
	SyncedWrites     int64   `json:"synced_writes"`
}

// v1Stats serves GET /v1/stats: the /v1 collection's counters and the
// storage engine's (the whole Pebble instance's, shared by every
// collection). Before the collection exists, its figures are zero and dim
// and metric are the configured ones (dim 0: set by the first write).
func (s *Server) v1Stats(ctx *fasthttp.RequestCtx) {
	c, err := s.v1Existing()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	out := v1StatsBody{
		Collection: s.opts.Collection, Dim: s.opts.Dim, Metric: s.opts.Metric,
		M: s.opts.M, M0: s.opts.M0, EfConstruction: s.opts.EfConstruction, EfSearch: s.opts.EfSearch,
	}
	if c != nil {
		st, err := c.Stats()
		if err != nil {
			s.writeError(ctx, err)
			return
		}
		info, err := c.Info()
		if err != nil {
			s.writeError(ctx, err)
			return
		}
		out.Exists = true
		out.Vectors = st.Live
		out.Dim = st.Dim
		if st.Metric != "" {
			out.Metric = st.Metric
		}
		out.Tombstones = st.Tombstones
		if n := st.Live + st.Tombstones; n > 0 {
			out.TombstoneRatio = float64(st.Tombstones) / float64(n)
		}
		out.TotalInsertsEver = st.InsertsEver
		out.TotalDeletesEver = st.DeletesEver
		out.IndexMemoryBytes = st.MemoryBytes
		out.PayloadIndexBytes = st.PayloadIndexBytes
		out.MemoryBytes = st.MemoryBytes + st.PayloadIndexBytes
		out.WritesSinceCheckpoint = st.WritesSinceCheckpoint
		out.LogSeq = st.Seq
		out.CheckpointSeq = st.CheckpointSeq
		if ic := info.Index; ic != nil {
			out.M, out.M0, out.EfConstruction, out.EfSearch = ic.M, ic.M0, ic.EfConstruction, ic.EfSearch
		}
	}
	e := s.db.EngineStats()
	out.BloomHits = e.BloomHits
	out.BloomMisses = e.BloomMisses
	if n := e.BloomHits + e.BloomMisses; n > 0 {
		out.BloomHitRatio = float64(e.BloomHits) / float64(n)
	}
	out.DiskUsageBytes = e.DiskUsageBytes
	out.CheckpointBytes = e.CheckpointBytes
	out.WALBytes = e.WALBytes
	out.MemTableBytes = e.MemTableBytes
	out.SSTables = e.Tables
	out.ReadAmp = e.ReadAmp
	out.Compactions = e.Compactions
	out.CompactionBytes = e.CompactionBytes
	out.Flushes = e.Flushes
	out.BlockCacheBytes = e.BlockCacheBytes
	out.BlockCacheHits = e.BlockCacheHits
	out.BlockCacheMisses = e.BlockCacheMiss
	out.SyncCommits = e.SyncCommits
	out.SyncedWrites = e.SyncedWrites
	s.writeJSON(ctx, out)
}
