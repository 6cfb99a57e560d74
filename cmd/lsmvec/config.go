package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/lsmvec/lsmvec/server"
)

// knob is one setting: a flag (or "" for env-only settings such as secrets)
// and its LSMVEC_* environment twin. The flag wins over the environment,
// which wins over the default.
type knob struct {
	flag, env, usage string
	set              func(o *server.Options, v string) error
	get              func(o *server.Options) string // the default, for -h
}

// addr turns a bare port ("8080") into ":8080"; anything with a colon is an
// address already.
func addr(v string) (string, error) {
	if strings.Contains(v, ":") {
		return v, nil
	}
	if p, err := strconv.ParseUint(v, 10, 16); err != nil || p == 0 {
		return "", fmt.Errorf("%q is neither a port nor host:port", v)
	}
	return ":" + v, nil
}

func intKnob(dst func(*server.Options) *int) func(*server.Options, string) error {
	return func(o *server.Options, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		*dst(o) = n
		return nil
	}
}

func bytesKnob(dst func(*server.Options) *int64) func(*server.Options, string) error {
	return func(o *server.Options, v string) error {
		n, err := parseBytes(v)
		if err != nil {
			return err
		}
		*dst(o) = n
		return nil
	}
}

// parseBytes reads a byte count: a plain integer or one with a K/M/G/T
// suffix (binary multiples, optional "iB"/"B": 64M, 64MiB, 8G).
func parseBytes(v string) (int64, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult != 1 {
			s = s[:n-1]
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a positive byte count (like 67108864, 64M or 8GiB)", v)
	}
	return n * mult, nil
}

func durationKnob(dst func(*server.Options) *time.Duration) func(*server.Options, string) error {
	return func(o *server.Options, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil || d < 0 {
			return fmt.Errorf("%q is not a duration (like 30s)", v)
		}
		*dst(o) = d
		return nil
	}
}

func keysKnob(dst func(*server.Options) *[]string) func(*server.Options, string) error {
	return func(o *server.Options, v string) error {
		var keys []string
		for _, k := range strings.Split(v, ",") {
			if k = strings.TrimSpace(k); k != "" {
				keys = append(keys, k)
			}
		}
		*dst(o) = keys
		return nil
	}
}

func str(dst func(*server.Options) *string) func(*server.Options, string) error {
	return func(o *server.Options, v string) error { *dst(o) = v; return nil }
}

