package store

import (
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
)

// groupCommit merges the batches of concurrent synced writers into one
// Pebble commit (one WAL fsync). Pebble's commit pipeline already shares a
// sync among the commits waiting for it, but with a fixed set of
// synchronous writers the groups alternate: the writers a sync releases
// come back just after the next sync started and wait for the one after.
// So the leader of a group waits, briefly, for as many writers as the last
// group had: until they have all queued, or until half the last commit's
// duration (at most maxGroupWait) after it ended. A lone writer never
// waits: the last group had one writer, itself.
//
// Protocol: a writer queues its request; if no leader is active it becomes
// the leader, else it waits for its result or for leadership to be handed
// to it. A leader commits the queued requests (its own among them), hands
// leadership to the first request queued meanwhile, and returns.
type groupCommit struct {
	mu       sync.Mutex
	queue    []*commitReq
	spare    []*commitReq // the other buffer: a leader swaps them
	leading  bool
	arrived  chan struct{} // a non-blocking signal per enqueue
	lastSize int           // writers in the last committed group
	lastEnd  time.Time     // when the last group's commit returned
	lastDur  time.Duration // how long it took
	timer    *time.Timer   // the leader's straggler timer (one leader at a time)
	commits  int64         // synced Pebble commits made
	writes   int64         // requests they carried
}

// maxGroupWait caps how long a leader waits for stragglers.
const maxGroupWait = 500 * time.Microsecond

type commitReq struct {
	b    *pebble.Batch
	done chan commitResult // buffered, 1
}

type commitResult struct {
	err  error
	lead bool // the receiver is the next leader; err is meaningless
}

var commitReqPool = sync.Pool{New: func() any { return &commitReq{done: make(chan commitResult, 1)} }}

// run commits b (with everything queued alongside it) through fn, which
// performs one synced Pebble commit, and returns b's result.
func (g *groupCommit) run(b *pebble.Batch, fn func(*pebble.Batch) error) error {
	req := commitReqPool.Get().(*commitReq)
	req.b = b
	defer func() { req.b = nil; commitReqPool.Put(req) }()
	g.mu.Lock()
	g.queue = append(g.queue, req)
	select {
	case g.arrived <- struct{}{}:
	default:
	}
	if g.leading {
		g.mu.Unlock()
		r := <-req.done
		if !r.lead {
			return r.err
		}
		g.mu.Lock() // we lead now (leading stayed true)
	} else {
		g.leading = true
	}
	g.mu.Unlock()
	g.waitForGroup()
	g.mu.Lock()
	group := g.queue
	g.queue, g.spare = g.spare[:0], nil
	g.mu.Unlock()

	var err error
	start := time.Now()
	if len(group) == 1 {
		err = fn(group[0].b)
	} else {
		// Merge into the leader's own batch (req is in group; its batch is
		// ours to extend).
		for _, r := range group {
			if r != req {
				if err = req.b.Apply(r.b, nil); err != nil {
					break
				}
			}
		}
		if err == nil {
			err = fn(req.b)
		}
	}
	end := time.Now()
	for _, r := range group {
		if r != req {
			r.done <- commitResult{err: err}
		}
	}
	g.mu.Lock()
	g.lastSize, g.lastEnd, g.lastDur = len(group), end, end.Sub(start)
	g.commits++
	g.writes += int64(len(group))
	clear(group)
	g.spare = group[:0]
	var next *commitReq
	if len(g.queue) > 0 {
		next = g.queue[0]
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	if next != nil {
		next.done <- commitResult{lead: true}
	}
	return err
}

// waitForGroup waits until as many writers as the last group had are
// queued, or until the straggler window after the last commit closes.
func (g *groupCommit) waitForGroup() {
	g.mu.Lock()
	want, window := g.lastSize, min(g.lastDur/2, maxGroupWait)
	deadline := g.lastEnd.Add(window)
	g.mu.Unlock()
	armed := false
	for {
		g.mu.Lock()
		n := len(g.queue)
		g.mu.Unlock()
		wait := time.Until(deadline)
		if n >= want || wait <= 0 {
			break
		}
		if !armed {
			if g.timer == nil {
				g.timer = time.NewTimer(wait)
			} else {
				g.timer.Reset(wait)
			}
			armed = true
			defer g.timer.Stop()
		}
		select {
		case <-g.arrived:
		case <-g.timer.C:
			return
		}
	}
}

// counts returns the synced commits made and the write requests they carried.
func (g *groupCommit) counts() (commits, writes int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.commits, g.writes
}
