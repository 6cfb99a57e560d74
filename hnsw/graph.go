package hnsw

import (
	"sync"
	"sync/atomic"
	"unsafe"
)

// The graph's memory layout.
//
// Slots are grouped in pages of pageSize. A page holds, per slot, the
// external id (label), the level, the state and the level-0 neighbour list
// (a count followed by M0 ids, stride 1+M0) in flat arrays. Pages are
// allocated once and never move; the page table is copied on growth and
// published atomically. Upper-level lists (levels 1..L, each a count and M
// ids) live in chunks of the upper arena, one contiguous block per node,
// recycled through per-size free lists.
//
// Ownership: label, level and upper are written by the goroutine that owns
// the slot (the inserter) before it publishes the slot with an atomic store
// of its state, and are immutable until the slot is reclaimed, which happens
// only after a grace period (epochGate). Neighbour lists are written under
// the slot's stripe lock with atomic stores, and read with atomic loads.

const (
	pageBits = 10
	pageSize = 1 << pageBits
	pageMask = pageSize - 1

	upperBits  = 16
	upperChunk = 1 << upperBits

	nStripes = 1024

	maxSlots = 1<<31 - 1
	maxLevel = 31
)

// Slot states.
const (
	stateFree      uint32 = iota // unallocated or reclaimed
	stateInserting               // being linked; traversed, not returned by plain searches
	stateLive                    // searchable
	stateDeleted                 // tombstone: traversed, never returned
)

type page struct {
	links0 []uint32
	label  [pageSize]uint64
	upper  [pageSize]uint32
	state  [pageSize]atomic.Uint32
	level  [pageSize]uint8
}

type paddedMutex struct {
	sync.Mutex
	_ [56]byte
}

// entry packs the entry point: (slot+1)<<8 | level; 0 means none.
type entry uint64

func makeEntry(slot uint32, level int) entry { return entry(uint64(slot)+1)<<8 | entry(level) }
func (e entry) ok() bool                     { return e != 0 }
func (e entry) slot() uint32                 { return uint32(e>>8) - 1 }
func (e entry) level() int                   { return int(e & 0xff) }

type graph struct {
	m, m0    int
	stride0  int // 1 + m0
	strideUp int // 1 + m

	pages atomic.Pointer[[]*page]
	upper atomic.Pointer[[]*[upperChunk]uint32]

	entry   atomic.Uint64
	entryMu sync.Mutex

	stripes [nStripes]paddedMutex

	// alloc guards slot and upper-block allocation.
	alloc struct {
		sync.Mutex
		next      uint32   // slots [0, next) were ever allocated
		free      []uint32 // reclaimed slots
		upperNext uint32
		upperFree [maxLevel + 1][]uint32
		upperUsed int64 // u32 values in allocated upper blocks
	}

	tombstones atomic.Int64 // deleted, not yet reclaimed

	pendingMu sync.Mutex
	pending   []uint32 // tombstones waiting for repair
}

func (g *graph) init(o Options) {
	g.m, g.m0 = o.M, o.M0
	g.stride0, g.strideUp = 1+o.M0, 1+o.M
	p := []*page{}
	g.pages.Store(&p)
	u := []*[upperChunk]uint32{}
	g.upper.Store(&u)
}

func (g *graph) page(slot uint32) *page { return (*g.pages.Load())[slot>>pageBits] }

func (g *graph) state(slot uint32) uint32 { return g.page(slot).state[slot&pageMask].Load() }

func (g *graph) setState(slot uint32, s uint32) { g.page(slot).state[slot&pageMask].Store(s) }

func (g *graph) label(slot uint32) uint64 { return g.page(slot).label[slot&pageMask] }

func (g *graph) level(slot uint32) int { return int(g.page(slot).level[slot&pageMask]) }

// links returns the neighbour list of slot at level l: element 0 is the
// count, then the ids. Read it with atomic loads, write it under the slot's
// stripe lock with atomic stores.
func (g *graph) links(slot uint32, l int) []uint32 {
	p := g.page(slot)
	i := slot & pageMask
	if l == 0 {
		o := int(i) * g.stride0
		return p.links0[o : o+g.stride0 : o+g.stride0]
	}
	off := p.upper[i] + uint32((l-1)*g.strideUp)
	c := (*g.upper.Load())[off>>upperBits]
	o := off & (upperChunk - 1)
	return c[o : o+uint32(g.strideUp) : o+uint32(g.strideUp)]
}

