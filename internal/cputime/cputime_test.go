package cputime

import (
	"runtime"
	"testing"
	"time"
)

// TestClocksAdvance: spinning for 20 ms of wall time adds CPU time to both
// clocks, and sleeping adds (almost) none to the thread's.
func TestClocksAdvance(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	t0, p0 := Thread(), Process()
	x := 0
	for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
		x++
	}
	t1, p1 := Thread(), Process()
	if t1 <= t0 || p1 <= p0 || x == 0 {
		t.Fatalf("after spinning: thread %v → %v, process %v → %v", t0, t1, p0, p1)
	}
	if runtime.GOOS == "linux" {
		time.Sleep(50 * time.Millisecond)
		if d := Thread() - t1; d > 25*time.Millisecond {
			t.Fatalf("a 50 ms sleep cost the thread %v of CPU", d)
		}
	}
}
