package store

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
)

// BulkResult reports a bulk load.
type BulkResult struct {
	N        int           // vectors loaded (ids 0..N-1)
	Payloads int           // non-null payloads loaded
	Threads  int           // goroutines that built the index
	Elapsed  time.Duration // from the call to the durable end
}

// bulkChunkBytes is the size of one read chunk of a bulk load.
const bulkChunkBytes = 4 << 20

// maxBulkBuffers bounds the chunk buffers of a bulk load beyond the 3 the
// pipeline needs (see bulkLoadLocked).
const maxBulkBuffers = 32

// BulkLoad loads n vectors with ids 0..n-1 into the empty collection,
// streamed from r: exactly n·dim little-endian float32 values, optionally
// followed by a JSON array of n payload objects or nulls. The body is read
// in chunks of bulkChunkBytes (never held whole); each chunk goes to Pebble
// and, in parallel, to threads index builders (0 = BuildThreads). It
// returns after the last write is synced; on any error it removes what it
// wrote and the collection is empty again. ErrNotEmpty if the collection
// holds vectors; other writes wait while it runs.
func (c *Collection) BulkLoad(r io.Reader, n, threads int) (BulkResult, error) {
	res, err := c.bulkLoad(r, n, threads)
	if err != nil {
		return res, fmt.Errorf("cannot bulk load %q: %w", c.name, err)
	}
	return res, nil
}

type bulkChunk struct {
	raw   []byte    // the chunk as read: dim·4 bytes a vector
	vecs  []float32 // raw decoded
	first uint64    // id of the first vector
	count int
	refs  sync.WaitGroup
}

