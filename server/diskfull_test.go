package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/lsmvec/lsmvec/store"
)

// mountTmpfs mounts a tmpfs of size bytes on a fresh temporary directory
// and unmounts it at the end of the test, or skips the test when it cannot
// (not Linux, not root).
func mountTmpfs(t *testing.T, size int64) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("disk-full test needs Linux tmpfs")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, fmt.Sprintf("size=%d", size)); err != nil {
		t.Skipf("disk-full test skipped: cannot mount a %d-byte tmpfs on %s (needs root or CAP_SYS_ADMIN): %v", size, dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Logf("unmount %s: %v; detaching", dir, err)
			_ = syscall.Unmount(dir, syscall.MNT_DETACH)
		}
	})
	return dir
}

// availBytes is what statfs reports as available to unprivileged users,
// the figure the store checks.
func availBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Frsize)
}

// storeErrLog collects the store's error lines.
type storeErrLog struct {
	mu    sync.Mutex
	lines []string
}

func (*storeErrLog) Infof(string, ...any) {}
func (l *storeErrLog) Errorf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *storeErrLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// ledgerEntry is what the server acknowledged for one id: the vector and,
// for payloads that were set, the payload (JSON).
type ledgerEntry struct {
	vec     []float32
	payload string // "" = not tracked
}

// ledger is the client-side record of acknowledged writes, keyed by
// "v1/<id>" or "casper/<id>".
type ledger struct {
	mu sync.Mutex
	m  map[string]ledgerEntry
}

func (l *ledger) put(key string, e ledgerEntry) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.m[key] = e
}

func (l *ledger) setPayload(key, payload string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.m[key]
	e.payload = payload
	l.m[key] = e
}

func (l *ledger) remove(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}

// verify reads back every acknowledged write through the API.
func (l *ledger) verify(t *testing.T, ts *testServer, when string) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for key, e := range l.m {
		family, id, _ := strings.Cut(key, "/")
		var path string
		if family == "v1" {
			path = "/v1/vectors/" + id
		} else {
			path = "/collection/" + casperDiskColl + "/vector/" + id
		}
		r := ts.do("GET", path, "")
		if r.status != 200 {
			t.Fatalf("%s: acknowledged %s: GET %s: %d %s", when, key, path, r.status, r.body)
		}
		var got struct{ Vector []float32 }
		if err := json.Unmarshal(r.body, &got); err != nil || !sameVec(got.Vector, e.vec) {
			t.Fatalf("%s: acknowledged %s changed: got %s (%v)", when, key, r.body, err)
		}
		if e.payload != "" {
			r := ts.do("GET", path+"/payload", "")
			if r.status != 200 || !sameJSONText(string(r.body), e.payload) {
				t.Fatalf("%s: payload of %s: %d %s, want %s", when, key, r.status, r.body, e.payload)
			}
		}
	}
}

func sameVec(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sameJSONText(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func vecJSON(v []float32) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, f := range v {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatFloat(float64(f), 'g', -1, 32))
	}
	b.WriteByte(']')
	return b.String()
}

func randVec32(rng *rand.Rand, dim int) []float32 {
	v := make([]float32, dim)
	for i := range v {
		v[i] = rng.Float32()*2 - 1
	}
	return v
}

// rawDo sends one request without failing the test (for goroutines).
func rawDo(c *http.Client, method, url, body string) (int, []byte, error) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

const casperDiskColl = "disk"

