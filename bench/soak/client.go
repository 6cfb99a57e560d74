package soak

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// endpoint is one run of the server as the clients see it: a connection
// pool to its address, and the generation (incremented at each kill) it
// belongs to.
type endpoint struct {
	gen  uint64
	addr string
	hc   *fasthttp.HostClient
}

func newEndpoint(gen uint64, addr string, conns int) *endpoint {
	return &endpoint{gen: gen, addr: addr, hc: &fasthttp.HostClient{
		Addr:     addr,
		MaxConns: conns,
		// One attempt: a retried write would blur which server run
		// answered it. Idle connections are closed long before the
		// server's idle timeout, so a stale one is never picked.
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		MaxIdleConnDuration:       5 * time.Second,
		MaxResponseBodySize:       16 << 20,
	}}
}

// client is one load goroutine: it owns the ids ≡ idx (mod Clients), the
// only ids it writes, so writes to one id are never concurrent, and it
// reads (searches) across all ids. It is not safe for concurrent use; the
// harness uses its methods only while its goroutine is parked.
type client struct {
	r     *runner
	idx   int
	rng   *rand.Rand
	ids   []uint64
	seq   uint64
	stats [numKinds]kindStats

	req     *fasthttp.Request
	resp    *fasthttp.Response
	vec     []float32 // the vector being sent or checked
	scratch []float32
	body    []byte
	auth    string
}

func newClient(r *runner, idx int) *client {
	c := &client{
		r:       r,
		idx:     idx,
		rng:     rand.New(rand.NewPCG(r.cfg.Seed, uint64(idx)+1)),
		req:     &fasthttp.Request{},
		resp:    &fasthttp.Response{},
		vec:     make([]float32, r.cfg.Dim),
		scratch: make([]float32, r.cfg.Dim),
		auth:    "Bearer " + r.key,
	}
	for id := idx; id < r.cfg.IDs; id += r.cfg.Clients {
		c.ids = append(c.ids, uint64(id))
	}
	return c
}

// errTransport marks a request that got no answer.
var errTransport = errors.New("soak: no answer")

// call sends one request and returns the status and the body (valid until
// the next call), timing answered requests into h when h is not nil.
func (c *client) call(ep *endpoint, h *hist, method, path string, body []byte) (int, []byte, error) {
	c.req.Reset()
	c.resp.Reset()
	c.req.Header.SetMethod(method)
	c.req.SetRequestURI("http://" + ep.addr + path)
	c.req.Header.Set("Authorization", c.auth)
	if body != nil {
		c.req.Header.SetContentType("application/json")
		c.req.SetBodyRaw(body)
	}
	t0 := time.Now()
	if err := ep.hc.DoTimeout(c.req, c.resp, c.r.cfg.RequestTimeout); err != nil {
		return 0, nil, fmt.Errorf("%w: %s %s: %v", errTransport, method, path, err)
	}
	if h != nil {
		h.add(time.Since(t0))
	}
	return c.resp.StatusCode(), c.resp.Body(), nil
}

func vectorPath(id uint64) string { return "/v1/vectors/" + strconv.FormatUint(id, 10) }

// appendVector appends v as a JSON array of shortest round-trip float32s.
func appendVector(dst []byte, v []float32) []byte {
	dst = append(dst, '[')
	for i, x := range v {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendFloat(dst, float64(x), 'g', -1, 32)
	}
	return append(dst, ']')
}

// step runs one operation of the mix: 70% search, 9% insert, 8% upsert, 3%
// batch insert (together 20%), 5% delete, 5% payload patch.
func (c *client) step(ep *endpoint) {
	switch x := c.rng.IntN(100); {
	case x < 70:
		c.search(ep)
	case x < 79:
		c.write(ep, kindInsert)
	case x < 87:
		c.write(ep, kindUpsert)
	case x < 90:
		c.batch(ep, 2+c.rng.IntN(4))
	case x < 95:
		c.write(ep, kindDelete)
	default:
		c.write(ep, kindPatch)
	}
}