// knobs is the table of SPEC.md's "Process and defaults", plus logging.
var knobs = []knob{
	{"http", "LSMVEC_PORT", "HTTP listen address (env: port only, or host:port)",
		func(o *server.Options, v string) (err error) { o.HTTPAddr, err = addr(v); return },
		func(o *server.Options) string { return o.HTTPAddr }},
	{"grpc", "LSMVEC_GRPC_PORT", "gRPC listen address (env: port only, or host:port)",
		func(o *server.Options, v string) (err error) { o.GRPCAddr, err = addr(v); return },
		func(o *server.Options) string { return o.GRPCAddr }},
	{"data", "LSMVEC_DATA_DIR", "data directory (embedded Pebble)",
		str(func(o *server.Options) *string { return &o.DataDir }),
		func(o *server.Options) string { return o.DataDir }},
	{"", "LSMVEC_API_KEYS", "comma-separated read-write API keys (none: every route is open)",
		keysKnob(func(o *server.Options) *[]string { return &o.APIKeys }),
		func(*server.Options) string { return "none" }},
	{"", "LSMVEC_READONLY_KEYS", "comma-separated read-only API keys",
		keysKnob(func(o *server.Options) *[]string { return &o.ReadOnlyKeys }),
		func(*server.Options) string { return "none" }},
	{"rate-limit", "LSMVEC_RATE_LIMIT", "requests per second per API key (per client IP without keys); 0 = off",
		func(o *server.Options, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", v)
			}
			o.RateLimit = f
			return nil
		},
		func(o *server.Options) string { return strconv.FormatFloat(o.RateLimit, 'g', -1, 64) }},
	{"rate-burst", "LSMVEC_RATE_BURST", "rate-limit burst; 0 = max(1, ceil(rate))",
		intKnob(func(o *server.Options) *int { return &o.RateBurst }),
		func(o *server.Options) string { return strconv.Itoa(o.RateBurst) }},
	{"max-body", "LSMVEC_MAX_BODY", "largest request body (bytes; K/M/G suffixes)",
		bytesKnob(func(o *server.Options) *int64 { return &o.MaxBody }),
		func(o *server.Options) string { return strconv.FormatInt(o.MaxBody, 10) }},
	{"max-bulk-bytes", "LSMVEC_MAX_BULK_BYTES", "largest bulk-build body and gRPC matrix (bytes; K/M/G suffixes)",
		bytesKnob(func(o *server.Options) *int64 { return &o.MaxBulkBytes }),
		func(o *server.Options) string { return strconv.FormatInt(o.MaxBulkBytes, 10) }},
	{"collection", "LSMVEC_COLLECTION", "the /v1 collection",
		str(func(o *server.Options) *string { return &o.Collection }),
		func(o *server.Options) string { return o.Collection }},
	{"dim", "LSMVEC_DIM", "the /v1 dimension; 0 = from the first vector written",
		intKnob(func(o *server.Options) *int { return &o.Dim }),
		func(o *server.Options) string { return strconv.Itoa(o.Dim) }},
	{"metric", "LSMVEC_METRIC", "the /v1 metric: l2, cosine or ip",
		str(func(o *server.Options) *string { return &o.Metric }),
		func(o *server.Options) string { return o.Metric }},
	{"m", "LSMVEC_M", "the /v1 graph's links per node above level 0",
		intKnob(func(o *server.Options) *int { return &o.M }),
		func(o *server.Options) string { return strconv.Itoa(o.M) }},
	{"mmax", "LSMVEC_MMAX", "the /v1 graph's links per node on level 0 (m0)",
		intKnob(func(o *server.Options) *int { return &o.M0 }),
		func(o *server.Options) string { return strconv.Itoa(o.M0) }},
	{"efc", "LSMVEC_EFC", "the /v1 graph's ef_construction",
		intKnob(func(o *server.Options) *int { return &o.EfConstruction }),
		func(o *server.Options) string { return strconv.Itoa(o.EfConstruction) }},
	{"efs-default", "LSMVEC_EFS_DEFAULT", "the /v1 default ef_search",
		intKnob(func(o *server.Options) *int { return &o.EfSearch }),
		func(o *server.Options) string { return strconv.Itoa(o.EfSearch) }},
	{"http-threads", "LSMVEC_HTTP_THREADS", "sets GOMAXPROCS when > 0; 0 = all cores",
		intKnob(func(o *server.Options) *int { return &o.HTTPThreads }),
		func(o *server.Options) string { return strconv.Itoa(o.HTTPThreads) }},
	{"log-level", "LSMVEC_LOG_LEVEL", "debug, info (one line per request), warn or error",
		str(func(o *server.Options) *string { return &o.LogLevel }),
		func(o *server.Options) string { return o.LogLevel }},
	{"log-format", "LSMVEC_LOG_FORMAT", "text or json",
		str(func(o *server.Options) *string { return &o.LogFormat }),
		func(o *server.Options) string { return o.LogFormat }},
	{"header-timeout", "LSMVEC_HEADER_TIMEOUT", "longest a client may take to send a request's line and headers (slow clients are cut off)",
		durationKnob(func(o *server.Options) *time.Duration { return &o.HeaderTimeout }),
		func(o *server.Options) string { return o.HeaderTimeout.String() }},
	{"read-timeout", "LSMVEC_READ_TIMEOUT", "longest a request body may take to arrive after its headers (the bulk build gets 24h)",
		durationKnob(func(o *server.Options) *time.Duration { return &o.ReadTimeout }),
		func(o *server.Options) string { return o.ReadTimeout.String() }},
	{"max-header-bytes", "LSMVEC_MAX_HEADER_BYTES", "largest request line + headers (bytes; K/M suffixes); larger is 431",
		func(o *server.Options, v string) error {
			var n int64
			if err := bytesKnob(func(*server.Options) *int64 { return &n })(o, v); err != nil {
				return err
			}
			if n > 1<<30 {
				return fmt.Errorf("%q is too large", v)
			}
			o.MaxHeaderBytes = int(n)
			return nil
		},
		func(o *server.Options) string { return strconv.Itoa(o.MaxHeaderBytes) }},
	{"max-conns", "LSMVEC_MAX_CONNS", "most HTTP connections served at once (more get 503)",
		intKnob(func(o *server.Options) *int { return &o.MaxConns }),
		func(o *server.Options) string { return strconv.Itoa(o.MaxConns) }},
	{"max-conns-per-ip", "LSMVEC_MAX_CONNS_PER_IP", "most HTTP connections per client IP; 0 = unlimited",
		intKnob(func(o *server.Options) *int { return &o.MaxConnsPerIP }),
		func(o *server.Options) string { return strconv.Itoa(o.MaxConnsPerIP) }},
	{"min-free-bytes", "LSMVEC_MIN_FREE_BYTES", "free disk space writes must leave (bytes; K/M/G); less is 507; 0 = 256M, -1 = off",
		func(o *server.Options, v string) error {
			if strings.TrimSpace(v) == "-1" {
				o.MinFreeBytes = -1
				return nil
			}
			return bytesKnob(func(o *server.Options) *int64 { return &o.MinFreeBytes })(o, v)
		},
		func(o *server.Options) string { return strconv.FormatInt(o.MinFreeBytes, 10) }},
	{"shutdown-timeout", "LSMVEC_SHUTDOWN_TIMEOUT", "how long SIGTERM waits for in-flight requests",
		durationKnob(func(o *server.Options) *time.Duration { return &o.ShutdownTimeout }),
		func(o *server.Options) string { return o.ShutdownTimeout.String() }},
}

