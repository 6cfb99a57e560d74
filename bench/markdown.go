package bench

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// MarkdownOptions shape RenderMarkdown's output.
type MarkdownOptions struct {
	// Heading is the level of the report's heading (2 gives "##"); the
	// tables' headings are one deeper. Default 2.
	Heading int
	// Sweeps adds the full table of every sweep point.
	Sweeps bool
	// Machine adds the machine and command lines (off when a page shows
	// them once for several reports).
	Machine bool
	// Plot, when not empty, is the image link of the recall-versus-QPS plot.
	Plot string
	// Details, when not empty, links to the page with the sweeps.
	Details string
}

// RenderMarkdown writes rep as Markdown: a summary of the data and the
// parameters, the QPS of every run at the report's recall targets with its
// ratio to hnswlib's, the build and memory table, optionally every sweep
// point, and the notes.
func RenderMarkdown(w io.Writer, rep *Report, o MarkdownOptions) error {
	if o.Heading == 0 {
		o.Heading = 2
	}
	var b bytes.Buffer
	h := strings.Repeat("#", o.Heading)
	d := rep.Data
	fmt.Fprintf(&b, "%s %s\n\n", h, d.Name)
	fmt.Fprintf(&b, "%s base vectors × %d dimensions, %s queries, metric %s, recall@%d against ground truth from %s.\n",
		fmtInt(float64(d.N)), d.Dim, fmtInt(float64(d.NQ)), d.Metric, d.K, d.GroundTruth)
	p := rep.Params
	fmt.Fprintf(&b, "Index: M=%d, M0=%d, ef_construction=%d, pq8 with %d subquantizers; %d build threads; "+
		"QPS on 1 query thread and on %d; every timed measurement repeats the queries for at least %gs.\n",
		p.M, p.M0, p.EfConstruction, p.PQM, p.BuildThreads, p.Threads, p.MinTimeSeconds)
	if o.Machine {
		renderMachine(&b, rep.Machine)
	}
	renderWhen(&b, rep)
	b.WriteString("\n")

	ref := rep.reference()
	fmt.Fprintf(&b, "%s# QPS at equal recall\n\n", h)
	b.WriteString("Single-thread QPS interpolated linearly in recall between sweep points; n/a: the curve does not reach that recall; ≥: its lowest ef already exceeds it.")
	if ref != nil {
		b.WriteString(" Ratios are lsmvec ÷ hnswlib, both single-thread.")
	}
	b.WriteString("\n\n| run |")
	for _, t := range rep.Targets {
		fmt.Fprintf(&b, " QPS @%s |", fmtRecall(t))
	}
	if ref != nil {
		for _, t := range rep.Targets {
			fmt.Fprintf(&b, " vs hnswlib @%s |", fmtRecall(t))
		}
	}
	threads := p.Threads > 1
	if threads {
		for _, t := range rep.Targets {
			fmt.Fprintf(&b, " %d-thread QPS @%s |", p.Threads, fmtRecall(t))
		}
	}
	b.WriteString("\n|---|")
	cols := len(rep.Targets)
	if ref != nil {
		cols += len(rep.Targets)
	}
	if threads {
		cols += len(rep.Targets)
	}
	b.WriteString(strings.Repeat("---:|", cols) + "\n")
	for _, run := range rep.Runs {
		fmt.Fprintf(&b, "| %s |", run.Name)
		for i := range rep.Targets {
			fmt.Fprintf(&b, " %s |", fmtInterp(at(run.At, i)))
		}
		if ref != nil {
			for i := range rep.Targets {
				fmt.Fprintf(&b, " %s |", fmtRatio(at(run.At, i), at(ref.At, i)))
			}
		}
		if threads {
			for i := range rep.Targets {
				fmt.Fprintf(&b, " %s |", fmtInterp(at(run.AtThreads, i)))
			}
		}
		b.WriteString("\n")
	}
	if o.Plot != "" {
		fmt.Fprintf(&b, "\n![recall@%d vs QPS, %s](%s)\n", d.K, d.Name, o.Plot)
	}

	fmt.Fprintf(&b, "\n%s# Build and memory\n\n", h)
	b.WriteString("Build: every insert in-process; `POST .../index` over the existing vectors over HTTP; hnswlib's addPoint. " +
		"Load rate: vectors per second written (HTTP `update` batches), or built (in-process, hnswlib). " +
		"Index memory: the index's own count (graph and vectors; the quantized storages keep a float32 copy for the rerank). " +
		"RSS: this process's VmRSS after the build, its growth during the build, and VmHWM (the peak so far, over the whole run).\n\n")
	b.WriteString("| run | train | load | build | load rate | index memory | bytes/vector | RSS | RSS growth | peak RSS |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, run := range rep.Runs {
		x := run.Build
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", run.Name,
			fmtSeconds(x.TrainSeconds), fmtSeconds(x.LoadSeconds), fmtSeconds(x.BuildSeconds),
			orDash(x.LoadRate > 0, fmtInt(x.LoadRate)+"/s"), fmtBytes(x.MemoryBytes),
			orDash(x.BytesPerVector > 0, fmtInt(x.BytesPerVector)), fmtBytes(x.RSS), fmtBytes(x.RSSDelta), fmtBytes(x.HWM))
	}

	if o.Sweeps {
		fmt.Fprintf(&b, "\n%s# Sweeps\n\n", h)
		fmt.Fprintf(&b, "| run | ef | recall@%d | QPS, 1 thread | QPS, %d threads | p50 | p99 |\n", d.K, p.Threads)
		b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
		for _, run := range rep.Runs {
			for _, pt := range run.Points {
				fmt.Fprintf(&b, "| %s | %d | %.4f | %s | %s | %s | %s |\n", run.Name, pt.Ef, pt.Recall, fmtInt(pt.QPS),
					orDash(pt.QPSThreads > 0, fmtInt(pt.QPSThreads)), fmtMicros(pt.P50), fmtMicros(pt.P99))
			}
		}
	}
	if o.Details != "" {
		fmt.Fprintf(&b, "\nEvery sweep point, with latencies: [%s](%s).\n", o.Details, o.Details)
	}
	if len(rep.Notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range rep.Notes {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(n, "\n", " "))
		}
	}
	_, err := w.Write(b.Bytes())
	if err != nil {
		return fmt.Errorf("cannot write report: %w", err)
	}
	return nil
}

