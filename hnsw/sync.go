package hnsw

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// epochGate is a grace-period mechanism (a two-counter RCU). Readers and
// inserters bracket their work with enter/exit; synchronize returns once
// every operation that entered before it began has exited. Repair uses it
// twice: after taking a batch of tombstones (so no insert that could still
// link to them is running) and before reclaiming their slots (so no reader
// that could still reach them is running). enter and exit are two or three
// atomic operations and never block.
type epochGate struct {
	epoch  atomic.Uint64
	_      [56]byte
	active [2]struct {
		n atomic.Int64
		_ [56]byte
	}
	mu sync.Mutex // serialises synchronize
}

func (g *epochGate) enter() uint64 {
	for {
		e := g.epoch.Load()
		g.active[e&1].n.Add(1)
		if g.epoch.Load() == e {
			return e
		}
		g.active[e&1].n.Add(-1)
	}
}

func (g *epochGate) exit(e uint64) { g.active[e&1].n.Add(-1) }

// synchronize waits until every operation that entered before the call has
// exited. Operations entering meanwhile do not delay it.
func (g *epochGate) synchronize() {
	g.mu.Lock()
	defer g.mu.Unlock()
	e := g.epoch.Load()
	g.epoch.Store(e + 1)
	for spins := 0; g.active[e&1].n.Load() != 0; spins++ {
		if spins < 64 {
			runtime.Gosched()
		} else {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// idMap maps external ids to slots: a sharded Go map (no pointers, so the GC
// does not scan its contents). Safe for concurrent use.
type idMap struct {
	shards [idShards]struct {
		sync.RWMutex
		m map[uint64]uint32
		_ [32]byte
	}
	n atomic.Int64
}

const idShards = 64

func (m *idMap) init() {
	for i := range m.shards {
		m.shards[i].m = make(map[uint64]uint32)
	}
}

func idShard(id uint64) int {
	id ^= id >> 33
	id *= 0xff51afd7ed558ccd
	id ^= id >> 33
	return int(id & (idShards - 1))
}

func (m *idMap) get(id uint64) (uint32, bool) {
	s := &m.shards[idShard(id)]
	s.RLock()
	slot, ok := s.m[id]
	s.RUnlock()
	return slot, ok
}

// swap maps id to slot and calls publish(old, hadOld) while holding the
// shard lock, so the switch of states is atomic with respect to other
// writers of id.
func (m *idMap) swap(id uint64, slot uint32, publish func(old uint32, hadOld bool)) {
	s := &m.shards[idShard(id)]
	s.Lock()
	old, ok := s.m[id]
	s.m[id] = slot
	if !ok {
		m.n.Add(1)
	}
	publish(old, ok)
	s.Unlock()
}

// removeIf removes id and calls f(slot) under the shard lock.
func (m *idMap) remove(id uint64, f func(slot uint32)) bool {
	s := &m.shards[idShard(id)]
	s.Lock()
	defer s.Unlock()
	slot, ok := s.m[id]
	if !ok {
		return false
	}
	delete(s.m, id)
	m.n.Add(-1)
	f(slot)
	return true
}

func (m *idMap) len() int { return int(m.n.Load()) }

func (m *idMap) memoryBytes() int64 {
	// A Go map of u64→u32 costs about 16 bytes an entry with its load
	// factor; an estimate is enough for Stats.
	return m.n.Load() * 24
}
