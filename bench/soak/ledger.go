package soak

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// version is one state of an id as the client wrote it: absent, or a
// vector (regenerated from vecSeed by genVector) with a payload (canonical
// JSON: keys sorted, as encoding/json writes maps).
type version struct {
	live    bool
	vecSeed uint64
	payload string
}

func (v version) String() string {
	if !v.live {
		return "absent"
	}
	return fmt.Sprintf("vector#%x payload %s", v.vecSeed, v.payload)
}

var absent = version{}

// idState is the ledger entry of one id: the last state the server
// acknowledged (cur), and the states that writes sent after it, whose
// answers never came (the server was killed), may have left (alts).
//
// Only the id's writer, one client goroutine, touches its idState while
// the load runs, and writes to one id are never concurrent; the harness
// reads and resolves it only while every client is stopped.
//
// The check is exact because a writer with unknown outcomes pending sends
// only blind writes (a full insert with payload, or a delete), whose result
// does not depend on the state before them: then whichever subset of the
// unknown writes the server applied, the id ends in cur or in the result of
// one of them, which is what alts lists. The first unknown write may be any
// kind; its result is computed from cur.
type idState struct {
	cur  version
	alts []version
	// broken marks an id found in a state the ledger cannot explain (a
	// failure already reported): it is neither written nor checked again.
	broken bool
}

// certain reports whether the id's state is known exactly.
func (s *idState) certain() bool { return len(s.alts) == 0 }

// acked records an acknowledged write that left the id in v.
func (s *idState) acked(v version) {
	s.cur = v
	s.alts = s.alts[:0]
}

// unknown records a write, which would have left the id in v, whose answer
// never came.
func (s *idState) unknown(v version) { s.alts = append(s.alts, v) }

// match returns the candidate state (cur or one of alts) equal to got.
func (s *idState) match(got version) (version, bool) {
	if s.cur == got {
		return s.cur, true
	}
	for _, a := range s.alts {
		if a == got {
			return a, true
		}
	}
	return version{}, false
}

// splitmix64 is the SplitMix64 step: a bijective 64-bit mixer.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// genVector writes the vector of (id, seed) into dst (len(dst) = dim):
// finite float32 values of magnitude in [2^-20, 1), either sign, with
// random 23-bit mantissas, so that any rounding on the way in or out shows.
func genVector(dst []float32, id, seed uint64) {
	s := splitmix64(id ^ splitmix64(seed))
	for i := range dst {
		s = splitmix64(s)
		exp := uint32(126 - (s>>32)%20)
		dst[i] = math.Float32frombits(uint32(s>>63)<<31 | exp<<23 | uint32(s)&0x7fffff)
	}
}

// sameVector reports whether got is bit for bit the vector of (id, seed);
// scratch has got's length.
func sameVector(got, scratch []float32, id, seed uint64) bool {
	genVector(scratch, id, seed)
	for i := range got {
		if math.Float32bits(got[i]) != math.Float32bits(scratch[i]) {
			return false
		}
	}
	return true
}

// canonicalJSON decodes a JSON object and encodes it again with sorted
// keys, so that equal objects compare equal as strings.
func canonicalJSON(b []byte) (string, error) {
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		return "", fmt.Errorf("cannot decode payload %q: %w", truncate(string(b), 200), err)
	}
	if v == nil {
		return "", fmt.Errorf("cannot decode payload %q: not an object", truncate(string(b), 200))
	}
	out, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("cannot encode payload: %w", err)
	}
	return string(out), nil
}

// mergePatch applies an RFC 7396 merge patch to target and returns the
// result; target is not modified. The harness computes expected payloads
// with it independently of the server's implementation.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	out := map[string]any{}
	if tm, ok := target.(map[string]any); ok {
		for k, v := range tm {
			out[k] = v
		}
	}
	for k, v := range pm {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}

// patchCanonical applies the merge patch (JSON text) to the canonical
// payload and returns the canonical result.
func patchCanonical(payload string, patch []byte) (string, error) {
	var t, p any
	if err := json.Unmarshal([]byte(payload), &t); err != nil {
		return "", fmt.Errorf("cannot decode payload: %w", err)
	}
	if err := json.Unmarshal(patch, &p); err != nil {
		return "", fmt.Errorf("cannot decode patch: %w", err)
	}
	out, err := json.Marshal(mergePatch(t, p))
	if err != nil {
		return "", fmt.Errorf("cannot encode payload: %w", err)
	}
	return string(out), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// colors are the values of the payloads' "color" member, which filtered
// searches select on.
var colors = [...]string{"red", "green", "blue", "amber"}

// payloadFor builds the payload object a full insert sends: deterministic
// in (seq, r), with a nested object and, for r%16 == 0, a larger string.
func payloadFor(seq uint64, r uint64) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"seq":%d,"color":%q,"attrs":{"a":%d,"b":"s%x"}`, seq, colors[r%uint64(len(colors))], r%1000, r>>32)
	if r%16 == 0 {
		b.WriteString(`,"blob":"`)
		n := 256 + int(r>>8)%2048
		for i := 0; i < n; i++ {
			b.WriteByte('a' + byte((r>>uint(i%48))%26))
		}
		b.WriteByte('"')
	}
	if r%5 == 0 {
		fmt.Fprintf(&b, `,"tags":["t%d","t%d"]`, r%7, r%11)
	}
	b.WriteByte('}')
	return []byte(b.String())
}

// patchFor builds a merge patch: it sets or removes top-level and nested
// members, so that both the merge and the null-removal paths are covered.
func patchFor(seq uint64, r uint64) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `{"seq":%d`, seq)
	switch r % 4 {
	case 0:
		fmt.Fprintf(&b, `,"color":%q`, colors[(r>>4)%uint64(len(colors))])
	case 1:
		b.WriteString(`,"color":null`)
	case 2:
		fmt.Fprintf(&b, `,"attrs":{"b":null,"c":%d}`, r%97)
	case 3:
		fmt.Fprintf(&b, `,"attrs":{"a":%d},"blob":null,"tags":null`, r%1000)
	}
	if r%8 == 0 {
		fmt.Fprintf(&b, `,"p%d":{"x":[1,2,%d]}`, r%3, r%5)
	}
	b.WriteByte('}')
	return []byte(b.String())
}
