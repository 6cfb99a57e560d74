// Command lsmvec-soak runs lsmvec's load and crash-loop reliability
// harness (package bench/soak) against the built server binary and prints
// a Markdown summary; it exits 1 when a check fails (5xx, lost or
// corrupted acknowledged writes, RSS growth) and 2 on bad flags.
//
//	lsmvec-soak -duration 10m -crashes 30 -clients 8 -seed 1 -json soak.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/lsmvec/lsmvec/bench/soak"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	var cfg soak.Config
	var jsonOut string
	fs := flag.NewFlagSet("lsmvec-soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.DurationVar(&cfg.Duration, "duration", time.Minute, "soak phase: mixed load, no crashes (0: skip)")
	fs.IntVar(&cfg.Crashes, "crashes", 0, "crash-loop rounds after the soak: SIGKILL at a random moment, restart, verify (0: skip)")
	fs.IntVar(&cfg.Clients, "clients", soak.DefaultClients, "concurrent clients")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of every random choice")
	fs.StringVar(&cfg.Binary, "binary", "", "lsmvec server binary (empty: go build ./cmd/lsmvec into the work dir)")
	fs.StringVar(&cfg.WorkDir, "workdir", "", "data directory, binary and server log (empty: a temporary dir, removed when the run passes)")
	fs.StringVar(&jsonOut, "json", "", "write the full result (every figure and RSS sample) as JSON to this file")
	fs.IntVar(&cfg.IDs, "ids", soak.DefaultIDs, "size of the id space the writes go to")
	fs.IntVar(&cfg.Dim, "dim", soak.DefaultDim, "vector dimension")
	fs.DurationVar(&cfg.Warmup, "warmup", 0, "start of the soak the RSS trend ignores (0: a third of -duration)")
	fs.Float64Var(&cfg.MaxHeapSlope, "max-heap-slope", soak.DefaultMaxHeapSlope, "largest Go heap slope after warm-up, MiB/min")
	fs.Float64Var(&cfg.MaxHeapRatio, "max-heap-ratio", soak.DefaultMaxHeapRatio, "largest Go heap ratio end / after warm-up")
	fs.DurationVar(&cfg.MaxUp, "max-up", soak.DefaultMaxUp, "longest load of a crash round before the kill")
	quiet := fs.Bool("q", false, "no progress lines on stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lsmvec-soak: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if cfg.Duration == 0 && cfg.Crashes == 0 {
		fmt.Fprintln(stderr, "lsmvec-soak: nothing to do: -duration 0 and -crashes 0")
		return 2
	}
	if !*quiet {
		cfg.Log = stderr
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := soak.Run(ctx, cfg)
	if errors.Is(err, soak.ErrInvalidConfig) {
		fmt.Fprintf(stderr, "lsmvec-soak: %v\n", err)
		return 2
	}
	if res != nil {
		if werr := soak.WriteMarkdown(stdout, res); werr != nil {
			fmt.Fprintf(stderr, "lsmvec-soak: %v\n", werr)
			return 1
		}
		if jsonOut != "" {
			b, jerr := json.MarshalIndent(res, "", "  ")
			if jerr == nil {
				jerr = os.WriteFile(jsonOut, append(b, '\n'), 0o644)
			}
			if jerr != nil {
				fmt.Fprintf(stderr, "lsmvec-soak: cannot write %s: %v\n", jsonOut, jerr)
				return 1
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "lsmvec-soak: %v\n", err)
		return 1
	}
	return 0
}
