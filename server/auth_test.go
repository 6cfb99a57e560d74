package server

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"
)

func TestAuthenticator(t *testing.T) {
	a := newAuthenticator([]string{"rw-key", "second"}, []string{"ro-key"})
	cases := []struct {
		header string
		need   access
		key    int
		err    error
	}{
		{"", accessPublic, -1, nil},
		{"", accessRead, -1, ErrUnauthorized},
		{"Bearer", accessRead, -1, ErrUnauthorized},
		{"Basic rw-key", accessRead, -1, ErrUnauthorized},
		{"Bearer wrong", accessRead, -1, ErrUnauthorized},
		{"Bearer rw-key-", accessRead, -1, ErrUnauthorized},
		{"Bearer rw-ke", accessRead, -1, ErrUnauthorized},
		{"Bearer rw-key", accessRead, 0, nil},
		{"bearer rw-key", accessWrite, 0, nil},
		{"Bearer second", accessWrite, 1, nil},
		{"Bearer ro-key", accessRead, 2, nil},
		{"Bearer ro-key", accessWrite, 2, ErrForbidden},
	}
	for _, c := range cases {
		p, err := a.check([]byte(c.header), c.need)
		if c.err == nil && err != nil || c.err != nil && !errors.Is(err, c.err) {
			t.Errorf("check(%q, %d) error %v, want %v", c.header, c.need, err, c.err)
			continue
		}
		if err == nil && c.need != accessPublic && p.key != c.key {
			t.Errorf("check(%q) key %d, want %d", c.header, p.key, c.key)
		}
	}
	open := newAuthenticator(nil, nil)
	if p, err := open.check(nil, accessWrite); err != nil || !p.canWrite {
		t.Fatalf("open authenticator refused a write: %v", err)
	}
	hdr := []byte("Bearer ro-key")
	if n := testing.AllocsPerRun(100, func() { _, _ = a.check(hdr, accessRead) }); n != 0 {
		t.Fatalf("check allocates %v times", n)
	}
}

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1000, 0)
	rl := newRateLimiter(2, 3, 2)
	rl.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := rl.allow(0, nil); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := rl.allow(0, nil)
	if ok || wait != 1 {
		t.Fatalf("4th request: ok=%v wait=%d, want refused with wait 1", ok, wait)
	}
	if ok, _ := rl.allow(1, nil); !ok {
		t.Fatal("key 1 was limited by key 0's bucket")
	}
	now = now.Add(500 * time.Millisecond) // one token at 2/s
	if ok, _ := rl.allow(0, nil); !ok {
		t.Fatal("a refilled token was refused")
	}
	if ok, _ := rl.allow(0, nil); ok {
		t.Fatal("bucket should be empty again")
	}
	// Anonymous callers: one bucket per IP.
	a, b := net.ParseIP("127.0.0.1"), net.ParseIP("::1")
	for range 3 {
		rl.allow(-1, a)
	}
	if ok, _ := rl.allow(-1, a); ok {
		t.Fatal("IP a not limited")
	}
	if ok, _ := rl.allow(-1, b); !ok {
		t.Fatal("IP b limited by IP a")
	}
	slow := newRateLimiter(0.1, 1, 1)
	slow.now = func() time.Time { return now }
	slow.allow(0, nil)
	if _, wait := slow.allow(0, nil); wait != 10 {
		t.Fatalf("wait at 0.1/s = %d, want 10", wait)
	}
	if newRateLimiter(0, 5, 1) != nil {
		t.Fatal("rate 0 should disable the limiter")
	}
}

func TestRateLimiterConcurrent(t *testing.T) {
	rl := newRateLimiter(1e-9, 100, 1)
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ip := net.IPv4(10, 0, 0, byte(g%2))
			for range 100 {
				okKey, _ := rl.allow(0, nil)
				rl.allow(-1, ip)
				if okKey {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != 100 {
		t.Fatalf("allowed %d requests from a burst of 100", allowed)
	}
}