// TestDiskFull runs the server on a small tmpfs that fills up: writes on
// every route fail with 507 insufficient_storage (gRPC ResourceExhausted),
// never 500 or a crash; reads, deletes, stats, health and readiness keep
// working; once space returns writes succeed again; and every acknowledged
// write is intact before and after a restart.
func TestDiskFull(t *testing.T) {
	const (
		fsSize  = 64 << 20
		reserve = 8 << 20
		dim     = 64
		pad     = 4 << 10 // payload padding: each write costs ~5 KiB of WAL
	)
	mnt := mountTmpfs(t, fsSize)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	dataDir := filepath.Join(mnt, "data")
	storeLog := &storeErrLog{}
	sopts := store.Options{Dir: dataDir, Logger: storeLog, MemTableSize: 1 << 20, CacheSize: 8 << 20,
		MinFreeBytes: reserve, CheckpointInterval: -1}
	db, err := store.Open(sopts)
	if err != nil {
		t.Fatal(err)
	}
	dbClosed := false
	t.Cleanup(func() {
		if !dbClosed {
			db.Close()
		}
	})
	var logs syncBuffer
	ts := serveStore(t, db, Options{LogOutput: &logs})
	bulkSrv := serveStore(t, db, Options{Collection: "bulk", LogOutput: &logs})
	led := &ledger{m: map[string]ledgerEntry{}}

	// Room to spare: a few writes on each family.
	for i := range 40 {
		v := randVec32(rng, dim)
		p := fmt.Sprintf(`{"i":%d}`, i)
		ts.expect(201, "", "POST", "/v1/vectors", fmt.Sprintf(`{"id":%d,"vector":%s,"metadata":%s}`, i, vecJSON(v), p))
		led.put(fmt.Sprintf("v1/%d", i), ledgerEntry{vec: v, payload: p})
	}
	ts.expect(200, "", "POST", fmt.Sprintf("/collection/%s?dim=%d&max_size=100000", casperDiskColl, dim), "")
	for i := range 20 {
		v := randVec32(rng, dim)
		ts.expect(200, "", "POST", fmt.Sprintf("/collection/%s/insert?id=%d", casperDiskColl, i), `{"vector":`+vecJSON(v)+`}`)
		led.put(fmt.Sprintf("casper/%d", i), ledgerEntry{vec: v})
	}
	ts.expect(200, "", "POST", "/collection/"+casperDiskColl+"/index", `{"hnsw":{"metric":"euclidean","m":8,"m0":16,"ef_construction":32}}`)
	led.verify(t, ts.testServer, "before filling")

	// A ballast leaves 2 MiB above the reserve.
	ballast := filepath.Join(mnt, "ballast")
	f, err := os.Create(ballast)
	if err != nil {
		t.Fatal(err)
	}
	size := availBytes(t, mnt) - reserve - 2<<20
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err != nil {
		t.Fatalf("fallocate %d bytes: %v", size, err)
	}
	f.Close()
	t.Logf("tmpfs %d MiB, reserve %d MiB, ballast %.1f MiB, %d bytes available", fsSize>>20, reserve>>20, float64(size)/(1<<20), availBytes(t, mnt))

	// Fill: four writers on different routes until each has been refused
	// five times (space comes and goes a little as Pebble flushes and
	// compacts). Every answer is a 2xx or a 507.
	var (
		wg                  sync.WaitGroup
		mu                  sync.Mutex
		acked, refused, bad int
		badMsgs             []string
	)
	fillStart := time.Now()
	deadline := fillStart.Add(30 * time.Second)
	for w := range 4 {
		wg.Add(1)
		wrng := rand.New(rand.NewPCG(seed, uint64(w)))
		go func() {
			defer wg.Done()
			c := &http.Client{Timeout: 30 * time.Second}
			refusals := 0 // and failures
			for i := 0; refusals < 5 && time.Now().Before(deadline); i++ {
				id := 1000 + w*100000 + i
				v := randVec32(wrng, dim)
				p := fmt.Sprintf(`{"w":%d,"i":%d,"pad":%q}`, w, i, strings.Repeat("x", pad))
				var method, path, body, key string
				ok := 200
				switch w {
				case 0: // /v1 insert with a payload
					method, path, key, ok = "POST", "/v1/vectors", fmt.Sprintf("v1/%d", id), 201
					body = fmt.Sprintf(`{"id":%d,"vector":%s,"metadata":%s}`, id, vecJSON(v), p)
				case 1: // /v1 upsert, then the payload set by PUT
					method, path, key = "PUT", fmt.Sprintf("/v1/vectors/%d", id), fmt.Sprintf("v1/%d", id)
					body = `{"vector":` + vecJSON(v) + `}`
				case 2: // Casper insert
					method, path, key = "POST", fmt.Sprintf("/collection/%s/insert?id=%d", casperDiskColl, id), fmt.Sprintf("casper/%d", id)
					body = `{"vector":` + vecJSON(v) + `}`
				case 3: // Casper update (inserts only)
					method, path, key = "POST", "/collection/"+casperDiskColl+"/update", fmt.Sprintf("casper/%d", id)
					body = fmt.Sprintf(`{"insert":[{"id":%d,"vector":%s}]}`, id, vecJSON(v))
				}
				st, rb, err := rawDo(c, method, ts.base+path, body)
				mu.Lock()
				switch {
				case err != nil:
					bad++
					refusals++
					badMsgs = append(badMsgs, fmt.Sprintf("%s %s: %v", method, path, err))
				case st == ok:
					acked++
					e := ledgerEntry{vec: v}
					if w == 0 {
						e.payload = p
					}
					led.put(key, e)
				case st == 507 && strings.Contains(string(rb), `"code":"insufficient_storage"`):
					refused++
					refusals++
				default:
					bad++
					refusals++
					badMsgs = append(badMsgs, fmt.Sprintf("%s %s: %d %s", method, path, st, rb))
				}
				mu.Unlock()
				if w == 1 && st == 200 && err == nil {
					// The same id's payload through PUT .../payload.
					st, rb, err := rawDo(c, "PUT", ts.base+path+"/payload", p)
					mu.Lock()
					switch {
					case err == nil && st == 200:
						led.setPayload(key, p)
					case err == nil && st == 507:
						refused++
					default:
						bad++
						badMsgs = append(badMsgs, fmt.Sprintf("PUT payload: %d %s %v", st, rb, err))
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("filling: %d writes acknowledged, %d refused with 507 in %v; %d bytes available", acked, refused, time.Since(fillStart).Round(time.Millisecond), availBytes(t, mnt))
	if bad > 0 {
		t.Fatalf("%d answers neither 2xx nor 507; first: %v", bad, badMsgs[:min(len(badMsgs), 5)])
	}
	if refused == 0 {
		t.Fatal("the disk never filled up")
	}
	if err := db.Err(); err != nil {
		t.Fatalf("the store failed: %v", err)
	}

	// Pin the disk 2 MiB under the reserve (Pebble's flushes and
	// compactions free a little now and then, which must not let a write
	// below through), still above half the reserve, where deletes stop.
	if extra := availBytes(t, mnt) - (reserve - 2<<20); extra > 0 {
		f, err := os.OpenFile(ballast, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := syscall.Fallocate(int(f.Fd()), 0, size, extra); err != nil {
			t.Fatalf("fallocate %d more bytes: %v", extra, err)
		}
		f.Close()
	}

	// Full: every kind of write is refused with 507, and nothing of it
	// lands.
	v := vecJSON(randVec32(rng, dim))
	big := fmt.Sprintf(`{"pad":%q}`, strings.Repeat("y", 60<<10))
	ts.expect(507, "insufficient_storage", "POST", "/v1/vectors", `{"id":5,"vector":`+v+`,"metadata":`+big+`}`)
	ts.expect(507, "insufficient_storage", "PUT", "/v1/vectors/999999", `{"vector":`+v+`}`)
	ts.expect(507, "insufficient_storage", "PUT", "/v1/vectors/1/payload", big)
	ts.expect(507, "insufficient_storage", "PATCH", "/v1/vectors/1/payload", big)
	ts.expect(507, "insufficient_storage", "POST", "/v1/vectors/batch", `{"items":[{"id":999998,"vector":`+v+`,"metadata":`+big+`}]}`)
	ts.expect(507, "insufficient_storage", "POST", "/collection/"+casperDiskColl+"/insert?id=999999", `{"vector":`+v+`}`)
	ts.expect(507, "insufficient_storage", "POST", "/collection/another?dim=4&max_size=10", "")
	ts.expect(507, "insufficient_storage", "POST", "/collection/"+casperDiskColl+"/mute", "")
	cc := dialGRPC(t, ts.testServer)
	if err := uploadMatrix(context.Background(), cc, hdrMsg("m", 2, 1, 1), dataMsg(1, 1, 2)); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("gRPC UploadMatrix on a full disk: %v, want ResourceExhausted", err)
	}
	// A bulk build that does not fit: refused, nothing kept.
	const bulkN = 3000
	bulkBody := make([]byte, 0, bulkN*dim*4)
	for range bulkN * dim {
		bulkBody = appendF32LE(bulkBody, rng.Float32())
	}
	bulkHdr := []string{"X-LSMVec-N: " + strconv.Itoa(bulkN), "X-LSMVec-Dim: " + strconv.Itoa(dim)}
	bulkSrv.expect(507, "insufficient_storage", "POST", "/v1/build/bulk", string(bulkBody), bulkHdr...)
	if st := bulkSrv.expect(200, "", "GET", "/v1/stats", "").json(t).(map[string]any); st["vectors"] != float64(0) {
		t.Fatalf("a refused bulk build left vectors: %v", st)
	}

	// Reads keep working, and show that nothing refused landed.
	led.verify(t, ts.testServer, "disk full")
	ts.expect(404, "", "GET", "/v1/vectors/999999", "")
	ts.expect(404, "", "GET", "/v1/vectors/999998", "")
	ts.expect(404, "", "GET", "/collection/"+casperDiskColl+"/vector/999999", "")
	ts.expect(404, "", "GET", "/collection/another", "")
	ts.expect(404, "", "GET", "/matrix/m", "")
	ts.expect(200, "", "POST", "/v1/search", `{"vector":`+v+`,"k":5}`)
	ts.expect(200, "", "POST", "/collection/"+casperDiskColl+"/search?limit=5", `{"vector":`+v+`}`)
	ts.expect(200, "", "GET", "/v1/stats", "")
	ts.expect(200, "", "GET", "/collections", "")
	ts.expect(200, "", "GET", "/health", "")
	ts.expect(200, "", "GET", "/ready", "")
	// Deletes free space and may use half the reserve.
	ts.expect(204, "", "DELETE", "/v1/vectors/3", "")
	led.remove("v1/3")
	ts.expect(404, "", "GET", "/v1/vectors/3", "")

	// Space returns: writes succeed at once.
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	v2 := randVec32(rng, dim)
	ts.expect(201, "", "POST", "/v1/vectors", `{"id":5,"vector":`+vecJSON(v2)+`,"metadata":{"after":true}}`)
	led.put("v1/5", ledgerEntry{vec: v2, payload: `{"after":true}`})
	ts.expect(200, "", "POST", "/collection/"+casperDiskColl+"/insert?id=999999", `{"vector":`+v+`}`)
	var vv []float32
	_ = json.Unmarshal([]byte(v), &vv)
	led.put("casper/999999", ledgerEntry{vec: vv})
	if err := uploadMatrix(context.Background(), cc, hdrMsg("m", 2, 1, 1), dataMsg(1, 1, 2)); err != nil {
		t.Fatalf("gRPC UploadMatrix after space returned: %v", err)
	}
	bulkSrv.expect(200, "", "POST", "/v1/build/bulk", string(bulkBody), bulkHdr...)
	led.verify(t, ts.testServer, "space returned")

	// Restart on the same directory: everything acknowledged is there.
	if err := ts.stop(); err != nil {
		t.Fatal(err)
	}
	if err := bulkSrv.stop(); err != nil {
		t.Fatal(err)
	}
	dbClosed = true
	if err := db.Close(); err != nil {
		t.Fatalf("store Close: %v", err)
	}
	db2, err := store.Open(sopts)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { db2.Close() })
	ts2 := serveStore(t, db2, Options{LogOutput: &logs})
	led.verify(t, ts2.testServer, "after restart")
	if st := ts2.expect(200, "", "GET", "/v1/stats", "").json(t).(map[string]any); st["vectors"] == float64(0) {
		t.Fatalf("stats after restart: %v", st)
	}
	ts2.expect(201, "", "POST", "/v1/vectors", `{"id":6,"vector":`+vecJSON(v2)+`}`)

	if strings.Contains(logs.String(), "panic") {
		t.Fatalf("the server logged a panic:\n%s", logs.String())
	}
	for _, l := range storeLog.all() {
		if !strings.HasPrefix(l, "disk full:") && !strings.Contains(l, store.ErrDiskFull.Error()) {
			t.Errorf("unexpected store error: %s", l)
		}
	}
	t.Logf("ledger: %d acknowledged writes verified after restart", len(led.m))
}

func appendF32LE(b []byte, f float32) []byte {
	u := math.Float32bits(f)
	return append(b, byte(u), byte(u>>8), byte(u>>16), byte(u>>24))
}
