package bench

import (
	"errors"
	"runtime"
	"testing"
)

func TestParseMemStatus(t *testing.T) {
	m, err := parseMemStatus([]byte("Name:\tx\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\nThreads:\t3\n"))
	if err != nil || m.RSS != 1024<<10 || m.HWM != 2048<<10 {
		t.Errorf("parseMemStatus = %+v, %v", m, err)
	}
	for _, bad := range []string{"", "VmRSS:\t1 kB\n", "VmRSS:\tx kB\nVmHWM:\t1 kB\n", "VmRSS:\t1 MB\nVmHWM:\t1 kB\n"} {
		if _, err := parseMemStatus([]byte(bad)); !errors.Is(err, ErrMalformedOutput) {
			t.Errorf("parseMemStatus(%q) err = %v", bad, err)
		}
	}
	if runtime.GOOS == "linux" {
		m, err := ReadMemStatus()
		if err != nil || m.RSS <= 0 || m.HWM < m.RSS {
			t.Errorf("ReadMemStatus = %+v, %v", m, err)
		}
	}
}

func TestCPUModel(t *testing.T) {
	if got := cpuModel([]byte("processor\t: 0\nvendor_id\t: X\nmodel name\t: Fast CPU 9000\n")); got != "Fast CPU 9000" {
		t.Errorf("cpuModel = %q", got)
	}
	if got := cpuModel([]byte("nothing: here\n")); got != "" {
		t.Errorf("cpuModel = %q", got)
	}
	m := ThisMachine()
	if m.Cores < 1 || m.GoVersion == "" || m.Kernels == "" || m.CPU == "" {
		t.Errorf("ThisMachine = %+v", m)
	}
}
