// Command lsmvec-bench measures lsmvec's recall, throughput, latency, build
// time and memory on ANN data sets, beside hnswlib when its reference
// binary is present, and writes Markdown, JSON and PNG reports. It is a
// thin front end over package bench.
//
//	lsmvec-bench ann -dataset siftsmall                      # in-process, f32/i8/pq8
//	lsmvec-bench ann -dataset siftsmall -mode inproc,http    # also through an in-process HTTP server
//	lsmvec-bench ann -url http://localhost:8080 -dataset fashion-mnist-784 -quant f32
//	lsmvec-bench ann -base b.fvecs -queries q.fvecs [-gt gt.ivecs] -out results/
//	lsmvec-bench doc                                         # regenerate docs/benchmarks.md's section
//
// Run `lsmvec-bench ann -h` or `lsmvec-bench doc -h` for every flag.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/lsmvec/lsmvec/bench"
	"github.com/lsmvec/lsmvec/bench/dataset"
	"github.com/lsmvec/lsmvec/bench/localserver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `usage: lsmvec-bench ann [flags]   measure one data set (see lsmvec-bench ann -h)
       lsmvec-bench doc [flags]   regenerate the lsmvec-bench section of docs/benchmarks.md
`

// run is main without the process: it returns the exit status (0 ok, 1
// failure, 2 usage).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "ann":
		var o annOptions
		if o, err = parseAnn(args[1:], stderr); err == nil {
			o.cfg.Command = "lsmvec-bench " + strings.Join(args, " ")
			err = runAnn(ctx, o, stdout, stderr)
		}
	case "doc":
		var o docOptions
		if o, err = parseDoc(args[1:], stderr); err == nil {
			o.command = "go run ./cmd/lsmvec-bench " + strings.Join(args, " ")
			err = runDoc(ctx, o, stderr)
		}
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "lsmvec-bench: unknown command %q\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "lsmvec-bench: %v\n", err)
		return 2
	}
	fmt.Fprintf(stderr, "lsmvec-bench: %v\n", err)
	return 1
}

var errUsage = errors.New("bad usage")

// annOptions are the parsed flags of the ann command.
type annOptions struct {
	cfg   bench.Config
	out   string // folder for md/json/png; "" prints Markdown only
	quiet bool
}

// commonFlags registers the flags ann and doc share onto fs, filling cfg.
type commonFlags struct {
	quants, modes, efs, targets string
	minTime                     time.Duration
	quiet                       bool
}

func registerCommon(fs *flag.FlagSet, cfg *bench.Config, c *commonFlags) {
	fs.IntVar(&cfg.K, "k", 10, "neighbours searched; recall@k")
	fs.IntVar(&cfg.NQ, "nq", 0, "use only the first nq queries (0: all)")
	fs.StringVar(&c.quants, "quant", "f32,i8,pq8", "vector storages to measure, comma-separated: f32, i8, pq8")
	fs.StringVar(&c.modes, "mode", "", "inproc and/or http, comma-separated (default inproc; http when -url is set)")
	fs.StringVar(&cfg.URL, "url", "", "base URL of a running lsmvec server for -mode http (default: start one in this process)")
	fs.StringVar(&cfg.Collection, "collection", "lsmvec-bench", "prefix of the collections created over HTTP")
	fs.BoolVar(&cfg.Keep, "keep", false, "keep the collections created over HTTP")
	fs.IntVar(&cfg.M, "m", 16, "HNSW links per node above level 0")
	fs.IntVar(&cfg.M0, "m0", 0, "HNSW links per node on level 0 (default 2·m)")
	fs.IntVar(&cfg.EfConstruction, "efc", 200, "HNSW ef_construction")
	fs.IntVar(&cfg.PQM, "pq-m", 0, "pq8 subquantizers (default 16, or the largest divisor of the dimension below it)")
	fs.StringVar(&c.efs, "ef", joinInts(bench.DefaultEfs), "ef_search sweep, comma-separated")
	fs.StringVar(&c.targets, "targets", "0.90,0.95,0.99", "recall levels QPS is compared at, comma-separated")
	fs.IntVar(&cfg.BuildThreads, "build-threads", 0, "build (and HTTP load) goroutines; also hnswlib's build threads (default GOMAXPROCS)")
	fs.IntVar(&cfg.Threads, "threads", 0, "query goroutines of the N-thread QPS; 1 skips it (default GOMAXPROCS)")
	fs.DurationVar(&c.minTime, "min-time", time.Second, "least time of each timed measurement (queries repeat)")
	fs.IntVar(&cfg.BatchSize, "batch", 1000, "vectors per HTTP update request")
	fs.StringVar(&cfg.HNSWLib, "hnswlib", "", "hnswlib-ref binary (default: ../shared/tools/hnswlib-ref above the working folder; off: skip)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of quantizer training")
	fs.BoolVar(&c.quiet, "quiet", false, "no log lines on stderr")
}

// apply copies the parsed list flags into cfg.
func (c *commonFlags) apply(cfg *bench.Config) error {
	var err error
	if cfg.Quants, err = splitList(c.quants); err != nil {
		return fmt.Errorf("cannot parse -quant: %w", err)
	}
	if cfg.Modes, err = splitList(c.modes); err != nil && c.modes != "" {
		return fmt.Errorf("cannot parse -mode: %w", err)
	}
	if cfg.Efs, err = parseInts(c.efs); err != nil {
		return fmt.Errorf("cannot parse -ef: %w", err)
	}
	if cfg.Targets, err = parseFloats(c.targets); err != nil {
		return fmt.Errorf("cannot parse -targets: %w", err)
	}
	if c.minTime <= 0 {
		return fmt.Errorf("cannot use -min-time %v: %w: must be positive", c.minTime, errUsage)
	}
	cfg.MinTime = c.minTime
	return nil
}

// parseAnn parses the ann command's flags into a validated Config.
func parseAnn(args []string, stderr io.Writer) (annOptions, error) {
	var o annOptions
	var c commonFlags
	fs := flag.NewFlagSet("lsmvec-bench ann", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &o.cfg
	fs.StringVar(&cfg.Dataset, "dataset", "", "shared data set: "+strings.Join(dataset.Names(), " or "))
	fs.StringVar(&cfg.Base, "base", "", "base vectors file (fvecs, bvecs, IDX, npy; .gz or not)")
	fs.StringVar(&cfg.Queries, "queries", "", "query vectors file")
	fs.StringVar(&cfg.GT, "gt", "", "ground truth file (ivecs or npy); computed and cached when absent")
	fs.StringVar(&cfg.Metric, "metric", "l2", "metric of -base files: l2, ip or cosine")
	fs.StringVar(&o.out, "out", "", "folder to write <name>.md, .json and .png into (default: Markdown on stdout only)")
	registerCommon(fs, cfg, &c)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if err := c.apply(cfg); err != nil {
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	o.quiet = c.quiet
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	return o, nil
}

func runAnn(ctx context.Context, o annOptions, stdout, stderr io.Writer) error {
	setOutputs(&o.cfg, o.quiet, stderr)
	o.cfg.LocalServer = localserver.Start
	rep, err := bench.Run(ctx, o.cfg)
	if err != nil {
		return err
	}
	if o.out != "" {
		if err := bench.WriteReportFiles(o.out, rep); err != nil {
			return err
		}
		md, js, png := bench.ReportFiles(rep)
		fmt.Fprintf(stderr, "wrote %s, %s and %s in %s\n", md, js, png, o.out)
	}
	return bench.RenderMarkdown(stdout, rep, bench.MarkdownOptions{Heading: 2, Sweeps: true, Machine: true})
}

// setOutputs sends log lines to stderr (unless quiet) and progress bars to
// stderr when it is a terminal.
func setOutputs(cfg *bench.Config, quiet bool, stderr io.Writer) {
	if !quiet {
		cfg.Log = stderr
	}
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		cfg.Progress = stderr
		cfg.Log = nil // the bars say it; log lines would break them
	}
}

// docOptions are the parsed flags of the doc command.
type docOptions struct {
	cfg      bench.Config // template: Dataset is set per data set
	sets     []string
	doc      string // the Markdown file to update
	dir      string // folder of the per-set files
	fromJSON bool
	quiet    bool
	command  string
}

func parseDoc(args []string, stderr io.Writer) (docOptions, error) {
	var o docOptions
	var c commonFlags
	var sets string
	fs := flag.NewFlagSet("lsmvec-bench doc", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&sets, "sets", strings.Join(dataset.Names(), ","), "shared data sets, comma-separated")
	fs.StringVar(&o.doc, "doc", "docs/benchmarks.md", "Markdown file whose lsmvec-bench section is replaced")
	fs.StringVar(&o.dir, "dir", "docs/bench", "folder of the per-data-set .md, .json and .png files")
	fs.BoolVar(&o.fromJSON, "from-json", false, "do not measure: re-render from the .json files in -dir")
	registerCommon(fs, &o.cfg, &c)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if c.modes == "" && o.cfg.URL == "" {
		c.modes = bench.ModeInProcess + "," + bench.ModeHTTP
	}
	if err := c.apply(&o.cfg); err != nil {
		return o, fmt.Errorf("%w: %v", errUsage, err)
	}
	o.quiet = c.quiet
	var err error
	if o.sets, err = splitList(sets); err != nil {
		return o, fmt.Errorf("%w: cannot parse -sets: %v", errUsage, err)
	}
	for _, s := range o.sets {
		cfg := o.cfg
		cfg.Dataset = s
		cfg.EnsureDefaults()
		if err := cfg.Validate(); err != nil {
			return o, fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	return o, nil
}

func runDoc(ctx context.Context, o docOptions, stderr io.Writer) error {
	var reports []*bench.Report
	for _, s := range o.sets {
		if o.fromJSON {
			_, js, _ := bench.ReportFiles(&bench.Report{Data: bench.DataInfo{Name: s}})
			rep, err := bench.ReadReport(filepath.Join(o.dir, js))
			if err != nil {
				return err
			}
			reports = append(reports, rep)
			continue
		}
		cfg := o.cfg
		cfg.Dataset = s
		cfg.Command = o.command
		setOutputs(&cfg, o.quiet, stderr)
		cfg.LocalServer = localserver.Start
		rep, err := bench.Run(ctx, cfg)
		if err != nil {
			return err
		}
		reports = append(reports, rep)
	}
	for _, rep := range reports {
		if err := bench.WriteReportFiles(o.dir, rep); err != nil {
			return err
		}
	}
	rel, err := filepath.Rel(filepath.Dir(o.doc), o.dir)
	if err != nil {
		rel = o.dir
	}
	command := o.command
	if len(reports) > 0 && reports[0].Command != "" {
		command = reports[0].Command
	}
	section, err := bench.RenderDocSection(reports, command, rel)
	if err != nil {
		return err
	}
	if err := bench.UpdateDoc(o.doc, section); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "updated %s and %s\n", o.doc, o.dir)
	return nil
}

func splitList(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("empty list")
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	fs, err := splitList(s)
	if err != nil {
		return nil, err
	}
	out := make([]int, len(fs))
	for i, f := range fs {
		if out[i], err = strconv.Atoi(f); err != nil {
			return nil, fmt.Errorf("%q is not an integer", f)
		}
	}
	return out, nil
}

func parseFloats(s string) ([]float64, error) {
	fs, err := splitList(s)
	if err != nil {
		return nil, err
	}
	out := make([]float64, len(fs))
	for i, f := range fs {
		if out[i], err = strconv.ParseFloat(f, 64); err != nil {
			return nil, fmt.Errorf("%q is not a number", f)
		}
	}
	return out, nil
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}