func (c *Collection) bulkLoad(r io.Reader, n, threads int) (BulkResult, error) {
	start := time.Now()
	if n < 1 {
		return BulkResult{}, fmt.Errorf("n %d < 1: %w", n, ErrInvalid)
	}
	if c.family == FamilyCasper && uint64(n-1) > MaxCasperID {
		return BulkResult{}, fmt.Errorf("n %d exceeds the u32 id range: %w", n, ErrInvalid)
	}
	if c.max > 0 && int64(n) > c.max {
		return BulkResult{}, fmt.Errorf("n %d exceeds max_size %d: %w", n, c.max, ErrCapacity)
	}
	if threads <= 0 {
		threads = c.db.opts.BuildThreads
	}
	c.ckptMu.Lock()
	defer c.ckptMu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.writableLocked(); err != nil {
		return BulkResult{}, err
	}
	if c.live.Load() != 0 {
		return BulkResult{}, fmt.Errorf("it holds %d vectors: %w", c.live.Load(), ErrNotEmpty)
	}
	if ic := c.mu.meta.Index; ic != nil && ic.Normalization {
		return BulkResult{}, fmt.Errorf("bulk load into a normalizing index: %w", ErrNotSupported)
	}
	res := BulkResult{N: n, Threads: threads}
	// The marker makes Open roll back a bulk load that a crash interrupted.
	mb := c.db.pdb.NewBatch()
	_ = mb.Set(bulkMarkerKey(c.id), nil, nil)
	err := c.db.commit(mb)
	_ = mb.Close()
	if err != nil {
		return res, err
	}
	if x := c.mu.index; x != nil && x.Stats().Slots == 0 {
		// Reserve room for n up front (the index is empty).
		nx, err := newIndexCap(c.dim, c.mu.meta.Index, c.mu.quant, n)
		if err != nil {
			return res, err
		}
		x.Close()
		c.mu.index = nx
	}
	payloads, err := c.bulkLoadLocked(r, n, threads)
	if err != nil {
		if rerr := c.bulkRollbackLocked(); rerr != nil {
			return res, fmt.Errorf("%v; rollback failed: %w", err, rerr)
		}
		return res, err
	}
	res.Payloads = payloads
	c.live.Store(int64(n))
	// Compact the loaded range in the background: the flushes left it in
	// level 0, which slows point reads and the next Open.
	lo, hi := collectionBounds(c.id)
	c.db.compactInBackground(lo, hi)
	if c.mu.index != nil {
		// Parallel inserts can leave a node with no edge into it.
		if k := c.mu.index.Reconnect(); k > 0 {
			c.db.opts.Logger.Infof("collection %q: %d nodes relinked after the bulk load", c.name, k)
		}
		c.needCkpt.Store(true)
		c.db.kickCheckpointer()
	} else {
		c.inserts.Add(int64(n))
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

func (c *Collection) bulkLoadLocked(r io.Reader, n, threads int) (int, error) {
	dim := c.dim
	vecBytes := 4 * dim
	perChunk := max(1, min(n, bulkChunkBytes/vecBytes))
	x := c.mu.index

	// Buffers cycle through free: the reader fills one, Pebble and the index
	// builders release it. Each holds perChunk vectors twice (raw and
	// decoded: up to 8 MiB), so their number is bounded by the body's
	// chunks and by maxBulkBuffers, not by threads alone: threads+3 of them
	// made a one-vector build with X-LSMVec-Threads 1024 allocate 8 GiB
	// (found by FuzzBulkBuild). One chunk already makes perChunk/32 jobs.
	nbuf := min(threads, maxBulkBuffers) + 3
	nbuf = min(nbuf, (n+perChunk-1)/perChunk+1)
	free := make(chan *bulkChunk, nbuf)
	for i := 0; i < nbuf; i++ {
		free <- &bulkChunk{raw: make([]byte, perChunk*vecBytes), vecs: make([]float32, perChunk*dim)}
	}
	var (
		errMu    sync.Mutex
		firstErr error
	)
	setErr := func(err error) {
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	getErr := func() error {
		errMu.Lock()
		defer errMu.Unlock()
		return firstErr
	}

	// Pebble writer: one goroutine, chunks in order, NoSync (the final
	// commit below syncs the WAL, which covers every earlier batch).
	toPebble := make(chan *bulkChunk, nbuf)
	var writerDone sync.WaitGroup
	writerDone.Add(1)
	go func() {
		defer writerDone.Done()
		var key []byte
		for ch := range toPebble {
			if getErr() == nil {
				b := c.db.pdb.NewBatchWithSize(ch.count*(vecBytes+idKeyLen+16) + 64)
				for i := 0; i < ch.count; i++ {
					key = appendIDKey(key[:0], c.id, subVector, ch.first+uint64(i))
					_ = b.Set(key, ch.raw[i*vecBytes:(i+1)*vecBytes], nil)
				}
				if err := c.db.commitNoSync(b); err != nil {
					setErr(err)
				}
				_ = b.Close()
			}
			ch.refs.Done()
		}
	}()

	// Index builders: jobs of up to 32 vectors.
	type job struct {
		ch    *bulkChunk
		lo, n int
	}
	jobs := make(chan job, 4*threads)
	var builders sync.WaitGroup
	if x != nil {
		for t := 0; t < threads; t++ {
			builders.Add(1)
			go func() {
				defer builders.Done()
				for j := range jobs {
					if getErr() == nil {
						for i := j.lo; i < j.lo+j.n; i++ {
							if err := x.Add(j.ch.first+uint64(i), j.ch.vecs[i*dim:(i+1)*dim]); err != nil {
								setErr(err)
								break
							}
						}
					}
					j.ch.refs.Done()
				}
			}()
		}
	}

	// Recycler: waits for each chunk's consumers, then frees it.
	inflight := make(chan *bulkChunk, nbuf)
	var recycled sync.WaitGroup
	recycled.Add(1)
	go func() {
		defer recycled.Done()
		for ch := range inflight {
			ch.refs.Wait()
			free <- ch
		}
	}()

	var readErr error
	for next := 0; next < n && readErr == nil; {
		ch := <-free
		cnt := min(perChunk, n-next)
		raw := ch.raw[:cnt*vecBytes]
		if _, err := io.ReadFull(r, raw); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				err = fmt.Errorf("body ends before %d vectors of dim %d: %w", n, dim, ErrInvalid)
			}
			readErr = err
			free <- ch
			break
		}
		ch.vecs = ch.vecs[:cnt*dim]
		for i := range ch.vecs {
			f := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				readErr = fmt.Errorf("vector %d has a non-finite component: %w", next+i/dim, ErrInvalid)
				break
			}
			ch.vecs[i] = f
		}
		if readErr != nil {
			free <- ch
			break
		}
		if readErr = getErr(); readErr != nil {
			free <- ch
			break
		}
		ch.first, ch.count = uint64(next), cnt
		ch.refs.Add(1)
		if x != nil {
			ch.refs.Add((cnt + 31) / 32)
		}
		inflight <- ch
		toPebble <- ch
		if x != nil {
			for lo := 0; lo < cnt; lo += 32 {
				jobs <- job{ch, lo, min(32, cnt-lo)}
			}
		}
		next += cnt
	}
	close(toPebble)
	close(jobs)
	writerDone.Wait()
	builders.Wait()
	close(inflight)
	recycled.Wait()
	if readErr != nil {
		return 0, readErr
	}
	if err := getErr(); err != nil {
		return 0, err
	}
	payloads, err := c.bulkPayloadsLocked(r, n)
	if err != nil {
		return 0, err
	}
	// The durable end: one synced write covers every batch before it.
	if err := c.saveMetaLocked(c.mu.meta, func(b *pebble.Batch) {
		_ = b.Delete(bulkMarkerKey(c.id), nil)
	}); err != nil {
		return 0, err
	}
	return payloads, nil
}

