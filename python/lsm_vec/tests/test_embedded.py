"""Tests of lsm_vec, the embedded engine: a real offline
`pip install --no-build-isolation --target TMP .` of the repository root
(which runs `go build -buildmode=c-shared`), then every method against the
installed package, and a data directory shared with the server binary.

Run from the repository root:
    python3 -m unittest discover -s python/lsm_vec/tests -v

The install uses the first Python here with pip, setuptools >= 61 and
wheel (setuptools < 70.1 builds wheels only with the wheel package; on
this machine that is Debian's /usr/bin/python3). The package itself is
pure Python over ctypes, so the Python running the tests imports it from
TMP whatever version built it. Randomness is seeded (the seed is printed).
"""

import gc
import importlib
import json
import math
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request
from array import array

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SEED = int(os.environ.get("LSM_VEC_TEST_SEED", "20261122"))

_PROBE = (
    "import importlib.util as u, setuptools\n"
    "v = tuple(int(x) for x in setuptools.__version__.split('.')[:2])\n"
    "ok = u.find_spec('pip') is not None and v >= (61, 0) and (v >= (70, 1) or u.find_spec('wheel') is not None)\n"
    "raise SystemExit(0 if ok else 1)\n"
)

lsm_vec = None
TMP = None
SERVER_BIN = None
SERVER_BUILD_ERR = None


def find_go():
    for cand in (os.environ.get("GO"), shutil.which("go"), "/usr/local/go/bin/go"):
        if cand and os.path.isfile(cand):
            return cand
    return None


def builder_python():
    for py in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
        if py and os.path.exists(py) and subprocess.run([py, "-c", _PROBE], capture_output=True).returncode == 0:
            return py
    return None