// searchReply is the /v1 search answer.
type searchReply struct {
	Results []struct {
		ID       uint64  `json:"id"`
		Distance float64 `json:"distance"`
	} `json:"results"`
}

func (c *client) search(ep *endpoint) {
	st := &c.stats[kindSearch]
	for i := range c.vec {
		c.vec[i] = float32(c.rng.Float64()*2 - 1)
	}
	const k = 10
	b := append(c.body[:0], `{"vector":`...)
	b = appendVector(b, c.vec)
	b = append(b, `,"k":10`...)
	if c.rng.IntN(4) == 0 {
		b = append(b, `,"filter":{"color":"`...)
		b = append(b, colors[c.rng.IntN(len(colors))]...)
		b = append(b, `"}`...)
	}
	b = append(b, '}')
	c.body = b
	status, body, err := c.call(ep, &st.lat, "POST", "/v1/search", b)
	if !c.answered(ep, st, err) || !c.statusOK(st, "search", status, body, 200) {
		return
	}
	var rep searchReply
	if err := json.Unmarshal(body, &rep); err != nil {
		st.bad++
		c.r.failf("search: cannot decode the answer %q: %v", truncate(string(body), 200), err)
		return
	}
	if len(rep.Results) > k {
		st.bad++
		c.r.failf("search: %d results for k=%d", len(rep.Results), k)
		return
	}
	for i, res := range rep.Results {
		if res.ID >= uint64(c.r.cfg.IDs) || i > 0 && res.Distance < rep.Results[i-1].Distance {
			st.bad++
			c.r.failf("search: result %d (id %d, distance %g) is out of the id space or out of order", i, res.ID, res.Distance)
			return
		}
	}
	st.ok++
}

// answered counts a request without an answer. It is a failure unless the
// server was killed since ep was current (a crash-loop kill).
func (c *client) answered(ep *endpoint, st *kindStats, err error) bool {
	if err == nil {
		return true
	}
	if ep.gen == c.r.gen.Load() {
		st.transport++
		c.r.failf("%v (the server was not being killed)", err)
	}
	return false
}

// statusOK checks an answer's status: a 5xx is counted and fails the run,
// as does any other status than want.
func (c *client) statusOK(st *kindStats, what string, status int, body []byte, want int) bool {
	if status == want {
		return true
	}
	if status >= 500 {
		st.status5xx++
		c.r.failf("%s: status %d: %s", what, status, truncate(string(body), 300))
		return false
	}
	st.bad++
	c.r.failf("%s: status %d, want %d: %s", what, status, want, truncate(string(body), 300))
	return false
}

// pick returns one of the client's ids that is not broken.
func (c *client) pick() (uint64, bool) {
	for range 8 {
		id := c.ids[c.rng.IntN(len(c.ids))]
		if !c.r.ledger[id].broken {
			return id, true
		}
	}
	return 0, false
}

