package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lsmvec/lsmvec/bench"
)

func TestParseAnn(t *testing.T) {
	o, err := parseAnn(strings.Fields("-dataset siftsmall -quant f32,pq8 -mode inproc,http -ef 8,16 -targets 0.8,0.9 -nq 20 -k 5 -m 8 -efc 50 -pq-m 8 -threads 3 -build-threads 1 -min-time 250ms -hnswlib off -out x"), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.Dataset != "siftsmall" || !slices.Equal(c.Quants, []string{"f32", "pq8"}) || !slices.Equal(c.Modes, []string{"inproc", "http"}) ||
		!slices.Equal(c.Efs, []int{8, 16}) || !slices.Equal(c.Targets, []float64{0.8, 0.9}) || c.NQ != 20 || c.K != 5 ||
		c.M != 8 || c.M0 != 16 || c.EfConstruction != 50 || c.PQM != 8 || c.Threads != 3 || c.BuildThreads != 1 ||
		c.MinTime != 250*time.Millisecond || c.HNSWLib != "off" || o.out != "x" {
		t.Errorf("parsed %+v", o)
	}
	d, err := parseAnn([]string{"-dataset", "fashion-mnist-784"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.cfg.Quants) != 3 || !slices.Equal(d.cfg.Efs, bench.DefaultEfs) || d.cfg.Modes[0] != "inproc" || d.cfg.MinTime != time.Second {
		t.Errorf("defaults %+v", d.cfg)
	}
	u, err := parseAnn([]string{"-dataset", "siftsmall", "-url", "http://127.0.0.1:8080"}, io.Discard)
	if err != nil || !slices.Equal(u.cfg.Modes, []string{"http"}) {
		t.Errorf("-url: modes %v, err %v; want http", u.cfg.Modes, err)
	}
	f, err := parseAnn(strings.Fields("-base b.fvecs -queries q.fvecs -gt g.ivecs -metric ip"), io.Discard)
	if err != nil || f.cfg.Base != "b.fvecs" || f.cfg.Queries != "q.fvecs" || f.cfg.GT != "g.ivecs" || f.cfg.Metric != "ip" {
		t.Errorf("files: %+v, %v", f.cfg, err)
	}

	for _, bad := range []string{
		"",
		"-dataset nope",
		"-dataset siftsmall -base b",
		"-base b.fvecs",
		"-dataset siftsmall -quant f16",
		"-dataset siftsmall -quant ,",
		"-dataset siftsmall -ef 10,x",
		"-dataset siftsmall -ef 0",
		"-dataset siftsmall -targets 2",
		"-dataset siftsmall -min-time 0s",
		"-dataset siftsmall -k 0x",
		"-dataset siftsmall -mode ws",
		"-dataset siftsmall extra",
		"-bogus",
	} {
		if _, err := parseAnn(strings.Fields(bad), io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("parseAnn(%q) = %v, want a usage error", bad, err)
		}
	}
	if _, err := parseAnn([]string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestParseDoc(t *testing.T) {
	o, err := parseDoc(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.sets, []string{"siftsmall", "fashion-mnist-784"}) || !slices.Equal(o.cfg.Modes, []string{"inproc", "http"}) ||
		o.doc != "docs/benchmarks.md" || o.dir != "docs/bench" {
		t.Errorf("defaults %+v", o)
	}
	o, err = parseDoc(strings.Fields("-sets siftsmall -mode inproc -doc d.md -dir out -from-json"), io.Discard)
	if err != nil || !slices.Equal(o.sets, []string{"siftsmall"}) || !slices.Equal(o.cfg.Modes, []string{"inproc"}) || !o.fromJSON {
		t.Errorf("parsed %+v, %v", o, err)
	}
	for _, bad := range []string{"-sets glove", "-sets ,", "-quant x", "extra"} {
		if _, err := parseDoc(strings.Fields(bad), io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("parseDoc(%q) = %v, want a usage error", bad, err)
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), nil, &out, &errb); code != 2 {
		t.Errorf("no arguments: exit %d", code)
	}
	if code := run(context.Background(), []string{"frob"}, &out, &errb); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Errorf("unknown command: exit %d, %q", code, errb.String())
	}
	if code := run(context.Background(), []string{"ann", "-k", "-3", "-dataset", "siftsmall"}, &out, &errb); code != 2 {
		t.Errorf("bad flag value: exit %d", code)
	}
	if code := run(context.Background(), []string{"help"}, &out, &errb); code != 0 {
		t.Errorf("help: exit %d", code)
	}
}

// TestDocFromJSON regenerates a document from report JSON without
// measuring: the path `lsmvec-bench doc -from-json` takes.
func TestDocFromJSON(t *testing.T) {
	dir := t.TempDir()
	rep := &bench.Report{
		Data:    bench.DataInfo{Name: "siftsmall", N: 10, NQ: 2, Dim: 2, Metric: "l2", K: 10},
		Targets: []float64{0.9},
		Runs: []bench.RunResult{{Name: "lsmvec f32 inproc", Engine: bench.EngineLSMVec, Mode: "inproc", Quant: "f32",
			Points: []bench.Point{{Ef: 10, Recall: 0.95, QPS: 1000}}}},
	}
	if err := bench.WriteReportFiles(filepath.Join(dir, "bench"), rep); err != nil {
		t.Fatal(err)
	}
	doc := filepath.Join(dir, "benchmarks.md")
	if err := os.WriteFile(doc, []byte("# Benchmarks\n\n## Kernels\n\nk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"doc", "-sets", "siftsmall", "-from-json", "-doc", doc, "-dir", filepath.Join(dir, "bench")}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	b, _ := os.ReadFile(doc)
	if !strings.Contains(string(b), "### siftsmall") || !strings.Contains(string(b), "(bench/siftsmall.png)") || !strings.HasSuffix(string(b), "## Kernels\n\nk\n") {
		t.Errorf("document:\n%s", b)
	}
}
