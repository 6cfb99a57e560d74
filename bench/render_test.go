package bench

import (
	"bytes"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleReport is a small fixed report: hnswlib and two lsmvec runs.
func sampleReport() *Report {
	r := &Report{
		Machine: Machine{CPU: "Test CPU", Cores: 2, GOMAXPROCS: 2, GoVersion: "go1.26", OSArch: "linux/amd64", Kernels: "avx2"},
		Command: "lsmvec-bench ann -dataset siftsmall",
		Started: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
		Seconds: 42,
		Data:    DataInfo{Name: "siftsmall", N: 10000, NQ: 100, Dim: 128, Metric: "l2", K: 10, GroundTruth: "file"},
		Params:  Params{M: 16, M0: 32, EfConstruction: 200, PQM: 16, BuildThreads: 2, Threads: 2, MinTimeSeconds: 1},
		Targets: []float64{0.90, 0.95, 0.99},
		Runs: []RunResult{
			{Name: "hnswlib f32", Engine: EngineHNSWLib, Mode: "ref", Quant: QuantF32,
				Build:  Build{BuildSeconds: 1.5, LoadRate: 6667},
				Points: []Point{{Ef: 10, Recall: 0.85, QPS: 20000}, {Ef: 20, Recall: 0.95, QPS: 10000}, {Ef: 40, Recall: 0.99, QPS: 5000}}},
			{Name: "lsmvec f32 inproc", Engine: EngineLSMVec, Mode: ModeInProcess, Quant: QuantF32,
				Build: Build{BuildSeconds: 1.2, LoadRate: 8333, MemoryBytes: 7 << 20, BytesPerVector: 734, RSS: 50 << 20, HWM: 60 << 20, RSSDelta: 8 << 20},
				Points: []Point{{Ef: 10, Recall: 0.85, QPS: 30000, QPSThreads: 55000, P50: 30, P99: 80},
					{Ef: 20, Recall: 0.95, QPS: 20000, QPSThreads: 38000, P50: 50, P99: 120},
					{Ef: 40, Recall: 0.98, QPS: 12000, QPSThreads: 23000, P50: 80, P99: 1500}}},
			{Name: "lsmvec pq8 http", Engine: EngineLSMVec, Mode: ModeHTTP, Quant: QuantPQ8,
				Build:  Build{TrainSeconds: 3, LoadSeconds: 2, BuildSeconds: 4, LoadRate: 5000},
				Points: []Point{{Ef: 10, Recall: 0.92, QPS: 9000, QPSThreads: 12000}, {Ef: 20, Recall: 0.97, QPS: 7000, QPSThreads: 9000}}},
		},
		Notes: []string{"lsmvec i8 http: bench: not available"},
	}
	for i := range r.Runs {
		r.Runs[i].finish(r.Targets)
	}
	return r
}

func TestRenderMarkdown(t *testing.T) {
	r := sampleReport()
	var b bytes.Buffer
	if err := RenderMarkdown(&b, r, MarkdownOptions{Heading: 2, Sweeps: true, Machine: true, Plot: "siftsmall.png", Details: "bench/siftsmall.md"}); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"## siftsmall\n",
		"10 000 base vectors × 128 dimensions, 100 queries, metric l2, recall@10",
		"Machine: Test CPU, 2 cores (GOMAXPROCS 2), go1.26, linux/amd64, kernels `avx2`.\n",
		"Measured 2026-11-22 12:00 UTC in 42 s by `lsmvec-bench ann -dataset siftsmall`.\n",
		"| run | QPS @0.90 | QPS @0.95 | QPS @0.99 | vs hnswlib @0.90 | vs hnswlib @0.95 | vs hnswlib @0.99 | 2-thread QPS @0.90 |",
		// lsmvec f32: 25 000 @0.90 (between 30k@0.85 and 20k@0.95), 20 000
		// @0.95, n/a @0.99 (tops at 0.98); hnswlib 15 000 / 10 000 / 5 000.
		"| lsmvec f32 inproc | 25 000 | 20 000 | n/a | 1.67x | 2.00x | n/a | 46 500 | 38 000 | n/a |",
		// pq8's first point (0.92) exceeds 0.90: a lower bound.
		"| lsmvec pq8 http | ≥9 000 | 7 800 | n/a | ≈0.60x | 0.78x | n/a | ≥12 000 | 10 200 | n/a |",
		"| hnswlib f32 | 15 000 | 10 000 | 5 000 | 1.00x | 1.00x | 1.00x | n/a | n/a | n/a |",
		"![recall@10 vs QPS, siftsmall](siftsmall.png)",
		"| lsmvec f32 inproc | – | – | 1.20 s | 8 333/s | 7.0 MiB | 734 | 50.0 MiB | 8.0 MiB | 60.0 MiB |",
		"| lsmvec pq8 http | 3.00 s | 2.00 s | 4.00 s | 5 000/s | – | – | – | – | – |",
		"| lsmvec f32 inproc | 40 | 0.9800 | 12 000 | 23 000 | 80 µs | 1.50 ms |",
		"[bench/siftsmall.md](bench/siftsmall.md)",
		"- lsmvec i8 http: bench: not available",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q\n%s", want, md)
		}
	}
	// Without a reference run there are no ratio columns.
	r.Runs = r.Runs[1:]
	b.Reset()
	if err := RenderMarkdown(&b, r, MarkdownOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "vs hnswlib") || strings.Contains(b.String(), "## Sweeps") {
		t.Errorf("ratio columns or sweeps without hnswlib / Sweeps:\n%s", b.String())
	}
}

