package hnsw

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
)

// Snapshot format (all integers little-endian), version 1:
//
//	magic "LSMVHNSW", u32 version
//	options: u32 dim, u8 metric, u32 m, u32 m0, u32 efConstruction,
//	         u32 efSearch, i64 seed
//	u64 level generator state, u32 slots n, u64 entry point
//	u64 inserts ever, u64 deletes ever, u64 repairs
//	n × u8 state (0 free, 2 live, 3 deleted), n × u8 level, n × u64 label
//	n × (1+m0) u32: level-0 lists (count, ids)
//	for each non-free slot of level L > 0, in slot order: L × (1+m) u32
//	the Storage's Save of slots [0, n)
//	u32 CRC-32C of everything above
//
// Read validates every count, id, level and label, so a snapshot that
// passes the checksum but was not written by WriteTo is still refused with
// ErrCorrupt rather than crashing a later search.

const (
	snapMagic   = "LSMVHNSW"
	snapVersion = 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type hashWriter struct {
	w io.Writer
	h hash.Hash32
	n int64
}

func (w *hashWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	w.h.Write(p[:n])
	w.n += int64(n)
	return n, err
}

type hashReader struct {
	r io.Reader
	h hash.Hash32
}

func (r *hashReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.h.Write(p[:n])
	return n, err
}

// WriteTo writes a snapshot of the whole index to w: options, id map
// (labels), levels, neighbour lists, tombstones and the vectors (through
// the Storage), checksummed. Searches keep running; Add, Delete and repair
// passes wait until it returns, so the snapshot is consistent.
func (x *Index) WriteTo(w io.Writer) (int64, error) {
	x.writeMu.Lock()
	defer x.writeMu.Unlock()
	bw := bufio.NewWriterSize(w, 1<<20)
	hw := &hashWriter{w: bw, h: crc32.New(castagnoli)}
	if err := x.writeSnapshot(hw); err != nil {
		return hw.n, fmt.Errorf("cannot write snapshot: %w", err)
	}
	var sum [4]byte
	binary.LittleEndian.PutUint32(sum[:], hw.h.Sum32())
	if _, err := bw.Write(sum[:]); err != nil {
		return hw.n, fmt.Errorf("cannot write snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return hw.n, fmt.Errorf("cannot write snapshot: %w", err)
	}
	return hw.n + 4, nil
}

func (x *Index) writeSnapshot(w io.Writer) error {
	g := &x.g
	o := x.opts
	n := g.numSlots()
	x.levelMu.Lock()
	lr := x.levelRand
	x.levelMu.Unlock()
	b := make([]byte, 0, 128)
	b = append(b, snapMagic...)
	b = binary.LittleEndian.AppendUint32(b, snapVersion)
	b = binary.LittleEndian.AppendUint32(b, uint32(o.Dim))
	b = append(b, byte(o.Metric))
	b = binary.LittleEndian.AppendUint32(b, uint32(o.M))
	b = binary.LittleEndian.AppendUint32(b, uint32(o.M0))
	b = binary.LittleEndian.AppendUint32(b, uint32(o.EfConstruction))
	b = binary.LittleEndian.AppendUint32(b, uint32(o.EfSearch))
	b = binary.LittleEndian.AppendUint64(b, uint64(o.Seed))
	b = binary.LittleEndian.AppendUint64(b, lr)
	b = binary.LittleEndian.AppendUint32(b, uint32(n))
	b = binary.LittleEndian.AppendUint64(b, g.entry.Load())
	b = binary.LittleEndian.AppendUint64(b, uint64(x.inserts.Load()))
	b = binary.LittleEndian.AppendUint64(b, uint64(x.deletes.Load()))
	b = binary.LittleEndian.AppendUint64(b, uint64(x.repairs.Load()))
	if _, err := w.Write(b); err != nil {
		return err
	}
	// Per-slot bytes, then labels.
	buf := make([]byte, 0, 1<<16)
	flush := func(force bool) error {
		if len(buf) > 0 && (force || len(buf) >= 1<<16-8) {
			_, err := w.Write(buf)
			buf = buf[:0]
			return err
		}
		return nil
	}
	for slot := uint32(0); slot < uint32(n); slot++ {
		buf = append(buf, byte(g.state(slot)))
		if err := flush(false); err != nil {
			return err
		}
	}
	for slot := uint32(0); slot < uint32(n); slot++ {
		buf = append(buf, byte(g.level(slot)))
		if err := flush(false); err != nil {
			return err
		}
	}
	for slot := uint32(0); slot < uint32(n); slot++ {
		buf = binary.LittleEndian.AppendUint64(buf, g.label(slot))
		if err := flush(false); err != nil {
			return err
		}
	}
	if err := flush(true); err != nil {
		return err
	}
	pages := *g.pages.Load()
	for pi := 0; pi*pageSize < n; pi++ {
		m := min(pageSize, n-pi*pageSize)
		if err := writeU32s(w, pages[pi].links0[:m*g.stride0], buf[:cap(buf)]); err != nil {
			return err
		}
	}
	for slot := uint32(0); slot < uint32(n); slot++ {
		l := g.level(slot)
		if l == 0 || g.state(slot) == stateFree {
			continue
		}
		for lv := 1; lv <= l; lv++ {
			if err := writeU32s(w, g.links(slot, lv), buf[:cap(buf)]); err != nil {
				return err
			}
		}
	}
	return x.storage.Save(w, n)
}

// Read loads a snapshot written by WriteTo into a new Index whose vectors
// live in storage (nil: a Float32Storage). The runtime options
// (RepairInterval, RepairRatio, Capacity) take their defaults. It fails
// with an error wrapping ErrCorrupt when the snapshot is truncated, fails
// its checksum or is inconsistent. Tombstones in the snapshot are repaired
// by the new index's background repairer.
func Read(r io.Reader, storage Storage) (*Index, error) {
	hr := &hashReader{r: bufio.NewReaderSize(r, 1<<20), h: crc32.New(castagnoli)}
	x, err := readSnapshot(hr, storage)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("%w (truncated: %w)", ErrCorrupt, err)
		}
		return nil, fmt.Errorf("cannot read snapshot: %w", err)
	}
	want := hr.h.Sum32()
	var sum [4]byte
	if _, err := io.ReadFull(hr.r, sum[:]); err != nil {
		return nil, fmt.Errorf("cannot read snapshot checksum: %w (%w)", ErrCorrupt, err)
	}
	if got := binary.LittleEndian.Uint32(sum[:]); got != want {
		return nil, fmt.Errorf("cannot read snapshot: checksum %08x, want %08x: %w", got, want, ErrCorrupt)
	}
	x.startRepairer()
	return x, nil
}

