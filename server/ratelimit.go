package server

import (
	"math"
	"net"
	"sync"
	"time"
)

// rateLimiter is a token bucket per API key, plus one per client IP address
// for anonymous callers (no keys configured). It is safe for concurrent use.
type rateLimiter struct {
	rate  float64 // tokens per second
	burst float64
	now   func() time.Time // test hook

	keys []bucket // indexed by principal.key

	mu struct {
		sync.Mutex
		ips map[[16]byte]*bucket
	}
}

// maxIPBuckets bounds the anonymous buckets; past it the map is cleared,
// which at worst gives every client a fresh burst.
const maxIPBuckets = 1 << 16

type bucket struct {
	mu     sync.Mutex
	tokens float64
	last   time.Time
}

// newRateLimiter returns nil when rate is 0 (no limit).
func newRateLimiter(rate float64, burst, numKeys int) *rateLimiter {
	if rate <= 0 {
		return nil
	}
	rl := &rateLimiter{rate: rate, burst: float64(max(burst, 1)), now: time.Now, keys: make([]bucket, numKeys)}
	rl.mu.ips = make(map[[16]byte]*bucket)
	return rl
}

// allow takes one token for the caller: the key's bucket when key >= 0, else
// the bucket of ip. When the bucket is empty it returns false and the
// whole seconds to wait before a token is available (at least 1).
func (rl *rateLimiter) allow(key int, ip net.IP) (bool, int) {
	var b *bucket
	if key >= 0 && key < len(rl.keys) {
		b = &rl.keys[key]
	} else {
		b = rl.ipBucket(ip)
	}
	now := rl.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = rl.burst
	} else if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens = math.Min(rl.burst, b.tokens+dt*rl.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := int(math.Ceil((1 - b.tokens) / rl.rate))
	return false, max(wait, 1)
}

func (rl *rateLimiter) ipBucket(ip net.IP) *bucket {
	var k [16]byte
	copy(k[:], ip.To16())
	rl.mu.Lock()
	defer rl.mu.Unlock()
	b := rl.mu.ips[k]
	if b == nil {
		if len(rl.mu.ips) >= maxIPBuckets {
			clear(rl.mu.ips)
		}
		b = &bucket{}
		rl.mu.ips[k] = b
	}
	return b
}
