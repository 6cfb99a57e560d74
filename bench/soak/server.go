package soak

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// Build compiles this module's server (./cmd/lsmvec) into dir/lsmvec with
// the go command on PATH (or $GOROOT/bin/go) and returns the binary's path.
// It must run inside the module's source tree.
func Build(dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, serr := os.Stat(goBin); serr != nil {
			return "", fmt.Errorf("cannot build the server: no go command: %w", err)
		}
	}
	out := filepath.Join(dir, "lsmvec")
	cmd := exec.Command(goBin, "build", "-o", out, "github.com/lsmvec/lsmvec/cmd/lsmvec")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cannot build the server: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// proc is one run of the server binary. Its methods are safe for concurrent
// use.
type proc struct {
	cmd     *exec.Cmd
	addr    string // 127.0.0.1:PORT of the HTTP API
	started time.Time
	done    chan struct{} // closed when the process has exited
	mu      struct {
		sync.Mutex
		killed bool // the harness sent SIGKILL or SIGTERM
		err    error
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// startServer starts the binary on dataDir with fresh loopback ports,
// appending its output to logFile.
func startServer(binary, dataDir, key string, dim int, log *os.File) (*proc, error) {
	hp, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("cannot start the server: %w", err)
	}
	gp, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("cannot start the server: %w", err)
	}
	p := &proc{addr: "127.0.0.1:" + strconv.Itoa(hp), done: make(chan struct{})}
	p.cmd = exec.Command(binary, "-http", p.addr, "-grpc", "127.0.0.1:"+strconv.Itoa(gp), "-data", dataDir)
	// The harness's environment reaches the server (LSMVEC_LOG_LEVEL=info
	// logs the store's recovery lines), but for the settings it owns.
	p.cmd.Env = append(os.Environ(),
		"LSMVEC_API_KEYS="+key,
		"LSMVEC_READONLY_KEYS=",
		"LSMVEC_DIM="+strconv.Itoa(dim),
		"LSMVEC_COLLECTION=soak",
		"LSMVEC_RATE_LIMIT=0",
	)
	if os.Getenv("LSMVEC_LOG_LEVEL") == "" {
		p.cmd.Env = append(p.cmd.Env, "LSMVEC_LOG_LEVEL=warn")
	}
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.started = time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("cannot start the server: %w", err)
	}
	go func() {
		err := p.cmd.Wait()
		p.mu.Lock()
		p.mu.err = err
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// pid returns the process id.
func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited, and how, when the harness
// did not stop it.
func (p *proc) exited() (bool, error) {
	select {
	case <-p.done:
	default:
		return false, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.killed {
		return true, nil
	}
	return true, fmt.Errorf("%w on its own: %v", ErrServerExited, p.mu.err)
}

// kill sends SIGKILL and waits for the exit.
func (p *proc) kill() {
	p.mu.Lock()
	p.mu.killed = true
	p.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits up to timeout for the exit, which must be
// status 0 (SPEC.md: flush, close, exit 0); past timeout it kills.
func (p *proc) stop(timeout time.Duration) error {
	p.mu.Lock()
	p.mu.killed = true
	p.mu.Unlock()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
		return fmt.Errorf("cannot stop the server: no exit %v after SIGTERM (killed)", timeout)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.err != nil {
		return fmt.Errorf("cannot stop the server: after SIGTERM: %w", p.mu.err)
	}
	return nil
}

// waitReady polls GET /ready until it answers 200 and returns the time
// since the process started. A process that exits first, or no 200 within
// timeout, is an error.
func (p *proc) waitReady(key string, timeout time.Duration) (time.Duration, error) {
	c := &fasthttp.HostClient{Addr: p.addr, MaxIdemponentCallAttempts: 1}
	defer c.CloseIdleConnections()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	deadline := p.started.Add(timeout)
	var last string
	for {
		req.Reset()
		req.SetRequestURI("http://" + p.addr + "/ready")
		req.Header.Set("Authorization", "Bearer "+key)
		err := c.DoTimeout(req, resp, time.Second)
		if err == nil && resp.StatusCode() == fasthttp.StatusOK {
			return time.Since(p.started), nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("status %d: %s", resp.StatusCode(), truncate(string(resp.Body()), 200))
		}
		if done, err := p.exited(); done {
			if err == nil {
				err = ErrServerExited
			}
			return 0, fmt.Errorf("cannot wait for /ready: %w", err)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("cannot wait for /ready: %w: none within %v (last: %s)", ErrNotReady, timeout, last)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rssMiB reads VmRSS of the process from /proc (Linux).
func rssMiB(pid int) (float64, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("cannot read RSS: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "VmRSS:") {
			continue
		}
		fields := strings.Fields(line[len("VmRSS:"):])
		if len(fields) != 2 || fields[1] != "kB" {
			break
		}
		kb, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			break
		}
		return kb / 1024, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("cannot read RSS: %w", err)
	}
	return 0, errors.New("cannot read RSS: no VmRSS line in kB")
}

// probe reads the server's memory figures into s: GET /v1/stats and GET
// /metrics. It is used by one goroutine at a time.
type probe struct {
	key  string
	req  fasthttp.Request
	resp fasthttp.Response
}

func (p *probe) get(addr, path string) ([]byte, error) {
	p.req.Reset()
	p.resp.Reset()
	p.req.SetRequestURI("http://" + addr + path)
	p.req.Header.Set("Authorization", "Bearer "+p.key)
	if err := fasthttp.DoTimeout(&p.req, &p.resp, 10*time.Second); err != nil {
		return nil, err
	}
	if p.resp.StatusCode() != fasthttp.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", path, p.resp.StatusCode())
	}
	return p.resp.Body(), nil
}

// serverStats is the part of GET /v1/stats the harness reads.
type serverStats struct {
	Vectors               int64   `json:"vectors"`
	Tombstones            int64   `json:"tombstones"`
	MemoryBytes           float64 `json:"memory_bytes"`
	BlockCacheBytes       float64 `json:"block_cache_bytes"`
	MemTableBytes         float64 `json:"memtable_bytes"`
	WALBytes              float64 `json:"wal_bytes"`
	WritesSinceCheckpoint int64   `json:"writes_since_checkpoint"`
	LogSeq                uint64  `json:"log_seq"`
	CheckpointSeq         uint64  `json:"checkpoint_seq"`
}

// stats reads GET /v1/stats.
func (p *probe) stats(addr string) (serverStats, error) {
	var st serverStats
	b, err := p.get(addr, "/v1/stats")
	if err == nil {
		err = json.Unmarshal(b, &st)
	}
	if err != nil {
		return st, fmt.Errorf("cannot read /v1/stats: %w", err)
	}
	return st, nil
}

// read fills the server-side fields of s; figures it cannot read stay 0.
func (p *probe) read(addr string, s *RSSSample) {
	const mib = 1 << 20
	if st, err := p.stats(addr); err == nil {
		s.Vectors, s.Tombstones = st.Vectors, st.Tombstones
		s.IndexMiB, s.CacheMiB, s.MemtableMiB = st.MemoryBytes/mib, st.BlockCacheBytes/mib, st.MemTableBytes/mib
	}
	if b, err := p.get(addr, "/metrics"); err == nil {
		const name = "go_memstats_heap_inuse_bytes "
		if i := bytes.Index(b, []byte("\n"+name)); i >= 0 {
			line := b[i+1+len(name):]
			if j := bytes.IndexByte(line, '\n'); j >= 0 {
				line = line[:j]
			}
			if v, err := strconv.ParseFloat(strings.TrimSpace(string(line)), 64); err == nil {
				s.HeapMiB = v / mib
			}
		}
	}
}