// readBytes reads n bytes, growing the buffer only as data arrives.
func readBytes(r io.Reader, n int) ([]byte, error) {
	b := make([]byte, 0, min(n, 1<<16))
	for len(b) < n {
		m := min(n-len(b), 1<<16)
		b = append(b, make([]byte, m)...)
		if _, err := io.ReadFull(r, b[len(b)-m:]); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func corrupt(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrCorrupt)...)
}

func readSnapshot(r io.Reader, storage Storage) (*Index, error) {
	hdr := make([]byte, 8+4+4+1+4*4+8+8+4+8+8*3)
	if _, err := io.ReadFull(r, hdr); err != nil {
		return nil, err
	}
	if string(hdr[:8]) != snapMagic {
		return nil, corrupt("bad magic %q", hdr[:8])
	}
	p := hdr[8:]
	u32 := func() uint32 { v := binary.LittleEndian.Uint32(p); p = p[4:]; return v }
	u64 := func() uint64 { v := binary.LittleEndian.Uint64(p); p = p[8:]; return v }
	if v := u32(); v != snapVersion {
		return nil, corrupt("unknown version %d", v)
	}
	var o Options
	o.Dim = int(u32())
	o.Metric = Metric(p[0])
	p = p[1:]
	o.M = int(u32())
	o.M0 = int(u32())
	o.EfConstruction = int(u32())
	o.EfSearch = int(u32())
	o.Seed = int64(u64())
	levelRand := u64()
	n := int(u32())
	ep := entry(u64())
	inserts, deletes, repairs := u64(), u64(), u64()
	o.Storage = storage
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, corrupt("bad options (%v)", err)
	}
	if n > maxSlots {
		return nil, corrupt("slot count %d", n)
	}
	x := newIndex(o)
	if err := x.storage.Init(o.Dim, o.Metric); err != nil {
		return nil, fmt.Errorf("cannot init storage: %w", err)
	}
	x.levelRand = levelRand
	x.inserts.Store(int64(inserts))
	x.deletes.Store(int64(deletes))
	x.repairs.Store(int64(repairs))
	g := &x.g
	// Read the per-slot arrays before allocating anything per slot, so a
	// corrupt slot count costs no more memory than the bytes present.
	states, err := readBytes(r, n)
	if err != nil {
		return nil, err
	}
	levels, err := readBytes(r, n)
	if err != nil {
		return nil, err
	}
	labels := make([]uint64, 0, min(n, 1<<16))
	lb := make([]byte, 8<<13)
	for len(labels) < n {
		m := min(n-len(labels), len(lb)/8)
		if _, err := io.ReadFull(r, lb[:m*8]); err != nil {
			return nil, err
		}
		for i := 0; i < m; i++ {
			labels = append(labels, binary.LittleEndian.Uint64(lb[i*8:]))
		}
	}
	g.alloc.Lock()
	g.growLocked(n)
	g.alloc.next = uint32(n)
	g.alloc.Unlock()
	for slot, id := range labels {
		g.page(uint32(slot)).label[slot&pageMask] = id
	}
	pages := *g.pages.Load()
	for pi := 0; pi*pageSize < n; pi++ {
		m := min(pageSize, n-pi*pageSize)
		if err := readU32s(r, pages[pi].links0[:m*g.stride0], lb); err != nil {
			return nil, err
		}
	}
	g.alloc.Lock()
	for slot := 0; slot < n; slot++ {
		st, l := uint32(states[slot]), int(levels[slot])
		if st != stateFree && st != stateLive && st != stateDeleted || l > maxLevel {
			g.alloc.Unlock()
			return nil, corrupt("slot %d: state %d level %d", slot, st, l)
		}
		pg := g.page(uint32(slot))
		pg.level[slot&pageMask] = uint8(l)
		if st != stateFree && l > 0 {
			pg.upper[slot&pageMask] = g.allocUpperLocked(l)
		}
	}
	g.alloc.Unlock()
	for slot := 0; slot < n; slot++ {
		l := int(levels[slot])
		if l == 0 || uint32(states[slot]) == stateFree {
			continue
		}
		for lv := 1; lv <= l; lv++ {
			if err := readU32s(r, g.links(uint32(slot), lv), lb); err != nil {
				return nil, err
			}
		}
	}
	if err := x.storage.Load(r, n); err != nil {
		return nil, err
	}

	// Validate and rebuild the derived state.
	for slot := 0; slot < n; slot++ {
		st := uint32(states[slot])
		if st == stateFree {
			continue
		}
		for lv := 0; lv <= int(levels[slot]); lv++ {
			list := g.links(uint32(slot), lv)
			c := int(list[0])
			if c > g.maxLinks(lv) {
				return nil, corrupt("slot %d level %d: %d links", slot, lv, c)
			}
			for _, e := range list[1 : 1+c] {
				if int(e) >= n || states[e] == byte(stateFree) || int(levels[e]) < lv {
					return nil, corrupt("slot %d level %d: bad link %d", slot, lv, e)
				}
			}
		}
	}
	if ep.ok() {
		s := int(ep.slot())
		if s >= n || uint32(states[s]) == stateFree || int(levels[s]) != ep.level() {
			return nil, corrupt("bad entry point")
		}
	} else {
		for _, st := range states {
			if uint32(st) != stateFree {
				return nil, corrupt("no entry point")
			}
		}
	}
	g.entry.Store(uint64(ep))
	for slot := n - 1; slot >= 0; slot-- {
		st := uint32(states[slot])
		pg := g.page(uint32(slot))
		i := slot & pageMask
		switch st {
		case stateFree:
			g.alloc.free = append(g.alloc.free, uint32(slot))
		case stateLive:
			if _, dup := x.ids.get(pg.label[i]); dup {
				return nil, corrupt("duplicate id %d", pg.label[i])
			}
			x.ids.swap(pg.label[i], uint32(slot), func(uint32, bool) {})
		case stateDeleted:
			g.pending = append(g.pending, uint32(slot))
			g.tombstones.Add(1)
		}
		pg.state[i].Store(st)
	}
	return x, nil
}
