"""Single-thread search QPS of lsm_vec on fashion-mnist-784 at recall@10 >= 0.95,
against the in-process Go loop (same index, same process, same threads) and
hnswlib's knn_query one query at a time, all measured in one run, interleaved.

Forms measured: search_knn one query at a time (target: >= 80% of Go and >=
hnswlib's knn_query per query); search_knn_batch over the (n, dim) query
array in its default form, lists of SearchResult (target: >= 95% of Go); the
same with numpy=True ((ids, distances) arrays) and raw=True (flat arrays),
which build no Python object per result. Each ratio is the median of the
per-round ratios (and the ratio of the medians beside it).

Not part of `make test`. Run with a Python that has numpy and hnswlib
(Debian: apt-get install python3-numpy python3-hnswlib; that is
/usr/bin/python3) and lsm_vec installed, e.g.:

    /usr/bin/python3 -m pip install --no-build-isolation --no-deps --target /tmp/lsmvec-site .
    PYTHONPATH=/tmp/lsmvec-site /usr/bin/python3 python/lsm_vec/bench/bench_fashion.py --queries 2000

--dir DIR keeps the built index for the next run; --search-threads N runs
the batch forms and their Go reference on N threads. Without numpy/hnswlib
it still runs lsm_vec against Go (array('f') queries).
"""

import argparse
import gzip
import os
import random
import shutil
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
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--threads", type=int, default=2, help="build threads")
    ap.add_argument("--dir", help="data directory to build the index in and keep (reused when it already "
                                   "holds the data set); default: a temporary one, removed at the end")
    ap.add_argument("--seed", type=int, default=1, help="seed of the order of the forms in each round")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall: QPS from wall-clock time (the figure); cpu: from this process's CPU time, "
                         "steadier on a machine other jobs load, but blind to time spent waiting")
    ap.add_argument("--search-threads", type=int, default=1,
                    help="threads of search_knn_batch and of its Go reference loop (0: all CPUs); 1 is the "
                         "single-thread figure the targets are for")
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
    tmp = args.dir or tempfile.mkdtemp(prefix="lsm_vec-bench-")
    db = lsm_vec.LSMVecDB.open(tmp, lsm_vec.LSMVecDBOptions(dim=dim, m=16, m_max=32, ef_construction=200))
    if db.stats()["vectors"] == n:
        print("lsm_vec: reusing the %d vectors in %s" % (n, tmp))
    else:
        t = time.perf_counter()
        db.bulk_build(memoryview(base).cast("B").cast("f", (n, dim)), threads=args.threads)
        print("lsm_vec bulk_build: %.1f s (%d threads)" % (time.perf_counter() - t, args.threads))
    try:
        measure(args, db, qs, nq, dim, base, n, gt, k)
    finally:
        db.close()
        if not args.dir:
            shutil.rmtree(tmp, ignore_errors=True)


