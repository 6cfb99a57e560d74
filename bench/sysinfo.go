package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/lsmvec/lsmvec/kernels"
)

// Machine describes where a report was measured.
type Machine struct {
	CPU        string `json:"cpu"`                    // model name from /proc/cpuinfo, or GOARCH
	Cores      int    `json:"cores"`                  // runtime.NumCPU
	GOMAXPROCS int    `json:"gomaxprocs"`             // at measurement time
	GoVersion  string `json:"go_version"`             // runtime.Version
	OSArch     string `json:"os_arch"`                // GOOS/GOARCH
	Kernels    string `json:"kernels"`                // kernels.Impl()
	LoadAvg    string `json:"load_average,omitempty"` // /proc/loadavg's first three fields when the run started
}

// ThisMachine returns the Machine the process runs on.
func ThisMachine() Machine {
	m := Machine{
		CPU:        runtime.GOARCH,
		Cores:      runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		OSArch:     runtime.GOOS + "/" + runtime.GOARCH,
		Kernels:    kernels.Impl(),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if s := cpuModel(b); s != "" {
			m.CPU = s
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			m.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return m
}

// cpuModel returns the first "model name" (x86) or "Model"/"CPU part"
// (arm) value of a /proc/cpuinfo text.
func cpuModel(cpuinfo []byte) string {
	sc := bufio.NewScanner(bytes.NewReader(cpuinfo))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "model name", "Model":
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
	}
	return ""
}

// MemStatus is the process's resident memory from /proc/self/status.
type MemStatus struct {
	RSS int64 `json:"rss_bytes"` // VmRSS: resident now
	HWM int64 `json:"hwm_bytes"` // VmHWM: peak resident over the process's life
}

// ReadMemStatus reads VmRSS and VmHWM of the calling process. It returns an
// error where /proc is absent (not Linux).
func ReadMemStatus() (MemStatus, error) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return MemStatus{}, fmt.Errorf("cannot read memory status: %w", err)
	}
	return parseMemStatus(b)
}

// parseMemStatus extracts VmRSS and VmHWM (kB) from a /proc/PID/status text.
func parseMemStatus(b []byte) (MemStatus, error) {
	var m MemStatus
	var seen int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return MemStatus{}, fmt.Errorf("cannot parse memory status: %w: %s line %q", ErrMalformedOutput, k, v)
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil || n < 0 {
			return MemStatus{}, fmt.Errorf("cannot parse memory status: %w: %s line %q", ErrMalformedOutput, k, v)
		}
		if k == "VmRSS" {
			m.RSS = n << 10
		} else {
			m.HWM = n << 10
		}
		seen++
	}
	if seen != 2 {
		return MemStatus{}, fmt.Errorf("cannot parse memory status: %w: VmRSS or VmHWM missing", ErrMalformedOutput)
	}
	return m, nil
}