// renderMachine writes the machine line of m.
func renderMachine(b *bytes.Buffer, m Machine) {
	fmt.Fprintf(b, "Machine: %s, %d cores (GOMAXPROCS %d), %s, %s, kernels `%s`.\n", m.CPU, m.Cores, m.GOMAXPROCS, m.GoVersion, m.OSArch, m.Kernels)
}

// renderWhen writes when and how rep was measured.
func renderWhen(b *bytes.Buffer, rep *Report) {
	fmt.Fprintf(b, "Measured %s UTC in %.0f s", rep.Started.UTC().Format("2006-01-02 15:04"), rep.Seconds)
	if rep.Machine.LoadAvg != "" {
		fmt.Fprintf(b, " (load average %s at the start)", rep.Machine.LoadAvg)
	}
	if rep.Command != "" {
		fmt.Fprintf(b, " by `%s`", rep.Command)
	}
	b.WriteString(".\n")
}

func at(xs []Interp, i int) Interp {
	if i < len(xs) {
		return xs[i]
	}
	return Interp{}
}

// fmtRecall formats a recall level with at least two decimals (0.90).
func fmtRecall(t float64) string {
	s := strconv.FormatFloat(t, 'f', -1, 64)
	if i := strings.IndexByte(s, '.'); i < 0 || len(s)-i-1 < 2 {
		return strconv.FormatFloat(t, 'f', 2, 64)
	}
	return s
}

func fmtInterp(x Interp) string {
	if !x.OK {
		return "n/a"
	}
	if x.LowerBound {
		return "≥" + fmtInt(x.QPS)
	}
	return fmtInt(x.QPS)
}

// fmtRatio formats a ÷ b; n/a when either is missing, and marked ≈ when a
// lower bound makes it uncertain.
func fmtRatio(a, b Interp) string {
	if !a.OK || !b.OK || b.QPS <= 0 {
		return "n/a"
	}
	s := fmt.Sprintf("%.2fx", a.QPS/b.QPS)
	if a.LowerBound || b.LowerBound {
		s = "≈" + s
	}
	return s
}

// fmtInt rounds x and groups its digits by three with spaces.
func fmtInt(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "n/a"
	}
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ' ')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func fmtSeconds(s float64) string {
	switch {
	case s <= 0:
		return "–"
	case s < 10:
		return fmt.Sprintf("%.2f s", s)
	}
	return fmt.Sprintf("%.1f s", s)
}

func fmtMicros(us float64) string {
	switch {
	case us <= 0:
		return "–"
	case us < 1000:
		return fmt.Sprintf("%.0f µs", us)
	}
	return fmt.Sprintf("%.2f ms", us/1000)
}

func fmtBytes(n int64) string {
	a := math.Abs(float64(n))
	switch {
	case n == 0:
		return "–"
	case a >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case a >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case a >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func orDash(ok bool, s string) string {
	if !ok {
		return "–"
	}
	return s
}
