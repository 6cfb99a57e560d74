package main

import (
	"bytes"
	"flag"
	"strings"
	"testing"
	"time"
)

func envMap(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestParseConfigEnvAndFlags(t *testing.T) {
	cfg, err := parseConfig(nil, envMap(
		"LSMVEC_PORT", "9000", "LSMVEC_GRPC_PORT", "127.0.0.1:9001", "LSMVEC_DATA_DIR", "/tmp/x",
		"LSMVEC_API_KEYS", "a, b,,c", "LSMVEC_READONLY_KEYS", "r",
		"LSMVEC_RATE_LIMIT", "2.5", "LSMVEC_RATE_BURST", "7",
		"LSMVEC_MAX_BODY", "1MiB", "LSMVEC_MAX_BULK_BYTES", "2G",
		"LSMVEC_COLLECTION", "vecs", "LSMVEC_DIM", "128", "LSMVEC_METRIC", "cosine",
		"LSMVEC_M", "8", "LSMVEC_MMAX", "24", "LSMVEC_EFC", "100", "LSMVEC_EFS_DEFAULT", "50",
		"LSMVEC_HTTP_THREADS", "2", "LSMVEC_LOG_LEVEL", "debug", "LSMVEC_LOG_FORMAT", "json",
		"LSMVEC_SHUTDOWN_TIMEOUT", "5s", "LSMVEC_HEADER_TIMEOUT", "3s", "LSMVEC_READ_TIMEOUT", "1m",
		"LSMVEC_MAX_HEADER_BYTES", "16K", "LSMVEC_MAX_CONNS", "100", "LSMVEC_MAX_CONNS_PER_IP", "10",
		"LSMVEC_MIN_FREE_BYTES", "1G",
	), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	o := cfg.opts
	if o.HTTPAddr != ":9000" || o.GRPCAddr != "127.0.0.1:9001" || o.DataDir != "/tmp/x" ||
		strings.Join(o.APIKeys, "|") != "a|b|c" || strings.Join(o.ReadOnlyKeys, "|") != "r" ||
		o.RateLimit != 2.5 || o.RateBurst != 7 || o.MaxBody != 1<<20 || o.MaxBulkBytes != 2<<30 ||
		o.Collection != "vecs" || o.Dim != 128 || o.Metric != "cosine" || o.M != 8 || o.M0 != 24 ||
		o.EfConstruction != 100 || o.EfSearch != 50 || o.HTTPThreads != 2 || o.LogLevel != "debug" ||
		o.LogFormat != "json" || o.ShutdownTimeout != 5*time.Second || o.HeaderTimeout != 3*time.Second ||
		o.ReadTimeout != time.Minute || o.MaxHeaderBytes != 16<<10 || o.MaxConns != 100 ||
		o.MaxConnsPerIP != 10 || o.MinFreeBytes != 1<<30 {
		t.Fatalf("options from env: %+v", o)
	}
	// Flags win over env.
	cfg, err = parseConfig([]string{"-http", "127.0.0.1:7000", "-data", "/d", "-m", "12", "-max-body", "2048"},
		envMap("LSMVEC_PORT", "9000", "LSMVEC_M", "8", "LSMVEC_DATA_DIR", "/e"), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.opts; o.HTTPAddr != "127.0.0.1:7000" || o.DataDir != "/d" || o.M != 12 || o.MaxBody != 2048 {
		t.Fatalf("flags did not win: %+v", o)
	}
	cfg, err = parseConfig([]string{"-min-free-bytes", "-1", "-header-timeout", "250ms"}, envMap(), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if o := cfg.opts; o.MinFreeBytes != -1 || o.HeaderTimeout != 250*time.Millisecond {
		t.Fatalf("-min-free-bytes -1 -header-timeout 250ms: %+v", o)
	}
}

func TestParseConfigErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		env  []string
		want string
	}{
		{nil, []string{"LSMVEC_PORT", "http"}, "LSMVEC_PORT"},
		{nil, []string{"LSMVEC_PORT", "70000"}, "LSMVEC_PORT"},
		{nil, []string{"LSMVEC_DIM", "x"}, "LSMVEC_DIM"},
		{nil, []string{"LSMVEC_MAX_BODY", "-5"}, "LSMVEC_MAX_BODY"},
		{nil, []string{"LSMVEC_RATE_LIMIT", "fast"}, "LSMVEC_RATE_LIMIT"},
		{nil, []string{"LSMVEC_SHUTDOWN_TIMEOUT", "5"}, "LSMVEC_SHUTDOWN_TIMEOUT"},
		{nil, []string{"LSMVEC_HEADER_TIMEOUT", "-1s"}, "LSMVEC_HEADER_TIMEOUT"},
		{nil, []string{"LSMVEC_MAX_HEADER_BYTES", "2T"}, "LSMVEC_MAX_HEADER_BYTES"},
		{nil, []string{"LSMVEC_MIN_FREE_BYTES", "-2"}, "LSMVEC_MIN_FREE_BYTES"},
		{[]string{"-m", "x"}, nil, "-m"},
		{[]string{"-nope"}, nil, "nope"},
		{[]string{"extra"}, nil, "extra"},
	} {
		var out bytes.Buffer
		_, err := parseConfig(c.args, envMap(c.env...), &out)
		if err == nil || !strings.Contains(err.Error()+out.String(), c.want) {
			t.Errorf("%v %v: error %v, want one naming %s", c.args, c.env, err, c.want)
		}
	}
	// Out-of-range values are caught by Options.Validate in run: exit 2.
	var out bytes.Buffer
	if code := run([]string{"-m", "1"}, envMap(), &out); code != 2 || !strings.Contains(out.String(), "m 1") {
		t.Fatalf("run -m 1: exit %d, %s", code, out.String())
	}
}

func TestParseBytes(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "64M": 64 << 20, "64MiB": 64 << 20, "8G": 8 << 30, "8gib": 8 << 30, "2k": 2048, "1T": 1 << 40, "512B": 512} {
		if got, err := parseBytes(in); err != nil || got != want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1", "M", "1.5G", "9999999999T", "12X"} {
		if _, err := parseBytes(in); err == nil {
			t.Errorf("parseBytes(%q) accepted", in)
		}
	}
}

func TestHelpListsFlagsAndEnv(t *testing.T) {
	var out bytes.Buffer
	_, err := parseConfig([]string{"-h"}, envMap(), &out)
	if err != flag.ErrHelp {
		t.Fatalf("-h: %v", err)
	}
	for _, k := range knobs {
		if !strings.Contains(out.String(), k.env) || k.flag != "" && !strings.Contains(out.String(), "-"+k.flag+" ") {
			t.Errorf("-h output lacks %s / -%s", k.env, k.flag)
		}
	}
	for _, s := range []string{"LSMVEC_API_KEYS", "LSMVEC_READONLY_KEYS", "-healthcheck", ":8080", ":50051", "./data", "67108864"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("-h output lacks %q", s)
		}
	}
	if code := run([]string{"-h"}, envMap(), &out); code != 0 {
		t.Fatalf("run -h exit %d", code)
	}
}