func TestFmt(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{fmtInt(0), "0"}, {fmtInt(999.6), "1 000"}, {fmtInt(1234567), "1 234 567"}, {fmtInt(-4321), "-4 321"},
		{fmtRecall(0.9), "0.90"}, {fmtRecall(0.995), "0.995"}, {fmtRecall(1), "1.00"},
		{fmtBytes(0), "–"}, {fmtBytes(512), "512 B"}, {fmtBytes(3 << 20), "3.0 MiB"}, {fmtBytes(-2 << 10), "-2.0 KiB"},
		{fmtMicros(12.4), "12 µs"}, {fmtMicros(2500), "2.50 ms"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestRenderPlot(t *testing.T) {
	var b bytes.Buffer
	if err := RenderPlot(&b, sampleReport()); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&b)
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	if s := img.Bounds().Size(); s.X < 400 || s.Y < 200 {
		t.Errorf("plot is %v pixels", s)
	}
	if err := RenderPlot(&b, &Report{Data: DataInfo{Name: "x"}}); err == nil {
		t.Errorf("a report without points plotted")
	}
}

func TestReplaceRegion(t *testing.T) {
	others := "## Kernels\n\nkernel tables\n\n## Store\n\nstore text\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{"no markers, title", "# Benchmarks\n\n" + others,
			"# Benchmarks\n\n" + DocBegin + "\nNEW\n" + DocEnd + "\n\n" + others},
		{"no markers, no title", others, DocBegin + "\nNEW\n" + DocEnd + "\n\n" + others},
		{"empty", "", DocBegin + "\nNEW\n" + DocEnd + "\n"},
		{"markers", "# Benchmarks\n\n" + DocBegin + "\nold\nstuff\n" + DocEnd + "\n\n" + others,
			"# Benchmarks\n\n" + DocBegin + "\nNEW\n" + DocEnd + "\n\n" + others},
		{"markers in the middle", "# B\n\n## Kernels\n\nk\n\n" + DocBegin + "\nold\n" + DocEnd + "\n\n## Store\n",
			"# B\n\n## Kernels\n\nk\n\n" + DocBegin + "\nNEW\n" + DocEnd + "\n\n## Store\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReplaceRegion([]byte(tc.doc), []byte("\nNEW\n\n"))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
			// Idempotent: a second replacement changes nothing.
			again, err := ReplaceRegion(got, []byte("NEW"))
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("second replacement changed the document: %q, %v", again, err)
			}
		})
	}
	for _, bad := range []string{
		DocBegin + "\nx\n",
		"x\n" + DocEnd,
		DocEnd + "\n" + DocBegin,
		DocBegin + DocBegin + DocEnd,
	} {
		if _, err := ReplaceRegion([]byte(bad), []byte("NEW")); err == nil {
			t.Errorf("ReplaceRegion(%q) succeeded", bad)
		}
	}
}

func TestWriteReportFilesAndDoc(t *testing.T) {
	dir := t.TempDir()
	r := sampleReport()
	benchDir := filepath.Join(dir, "bench")
	if err := WriteReportFiles(benchDir, r); err != nil {
		t.Fatal(err)
	}
	md, js, pngName := ReportFiles(r)
	if md != "siftsmall.md" || js != "siftsmall.json" || pngName != "siftsmall.png" {
		t.Errorf("ReportFiles = %s %s %s", md, js, pngName)
	}
	back, err := ReadReport(filepath.Join(benchDir, js))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(r)
	b, _ := json.Marshal(back)
	if !bytes.Equal(a, b) {
		t.Errorf("JSON round trip changed the report:\n%s\n%s", a, b)
	}
	for _, f := range []string{md, pngName} {
		if fi, err := os.Stat(filepath.Join(benchDir, f)); err != nil || fi.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}

	doc := filepath.Join(dir, "benchmarks.md")
	orig := "# Benchmarks\n\n## Kernels\n\nkeep me\n"
	if err := os.WriteFile(doc, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	section, err := RenderDocSection([]*Report{r}, "make benchdoc", "bench")
	if err != nil {
		t.Fatal(err)
	}
	if err := UpdateDoc(doc, section); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(doc)
	s := string(got)
	for _, want := range []string{
		"# Benchmarks\n\n" + DocBegin + "\n## Recall and throughput (lsmvec-bench)",
		"```sh\nmake benchdoc\n```",
		"Machine: Test CPU",
		"### siftsmall",
		"![recall@10 vs QPS, siftsmall](bench/siftsmall.png)",
		"[bench/siftsmall.md](bench/siftsmall.md)",
		DocEnd + "\n\n## Kernels\n\nkeep me\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("document lacks %q:\n%s", want, s)
		}
	}
	// Regenerating keeps the other sections and replaces ours.
	r.Data.Name = "fashion-mnist-784"
	section, _ = RenderDocSection([]*Report{r}, "make benchdoc", "bench")
	if err := UpdateDoc(doc, section); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(doc)
	if strings.Contains(string(got), "### siftsmall") || !strings.Contains(string(got), "### fashion-mnist-784") ||
		!strings.HasSuffix(string(got), "## Kernels\n\nkeep me\n") {
		t.Errorf("second update:\n%s", got)
	}
}
