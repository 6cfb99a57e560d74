package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The Casper seed's curl examples, verbatim but for their order (each is run
// against a fresh binary on a free port instead of localhost:8080), with
// the status and a check of the shape SPEC.md gives the answer.
var seedExamples = []struct {
	curl   string
	status int
	check  func(t *testing.T, body []byte, dir string)
}{
	{`curl --location --request POST 'http://localhost:8080/collection/demo?dim=4&max_size=1000000'`, 200, checkInfo("demo", false)},
	{`curl --location --request POST 'http://localhost:8080/collection/demo/insert?id=42' \
--header 'Content-Type: application/json' \
--data-raw '{
"vector": [0.1, 0.2, 0.3, 0.4]
}'`, 200, nil},
	{`curl --location --request POST 'http://localhost:8080/collection/demo/update' \
--header 'Content-Type: application/json' \
--data-raw '{
"insert": [
{ "id": 10, "vector": [0.1, 0.2, 0.3, 0.4] },
{ "id": 11, "vector": [0.2, 0.3, 0.4, 0.5] }
],
"delete": [3, 5]
}'`, 200, nil},
	{`curl --location --request POST 'http://localhost:8080/collection/demo/mute'`, 200, nil},
	{`curl --location --request POST 'http://localhost:8080/collection/demo/unmute'`, 200, nil},
	{`curl --location --request POST 'http://localhost:8080/collection/demo/index' \
--header 'Content-Type: application/json' \
--data-raw '{
"hnsw": {
"metric": "euclidean",
"quantization": "f32",
"m": 16,
"m0": 32,
"ef_construction": 200
},
"normalization": true
}'`, 200, checkInfo("demo", true)},
	{`curl --location --request POST 'http://localhost:8080/collection/demo/search?limit=10' \
--header 'Content-Type: application/json' \
--data-raw '{ "vector": [0.1, 0.2, 0.3, 0.4] }'`, 200, func(t *testing.T, body []byte, _ string) {
		var hits [][2]float64
		if err := json.Unmarshal(body, &hits); err != nil || len(hits) != 3 {
			t.Fatalf("search JSON %s: %v", body, err)
		}
		for i := 1; i < len(hits); i++ {
			if hits[i][1] < hits[i-1][1] {
				t.Fatalf("distances not ascending: %v", hits)
			}
		}
	}},
	{`curl --location --request POST 'http://localhost:8080/collection/demo/search?limit=10&output=bin' \
--header 'Content-Type: application/json' \
--output results.bin \
--data-raw '{ "vector": [0.1, 0.2, 0.3, 0.4] }'`, 200, func(t *testing.T, _ []byte, dir string) {
		b, err := os.ReadFile(filepath.Join(dir, "results.bin"))
		if err != nil || len(b) != 4+3*8 || binary.LittleEndian.Uint32(b) != 3 {
			t.Fatalf("results.bin %x: %v", b, err)
		}
	}},
	{`curl --location --request GET 'http://localhost:8080/collections'`, 200, func(t *testing.T, body []byte, _ string) {
		var v struct {
			Collections []map[string]any `json:"collections"`
		}
		if err := json.Unmarshal(body, &v); err != nil || len(v.Collections) != 1 || v.Collections[0]["name"] != "demo" {
			t.Fatalf("collections %s: %v", body, err)
		}
	}},
	{`curl --location --request GET 'http://localhost:8080/collection/demo'`, 200, checkInfo("demo", true)},
	{`curl --location --request GET 'http://localhost:8080/collection/demo/vector/42'`, 200, func(t *testing.T, body []byte, _ string) {
		var v struct {
			ID     *uint32   `json:"id"`
			Vector []float32 `json:"vector"`
		}
		if err := json.Unmarshal(body, &v); err != nil || v.ID == nil || *v.ID != 42 || len(v.Vector) != 4 {
			t.Fatalf("vector %s: %v", body, err)
		}
	}},
	{`curl --location --request DELETE 'http://localhost:8080/collection/demo/delete?id=42'`, 200, nil},
	{`curl --location --request GET 'http://localhost:8080/collection/demo/vector/42'`, 404, checkError("not_found")},
	{`curl --location --request DELETE 'http://localhost:8080/collection/demo/index'`, 200, nil},
	// The PQ example names a PQ nobody created: 400, nothing built.
	{`curl --location --request POST 'http://localhost:8080/collection/demo/index' \
--header 'Content-Type: application/json' \
--data-raw '{
"hnsw": {
"metric": "inner-product",
"quantization": "pq8",
"m": 16,
"m0": 32,
"ef_construction": 200,
"pq_name": "pq_ip"
},
"normalization": false
}'`, 400, checkError("pq_not_found")},
	{`curl --location --request GET 'http://localhost:8080/matrix/list'`, 200, func(t *testing.T, body []byte, _ string) {
		if string(body) != "[]" {
			t.Fatalf("matrix list %s", body)
		}
	}},
	{`curl --location --request GET 'http://localhost:8080/matrix/demo_matrix'`, 404, checkError("not_found")},
	{`curl --location --request DELETE 'http://localhost:8080/matrix/demo_matrix'`, 404, checkError("not_found")},
	// The seed's codebook names are files of the old API; no such matrices.
	{`curl --location --request POST 'http://localhost:8080/pq/my_pq' \
--header 'Content-Type: application/json' \
--data-raw '{
"dim": 128,
"codebooks": ["pq_sub_0.bin", "pq_sub_1.bin"]
}'`, 400, checkError("")},
	{`curl --location --request GET 'http://localhost:8080/pq/list'`, 200, func(t *testing.T, body []byte, _ string) {
		if string(body) != "[]" {
			t.Fatalf("pq list %s", body)
		}
	}},
	{`curl --location --request GET 'http://localhost:8080/pq/my_pq'`, 404, checkError("not_found")},
	{`curl --location --request DELETE 'http://localhost:8080/pq/my_pq'`, 404, checkError("not_found")},
	{`curl --location --request GET 'http://localhost:8080/health'`, 200, func(t *testing.T, body []byte, _ string) {
		if string(body) != `{"status":"ok"}` {
			t.Fatalf("health %s", body)
		}
	}},
}