def setUpModule():
    global lsm_vec, TMP, SERVER_BIN, SERVER_BUILD_ERR
    print("lsm_vec tests: seed %d (LSM_VEC_TEST_SEED)" % SEED, file=sys.stderr)
    go = find_go()
    if go is None:
        raise unittest.SkipTest("Go is not installed: lsm_vec cannot be built")
    py = builder_python()
    if py is None:
        raise unittest.SkipTest("no Python here has pip, setuptools >= 61 and wheel: cannot build lsm_vec offline")
    TMP = tempfile.mkdtemp(prefix="lsm_vec-test-")
    target = os.path.join(TMP, "site")
    SERVER_BIN = os.path.join(TMP, "lsmvec")
    # The server build runs while pip builds the library (both use Go's cache).
    server = subprocess.Popen([go, "build", "-o", SERVER_BIN, "./cmd/lsmvec"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    t0 = time.time()
    p = subprocess.run([py, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "--no-index", "-q",
                        "--target", target, ROOT], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1"))
    out, _ = server.communicate()
    if p.returncode != 0:
        raise RuntimeError("pip install failed (%s):\n%s%s" % (py, p.stdout, p.stderr))
    if server.returncode != 0:
        SERVER_BUILD_ERR = out.decode(errors="replace")
    print("lsm_vec tests: pip install + server build took %.1f s" % (time.time() - t0), file=sys.stderr)
    so = os.path.join(target, "lsm_vec", "_lsmvec.so")
    if not os.path.exists(so):
        raise RuntimeError("pip install did not put _lsmvec.so into the package: %s" % os.listdir(target))
    for m in [m for m in sys.modules if m == "lsm_vec" or m.startswith("lsm_vec.")]:
        del sys.modules[m]
    sys.path.insert(0, target)
    lsm_vec = importlib.import_module("lsm_vec")
    assert lsm_vec.__file__.startswith(target), lsm_vec.__file__


def tearDownModule():
    if TMP:
        shutil.rmtree(TMP, ignore_errors=True)


def l2(a, b):
    return math.sqrt(sum((x - y) * (x - y) for x, y in zip(a, b)))


def f32(v):
    return array("f", v).tolist()


class EmbeddedTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="db-", dir=TMP)
        self.rng = random.Random(SEED)

    def vecs(self, n, dim):
        return [f32([self.rng.uniform(-1, 1) for _ in range(dim)]) for _ in range(n)]

    def open(self, **kw):
        kw.setdefault("dim", 8)
        return lsm_vec.LSMVecDB.open(self.dir, lsm_vec.LSMVecDBOptions(**kw))

    def test_crud_and_payloads(self):
        vs = self.vecs(50, 8)
        with self.open() as db:
            for i, v in enumerate(vs):
                db.insert(i, v, metadata={"i": i, "even": i % 2 == 0} if i < 40 else None)
            self.assertEqual(db.get(7), vs[7])
            self.assertEqual(db.get_payload(7), {"i": 7, "even": False})
            self.assertEqual(db.get_payload(45), {})
            # update replaces the vector, keeps the payload
            db.update(7, vs[8])
            self.assertEqual(db.get(7), vs[8])
            self.assertEqual(db.get_payload(7), {"i": 7, "even": False})
            with self.assertRaises(lsm_vec.NotFound):
                db.update(1000, vs[0])
            # insert with metadata=None keeps the payload; with metadata replaces it
            db.insert(7, vs[7])
            self.assertEqual(db.get_payload(7)["i"], 7)
            db.insert(7, vs[7], metadata='{"j": 1}')
            self.assertEqual(db.get_payload(7), {"j": 1})
            db.set_payload(7, {"a": {"b": 1, "c": 2}, "tags": ["x"]})
            self.assertEqual(db.update_payload(7, {"a": {"b": None, "d": 3}, "tags": None, "n": 1}),
                             {"a": {"c": 2, "d": 3}, "n": 1})
            self.assertEqual(db.get_payload(7), {"a": {"c": 2, "d": 3}, "n": 1})
            db.delete(7)
            with self.assertRaises(lsm_vec.NotFound):
                db.get(7)
            with self.assertRaises(lsm_vec.NotFound):
                db.get_payload(7)
            with self.assertRaises(lsm_vec.NotFound):
                db.delete(7)
            with self.assertRaises(lsm_vec.NotFound):
                db.set_payload(7, {})
            self.assertNotIn(7, db)
            self.assertIn(8, db)
            st = db.stats()
            self.assertEqual(st["vectors"], 49)
            self.assertEqual(st["collection"], "default")
            self.assertEqual(st["metric"], "l2")
            self.assertEqual((st["m"], st["m0"], st["ef_construction"], st["ef_search"]), (16, 32, 200, 64))
            self.assertTrue(st["exists"])
            self.assertGreaterEqual(st["total_deletes_ever"], 1)

    def test_search_matches_brute_force(self):
        vs = self.vecs(300, 8)
        with self.open(ef_search=300) as db:
            for i, v in enumerate(vs):
                db.insert(i, v, metadata={"g": i % 3})
            for q in self.vecs(10, 8):
                want = sorted(range(len(vs)), key=lambda i: (l2(q, vs[i]), i))[:5]
                got = db.search_knn(q, 5)
                self.assertEqual([r.id for r in got], want)
                for r in got:
                    self.assertAlmostEqual(r.distance, l2(q, vs[r.id]), places=4)
                self.assertEqual(db.search(q, k=5), [{"id": r.id, "distance": r.distance} for r in got])
                # the filter language of /v1
                fw = [i for i in sorted(range(len(vs)), key=lambda i: (l2(q, vs[i]), i)) if i % 3 == 1][:4]
                self.assertEqual([h["id"] for h in db.search(q, 4, filter={"g": 1})], fw)
                fw2 = [i for i in sorted(range(len(vs)), key=lambda i: (l2(q, vs[i]), i)) if i % 3 != 1][:4]
                self.assertEqual([h["id"] for h in db.search(q, 4, filter={"g": {"$ne": 1}})], fw2)
                self.assertEqual([h["id"] for h in db.search(q, 4, filter='{"$or":[{"g":0},{"g":2}]}')], fw2)
                self.assertEqual(db.search(q, 3, filter={"g": 7}), [])
            with self.assertRaises(lsm_vec.InvalidArgument):
                db.search(vs[0], 3, filter={"g": {"$bogus": 1}})
            with self.assertRaises(lsm_vec.InvalidArgument):
                db.search(vs[0], 3, filter="{not json")

    def test_input_kinds_and_batch(self):
        vs = self.vecs(100, 8)
        with self.open(ef_search=128) as db:
            for i, v in enumerate(vs):
                # lists, tuples, array('f'), memoryviews and read-only buffers all pass
                kind = i % 4
                if kind == 0:
                    db.insert(i, v)
                elif kind == 1:
                    db.insert(i, tuple(v))
                elif kind == 2:
                    db.insert(i, array("f", v))
                else:
                    db.insert(i, memoryview(array("f", v).tobytes()).cast("f"))  # read-only
            self.assertEqual(db.get(3), vs[3])
            self.assertEqual(db.get(2), vs[2])
            qs = self.vecs(7, 8)
            single = [db.search_knn(q, 5) for q in qs]
            self.assertEqual([db.search_knn(array("f", q), 5) for q in qs], single)
            self.assertEqual([db.search_knn(array("d", q), 5) for q in qs], single)  # converted
            flat = array("f", [x for q in qs for x in q])
            self.assertEqual(db.search_knn_batch(qs, 5), single)
            self.assertEqual(db.search_knn_batch(flat, 5, dim=8), single)
            self.assertEqual(db.search_knn_batch(memoryview(flat).cast("B").cast("f", (7, 8)), 5), single)
            self.assertEqual(db.search_knn_batch(qs, 5, threads=0), single)
            ids, dists, counts = db.search_knn_batch(flat, 5, dim=8, raw=True)
            self.assertEqual(list(counts), [5] * 7)
            self.assertEqual(list(ids[5:10]), [r.id for r in single[1]])
            with self.assertRaises(lsm_vec.InvalidArgument):
                db.search_knn_batch(flat, 5)  # flat without dim
            with self.assertRaises(lsm_vec.InvalidArgument):
                db.search_knn_batch(flat[:-1], 5, dim=8)
            with self.assertRaises(lsm_vec.DimensionMismatch):
                db.search_knn_batch(flat, 5, dim=7 * 8)
            try:
                import numpy as np
            except ImportError:
                return
            a = np.asarray(qs, dtype=np.float32)
            self.assertEqual([db.search_knn(row, 5) for row in a], single)
            self.assertEqual(db.search_knn_batch(a, 5), single)
            self.assertEqual(db.search_knn_batch(a.astype(np.float64), 5), single)
            self.assertEqual(db.search_knn_batch(np.asfortranarray(a), 5), single)

    def test_batch_output_forms(self):
        vs = self.vecs(60, 8)
        big = (1 << 64) - 2  # ids above 2^63 survive every form
        with self.open(ef_search=128) as db:
            for i, v in enumerate(vs):
                db.insert(big if i == 59 else i, v, metadata={"g": i % 3, "rare": i in (4, 59)})
            qs = self.vecs(9, 8) + [vs[59]]
            k = 5
            single = [db.search_knn(q, k) for q in qs]
            got = db.search_knn_batch(qs, k)
            self.assertIsInstance(got, list)
            self.assertEqual(got, single)
            self.assertEqual(got[-1][0].id, big)
            for row in got:
                self.assertIsInstance(row, list)
                self.assertEqual(len(row), k)
                for r in row:
                    self.assertIs(type(r), lsm_vec.SearchResult)
                    self.assertIsInstance(r.id, int)
                    self.assertIsInstance(r.distance, float)
            # the list form pauses the cyclic GC while it builds, and leaves its state as it found it
            self.assertTrue(gc.isenabled())
            gc.disable()
            try:
                self.assertEqual(db.search_knn_batch(qs, k), single)
                self.assertFalse(gc.isenabled())
            finally:
                gc.enable()
            self.assertEqual(db.search_knn_batch(qs, k), single)
            self.assertTrue(gc.isenabled())
            # filtered, and rows shorter than k: only ids 4 and big match "rare"
            rare = db.search_knn_batch(qs, k, filter={"rare": True})
            self.assertEqual([[r.id for r in row] for row in rare],
                             [[h["id"] for h in db.search(q, k, filter={"rare": True})] for q in qs])
            self.assertEqual({len(row) for row in rare}, {2})
            self.assertEqual(db.search_knn_batch(qs, k, filter={"g": 1}, threads=0),
                             [[lsm_vec.SearchResult(h["id"], h["distance"]) for h in db.search(q, k, filter={"g": 1})]
                              for q in qs])
            ids, dists, counts = db.search_knn_batch(qs, k, filter={"rare": True}, raw=True)
            self.assertEqual(list(counts), [2] * len(qs))
            self.assertEqual(list(ids[k * 9:k * 9 + 2]), [big, 4])
            with self.assertRaises(lsm_vec.InvalidArgument):
                db.search_knn_batch(qs, k, raw=True, numpy=True)
            # the Go reference loop of the benchmark, on 1, 2 and all threads
            for threads in (1, 2, 0):
                self.assertEqual(db._go_search_loop(qs, k, rounds=3, threads=threads), 3 * k * len(qs))
            with self.assertRaises(lsm_vec.InvalidArgument):
                db._go_search_loop(qs, k, threads=-1)
            # numpy=True without numpy: a clear ImportError, whether or not numpy is installed
            saved_mod, saved_np = lsm_vec._db._np_mod, sys.modules.get("numpy")
            lsm_vec._db._np_mod, sys.modules["numpy"] = None, None
            try:
                with self.assertRaisesRegex(ImportError, "numpy=True needs numpy"):
                    db.search_knn_batch(qs, k, numpy=True)
            finally:
                lsm_vec._db._np_mod = saved_mod
                if saved_np is None:
                    del sys.modules["numpy"]
                else:
                    sys.modules["numpy"] = saved_np
            try:
                import numpy as np
            except ImportError:
                return
            a = np.asarray(qs, dtype=np.float32)
            for threads in (1, 0):
                ids, dists = db.search_knn_batch(a, k, numpy=True, threads=threads)
                self.assertEqual((ids.dtype, ids.shape), (np.dtype(np.uint64), (len(qs), k)))
                self.assertEqual((dists.dtype, dists.shape), (np.dtype(np.float32), (len(qs), k)))
                self.assertTrue(ids.flags.c_contiguous and ids.flags.writeable and dists.flags.c_contiguous)
                self.assertEqual(ids.tolist(), [[r.id for r in row] for row in single])
                self.assertEqual(dists.tolist(), [[r.distance for r in row] for row in single])
            ids, dists = db.search_knn_batch(qs, k, numpy=True)  # list input, numpy output
            self.assertEqual(ids.tolist(), [[r.id for r in row] for row in single])
            # short rows are padded with NO_ID and inf
            ids, dists = db.search_knn_batch(a, k, numpy=True, filter={"rare": True})
            self.assertEqual(lsm_vec.NO_ID, (1 << 64) - 1)
            for q, row in enumerate(rare):
                self.assertEqual(ids[q, :2].tolist(), [r.id for r in row])
                self.assertEqual(dists[q, :2].tolist(), [r.distance for r in row])
                self.assertEqual(ids[q, 2:].tolist(), [lsm_vec.NO_ID] * (k - 2))
                self.assertTrue(np.isinf(dists[q, 2:]).all())
            # a read-only array is read in place (not copied) and gives the same results
            ro = np.array(a)
            ro.setflags(write=False)
            addr, n, keep = lsm_vec._db._floats(ro)
            self.assertEqual((addr, n), (ro.__array_interface__["data"][0], ro.size))
            self.assertIs(keep, ro)
            self.assertEqual(db.search_knn_batch(ro, k), single)
            self.assertEqual([db.search_knn(row, k) for row in ro], single)

    def test_errors(self):
        with self.open() as db:
            db.insert(1, [0.5] * 8)
            for bad, exc in [
                (lambda: db.insert(2, [0.5] * 7), lsm_vec.DimensionMismatch),
                (lambda: db.insert(-1, [0.5] * 8), lsm_vec.InvalidArgument),
                (lambda: db.insert(1 << 64, [0.5] * 8), lsm_vec.InvalidArgument),
                (lambda: db.insert("x", [0.5] * 8), lsm_vec.InvalidArgument),
                (lambda: db.insert(2, ["a"] * 8), lsm_vec.InvalidArgument),
                (lambda: db.insert(2, "abcdefgh"), lsm_vec.InvalidArgument),
                (lambda: db.insert(2, [float("nan")] * 8), lsm_vec.InvalidArgument),
                (lambda: db.insert(2, [0.5] * 8, metadata=[1, 2]), lsm_vec.InvalidArgument),
                (lambda: db.insert(2, [0.5] * 8, metadata={"x": float("nan")}), lsm_vec.InvalidArgument),
                (lambda: db.set_payload(1, {"big": "x" * (70 << 10)}), lsm_vec.TooLarge),
                (lambda: db.search_knn([0.5] * 8, 0), lsm_vec.InvalidArgument),
                (lambda: db.search_knn([0.5] * 8, 10001), lsm_vec.InvalidArgument),
                (lambda: db.search_knn([0.5] * 8, 3, ef_search=0), lsm_vec.InvalidArgument),
                (lambda: db.search_knn([0.5] * 3, 3), lsm_vec.DimensionMismatch),
                (lambda: db.search_knn(None, 3), lsm_vec.InvalidArgument),
                (lambda: db.get(99), lsm_vec.NotFound),
                (lambda: db.bulk_build([[0.5] * 8]), lsm_vec.Conflict),
            ]:
                with self.assertRaises(exc):
                    bad()
            with self.assertRaises(lsm_vec.InternalError) as cm:
                lsm_vec._db._debug_panic()  # a Go panic becomes an exception, the process lives on
            self.assertIn("recovered Go panic", str(cm.exception))
            self.assertEqual(db.get(1), [0.5] * 8)
        self.assertTrue(db.closed)
        with self.assertRaises(lsm_vec.Closed):
            db.search_knn([0.5] * 8, 1)
        with self.assertRaises(lsm_vec.Closed):
            db.insert(3, [0.5] * 8)
        db.close()  # idempotent
        with self.assertRaises(lsm_vec.InvalidArgument):
            lsm_vec.LSMVecDBOptions(metric="hamming")
        with self.assertRaises(lsm_vec.InvalidArgument):
            lsm_vec.LSMVecDBOptions(m=1)
        with self.assertRaises(lsm_vec.DimensionMismatch):
            self.open(dim=9)  # the directory's collection has dim 8
        with self.assertRaises(lsm_vec.InvalidArgument):
            lsm_vec.LSMVecDB.open("", lsm_vec.LSMVecDBOptions())

    def test_persistence_and_bulk(self):
        vs = self.vecs(200, 8)
        payloads = [{"i": i} if i % 5 == 0 else None for i in range(200)]
        db = self.open(metric=lsm_vec.DistanceMetric.L2, m=8, m_max=16, ef_construction=64)
        self.assertEqual(db.bulk_build(vs, threads=2, payloads=payloads), {"n": 200, "payloads": 40})
        db.insert(500, vs[0], metadata={"late": True})
        before = db.search_knn(vs[3], 10)
        db.close()
        # reopen with default options: the stored settings win, dim comes from the directory
        with lsm_vec.LSMVecDB.open(self.dir, lsm_vec.LSMVecDBOptions()) as db:
            self.assertEqual(db.dim, 8)
            self.assertEqual(db.get(199), vs[199])
            self.assertEqual(db.get_payload(10), {"i": 10})
            self.assertEqual(db.get_payload(11), {})
            self.assertEqual(db.get_payload(500), {"late": True})
            self.assertEqual(db.search_knn(vs[3], 10), before)
            st = db.stats()
            self.assertEqual((st["vectors"], st["m"], st["m0"], st["ef_construction"]), (201, 8, 16, 64))

    def test_cosine_and_ip(self):
        vs = self.vecs(60, 8)
        q = self.vecs(1, 8)[0]
        for metric, name in [(lsm_vec.DistanceMetric.Cosine, "cosine"), ("ip", "ip")]:
            d = tempfile.mkdtemp(prefix="db-", dir=TMP)
            with lsm_vec.LSMVecDB.open(d, lsm_vec.LSMVecDBOptions(metric=metric, ef_search=100)) as db:
                self.assertEqual(db.dim, 0)
                self.assertEqual(db.search_knn(q, 3), [])  # no collection yet
                for i, v in enumerate(vs):
                    db.insert(i, v)
                self.assertEqual(db.dim, 8)
                self.assertEqual(db.stats()["metric"], name)
                top = db.search_knn(q, 1)[0]
                dot = sum(a * b for a, b in zip(q, vs[top.id]))
                if name == "cosine":
                    nq = math.sqrt(sum(a * a for a in q))
                    nv = math.sqrt(sum(a * a for a in vs[top.id]))
                    self.assertAlmostEqual(top.distance, 1 - dot / (nq * nv), places=4)
                else:
                    self.assertAlmostEqual(top.distance, 1 - dot, places=4)

    def test_threads_share_a_db(self):
        import threading
        vs = self.vecs(100, 8)
        with self.open(ef_search=128) as db:
            for i, v in enumerate(vs):
                db.insert(i, v)
            want = [db.search_knn(v, 3) for v in vs[:20]]
            errs = []

            def work():
                try:
                    for _ in range(5):
                        if [db.search_knn(v, 3) for v in vs[:20]] != want:
                            errs.append("different results")
                except Exception as e:  # noqa: BLE001 (reported below)
                    errs.append(e)

            ts = [threading.Thread(target=work) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            self.assertEqual(errs, [])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerInteropTest(unittest.TestCase):
    """The server and lsm_vec read each other's data directories."""

    def start(self, data):
        if SERVER_BUILD_ERR:
            self.fail("go build ./cmd/lsmvec failed:\n" + SERVER_BUILD_ERR)
        port, gport = free_port(), free_port()
        log = open(os.path.join(TMP, "server-%d.log" % port), "w")
        p = subprocess.Popen([SERVER_BIN, "-http", "127.0.0.1:%d" % port, "-grpc", "127.0.0.1:%d" % gport,
                              "-data", data], stdout=log, stderr=subprocess.STDOUT)
        self.addCleanup(log.close)
        base = "http://127.0.0.1:%d" % port
        deadline = time.time() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/ready", timeout=2) as r:
                    if r.status == 200:
                        return p, base
            except OSError:
                pass
            if p.poll() is not None or time.time() > deadline:
                p.kill()
                self.fail("server did not become ready; log in " + log.name)
            time.sleep(0.1)

    def stop(self, p):
        p.send_signal(signal.SIGTERM)
        self.assertEqual(p.wait(timeout=60), 0)

    def req(self, method, url, body=None):
        data = None if body is None else json.dumps(body).encode()
        r = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(r, timeout=30) as resp:
            raw = resp.read()
            return json.loads(raw) if raw else None

    def test_server_writes_lsm_vec_reads_and_back(self):
        data = tempfile.mkdtemp(prefix="srv-", dir=TMP)
        rng = random.Random(SEED)
        vs = [f32([rng.uniform(-1, 1) for _ in range(6)]) for _ in range(30)]
        p, base = self.start(data)
        try:
            for i, v in enumerate(vs):
                self.req("POST", base + "/v1/vectors", {"id": i, "vector": v, "metadata": {"i": i}})
            srv_hits = self.req("POST", base + "/v1/search", {"vector": vs[4], "k": 5, "ef_search": 64})
        finally:
            self.stop(p)
        with lsm_vec.LSMVecDB.open(data) as db:
            self.assertEqual(db.dim, 6)
            for i, v in enumerate(vs):
                self.assertEqual(db.get(i), v)
                self.assertEqual(db.get_payload(i), {"i": i})
            hits = srv_hits.get("results", srv_hits) if isinstance(srv_hits, dict) else srv_hits
            got = db.search(vs[4], k=5, ef_search=64)
            self.assertEqual([h["id"] for h in got], [h["id"] for h in hits])
            db.insert(100, vs[0], metadata={"from": "python"})
            db.delete(3)
        p, base = self.start(data)
        try:
            self.assertEqual(f32(self.req("GET", base + "/v1/vectors/100")["vector"]), vs[0])  # JSON: shortest float32 text
            self.assertEqual(self.req("GET", base + "/v1/vectors/100/payload"), {"from": "python"})
            with self.assertRaises(urllib.error.HTTPError) as cm:
                self.req("GET", base + "/v1/vectors/3")
            self.assertEqual(cm.exception.code, 404)
        finally:
            self.stop(p)


if __name__ == "__main__":
    unittest.main()
