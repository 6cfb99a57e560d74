package store

import (
	"encoding/binary"
	"math"
)

// The Pebble key schema (docs/architecture.md, "## store", has the full
// table). Catalog keys start with one lower-case letter; every key of a
// collection starts with 'd' and its 4-byte object id, so dropping a
// collection is one DeleteRange.
const (
	keyFormat     = 'f' // f → format string
	keyNextID     = 'i' // i → next object id, u32 BE
	keyCollection = 'c' // c name → collection meta (JSON)
	keyMatrix     = 'x' // x name → matrix meta (JSON)
	keyMatrixData = 'X' // X mid(4) chunk(4) → rows, f32 LE
	keyPQ         = 'q' // q name → PQ configuration (JSON)
	keyData       = 'd' // d cid(4) ... → per-collection data:
	subVector     = 'v' //   d cid v id(8)  → vector, f32 LE
	subPayload    = 'p' //   d cid p id(8)  → payload (JSON object)
	subLog        = 'l' //   d cid l seq(8) → log record: op(1) id(8)
	subCheckpoint = 'k' //   d cid k        → checkpoint meta: seq(8) file name
	subBulk       = 'b' //   d cid b        → present while a bulk load runs
)

// formatVersion is stored under keyFormat; Open refuses other values.
const formatVersion = "lsmvec-store-1"

// Log record operations.
const (
	opPut    = 'P'
	opDelete = 'D'
)

func nameKey(prefix byte, name string) []byte {
	k := make([]byte, 0, 1+len(name))
	return append(append(k, prefix), name...)
}

// appendDataPrefix appends 'd' cid sub.
func appendDataPrefix(dst []byte, cid uint32, sub byte) []byte {
	dst = append(dst, keyData)
	dst = binary.BigEndian.AppendUint32(dst, cid)
	return append(dst, sub)
}

// appendIDKey appends 'd' cid sub id(8): a vector or payload key.
func appendIDKey(dst []byte, cid uint32, sub byte, id uint64) []byte {
	return binary.BigEndian.AppendUint64(appendDataPrefix(dst, cid, sub), id)
}

// idKeyLen is the length of a vector, payload or log key.
const idKeyLen = 1 + 4 + 1 + 8

// idFromKey returns the trailing u64 of a vector, payload or log key.
func idFromKey(k []byte) uint64 { return binary.BigEndian.Uint64(k[len(k)-8:]) }

// collectionBounds returns [lo, hi) covering every key of collection cid.
func collectionBounds(cid uint32) (lo, hi []byte) {
	lo = binary.BigEndian.AppendUint32([]byte{keyData}, cid)
	if cid == math.MaxUint32 {
		return lo, []byte{keyData + 1}
	}
	hi = binary.BigEndian.AppendUint32([]byte{keyData}, cid+1)
	return lo, hi
}

// subBounds returns [lo, hi) covering the keys 'd' cid sub *.
func subBounds(cid uint32, sub byte) (lo, hi []byte) {
	lo = appendDataPrefix(nil, cid, sub)
	hi = appendDataPrefix(nil, cid, sub+1)
	return lo, hi
}

// prefixBounds returns [lo, hi) covering the keys that start with prefix
// (a single catalog letter).
func prefixBounds(prefix byte) (lo, hi []byte) { return []byte{prefix}, []byte{prefix + 1} }

func matrixDataBounds(mid uint32) (lo, hi []byte) {
	lo = binary.BigEndian.AppendUint32([]byte{keyMatrixData}, mid)
	if mid == math.MaxUint32 {
		return lo, []byte{keyMatrixData + 1}
	}
	return lo, binary.BigEndian.AppendUint32([]byte{keyMatrixData}, mid+1)
}

func matrixChunkKey(mid, chunk uint32) []byte {
	k := binary.BigEndian.AppendUint32([]byte{keyMatrixData}, mid)
	return binary.BigEndian.AppendUint32(k, chunk)
}

// appendFloats appends v as little-endian float32.
func appendFloats(dst []byte, v []float32) []byte {
	for _, f := range v {
		dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
	}
	return dst
}

// decodeFloats appends the little-endian float32 values of b to dst.
func decodeFloats(dst []float32, b []byte) []float32 {
	for i := 0; i+4 <= len(b); i += 4 {
		dst = append(dst, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
	}
	return dst
}

// validName reports whether s matches [A-Za-z0-9_-]{1,128} (collections)
// or, with dot, [A-Za-z0-9_.-]{1,128} (matrices and PQ configurations,
// whose names are often file names).
func validName(s string, dot bool) bool {
	if len(s) == 0 || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-':
		case c == '.' && dot:
		default:
			return false
		}
	}
	return true
}
