package bench

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

const hnswlibOutput = `# hnswlib siftsmall n=10000 d=128 nq=100 M=16 efC=200 build(2 threads) 2.50s
hnswlib ef=10 recall@10=0.9100 qps=30000
hnswlib ef=16 recall@10=0.9600 qps=21000
hnswlib ef=24 recall@10=0.9850 qps=15000
`

func TestParseHNSWLib(t *testing.T) {
	b, pts, err := parseHNSWLib([]byte(hnswlibOutput))
	if err != nil {
		t.Fatal(err)
	}
	if b.BuildSeconds != 2.5 || b.LoadRate != 4000 {
		t.Errorf("build = %+v, want 2.5 s and 4000 vectors/s", b)
	}
	want := []Point{{Ef: 10, Recall: 0.91, QPS: 30000}, {Ef: 16, Recall: 0.96, QPS: 21000}, {Ef: 24, Recall: 0.985, QPS: 15000}}
	if len(pts) != len(want) {
		t.Fatalf("points = %+v", pts)
	}
	for i := range want {
		if pts[i] != want[i] {
			t.Errorf("point %d = %+v, want %+v", i, pts[i], want[i])
		}
	}
	for _, bad := range []string{
		"",
		"hnswlib ef=10 recall@10=0.9 qps=1\n", // no header
		"# hnswlib x n=1 build(2 threads) 1.0s\n",                 // no sweep
		"# hnswlib x n=1 build(2 threads) 1.0s\nsomething else\n", // stray line
		"# hnswlib x n=1 build(2 threads) 1.0s\nhnswlib ef=10 recall@10=1.5 qps=1\n",
	} {
		if _, _, err := parseHNSWLib([]byte(bad)); !errors.Is(err, ErrMalformedOutput) {
			t.Errorf("parseHNSWLib(%q) err = %v", bad, err)
		}
	}
}

// TestRunHNSWLibScript runs a stand-in for the shared wrapper script and
// checks the arguments it receives and the parsed result.
func TestRunHNSWLibScript(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "hnswlib-ref")
	args := filepath.Join(dir, "args")
	script := "#!/bin/sh\necho \"$@\" > " + args + "\ncat <<'EOF'\n" + hnswlibOutput + "EOF\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	run, err := RunHNSWLib(context.Background(), bin, "siftsmall", 12, 100, 3, 50)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(args)
	if string(got) != "siftsmall 12 100 3 50\n" {
		t.Errorf("script got arguments %q", got)
	}
	if run.Engine != EngineHNSWLib || len(run.Points) != 3 || run.Build.BuildSeconds != 2.5 {
		t.Errorf("run = %+v", run)
	}
	fail := filepath.Join(dir, "fail")
	if err := os.WriteFile(fail, []byte("#!/bin/sh\necho boom >&2\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := RunHNSWLib(context.Background(), fail, "siftsmall", 16, 200, 2, 10); err == nil {
		t.Errorf("a failing binary gave no error")
	}
}

func TestHNSWLibPath(t *testing.T) {
	set := sampleSet()
	for _, tc := range []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"off", Config{Dataset: "siftsmall", K: 10, HNSWLib: "off"}, false},
		{"user files", Config{Base: "b", K: 10, HNSWLib: "/bin/true"}, false},
		{"k=5", Config{Dataset: "siftsmall", K: 5, HNSWLib: "/bin/true"}, false},
		{"explicit", Config{Dataset: "siftsmall", K: 10, HNSWLib: "/bin/true"}, true},
	} {
		if _, ok, _ := tc.cfg.hnswlibPath(set); ok != tc.ok {
			t.Errorf("%s: ok = %v, want %v", tc.name, ok, tc.ok)
		}
	}
}