// write sends one single-id write of kind k (insert, upsert, delete or
// patch) and records its outcome in the ledger.
func (c *client) write(ep *endpoint, k kind) {
	id, ok := c.pick()
	if !ok {
		return
	}
	ls := &c.r.ledger[id]
	if !ls.certain() && (k == kindUpsert || k == kindPatch) {
		k = kindInsert // only blind writes while an outcome is unknown
	}
	st := &c.stats[k]
	var (
		next         version
		method, path string
		body         []byte
		want         int
	)
	path = vectorPath(id)
	switch k {
	case kindInsert:
		var b []byte
		b, next = c.appendItem(c.body[:0], id)
		method, path, body, want = "POST", "/v1/vectors", b, 201
	case kindUpsert:
		next = version{live: true, vecSeed: c.rng.Uint64(), payload: "{}"}
		if ls.cur.live {
			next.payload = ls.cur.payload
		}
		genVector(c.vec, id, next.vecSeed)
		b := append(c.body[:0], `{"vector":`...)
		b = appendVector(b, c.vec)
		b = append(b, '}')
		method, body, want = "PUT", b, 200
	case kindDelete:
		next = absent
		method, want = "DELETE", 204
	case kindPatch:
		c.seq++
		patch := patchFor(c.seq, c.rng.Uint64())
		method, path, body, want = "PATCH", path+"/payload", patch, 200
		if !ls.cur.live {
			want = 404 // the ledger says absent: a patch must not resurrect it
			next = absent
			break
		}
		p, err := patchCanonical(ls.cur.payload, patch)
		if err != nil {
			panic("BUG: patching a ledger payload: " + err.Error())
		}
		next = version{live: true, vecSeed: ls.cur.vecSeed, payload: p}
	default:
		panic("BUG: write of kind " + k.String())
	}
	if body != nil {
		c.body = body
	}
	status, rb, err := c.call(ep, &st.lat, method, path, body)
	if !c.answered(ep, st, err) {
		ls.unknown(next)
		return
	}
	what := fmt.Sprintf("%s %d", k, id)
	if !c.statusOK(st, what, status, rb, want) {
		// Not acknowledged: either outcome stays possible (and the run
		// has failed already).
		ls.unknown(next)
		return
	}
	if k == kindPatch && want == 200 {
		got, err := canonicalJSON(rb)
		if err != nil || got != next.payload {
			st.bad++
			c.r.failf("%s: the server's patched payload %s differs from the ledger's %s (%v)", what, truncate(string(rb), 300), truncate(next.payload, 300), err)
			ls.broken = true
			return
		}
	}
	ls.acked(next)
	st.ok++
}

// batch inserts n distinct ids of the client, each with a vector and a
// payload, in one POST /v1/vectors/batch (atomic: all or none).
func (c *client) batch(ep *endpoint, n int) {
	st := &c.stats[kindBatch]
	ids := make([]uint64, 0, n)
	for tries := 0; len(ids) < n && tries < 4*n; tries++ {
		id, ok := c.pick()
		if ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return
	}
	if c.sendBatch(ep, ids, &st.lat, st, fmt.Sprintf("batch %v", ids)) {
		st.ok++
	}
}

// fill inserts every id of the client, in batches of 64, so that the load
// starts over a full id space. Errors fail the run.
func (c *client) fill(ep *endpoint) {
	var st kindStats
	for start := 0; start < len(c.ids); start += 64 {
		c.sendBatch(ep, c.ids[start:min(start+64, len(c.ids))], nil, &st, "fill batch")
	}
}

// sendBatch inserts ids, each with a new vector and payload, in one POST
// /v1/vectors/batch, timing it into h when h is not nil, and records the
// outcome in the ledger. It reports whether the server acknowledged it.
func (c *client) sendBatch(ep *endpoint, ids []uint64, h *hist, st *kindStats, what string) bool {
	nexts := make([]version, len(ids))
	b := append(c.body[:0], `{"items":[`...)
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b, nexts[i] = c.appendItem(b, id)
	}
	b = append(b, "]}"...)
	c.body = b
	status, rb, err := c.call(ep, h, "POST", "/v1/vectors/batch", b)
	ok := c.answered(ep, st, err) && c.statusOK(st, what, status, rb, 200)
	for i, id := range ids {
		if ok {
			c.r.ledger[id].acked(nexts[i])
		} else {
			c.r.ledger[id].unknown(nexts[i])
		}
	}
	return ok
}

// appendItem appends {"id", "vector", "metadata"} for id with a new vector
// and payload to b, and returns the state the write leaves.
func (c *client) appendItem(b []byte, id uint64) ([]byte, version) {
	c.seq++
	payload := payloadFor(c.seq, c.rng.Uint64())
	canon, err := canonicalJSON(payload)
	if err != nil {
		panic("BUG: generated payload: " + err.Error())
	}
	v := version{live: true, vecSeed: c.rng.Uint64(), payload: canon}
	genVector(c.vec, id, v.vecSeed)
	b = append(b, `{"id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"vector":`...)
	b = appendVector(b, c.vec)
	b = append(b, `,"metadata":`...)
	b = append(b, payload...)
	return append(b, '}'), v
}

