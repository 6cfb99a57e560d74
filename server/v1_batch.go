package server

import (
	"github.com/lsmvec/lsmvec/store"
)

// v1ApplyBatch writes items (validated: distinct ids, one dimension, finite
// vectors) to c in one atomic, durable write.
func v1ApplyBatch(c *store.Collection, items []v1Item) error {
	entries := make([]store.Entry, len(items))
	for i, it := range items {
		if it.hasMeta {
			return newError(ErrNotImplemented, "not_implemented",
				"batches with metadata are not supported yet: store.Collection.Update cannot write payloads; insert those items one by one")
		}
		entries[i] = store.Entry{ID: it.id, Vector: it.vec}
	}
	return c.Update(entries, nil)
}
