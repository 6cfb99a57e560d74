"""Single-thread search QPS of lsm_vec on fashion-mnist-784 at recall@10 >= 0.95,
against the in-process Go loop (same index, same process) and hnswlib's
knn_query one query at a time, all measured in one run, interleaved.

Not part of `make test`. Run with a Python that has numpy and hnswlib
(Debian: apt-get install python3-numpy python3-hnswlib; that is
/usr/bin/python3) and lsm_vec installed, e.g.:

    /usr/bin/python3 -m pip install --no-build-isolation --no-deps --target /tmp/lsmvec-site .
    PYTHONPATH=/tmp/lsmvec-site /usr/bin/python3 python/lsm_vec/bench/bench_fashion.py --queries 2000

Without numpy/hnswlib it still runs lsm_vec against Go (array('f') queries).
"""

import argparse
import gzip
import os
import random
import statistics
import struct
import sys
import tempfile
import time
from array import array

import lsm_vec

try:
    import numpy as np
except ImportError:
    np = None
try:
    import hnswlib
except ImportError:
    hnswlib = None

HERE = os.path.dirname(os.path.abspath(__file__))


def datasets_dir():
    d = os.environ.get("LSMVEC_DATASETS") or os.path.join(HERE, "..", "..", "..", "..", "shared", "datasets")
    return os.path.abspath(d)


def read_idx(path, limit=None):
    with gzip.open(path, "rb") as f:
        magic = f.read(4)
        nd = magic[3]
        dims = struct.unpack(">" + "I" * nd, f.read(4 * nd))
        n = dims[0] if limit is None else min(limit, dims[0])
        row = 1
        for d in dims[1:]:
            row *= d
        raw = f.read(n * row)
    return array("f", array("B", raw)), n, row  # uint8 -> float32, converted in C


def read_ivecs(path, limit, k):
    out = []
    with gzip.open(path, "rb") as f:
        while len(out) < limit:
            h = f.read(4)
            if not h:
                break
            d = struct.unpack("<i", h)[0]
            out.append(array("i", f.read(4 * d))[:k].tolist())
    return out


def recall(ids, counts, gt, k):
    hit = 0
    for i, g in enumerate(gt):
        hit += len(set(ids[i * k:i * k + counts[i]]) & set(g))
    return hit / (len(gt) * k)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=2000)
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2, help="build threads")
    args = ap.parse_args()
    ds = os.path.join(datasets_dir(), "fashion-mnist-784")
    if not os.path.isdir(ds):
        sys.exit("fashion-mnist-784 not found under %s (set LSMVEC_DATASETS)" % datasets_dir())
    k = 10
    base, n, dim = read_idx(os.path.join(ds, "train-images-idx3-ubyte.gz"))
    qs, nq, _ = read_idx(os.path.join(ds, "t10k-images-idx3-ubyte.gz"), args.queries)
    gt = read_ivecs(os.path.join(ds, "fashion-mnist-784_groundtruth_k100.ivecs.gz"), nq, k)
    print("fashion-mnist-784: %d base, %d queries, dim %d; numpy %s, hnswlib %s" % (
        n, nq, dim, np.__version__ if np else "absent", getattr(hnswlib, "__version__", "present") if hnswlib else "absent"))
    tmp = tempfile.mkdtemp(prefix="lsm_vec-bench-")
    db = lsm_vec.LSMVecDB.open(tmp, lsm_vec.LSMVecDBOptions(dim=dim, m=16, m_max=32, ef_construction=200))
    t = time.perf_counter()
    db.bulk_build(memoryview(base).cast("B").cast("f", (n, dim)), threads=args.threads)
    print("lsm_vec bulk_build: %.1f s (%d threads)" % (time.perf_counter() - t, args.threads))

    def lsm_recall(ef):
        ids, _, counts = db.search_knn_batch(qs, k, ef_search=ef, dim=dim, raw=True)
        return recall(ids, counts, gt, k)

    efs = [10, 12, 14, 16, 20, 24, 32, 48, 64, 96, 128]
    ef = next((e for e in efs if lsm_recall(e) >= args.target), efs[-1])
    print("lsm_vec: ef_search %d gives recall@10 %.4f" % (ef, lsm_recall(ef)))

    if np is not None:
        qarr = np.frombuffer(qs, dtype=np.float32).reshape(nq, dim)
        rows = [qarr[i] for i in range(nq)]
    else:
        qarr = memoryview(qs).cast("B").cast("f", (nq, dim))
        rows = [array("f", qs[i * dim:(i + 1) * dim]) for i in range(nq)]

    hidx = None
    if hnswlib is not None and np is not None:
        t = time.perf_counter()
        hidx = hnswlib.Index(space="l2", dim=dim)
        hidx.init_index(max_elements=n, ef_construction=200, M=16, random_seed=100)
        hidx.set_num_threads(args.threads)
        hidx.add_items(np.frombuffer(base, dtype=np.float32).reshape(n, dim), np.arange(n))
        hidx.set_num_threads(1)
        print("hnswlib build: %.1f s" % (time.perf_counter() - t))

        def h_recall(e):
            hidx.set_ef(e)
            labels, _ = hidx.knn_query(qarr, k=k, num_threads=1)
            return sum(len(set(labels[i].tolist()) & set(gt[i])) for i in range(nq)) / (nq * k)

        hef = next((e for e in efs if h_recall(e) >= args.target), efs[-1])
        print("hnswlib: ef %d gives recall@10 %.4f" % (hef, h_recall(hef)))
        hidx.set_ef(hef)

    def go_loop():
        t = time.perf_counter()
        db._go_search_loop(qarr, k, ef_search=ef)
        return nq / (time.perf_counter() - t)

    def py_single():
        s = db.search_knn
        t = time.perf_counter()
        for r in rows:
            s(r, k, ef)
        return nq / (time.perf_counter() - t)

    def py_batch():
        t = time.perf_counter()
        db.search_knn_batch(qarr, k, ef_search=ef, threads=1)
        return nq / (time.perf_counter() - t)

    def hnsw_single():
        q = hidx.knn_query
        t = time.perf_counter()
        for r in rows:
            q(r, k=k, num_threads=1)
        return nq / (time.perf_counter() - t)

    runs = [("go loop (in-process)", go_loop), ("lsm_vec search_knn", py_single), ("lsm_vec search_knn_batch", py_batch)]
    if hidx is not None:
        runs.append(("hnswlib knn_query (per query)", hnsw_single))
    res = {name: [] for name, _ in runs}
    py_single()  # warm up
    for _ in range(args.rounds):
        for name, fn in runs:
            res[name].append(fn())
    med = {name: statistics.median(v) for name, v in res.items()}
    print("\nsingle-thread QPS, median of %d interleaved rounds of %d queries (k=10):" % (args.rounds, nq))
    for name, v in res.items():
        print("  %-32s %9.0f   (rounds: %s)" % (name, med[name], ", ".join("%.0f" % x for x in v)))
    g = med["go loop (in-process)"]
    print("\nlsm_vec single / Go: %.1f%%  (target >= 80%%)" % (100 * med["lsm_vec search_knn"] / g))
    print("lsm_vec batch  / Go: %.1f%%  (target >= 95%%)" % (100 * med["lsm_vec search_knn_batch"] / g))
    if hidx is not None:
        print("lsm_vec single / hnswlib per query: %.1f%%  (target >= 100%%)" % (
            100 * med["lsm_vec search_knn"] / med["hnswlib knn_query (per query)"]))
    db.close()


if __name__ == "__main__":
    main()