// vectorReply is GET /v1/vectors/:id.
type vectorReply struct {
	ID     uint64    `json:"id"`
	Vector []float32 `json:"vector"`
}

// verify reads every id of the client back and checks it against the
// ledger: an id must be in its last acknowledged state or, when writes to
// it got no answer, in the state one of them would have left. The ledger
// then holds the state found. Mismatches are failures; the id is marked
// broken so that later rounds do not report it again.
func (c *client) verify(ep *endpoint, v *VerifyResult) {
	for _, id := range c.ids {
		ls := &c.r.ledger[id]
		if ls.broken {
			continue
		}
		got, err := c.read(ep, id)
		if err != nil {
			v.Errors++
			c.r.failf("verify %d: %v", id, err)
			ls.broken = true
			continue
		}
		m, ok := ls.match(got)
		if !ok {
			exp := ls.cur.String()
			for _, a := range ls.alts {
				exp += " or " + a.String()
			}
			desc := "differs"
			switch {
			case !got.live && ls.certain() && ls.cur.live:
				v.Lost++
				desc = "LOST: an acknowledged write is missing"
			case got.live && ls.certain() && !ls.cur.live:
				v.Resurrected++
				desc = "RESURRECTED: an acknowledged delete is undone"
			default:
				v.Corrupted++
			}
			c.r.failf("verify %d (%s): %s; found %s, want %s", id, v.When, desc, got, exp)
			ls.broken = true
			continue
		}
		if !ls.certain() {
			v.Uncertain++
			if m == ls.cur {
				v.NotApplied++
			} else {
				v.Applied++
			}
		}
		ls.acked(m)
		if m.live {
			v.Live++
		} else {
			v.Absent++
		}
	}
}

// read returns the state of id on the server. The vector is matched
// against the ledger's candidates (the server does not know vecSeed): the
// version returned carries the seed of the candidate whose vector is equal
// bit for bit, or seed ^0 with payload marked when none is.
func (c *client) read(ep *endpoint, id uint64) (version, error) {
	status, body, err := c.call(ep, nil, "GET", vectorPath(id), nil)
	if err != nil {
		return version{}, err
	}
	switch status {
	case 404:
		return absent, nil
	case 200:
	default:
		return version{}, fmt.Errorf("GET vector: status %d: %s", status, truncate(string(body), 300))
	}
	var vr vectorReply
	if err := json.Unmarshal(body, &vr); err != nil {
		return version{}, fmt.Errorf("GET vector: cannot decode %q: %w", truncate(string(body), 300), err)
	}
	if vr.ID != id || len(vr.Vector) != c.r.cfg.Dim {
		return version{}, fmt.Errorf("GET vector: id %d and %d elements, want id %d and %d", vr.ID, len(vr.Vector), id, c.r.cfg.Dim)
	}
	status, body, err = c.call(ep, nil, "GET", vectorPath(id)+"/payload", nil)
	if err != nil {
		return version{}, err
	}
	if status != 200 {
		return version{}, fmt.Errorf("GET payload of a vector that exists: status %d: %s", status, truncate(string(body), 300))
	}
	p, err := canonicalJSON(body)
	if err != nil {
		return version{}, fmt.Errorf("GET payload: %w", err)
	}
	got := version{live: true, payload: p, vecSeed: unmatchedSeed}
	ls := &c.r.ledger[id]
	for _, cand := range append([]version{ls.cur}, ls.alts...) {
		if cand.live && sameVector(vr.Vector, c.scratch, id, cand.vecSeed) {
			got.vecSeed = cand.vecSeed
			break
		}
	}
	if got.vecSeed == unmatchedSeed {
		got.payload += fmt.Sprintf(" (vector matches no written version; first elements %v)", vr.Vector[:min(4, len(vr.Vector))])
	}
	return got, nil
}

// unmatchedSeed marks a vector that equals none of the ledger's candidates.
const unmatchedSeed = 0xdeadbeefdeadbeef
