package bench

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/lsmvec/lsmvec/bench/dataset"
)

// casperClient speaks the Casper HTTP API to one server. It is safe for
// concurrent use.
type casperClient struct {
	hc *fasthttp.HostClient
}

func newCasperClient(rawURL string, conns int) (*casperClient, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("cannot use server URL %q: %w: %w", rawURL, ErrInvalidConfig, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("cannot use server URL %q: %w: want http://host:port", rawURL, ErrInvalidConfig)
	}
	addr := u.Host
	if u.Port() == "" {
		if u.Scheme == "https" {
			addr += ":443"
		} else {
			addr += ":80"
		}
	}
	return &casperClient{hc: &fasthttp.HostClient{
		Addr:                          addr,
		IsTLS:                         u.Scheme == "https",
		MaxConns:                      conns,
		MaxResponseBodySize:           1 << 30,
		DisableHeaderNamesNormalizing: true,
	}}, nil
}

// apiError is the JSON error body of the API.
type apiError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// call sends one request and returns the status and a copy of the body of
// a 2xx reply; other statuses become errors wrapping ErrServer (and
// ErrNotAvailable for an unknown route).
func (c *casperClient) call(method, path string, body []byte, timeout time.Duration) ([]byte, error) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.Header.SetMethod(method)
	req.SetRequestURI("http://" + c.hc.Addr + path)
	if body != nil {
		req.Header.SetContentType("application/json")
		req.SetBodyRaw(body)
	}
	if err := c.hc.DoTimeout(req, resp, timeout); err != nil {
		return nil, fmt.Errorf("cannot %s %s: %w", method, path, err)
	}
	st := resp.StatusCode()
	if st >= 200 && st < 300 {
		return append([]byte(nil), resp.Body()...), nil
	}
	var e apiError
	_ = json.Unmarshal(resp.Body(), &e)
	msg := e.Error
	if msg == "" {
		msg = string(resp.Body())
	}
	if st == fasthttp.StatusNotFound && e.Code == "route_not_found" {
		return nil, fmt.Errorf("cannot %s %s: %w: the server has no such route (%s)", method, path, ErrNotAvailable, msg)
	}
	return nil, fmt.Errorf("cannot %s %s: %w: %d %s: %s", method, path, ErrServer, st, e.Code, msg)
}

// casperMetric maps a data set metric to the Casper index metric.
func casperMetric(m string) string {
	switch m {
	case dataset.MetricIP:
		return "inner-product"
	case dataset.MetricCosine:
		return "cosine"
	}
	return "euclidean"
}

// appendVectorJSON appends v as a JSON array of float32 values.
func appendVectorJSON(dst []byte, v []float32) []byte {
	dst = append(dst, '[')
	for i, x := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendFloat(dst, float64(x), 'g', -1, 32)
	}
	return append(dst, ']')
}

// Timeouts of the HTTP calls: the index build and PQ training take minutes
// on large sets.
const (
	httpCallTimeout  = 5 * time.Minute
	httpBuildTimeout = 2 * time.Hour
	httpSearchTimout = time.Minute
)

// httpIndex is a collection with an index on a server, searched with
// output=bin.
type httpIndex struct {
	c      *casperClient
	cfg    *Config
	name   string
	pqName string // "" unless pq8
	pqm    int
	bodies [][]byte // pre-encoded {"vector": ...} per query
}

