package bench

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress draws a one-line progress bar on w, redrawn at most every
// progressEvery, for a phase of known length. A nil *progress (no writer)
// does nothing, so callers need not check. Add is safe for concurrent use.
type progress struct {
	w     io.Writer
	label string
	total int64
	done  atomic.Int64
	start time.Time
	stop  chan struct{}
	wg    sync.WaitGroup
}

const progressEvery = 250 * time.Millisecond

// newProgress starts a bar on w (nil: none) for total units of work.
func newProgress(w io.Writer, label string, total int) *progress {
	if w == nil || total <= 0 {
		return nil
	}
	p := &progress{w: w, label: label, total: int64(total), start: time.Now(), stop: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.draw()
			}
		}
	}()
	return p
}

// Add records n more units done.
func (p *progress) Add(n int) {
	if p != nil {
		p.done.Add(int64(n))
	}
}

// Set records the units done so far.
func (p *progress) Set(n int) {
	if p != nil {
		p.done.Store(int64(n))
	}
}

// Done stops the bar, draws it complete and ends the line.
func (p *progress) Done() {
	if p == nil {
		return
	}
	close(p.stop)
	p.wg.Wait()
	p.done.Store(p.total)
	p.draw()
	fmt.Fprintln(p.w)
}

func (p *progress) draw() {
	fmt.Fprint(p.w, "\r"+progressLine(p.label, p.done.Load(), p.total, time.Since(p.start)))
}

// progressLine renders "label [#####.....]  42% 4200/10000 1.2s".
func progressLine(label string, done, total int64, elapsed time.Duration) string {
	const width = 30
	done = min(max(done, 0), total)
	filled := 0
	if total > 0 {
		filled = int(done * width / total)
	}
	return fmt.Sprintf("%-28s [%s%s] %3d%% %d/%d %.1fs", label, strings.Repeat("#", filled), strings.Repeat(".", width-filled),
		done*100/max(total, 1), done, total, elapsed.Seconds())
}