// knobValue adapts a knob to flag.Value.
type knobValue struct {
	k *knob
	o *server.Options
}

func (v knobValue) String() string     { return "" }
func (v knobValue) Set(s string) error { return v.k.set(v.o, s) }

// config is what the command line and the environment ask for.
type config struct {
	opts        server.Options
	healthcheck bool
}

// parseConfig fills a config from env (LSMVEC_* variables, applied first)
// and then args (flags, which win). It returns flag.ErrHelp for -h.
func parseConfig(args []string, getenv func(string) string, usageOut io.Writer) (*config, error) {
	cfg := &config{}
	for i := range knobs {
		k := &knobs[i]
		if v := getenv(k.env); v != "" {
			if err := k.set(&cfg.opts, v); err != nil {
				return nil, fmt.Errorf("cannot read %s: %w", k.env, err)
			}
		}
	}
	fs := flag.NewFlagSet("lsmvec", flag.ContinueOnError)
	fs.SetOutput(usageOut)
	for i := range knobs {
		if k := &knobs[i]; k.flag != "" {
			fs.Var(knobValue{k, &cfg.opts}, k.flag, k.usage)
		}
	}
	fs.BoolVar(&cfg.healthcheck, "healthcheck", false,
		"probe GET /health on the configured HTTP port and exit 0 if it answers 200 (the container HEALTHCHECK)")
	fs.Usage = func() { printUsage(usageOut, fs) }
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("cannot parse arguments: unexpected %q", fs.Arg(0))
	}
	return cfg, nil
}

func printUsage(w io.Writer, fs *flag.FlagSet) {
	var def server.Options
	def.EnsureDefaults()
	fmt.Fprintf(w, "Usage: lsmvec [flags]\n\nlsmvec serves the Casper and /v1 vector APIs over HTTP and gRPC.\n"+
		"Each setting is a flag, an environment variable, or both; a flag wins over its variable.\n\n")
	fmt.Fprintf(w, "  %-20s %-24s %-14s %s\n", "FLAG", "ENV", "DEFAULT", "")
	for _, k := range knobs {
		f := "-"
		if k.flag != "" {
			f = "-" + k.flag
		}
		fmt.Fprintf(w, "  %-20s %-24s %-14s %s\n", f, k.env, k.get(&def), k.usage)
	}
	fmt.Fprintf(w, "  %-20s %-24s %-14s %s\n", "-healthcheck", "", "false", fs.Lookup("healthcheck").Usage)
	fmt.Fprintf(w, "\nSIGTERM or SIGINT: stop accepting, finish in-flight requests, flush, close the store, exit 0.\n")
}

func environ(key string) string { return os.Getenv(key) }