def measure(args, db, qs, nq, dim, base, n, gt, k):
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
        saved = os.path.join(args.dir, "hnswlib-m16-efc200.bin") if args.dir else None
        if saved and os.path.exists(saved):
            hidx.load_index(saved, max_elements=n)
            print("hnswlib: loaded %s" % saved)
        else:
            hidx.init_index(max_elements=n, ef_construction=200, M=16, random_seed=100)
            hidx.set_num_threads(args.threads)
            hidx.add_items(np.frombuffer(base, dtype=np.float32).reshape(n, dim), np.arange(n))
            print("hnswlib build: %.1f s" % (time.perf_counter() - t))
            if saved:
                hidx.save_index(saved)
        hidx.set_num_threads(1)

        def h_recall(e):
            hidx.set_ef(e)
            labels, _ = hidx.knn_query(qarr, k=k, num_threads=1)
            return sum(len(set(labels[i].tolist()) & set(gt[i])) for i in range(nq)) / (nq * k)

        hef = next((e for e in efs if h_recall(e) >= args.target), efs[-1])
        print("hnswlib: ef %d gives recall@10 %.4f" % (hef, h_recall(hef)))
        hidx.set_ef(hef)

    st = args.search_threads
    clock = time.perf_counter if args.clock == "wall" else time.process_time

    # Each form f(qm, rs) searches the query matrix qm (rows rs) and returns
    # the seconds it took. A batch's results live until the clock has
    # stopped, as a caller's would (freeing them is not the search); a
    # one-query loop drops each result as the next query starts.
    def go_loop(threads):
        def run(qm, rs):
            t = clock()
            db._go_search_loop(qm, k, ef_search=ef, threads=threads)
            return clock() - t
        return run

    def py_single(qm, rs):
        s = db.search_knn
        t = clock()
        for r in rs:
            s(r, k, ef)
        return clock() - t

    def py_batch(**kw):
        def run(qm, rs):
            t = clock()
            out = db.search_knn_batch(qm, k, ef_search=ef, threads=st, **kw)
            dt = clock() - t
            del out
            return dt
        return run

    def hnsw_single(qm, rs):
        q = hidx.knn_query
        t = clock()
        for r in rs:
            q(r, k=k, num_threads=1)
        return clock() - t

    go1 = "go loop (in-process, 1 thread)"
    gon = go1 if st == 1 else "go loop (in-process, %s threads)" % (st or "all")
    single = "lsm_vec search_knn"
    lists = "lsm_vec search_knn_batch"
    npy = "lsm_vec search_knn_batch(numpy=True)"
    raw = "lsm_vec search_knn_batch(raw=True)"
    hn = "hnswlib knn_query (per query)"
    runs = [(go1, go_loop(1)), (single, py_single), (lists, py_batch()), (raw, py_batch(raw=True))]
    if np is not None:
        runs.append((npy, py_batch(numpy=True)))
    if gon != go1:
        runs.append((gon, go_loop(st)))
    if hidx is not None:
        runs.append((hn, hnsw_single))
    res = {name: [] for name, _ in runs}
    nw = max(1, nq // 10)
    warm_rows = rows[:nw]
    warm_q = qarr[:nw] if np is not None else memoryview(qs[:nw * dim]).cast("B").cast("f", (nw, dim))
    rng = random.Random(args.seed)
    print("\nround order: shuffled with seed %d; each timed run follows an untimed run of the same form on %d "
          "queries (its own caches warm)" % (args.seed, nw))
    for _ in range(args.rounds):
        order = runs[:]
        rng.shuffle(order)
        for name, fn in order:
            fn(warm_q, warm_rows)
            res[name].append(nq / fn(qarr, rows))
    med = {name: statistics.median(v) for name, v in res.items()}
    print("\nQPS (%s clock), median of %d interleaved rounds of %d queries (k=10); search_knn and hnswlib one query "
          "at a time, single-thread; search_knn_batch and its Go reference on %s thread(s):" % (
              args.clock, args.rounds, nq, st or "all"))
    for name, v in res.items():
        print("  %-40s %9.0f   (rounds: %s)" % (name, med[name], ", ".join("%.0f" % x for x in v)))

    def ratio(a, b):
        """a/b in %: the median of the per-round ratios (the two runs of a
        round are seconds apart, so the machine's load drifts out), and the
        ratio of the medians."""
        per = statistics.median(x / y for x, y in zip(res[a], res[b]))
        return "%.1f%% (ratio of medians %.1f%%)" % (100 * per, 100 * med[a] / med[b])

    batch_target = "target >= 95%: " if st == 1 else "the target is for 1 thread; "
    print("\nlsm_vec single / Go:  %s  (target >= 80%%)" % ratio(single, go1))
    print("lsm_vec batch  / Go:  %s  (%sthe default form, lists of SearchResult)" % (ratio(lists, gon), batch_target))
    if np is not None:
        print("lsm_vec batch numpy=True / Go:  %s  ((ids, distances) arrays, no Python object per result)" % ratio(npy, gon))
    print("lsm_vec batch raw=True / Go:  %s  (the C call alone: flat arrays)" % ratio(raw, gon))
    if hidx is not None:
        print("lsm_vec single / hnswlib per query: %s  (target >= 100%%)" % ratio(single, hn))


if __name__ == "__main__":
    main()
