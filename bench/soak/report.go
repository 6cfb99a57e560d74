package soak

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes a summary of res as Markdown: the verdict, each
// phase's throughput and latency per kind, the read-backs, RSS, the crash
// loop's restart times, and the failures.
func WriteMarkdown(w io.Writer, res *Result) error {
	var b strings.Builder
	verdict := "PASS"
	if !res.Pass {
		verdict = "FAIL"
	}
	fmt.Fprintf(&b, "## lsmvec soak: %s\n\n", verdict)
	fmt.Fprintf(&b, "%s UTC; seed %d; %d clients; %d ids of dim %d; soak %s; %d crash rounds; %d CPUs; %.0f s in all.\n\n",
		res.Start.Format("2006-01-02 15:04"), res.Seed, res.Clients, res.IDs, res.Dim, res.Duration, res.Crashes, res.CPUs, res.ElapsedS)
	fmt.Fprintf(&b, "First start ready in %.0f ms; %d clean stops (SIGTERM, exit 0).\n\n", res.FirstReadyMs, res.CleanStops)
	if res.Soak != nil {
		writePhase(&b, res.Soak)
		if t := res.Soak.RSS; t != nil {
			judged := "not judged (run too short, or no heap figures)"
			if t.Judged {
				judged = "stable"
				if !t.Stable {
					judged = "GROWING"
				}
			}
			fmt.Fprintf(&b, "Server memory (%d samples; trend after %.0f s of warm-up, slope over the last %.0f s): "+
				"RSS %.1f → %.1f MiB (ratio %.3f, slope %+.2f MiB/min), max %.1f MiB (ceiling %.1f MiB); "+
				"Go heap %.1f → %.1f MiB (ratio %.3f, slope %+.2f MiB/min): %s.\n\n",
				t.Samples, t.WarmupS, t.SecondHalfS, t.RSS.FirstMiB, t.RSS.LastMiB, t.RSS.Ratio, t.RSS.SlopeMiBPerMin, t.MaxMiB, t.CeilingMiB,
				t.Heap.FirstMiB, t.Heap.LastMiB, t.Heap.Ratio, t.Heap.SlopeMiBPerMin, judged)
		}
	}
	if res.Crash != nil {
		c := res.Crash
		writePhase(&b, &c.PhaseResult)
		fmt.Fprintf(&b, "%d rounds (%d with a second kill during recovery); /ready after restart: p50 %.0f ms, max %.0f ms; "+
			"%d writes were in flight at the kills.\n\n", len(c.Rounds), c.StartupKills, c.ReadyP50Ms, c.ReadyMaxMs, c.UnknownWrites)
	}
	if len(res.ServerLogProblems) > 0 {
		b.WriteString("Server log:\n\n")
		for _, l := range res.ServerLogProblems {
			fmt.Fprintf(&b, "- `%s`\n", strings.ReplaceAll(l, "`", "'"))
		}
		b.WriteString("\n")
	}
	if res.FailureCount > 0 {
		fmt.Fprintf(&b, "%d failures (first %d):\n\n", res.FailureCount, len(res.Failures))
		for _, f := range res.Failures {
			fmt.Fprintf(&b, "- %s\n", f)
		}
		b.WriteString("\n")
	} else {
		b.WriteString("No 5xx, no unanswered request outside a kill, no lost or corrupted write.\n\n")
	}
	if !res.Pass {
		fmt.Fprintf(&b, "Data directory and server log kept in `%s`.\n", res.WorkDir)
	}
	_, err := io.WriteString(w, b.String())
	if err != nil {
		return fmt.Errorf("cannot write the summary: %w", err)
	}
	return nil
}

func writePhase(b *strings.Builder, p *PhaseResult) {
	fmt.Fprintf(b, "### %s: %.0f s of load, %.0f ops/s, %d 5xx\n\n", p.Name, p.LoadS, p.TotalOpsPerSec, p.Status5xx)
	b.WriteString("| kind | count | ops/s | p50 ms | p99 ms | max ms | 5xx | bad | no answer |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, k := range p.Ops {
		fmt.Fprintf(b, "| %s | %d | %.0f | %.2f | %.2f | %.1f | %d | %d | %d |\n",
			k.Kind, k.Count, k.OpsPerSec, k.P50Ms, k.P99Ms, k.MaxMs, k.Status5xx, k.Bad, k.Transport)
	}
	b.WriteString("\n")
	var agg VerifyResult
	var took float64
	for i := range p.Verifies {
		agg.add(&p.Verifies[i])
		took += p.Verifies[i].TookMs
	}
	fmt.Fprintf(b, "Ledger read-backs: %d (%s); ids found live %d, absent %d (summed over read-backs); "+
		"uncertain (write in flight at a kill) %d, of which applied %d; lost %d, resurrected %d, corrupted %d, unreadable %d.\n\n",
		len(p.Verifies), verifyNames(p.Verifies), agg.Live, agg.Absent, agg.Uncertain, agg.Applied, agg.Lost, agg.Resurrected, agg.Corrupted, agg.Errors)
}

func verifyNames(vs []VerifyResult) string {
	if len(vs) <= 3 {
		names := make([]string, len(vs))
		for i, v := range vs {
			names[i] = v.When
		}
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s, ..., %s", vs[0].When, vs[len(vs)-1].When)
}
