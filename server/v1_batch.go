package server

import (
	"github.com/lsmvec/lsmvec/store"
)

// v1ApplyBatch writes items (validated: distinct ids, one dimension, finite
// vectors, payloads JSON objects within the limit) to c in one atomic,
// durable write (store.Collection.Update). An item with metadata replaces
// its id's payload; one without keeps it.
func v1ApplyBatch(c *store.Collection, items []v1Item) error {
	entries := make([]store.Entry, len(items))
	for i, it := range items {
		entries[i] = store.Entry{ID: it.id, Vector: it.vec, SetPayload: it.hasMeta, Payload: it.meta}
	}
	return c.Update(entries, nil)
}