func checkInfo(name string, indexed bool) func(t *testing.T, body []byte, _ string) {
	return func(t *testing.T, body []byte, _ string) {
		var v map[string]any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("info %s: %v", body, err)
		}
		for _, k := range []string{"name", "dimension", "mutable", "has_index", "max_size", "size", "index"} {
			if _, ok := v[k]; !ok {
				t.Fatalf("info %s lacks %q", body, k)
			}
		}
		if v["name"] != name || v["has_index"] != indexed || (v["index"] != nil) != indexed {
			t.Fatalf("info %s: want name %s, indexed %v", body, name, indexed)
		}
		if indexed {
			idx := v["index"].(map[string]any)
			if _, ok := idx["hnsw"].(map[string]any); !ok {
				t.Fatalf("index %v lacks hnsw", idx)
			}
			if _, ok := idx["normalization"].(bool); !ok {
				t.Fatalf("index %v lacks normalization", idx)
			}
		}
	}
}

func checkError(code string) func(t *testing.T, body []byte, _ string) {
	return func(t *testing.T, body []byte, _ string) {
		var e struct{ Error, Code string }
		if err := json.Unmarshal(body, &e); err != nil || e.Error == "" || e.Code == "" || code != "" && e.Code != code {
			t.Fatalf("error body %s, want code %q", body, code)
		}
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "lsmvec")
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cannot build the binary: %v\n%s", err, out)
	}
	return bin
}

// startBinary starts the binary configured by env knobs only and waits
// until its -healthcheck mode succeeds.
func startBinary(t *testing.T, bin string, env []string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		hc := exec.Command(bin, "-healthcheck")
		hc.Env = cmd.Env
		if hc.Run() == nil {
			return cmd, &logs
		}
		if time.Now().After(deadline) {
			t.Fatalf("the binary did not become healthy; log:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func stopBinary(t *testing.T, cmd *exec.Cmd, logs *bytes.Buffer) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; log:\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("no exit 30 s after SIGTERM; log:\n%s", logs.String())
	}
}

// TestBinarySeedExamples builds the static binary, starts it with nothing
// but LSMVEC_* variables, runs the Casper seed's curl examples against it,
// stops it with SIGTERM (exit 0), and restarts it to see the data again.
func TestBinarySeedExamples(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	bin := buildBinary(t)
	data := t.TempDir()
	port := freePort(t)
	env := []string{"LSMVEC_PORT=" + port, "LSMVEC_GRPC_PORT=" + freePort(t), "LSMVEC_DATA_DIR=" + data, "LSMVEC_LOG_FORMAT=json"}
	cmd, logs := startBinary(t, bin, env)
	if !strings.Contains(logs.String(), "NO API KEYS CONFIGURED") {
		t.Errorf("no warning about the open server in:\n%s", logs.String())
	}
	dir := t.TempDir()
	for i, ex := range seedExamples {
		c := strings.ReplaceAll(ex.curl, "http://localhost:8080", "http://127.0.0.1:"+port) + ` -sS -w '\n%{http_code}'`
		sh := exec.Command("bash", "-c", c)
		sh.Dir = dir
		out, err := sh.Output()
		if err != nil {
			t.Fatalf("example %d: %v\n%s", i, err, c)
		}
		nl := bytes.LastIndexByte(out, '\n')
		body, code := out[:max(nl, 0)], string(out[nl+1:])
		if code != strconv.Itoa(ex.status) {
			t.Fatalf("example %d: status %s, want %d; body %s\n%s", i, code, ex.status, body, c)
		}
		if ex.check != nil {
			ex.check(t, body, dir)
		}
	}
	stopBinary(t, cmd, logs)
	if !strings.Contains(logs.String(), `"msg":"stopped","exit":0`) {
		t.Errorf("no clean-stop line in the JSON log:\n%s", logs.String())
	}

	// Everything acknowledged survives the restart.
	cmd, logs = startBinary(t, bin, env)
	out, err := exec.Command("curl", "-sS", "http://127.0.0.1:"+port+"/collection/demo").Output()
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	if err := json.Unmarshal(out, &info); err != nil || info["size"] != float64(2) {
		t.Fatalf("after restart: %s (%v)", out, err)
	}
	stopBinary(t, cmd, logs)
}
