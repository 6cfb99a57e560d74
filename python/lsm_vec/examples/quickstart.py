"""lsm_vec quick start: insert, search with a filter, payloads, batch search,
persistence. Run after `python3 -m pip install --no-build-isolation .`:

    python3 python/lsm_vec/examples/quickstart.py
"""

import random
import tempfile

import lsm_vec

rng = random.Random(1)
path = tempfile.mkdtemp(prefix="lsm_vec-example-")
opts = lsm_vec.LSMVecDBOptions(dim=8, metric=lsm_vec.DistanceMetric.Cosine)

with lsm_vec.LSMVecDB.open(path, opts) as db:
    for i in range(1000):
        v = [rng.gauss(0, 1) for _ in range(8)]
        db.insert(i, v, metadata={"shard": i % 4, "tags": ["even" if i % 2 == 0 else "odd"]})
    q = [rng.gauss(0, 1) for _ in range(8)]
    print("nearest:", db.search_knn(q, k=3))
    print("shard 2, even:", db.search(q, k=3, filter={"shard": 2, "tags": "even"}))
    print("patched payload:", db.update_payload(7, {"shard": None, "note": "patched"}))
    print("batch:", [len(r) for r in db.search_knn_batch([q, q, q], k=5)])
    try:
        import numpy as np
    except ImportError:
        np = None
    if np is not None:  # numpy in, numpy out: (n, k) arrays of ids (uint64) and distances (float32)
        ids, dists = db.search_knn_batch(np.array([q, q], dtype=np.float32), k=5, numpy=True)
        print("batch, numpy=True:", ids.shape, ids.dtype, dists.dtype, ids[0, :3].tolist())
    print("vectors:", db.stats()["vectors"])

with lsm_vec.LSMVecDB.open(path) as db:  # reopened: the collection's own settings apply
    print("after reopen:", db.get_payload(7), db.stats()["metric"])