// bulkPayloadsLocked reads the optional JSON array of payloads after the
// vectors.
func (c *Collection) bulkPayloadsLocked(r io.Reader, n int) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return 0, nil // no payloads
		}
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' {
			_ = br.UnreadByte()
			break
		}
	}
	dec := json.NewDecoder(br)
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return 0, fmt.Errorf("bytes after the vectors are not a JSON array of payloads: %w", ErrInvalid)
	}
	b := c.db.pdb.NewBatch()
	defer func() { _ = b.Close() }()
	var key []byte
	i, loaded := 0, 0
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return 0, fmt.Errorf("payload %d: %v: %w", i, err, ErrInvalid)
		}
		if i >= n {
			return 0, fmt.Errorf("more than %d payloads: %w", n, ErrInvalid)
		}
		if !bytes.Equal(raw, []byte("null")) {
			if err := checkPayload(raw); err != nil {
				return 0, fmt.Errorf("payload %d: %w", i, err)
			}
			key = appendIDKey(key[:0], c.id, subPayload, uint64(i))
			_ = b.Set(key, raw, nil)
			c.indexPayload(uint64(i), raw) // undone by the rollback on failure
			loaded++
			if b.Len() >= bulkChunkBytes {
				if err := c.db.commitNoSync(b); err != nil {
					return 0, err
				}
				_ = b.Close()
				b = c.db.pdb.NewBatch()
			}
		}
		i++
	}
	if t, err := dec.Token(); err != nil || t != json.Delim(']') {
		return 0, fmt.Errorf("payload array is not closed: %w", ErrInvalid)
	}
	if i != n {
		return 0, fmt.Errorf("%d payloads for %d vectors: %w", i, n, ErrInvalid)
	}
	if _, err := dec.Token(); err != io.EOF {
		return 0, fmt.Errorf("data after the payload array: %w", ErrInvalid)
	}
	if !b.Empty() {
		if err := c.db.commitNoSync(b); err != nil {
			return 0, err
		}
	}
	return loaded, nil
}

func bulkMarkerKey(cid uint32) []byte { return appendDataPrefix(nil, cid, subBulk) }

// bulkRollbackLocked removes every vector and payload of the collection and
// empties its index after a failed bulk load.
func (c *Collection) bulkRollbackLocked() error {
	b := c.db.pdb.NewBatch()
	defer b.Close()
	lo, hi := subBounds(c.id, subVector)
	_ = b.DeleteRange(lo, hi, nil)
	lo, hi = subBounds(c.id, subPayload)
	_ = b.DeleteRange(lo, hi, nil)
	_ = b.Delete(bulkMarkerKey(c.id), nil)
	if err := c.db.commitFreeing(b); err != nil {
		return err
	}
	c.payIdx = newPayloadIndex() // c.mu is held for writing (or we are in Open)
	if x := c.mu.index; x != nil {
		nx, err := newIndex(c.dim, c.mu.meta.Index, c.mu.quant)
		if err != nil {
			return err
		}
		x.Close()
		c.mu.index = nx
	}
	c.live.Store(0)
	return nil
}
