package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"

	"github.com/lsmvec/lsmvec/internal/mergepatch"
	"github.com/lsmvec/lsmvec/store/filter"
)

// checkPayload validates a payload: one JSON object of at most
// MaxPayloadBytes.
func checkPayload(p []byte) error {
	if len(p) > MaxPayloadBytes {
		return fmt.Errorf("payload of %d bytes exceeds %d: %w", len(p), MaxPayloadBytes, ErrTooLarge)
	}
	t := bytes.TrimLeft(p, " \t\r\n")
	if len(t) == 0 || t[0] != '{' || !json.Valid(p) {
		return fmt.Errorf("payload is not a JSON object: %w", ErrInvalid)
	}
	return nil
}

// Payload appends the payload of id (a JSON object; "{}" when none was set)
// to dst. ErrNotFound if id has no vector.
func (c *Collection) Payload(id uint64, dst []byte) ([]byte, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.readableLocked(); err != nil {
		return dst, fmt.Errorf("cannot get payload %d of %q: %w", id, c.name, err)
	}
	// One consistent view of the vector and payload keys.
	snap := c.db.pdb.NewSnapshot()
	defer snap.Close()
	var kb [idKeyLen]byte
	_, closer, err := snap.Get(appendIDKey(kb[:0], c.id, subVector, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return dst, fmt.Errorf("cannot get payload %d of %q: %w", id, c.name, ErrNotFound)
	}
	if err != nil {
		return dst, fmt.Errorf("cannot get payload %d of %q: %w", id, c.name, err)
	}
	_ = closer.Close()
	v, closer, err := snap.Get(appendIDKey(kb[:0], c.id, subPayload, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return append(dst, "{}"...), nil
	}
	if err != nil {
		return dst, fmt.Errorf("cannot get payload %d of %q: %w", id, c.name, err)
	}
	dst = append(dst, v...)
	_ = closer.Close()
	return dst, nil
}

// SetPayload replaces the payload of id with p, a JSON object of at most
// MaxPayloadBytes. ErrNotFound if id has no vector. p is not retained.
func (c *Collection) SetPayload(id uint64, p []byte) error {
	if err := checkPayload(p); err != nil {
		return fmt.Errorf("cannot set payload %d of %q: %w", id, c.name, err)
	}
	if err := c.updatePayload(id, func([]byte) ([]byte, error) { return p, nil }); err != nil {
		return fmt.Errorf("cannot set payload %d of %q: %w", id, c.name, err)
	}
	return nil
}

// PatchPayload applies an RFC 7396 merge patch (a JSON object) to the
// payload of id and returns the new payload. ErrNotFound if id has no
// vector; ErrTooLarge if the result exceeds MaxPayloadBytes.
func (c *Collection) PatchPayload(id uint64, patch []byte) ([]byte, error) {
	if err := checkPayload(patch); err != nil {
		return nil, fmt.Errorf("cannot patch payload %d of %q: %w", id, c.name, err)
	}
	var out []byte
	err := c.updatePayload(id, func(old []byte) ([]byte, error) {
		if old == nil {
			old = []byte("{}")
		}
		res, err := mergepatch.Apply(old, patch)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", err, ErrInvalid)
		}
		if len(res) > MaxPayloadBytes {
			return nil, fmt.Errorf("patched payload of %d bytes exceeds %d: %w", len(res), MaxPayloadBytes, ErrTooLarge)
		}
		out = res
		return res, nil
	})
	if err != nil {
		return nil, fmt.Errorf("cannot patch payload %d of %q: %w", id, c.name, err)
	}
	return out, nil
}

// updatePayload replaces the payload of id with fn(old payload or nil),
// under id's stripe lock so that it cannot interleave with a delete.
func (c *Collection) updatePayload(id uint64, fn func(old []byte) ([]byte, error)) error {
	if err := c.checkID(id); err != nil {
		return err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if err := c.writableLocked(); err != nil {
		return err
	}
	s := c.stripe(id)
	s.Lock()
	defer s.Unlock()
	var kb, pb [idKeyLen]byte
	_, closer, err := c.db.pdb.Get(appendIDKey(kb[:0], c.id, subVector, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	_ = closer.Close()
	pkey := appendIDKey(pb[:0], c.id, subPayload, id)
	var old []byte
	v, closer, err := c.db.pdb.Get(pkey)
	switch {
	case err == nil:
		old = append([]byte(nil), v...)
		_ = closer.Close()
	case !errors.Is(err, pebble.ErrNotFound):
		return err
	}
	p, err := fn(old)
	if err != nil {
		return err
	}
	b := c.db.pdb.NewBatch()
	defer b.Close()
	_ = b.Set(pkey, p, nil)
	if err := c.db.commit(b); err != nil {
		return err
	}
	c.indexPayload(id, p)
	return nil
}

func newPayloadIndex() *filter.Index {
	x, err := filter.NewIndex(filter.Options{})
	if err != nil {
		panic("BUG: default payload index options invalid: " + err.Error())
	}
	return x
}

// indexPayload records a committed payload (nil: none) in the payload
// index. The payload was validated before the commit; should the index
// still refuse it, filtered searches treat the id as having no payload,
// which is logged.
func (c *Collection) indexPayload(id uint64, p []byte) {
	if p == nil {
		c.payIdx.Delete(id)
		return
	}
	if err := c.payIdx.Set(id, p); err != nil {
		c.payIdx.Delete(id)
		c.db.opts.Logger.Errorf("collection %q: cannot index payload of %d: %v", c.name, id, err)
	}
}

// loadPayloadIndex fills the payload index from Pebble (at Open).
func (c *Collection) loadPayloadIndex() error {
	return c.ScanPayloads(func(id uint64, p []byte) error {
		c.indexPayload(id, p)
		return nil
	})
}

// ScanPayloads calls fn with every (id, payload) of the collection in id
// order, from one consistent snapshot; fn must not retain payload. It is
// meant for building in-memory payload indexes at start.
func (c *Collection) ScanPayloads(fn func(id uint64, payload []byte) error) error {
	c.mu.RLock()
	if err := c.readableLocked(); err != nil {
		c.mu.RUnlock()
		return fmt.Errorf("cannot scan payloads of %q: %w", c.name, err)
	}
	c.mu.RUnlock()
	lo, hi := subBounds(c.id, subPayload)
	it, err := c.db.pdb.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("cannot scan payloads of %q: %w", c.name, err)
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(idFromKey(it.Key()), it.Value()); err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("cannot scan payloads of %q: %w", c.name, err)
	}
	return nil
}
