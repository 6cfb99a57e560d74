package server

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
)

// access is what a route or RPC needs from the caller.
type access uint8

const (
	accessPublic access = iota // no key needed (GET /health)
	accessRead                 // a read-only or read-write key
	accessWrite                // a read-write key
)

// principal identifies the caller of one request: the index of its key in
// the authenticator (or -1 for an anonymous caller when no keys are
// configured) and whether it may write.
type principal struct {
	key      int
	canWrite bool
}

// authenticator checks Bearer keys. Keys are kept only as SHA-256 digests,
// and a presented key is compared with every digest by
// subtle.ConstantTimeCompare over the fixed-size digests, so neither the
// keys' contents nor their lengths leak through timing. It is immutable
// after newAuthenticator and safe for concurrent use.
type authenticator struct {
	digests  [][sha256.Size]byte
	canWrite []bool
	// compare compares two digests in constant time; its operands are
	// fixed-size arrays, so nothing about a key's length reaches it. A
	// field so that a test can count the comparisons.
	compare func(x, y [sha256.Size]byte) int
}

func compareDigests(x, y [sha256.Size]byte) int { return subtle.ConstantTimeCompare(x[:], y[:]) }

func newAuthenticator(rw, ro []string) *authenticator {
	a := &authenticator{compare: compareDigests}
	for _, k := range rw {
		a.digests = append(a.digests, sha256.Sum256([]byte(k)))
		a.canWrite = append(a.canWrite, true)
	}
	for _, k := range ro {
		a.digests = append(a.digests, sha256.Sum256([]byte(k)))
		a.canWrite = append(a.canWrite, false)
	}
	return a
}

// open reports whether no keys are configured (every route is public).
func (a *authenticator) open() bool { return len(a.digests) == 0 }

// numKeys is the number of configured keys; key indexes are below it.
func (a *authenticator) numKeys() int { return len(a.digests) }

var bearerPrefix = []byte("Bearer ")

// check authenticates the value of an Authorization header (HTTP) or the
// authorization metadata (gRPC) for the access a route needs. It does not
// allocate.
func (a *authenticator) check(header []byte, need access) (principal, error) {
	if a.open() {
		return principal{key: -1, canWrite: true}, nil
	}
	if need == accessPublic {
		return principal{key: -1}, nil
	}
	if len(header) < len(bearerPrefix) || !bytes.EqualFold(header[:len(bearerPrefix)], bearerPrefix) {
		return principal{key: -1}, errMissingKey
	}
	d := sha256.Sum256(bytes.TrimSpace(header[len(bearerPrefix):]))
	found := -1
	for i := range a.digests {
		// No early exit: every digest is compared whatever matched.
		if a.compare(d, a.digests[i]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return principal{key: -1}, errBadKey
	}
	p := principal{key: found, canWrite: a.canWrite[found]}
	if need == accessWrite && !p.canWrite {
		return p, errReadOnlyKey
	}
	return p, nil
}

var (
	errMissingKey  = newError(ErrUnauthorized, "", "missing API key: send Authorization: Bearer <key>")
	errBadKey      = newError(ErrUnauthorized, "", "invalid API key")
	errReadOnlyKey = newError(ErrForbidden, "", "this API key is read-only")
)