func (g *graph) maxLinks(l int) int {
	if l == 0 {
		return g.m0
	}
	return g.m
}

func (g *graph) stripe(slot uint32) *sync.Mutex { return &g.stripes[slot&(nStripes-1)].Mutex }

func (g *graph) loadEntry() entry { return entry(g.entry.Load()) }

// reserve grows the page table (and the storage) to hold n slots.
func (g *graph) reserve(x *Index, n int) {
	g.alloc.Lock()
	g.growLocked(n)
	g.alloc.Unlock()
	x.storage.Grow(n)
}

func (g *graph) growLocked(n int) {
	pp := *g.pages.Load()
	if len(pp)*pageSize >= n {
		return
	}
	np := make([]*page, (n+pageSize-1)/pageSize)
	copy(np, pp)
	for i := len(pp); i < len(np); i++ {
		np[i] = &page{links0: make([]uint32, pageSize*g.stride0)}
	}
	g.pages.Store(&np)
}

// allocSlot returns a free slot with an upper block for level, state free.
// The caller initialises it and publishes it with setState.
func (g *graph) allocSlot(x *Index, level int) (uint32, bool) {
	g.alloc.Lock()
	var slot uint32
	if n := len(g.alloc.free); n > 0 {
		slot = g.alloc.free[n-1]
		g.alloc.free = g.alloc.free[:n-1]
	} else {
		if g.alloc.next >= maxSlots {
			g.alloc.Unlock()
			return 0, false
		}
		slot = g.alloc.next
		g.alloc.next++
		g.growLocked(int(slot) + 1)
	}
	p := g.page(slot)
	i := slot & pageMask
	p.level[i] = uint8(level)
	p.upper[i] = 0
	if level > 0 {
		p.upper[i] = g.allocUpperLocked(level)
	}
	for l := 0; l <= level; l++ {
		atomic.StoreUint32(&g.links(slot, l)[0], 0)
	}
	next := g.alloc.next
	g.alloc.Unlock()
	x.storage.Grow(int(next))
	return slot, true
}

func (g *graph) allocUpperLocked(level int) uint32 {
	if n := len(g.alloc.upperFree[level]); n > 0 {
		off := g.alloc.upperFree[level][n-1]
		g.alloc.upperFree[level] = g.alloc.upperFree[level][:n-1]
		g.alloc.upperUsed += int64(level * g.strideUp)
		return off
	}
	size := uint32(level * g.strideUp)
	off := g.alloc.upperNext
	cs := *g.upper.Load()
	if int(off>>upperBits) >= len(cs) || off&(upperChunk-1)+size > upperChunk {
		// Start a new chunk: blocks never straddle two.
		off = uint32(len(cs)) << upperBits
		nc := make([]*[upperChunk]uint32, len(cs)+1)
		copy(nc, cs)
		nc[len(cs)] = new([upperChunk]uint32)
		g.upper.Store(&nc)
	}
	g.alloc.upperNext = off + size
	g.alloc.upperUsed += int64(size)
	return off
}

// freeSlotLocked returns slot (already unreachable, its readers gone) to
// the free lists; g.alloc must be held.
func (g *graph) freeSlotLocked(slot uint32) {
	p := g.page(slot)
	i := slot & pageMask
	l := int(p.level[i])
	for lv := 0; lv <= l; lv++ {
		atomic.StoreUint32(&g.links(slot, lv)[0], 0)
	}
	if l > 0 {
		g.alloc.upperFree[l] = append(g.alloc.upperFree[l], p.upper[i])
		g.alloc.upperUsed -= int64(l * g.strideUp)
	}
	p.state[i].Store(stateFree)
	g.alloc.free = append(g.alloc.free, slot)
}

// slotCounts returns the slots ever allocated and the free ones.
func (g *graph) slotCounts() (int, int) {
	g.alloc.Lock()
	defer g.alloc.Unlock()
	return int(g.alloc.next), len(g.alloc.free)
}

// numSlots returns the bound of allocated slot numbers.
func (g *graph) numSlots() int {
	g.alloc.Lock()
	defer g.alloc.Unlock()
	return int(g.alloc.next)
}

func (g *graph) memoryBytes() int64 {
	pp := len(*g.pages.Load())
	per := int64(unsafe.Sizeof(page{})) + int64(pageSize*g.stride0*4)
	uc := int64(len(*g.upper.Load())) * upperChunk * 4
	return int64(pp)*per + uc
}
