package bench

import "time"

// Report is what Run measured on one data set. It is plain data, encoded
// as the JSON the tool writes; the caller owns it.
type Report struct {
	Machine Machine     `json:"machine"`
	Command string      `json:"command,omitempty"`
	Started time.Time   `json:"started"`
	Seconds float64     `json:"seconds"` // the whole run
	Data    DataInfo    `json:"data"`
	Params  Params      `json:"params"`
	Targets []float64   `json:"targets"`
	Runs    []RunResult `json:"runs"`
	Notes   []string    `json:"notes,omitempty"` // modes that could not run, and why
}

// DataInfo describes the data set of a Report.
type DataInfo struct {
	Name   string `json:"name"`
	N      int    `json:"n"`
	NQ     int    `json:"nq"`
	Dim    int    `json:"dim"`
	Metric string `json:"metric"`
	K      int    `json:"k"`
	// GroundTruth says where the ground truth came from: "file PATH",
	// "cache PATH" or "computed".
	GroundTruth string  `json:"ground_truth"`
	GTSeconds   float64 `json:"ground_truth_seconds,omitempty"`
}

// Params are the index parameters of a Report.
type Params struct {
	M              int     `json:"m"`
	M0             int     `json:"m0"`
	EfConstruction int     `json:"ef_construction"`
	PQM            int     `json:"pq_m"`
	BuildThreads   int     `json:"build_threads"`
	Threads        int     `json:"threads"`
	MinTimeSeconds float64 `json:"min_time_seconds"`
}

// Engines of a RunResult.
const (
	EngineLSMVec  = "lsmvec"
	EngineHNSWLib = "hnswlib"
)

// RunResult is one index measured: one engine, mode and storage.
type RunResult struct {
	Name   string  `json:"name"`   // e.g. "lsmvec f32 inproc"
	Engine string  `json:"engine"` // lsmvec or hnswlib
	Mode   string  `json:"mode"`   // inproc, http or ref
	Quant  string  `json:"quant"`  // f32, i8, pq8
	Build  Build   `json:"build"`
	Points []Point `json:"points"`
	// At holds the single-thread QPS interpolated at each of the Report's
	// Targets; AtThreads the N-thread QPS.
	At        []Interp `json:"at"`
	AtThreads []Interp `json:"at_threads,omitempty"`
}

// Build is what building one index cost. Zero fields were not measured.
type Build struct {
	// TrainSeconds is quantizer training (i8 ranges, pq8 k-means).
	TrainSeconds float64 `json:"train_seconds,omitempty"`
	// LoadSeconds is writing the vectors to the server (HTTP mode).
	LoadSeconds float64 `json:"load_seconds,omitempty"`
	// BuildSeconds is the graph build: every Add in-process, POST .../index
	// over HTTP, addPoint for hnswlib.
	BuildSeconds float64 `json:"build_seconds"`
	// LoadRate is vectors per second of the bulk load: the HTTP writes, or
	// the in-process build (which is the load).
	LoadRate float64 `json:"load_rate"`
	// MemoryBytes is the index's own count of its memory (graph and
	// vectors), when known; BytesPerVector is it divided by N.
	MemoryBytes    int64   `json:"memory_bytes,omitempty"`
	BytesPerVector float64 `json:"bytes_per_vector,omitempty"`
	// RSS and HWM are the process's VmRSS after the build and VmHWM (peak
	// over the process's life so far); RSSDelta is VmRSS after minus before
	// the build. Zero over a remote server.
	RSS      int64 `json:"rss_bytes,omitempty"`
	HWM      int64 `json:"hwm_bytes,omitempty"`
	RSSDelta int64 `json:"rss_delta_bytes,omitempty"`
}

// Find returns the first run of r with the given engine, mode and quant, or
// nil.
func (r *Report) Find(engine, mode, quant string) *RunResult {
	for i := range r.Runs {
		x := &r.Runs[i]
		if x.Engine == engine && x.Mode == mode && x.Quant == quant {
			return x
		}
	}
	return nil
}

// reference returns the hnswlib run of r, or nil.
func (r *Report) reference() *RunResult {
	for i := range r.Runs {
		if r.Runs[i].Engine == EngineHNSWLib {
			return &r.Runs[i]
		}
	}
	return nil
}

// finish fills At and AtThreads of run from its points.
func (run *RunResult) finish(targets []float64) {
	run.At = run.At[:0]
	run.AtThreads = run.AtThreads[:0]
	threads := false
	for _, p := range run.Points {
		threads = threads || p.QPSThreads > 0
	}
	for _, t := range targets {
		run.At = append(run.At, QPSAtRecall(run.Points, t))
		if threads {
			run.AtThreads = append(run.AtThreads, QPSThreadsAtRecall(run.Points, t))
		}
	}
}