// buildHTTP creates a collection for quant on the server at url, writes
// set's base vectors in update batches, trains the PQ (pq8) and builds the
// index. local, when not nil, is the in-process server behind url (for
// memory figures).
func buildHTTP(ctx context.Context, cfg *Config, url string, local Server, set *dataset.Set, quant string, pqm int) (engine, Build, error) {
	var b Build
	c, err := newCasperClient(url, cfg.Threads+cfg.BuildThreads+2)
	if err != nil {
		return nil, b, err
	}
	n := set.N()
	h := &httpIndex{c: c, cfg: cfg, name: cfg.Collection + "-" + quant, pqm: pqm}
	if _, err := c.call("POST", fmt.Sprintf("/collection/%s?dim=%d&max_size=%d", h.name, set.Dim, n), nil, httpCallTimeout); err != nil {
		return nil, b, fmt.Errorf("cannot create collection (delete a leftover one, or pass another -collection): %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			h.close()
		}
	}()
	freeMemory()
	before, memErr := ReadMemStatus()

	// Load: batches of cfg.BatchSize vectors on cfg.BuildThreads goroutines.
	batches := (n + cfg.BatchSize - 1) / cfg.BatchSize
	bar := newProgress(cfg.Progress, fmt.Sprintf("lsmvec %s http load", quant), n)
	start := time.Now()
	err = parallelFor(ctx, batches, cfg.BuildThreads, func(bi int) error {
		lo, hi := bi*cfg.BatchSize, min((bi+1)*cfg.BatchSize, n)
		body := make([]byte, 0, (hi-lo)*(set.Dim*10+32)+32)
		body = append(body, `{"insert":[`...)
		for i := lo; i < hi; i++ {
			if i > lo {
				body = append(body, ',')
			}
			body = append(body, `{"id":`...)
			body = strconv.AppendInt(body, int64(i), 10)
			body = append(body, `,"vector":`...)
			body = appendVectorJSON(body, set.BaseVec(i))
			body = append(body, '}')
		}
		body = append(body, `]}`...)
		if _, err := c.call("POST", "/collection/"+h.name+"/update", body, httpCallTimeout); err != nil {
			return err
		}
		bar.Add(hi - lo)
		return nil
	})
	bar.Done()
	if err != nil {
		return nil, b, err
	}
	b.LoadSeconds = time.Since(start).Seconds()
	b.LoadRate = float64(n) / b.LoadSeconds

	hnswCfg := map[string]any{
		"metric": casperMetric(set.Metric), "quantization": quant,
		"m": cfg.M, "m0": cfg.M0, "ef_construction": cfg.EfConstruction,
	}
	if quant == QuantPQ8 {
		h.pqName = h.name + "-pq"
		body, _ := json.Marshal(map[string]any{"collection": h.name, "m": pqm, "bits": 8, "seed": cfg.Seed})
		start := time.Now()
		if _, err := c.call("POST", "/pq/"+h.pqName+"/train", body, httpBuildTimeout); err != nil {
			h.pqName = ""
			return nil, b, fmt.Errorf("cannot train the pq8 codebook on the server: %w", err)
		}
		b.TrainSeconds = time.Since(start).Seconds()
		hnswCfg["pq_name"] = h.pqName
	}
	body, _ := json.Marshal(map[string]any{"hnsw": hnswCfg})
	bar = newProgress(cfg.Progress, fmt.Sprintf("lsmvec %s http index", quant), 1)
	start = time.Now()
	_, err = c.call("POST", "/collection/"+h.name+"/index", body, httpBuildTimeout)
	bar.Done()
	if err != nil {
		return nil, b, err
	}
	b.BuildSeconds = time.Since(start).Seconds()
	if local != nil {
		if mb, err := local.MemoryBytes(h.name); err == nil && mb > 0 {
			b.MemoryBytes = mb
			b.BytesPerVector = float64(mb) / float64(n)
		}
		if after, err := ReadMemStatus(); err == nil && memErr == nil {
			b.RSS, b.HWM, b.RSSDelta = after.RSS, after.HWM, after.RSS-before.RSS
		}
	}
	h.bodies = make([][]byte, set.NQ())
	for i := range h.bodies {
		h.bodies[i] = append(appendVectorJSON([]byte(`{"vector":`), set.Query(i)), '}')
	}
	ok = true
	return h, b, nil
}

func (h *httpIndex) searcher() searchFunc {
	req, resp := new(fasthttp.Request), new(fasthttp.Response)
	req.Header.SetMethod("POST")
	req.Header.SetContentType("application/json")
	uri := make([]byte, 0, 128)
	host := "http://" + h.c.hc.Addr + "/collection/" + h.name + "/search?output=bin&limit="
	return func(qi int, _ []float32, k, ef int, ids []uint64) ([]uint64, error) {
		body := h.bodies[qi]
		uri = append(uri[:0], host...)
		uri = strconv.AppendInt(uri, int64(k), 10)
		uri = append(uri, "&ef_search="...)
		uri = strconv.AppendInt(uri, int64(ef), 10)
		req.SetRequestURIBytes(uri)
		req.SetBodyRaw(body)
		if err := h.c.hc.DoTimeout(req, resp, httpSearchTimout); err != nil {
			return ids, fmt.Errorf("cannot search: %w", err)
		}
		if st := resp.StatusCode(); st != fasthttp.StatusOK {
			return ids, fmt.Errorf("cannot search: %w: %d %s", ErrServer, st, resp.Body())
		}
		return parseSearchBin(resp.Body(), ids)
	}
}

// parseSearchBin decodes an output=bin search reply (u32 LE count, then
// count × (u32 LE id, f32 LE distance)) and appends the ids to ids.
func parseSearchBin(b []byte, ids []uint64) ([]uint64, error) {
	if len(b) < 4 {
		return ids, fmt.Errorf("cannot decode search reply: %w: %d bytes", ErrMalformedOutput, len(b))
	}
	n := binary.LittleEndian.Uint32(b)
	if uint64(len(b)-4) != 8*uint64(n) {
		return ids, fmt.Errorf("cannot decode search reply: %w: count %d in %d bytes", ErrMalformedOutput, n, len(b))
	}
	for i := range int(n) {
		ids = append(ids, uint64(binary.LittleEndian.Uint32(b[4+8*i:])))
	}
	return ids, nil
}

// close deletes what buildHTTP created unless cfg.Keep.
func (h *httpIndex) close() error {
	if h.cfg.Keep {
		return nil
	}
	_, err := h.c.call("DELETE", "/collection/"+h.name, nil, httpCallTimeout)
	if h.pqName != "" {
		if _, perr := h.c.call("DELETE", "/pq/"+h.pqName, nil, httpCallTimeout); perr != nil && err == nil {
			err = perr
		}
		for j := range h.pqm {
			if _, merr := h.c.call("DELETE", fmt.Sprintf("/matrix/%s_sub_%d", h.pqName, j), nil, httpCallTimeout); merr != nil && err == nil {
				err = merr
			}
		}
	}
	return err
}
