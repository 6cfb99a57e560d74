package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/lsmvec/lsmvec/bench/dataset"
)

// HNSWLibName is the reference binary's file name; FindHNSWLib looks for
// it in shared/tools above the working folder.
const HNSWLibName = "hnswlib-ref"

// FindHNSWLib returns the path of shared/tools/hnswlib-ref in the first
// folder above the working folder that has it (the repository's sibling
// ../shared/tools), or "" when there is none.
func FindHNSWLib() string {
	wd, err := os.Getwd()
	if err != nil {
		return ""
	}
	for d := wd; ; {
		p := filepath.Join(d, "shared", "tools", HNSWLibName)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
		parent := filepath.Dir(d)
		if parent == d {
			return ""
		}
		d = parent
	}
}

// hnswlibPath returns the binary to run beside lsmvec on set, or why none
// runs ("" when it was switched off or is simply absent).
func (c *Config) hnswlibPath(set *dataset.Set) (bin string, ok bool, why string) {
	switch {
	case c.HNSWLib == "off":
		return "", false, ""
	case c.Dataset == "":
		return "", false, "runs only on the shared data sets it knows (" + strings.Join(dataset.Names(), ", ") + ")"
	case c.K != 10:
		return "", false, fmt.Sprintf("reports recall@10 only, k = %d", c.K)
	}
	bin = c.HNSWLib
	if bin == "" {
		if bin = FindHNSWLib(); bin == "" {
			return "", false, "" // absent: a user's fresh clone
		}
	}
	return bin, true, ""
}

// RunHNSWLib runs hnswlib-ref on the shared data set name with M links, ef_construction efc,
// threads build threads and the first nq queries, and returns its build
// time and recall@10/QPS sweep (one query thread). bin is either the
// shared/tools wrapper script (which compiles hnswlib-ref.cpp once and
// finds the data sets itself: usage NAME M efC threads nq) or the compiled
// program (usage DATASETS_DIR NAME ..., given dataset.Dir()).
func RunHNSWLib(ctx context.Context, bin, name string, m, efc, threads, nq int) (RunResult, error) {
	run := RunResult{Name: "hnswlib f32", Engine: EngineHNSWLib, Mode: "ref", Quant: QuantF32}
	args := []string{name, strconv.Itoa(m), strconv.Itoa(efc), strconv.Itoa(threads), strconv.Itoa(nq)}
	if !isScript(bin) {
		// The compiled program takes the data set folder first; the
		// shared/tools wrapper script passes its own.
		dir, err := dataset.Dir()
		if err != nil {
			return run, fmt.Errorf("cannot run %s: %w", bin, err)
		}
		args = append([]string{dir}, args...)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return run, fmt.Errorf("cannot run %s: %w: %s", bin, err, strings.TrimSpace(stderr.String()))
	}
	run.Build, run.Points, err = parseHNSWLib(out)
	if err != nil {
		return run, err
	}
	return run, nil
}

var (
	hnswlibHeader = regexp.MustCompile(`^# hnswlib .* build\((\d+) threads\) ([0-9.]+)s$`)
	hnswlibLine   = regexp.MustCompile(`^hnswlib ef=(\d+) recall@10=([0-9.]+) qps=([0-9.]+)$`)
	hnswlibN      = regexp.MustCompile(` n=(\d+) `)
)

// parseHNSWLib reads hnswlib-ref's output: a header line
// "# hnswlib NAME n=N d=D nq=Q M=M efC=E build(T threads) S.SSs", then one
// "hnswlib ef=E recall@10=R qps=Q" line per ef.
func parseHNSWLib(out []byte) (Build, []Point, error) {
	var b Build
	var pts []Point
	header := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if m := hnswlibHeader.FindStringSubmatch(line); m != nil {
			s, err := strconv.ParseFloat(m[2], 64)
			if err != nil || s <= 0 {
				return b, nil, fmt.Errorf("cannot parse hnswlib-ref output: %w: %q", ErrMalformedOutput, line)
			}
			b.BuildSeconds = s
			if nm := hnswlibN.FindStringSubmatch(line); nm != nil {
				if n, err := strconv.Atoi(nm[1]); err == nil && n > 0 {
					b.LoadRate = float64(n) / s
				}
			}
			header = true
			continue
		}
		m := hnswlibLine.FindStringSubmatch(line)
		if m == nil {
			return b, nil, fmt.Errorf("cannot parse hnswlib-ref output: %w: unexpected line %q", ErrMalformedOutput, line)
		}
		ef, err1 := strconv.Atoi(m[1])
		r, err2 := strconv.ParseFloat(m[2], 64)
		q, err3 := strconv.ParseFloat(m[3], 64)
		if err1 != nil || err2 != nil || err3 != nil || r > 1 {
			return b, nil, fmt.Errorf("cannot parse hnswlib-ref output: %w: %q", ErrMalformedOutput, line)
		}
		pts = append(pts, Point{Ef: ef, Recall: r, QPS: q})
	}
	if !header || len(pts) == 0 {
		return b, nil, fmt.Errorf("cannot parse hnswlib-ref output: %w: no header or no sweep lines", ErrMalformedOutput)
	}
	slices.SortStableFunc(pts, func(a, b Point) int { return a.Ef - b.Ef })
	return b, pts, nil
}

// isScript reports whether the file at path starts with "#!".
func isScript(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [2]byte
	_, err = io.ReadFull(f, b[:])
	return err == nil && string(b[:]) == "#!"
}
