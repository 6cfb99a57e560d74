"""Integration tests: every Client method and every exception type against a
real lsmvec server built from this repository (see support.py)."""

from __future__ import annotations

import array
import math
import random
import threading
import time
import unittest

import support
from support import RO_KEY, RW_KEY, Server

import lsmvec_client
from lsmvec_client import (
    Client,
    Conflict,
    Forbidden,
    InvalidArgument,
    LSMVecConnectionError,
    LSMVecError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    SearchResult,
    ServerError,
    Unauthorized,
)

SEED = 20261122
DIM = 8


def f32(v):
    """The float32 values the server stores for v, as Python floats."""
    return array.array("f", v).tolist()


def l2(a, b):
    return math.sqrt(sum((x - y) ** 2 for x, y in zip(f32(a), f32(b))))


class V1Test(unittest.TestCase):
    """One server (read-write and read-only keys, LSMVEC_DIM=8, a 256 KiB
    body limit) shared by the tests of this class; each test uses its own
    id range."""

    server: Server
    c: Client

    @classmethod
    def setUpClass(cls) -> None:
        cls.server = Server({"LSMVEC_DIM": str(DIM), "LSMVEC_MAX_BODY": str(256 << 10)}).start()
        cls.c = Client(cls.server.url, api_key=RW_KEY, timeout=10)
        cls.rng = random.Random(SEED)
        print(f"seed {SEED}")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.c.close()
        cls.server.stop()

    def vec(self):
        return [self.rng.uniform(-1, 1) for _ in range(DIM)]

    # ----- health, ready, stats -----

    def test_health_needs_no_key(self):
        with Client(self.server.url) as anon:
            self.assertEqual(anon.health(), {"status": "ok"})

    def test_ready(self):
        self.assertIs(self.c.ready(), True)
        with Client(self.server.url, api_key=RO_KEY) as ro:
            self.assertIs(ro.ready(), True)

    def test_stats_counts_inserts_and_deletes(self):
        before = self.c.stats()
        for key in ("vectors", "dim", "metric", "tombstones", "tombstone_ratio", "total_inserts_ever", "memory_bytes"):
            self.assertIn(key, before)
        self.assertTrue(any(k.startswith("bloom_") for k in before), before)
        self.c.insert(9000, self.vec())
        self.c.insert(9001, self.vec())
        mid = self.c.stats()
        self.assertEqual(mid["vectors"], before["vectors"] + 2)
        self.assertEqual(mid["total_inserts_ever"], before["total_inserts_ever"] + 2)
        self.assertEqual(mid["dim"], DIM)
        self.assertEqual(mid["metric"], "l2")
        self.c.delete(9000)
        after = self.c.stats()
        self.assertEqual(after["vectors"], before["vectors"] + 1)

    # ----- vectors -----

    def test_insert_get_roundtrip(self):
        v = self.vec()
        self.assertEqual(self.c.insert(1, v, metadata={"color": "red"}), 1)
        got = self.c.get(1)
        self.assertEqual(got, {"id": 1, "vector": f32(v)})
        self.assertEqual(self.c.get_payload(1), {"color": "red"})
        # ids as decimal strings, array.array vectors, u64 range
        big = (1 << 64) - 1
        w = array.array("f", self.vec())
        self.assertEqual(self.c.insert(str(big), w), big)
        self.assertEqual(self.c.get(big)["id"], big)
        self.assertEqual(self.c.get(str(big))["vector"], w.tolist())

    def test_insert_metadata_absent_keeps_present_replaces(self):
        self.c.insert(10, self.vec(), metadata={"a": 1, "b": 2})
        v = self.vec()
        self.c.insert(10, v)
        self.assertEqual(self.c.get_payload(10), {"a": 1, "b": 2})
        self.assertEqual(self.c.get(10)["vector"], f32(v))
        self.c.insert(10, v, metadata={"c": 3})
        self.assertEqual(self.c.get_payload(10), {"c": 3})

    def test_upsert(self):
        self.assertEqual(self.c.upsert(20, self.vec()), 20)  # creates
        self.assertEqual(self.c.get_payload(20), {})
        self.c.set_payload(20, {"k": "v"})
        v = self.vec()
        self.assertEqual(self.c.upsert("20", v), 20)  # replaces, payload untouched
        self.assertEqual(self.c.get(20)["vector"], f32(v))
        self.assertEqual(self.c.get_payload(20), {"k": "v"})

    def test_delete(self):
        self.c.insert(30, self.vec(), metadata={"x": 1})
        self.assertIsNone(self.c.delete(30))
        with self.assertRaises(NotFound) as cm:
            self.c.get(30)
        e = cm.exception
        self.assertEqual(e.status, 404)
        self.assertEqual(e.code, "not_found")
        self.assertIsInstance(e.details, dict)
        self.assertEqual(e.details.get("code"), "not_found")
        self.assertIn("error", e.details)
        self.assertIsNone(self.c.delete(30))  # absent: still fine
        with self.assertRaises(NotFound):
            self.c.get_payload(30)

    # ----- payloads -----

    def test_payloads(self):
        self.c.insert(40, self.vec())
        self.assertEqual(self.c.get_payload(40), {})
        self.c.set_payload(40, {"a": {"b": 1, "c": 2}, "tags": ["x"], "n": 5})
        self.assertEqual(self.c.get_payload(40), {"a": {"b": 1, "c": 2}, "tags": ["x"], "n": 5})
        self.c.merge_payload(40, {"a": {"c": None, "d": 4}, "n": None, "new": True})
        self.assertEqual(self.c.get_payload(40), {"a": {"b": 1, "d": 4}, "tags": ["x"], "new": True})
        self.c.set_payload(40, {"only": "this"})
        self.assertEqual(self.c.get_payload(40), {"only": "this"})
        for call in (
            lambda: self.c.get_payload(41),
            lambda: self.c.set_payload(41, {"a": 1}),
            lambda: self.c.merge_payload(41, {"a": 1}),
        ):
            with self.assertRaises(NotFound):
                call()

    def test_payload_too_large(self):
        self.c.insert(45, self.vec())
        with self.assertRaises(PayloadTooLarge) as cm:
            self.c.set_payload(45, {"blob": "x" * (70 << 10)})
        self.assertEqual(cm.exception.status, 413)
        self.assertEqual(self.c.get_payload(45), {})

    # ----- search -----

    def test_search_order_and_distances(self):
        base = 1000
        vecs = {base + i: self.vec() for i in range(40)}
        self.c.insert_batch([(i, v) for i, v in vecs.items()])
        q = vecs[base + 7]
        hits = self.c.search(q, k=5, ef_search=200)
        self.assertEqual(len(hits), 5)
        self.assertIsInstance(hits[0], SearchResult)
        self.assertEqual(hits[0].id, base + 7)
        self.assertAlmostEqual(hits[0].distance, 0.0, places=5)
        dists = [h.distance for h in hits]
        self.assertEqual(dists, sorted(dists))
        for h in hits:
            if h.id in vecs:
                self.assertAlmostEqual(h.distance, l2(q, vecs[h.id]), places=4)
        self.assertEqual(len(self.c.search(q, k=1)), 1)

    def test_search_filter(self):
        base = 2000
        colors = ["red", "green", "blue"]
        items = [
            {"id": base + i, "vector": self.vec(), "metadata": {"color": colors[i % 3], "n": i, "grp": "filt"}}
            for i in range(30)
        ]
        for it in items:
            self.c.insert(it["id"], it["vector"], metadata=it["metadata"])
        q = self.vec()
        hits = self.c.search(q, k=100, filter={"grp": "filt", "color": "red", "n": {"$gte": 10}})
        want = {it["id"] for it in items if it["metadata"]["color"] == "red" and it["metadata"]["n"] >= 10}
        self.assertEqual({h.id for h in hits}, want)
        hits = self.c.search(q, k=3, filter={"grp": "filt", "color": {"$in": ["green", "blue"]}})
        self.assertEqual(len(hits), 3)
        for h in hits:
            self.assertNotEqual(self.c.get_payload(h.id)["color"], "red")
        with self.assertRaises(InvalidArgument) as cm:
            self.c.search(q, filter={"n": {"$bogus": 1}})
        self.assertEqual(cm.exception.status, 400)
        self.assertEqual(cm.exception.code, "bad_filter")

    # ----- batch -----

    def test_insert_batch_without_metadata(self):
        base = 3200
        v = [self.vec() for _ in range(3)]
        self.c.insert(base, self.vec(), metadata={"kept": True})
        ids = self.c.insert_batch([{"id": base, "vector": v[0]}, (base + 1, v[1]), (str(base + 2), array.array("f", v[2]))])
        self.assertEqual(ids, [base, base + 1, base + 2])
        for i in range(3):
            self.assertEqual(self.c.get(base + i)["vector"], f32(v[i]))
        self.assertEqual(self.c.get_payload(base), {"kept": True})  # no metadata: payload kept

    def test_insert_batch_with_metadata(self):
        base = 3000
        v = [self.vec() for _ in range(3)]
        ids = self.c.insert_batch(
            [
                {"id": base, "vector": v[0], "metadata": {"i": 0}},
                (base + 1, v[1]),
                (str(base + 2), array.array("f", v[2]), {"i": 2}),
            ]
        )
        self.assertEqual(ids, [base, base + 1, base + 2])
        for i in range(3):
            self.assertEqual(self.c.get(base + i)["vector"], f32(v[i]))
        self.assertEqual(self.c.get_payload(base), {"i": 0})
        self.assertEqual(self.c.get_payload(base + 1), {})
        self.assertEqual(self.c.get_payload(base + 2), {"i": 2})

    def test_insert_batch_is_all_or_nothing(self):
        base = 3100
        with self.assertRaises(InvalidArgument) as cm:
            self.c.insert_batch([(base, self.vec()), (base + 1, self.vec()[:3])])
        self.assertEqual(cm.exception.status, 400)
        with self.assertRaises(NotFound):
            self.c.get(base)

    # ----- errors -----

    def test_400_wrong_dimension(self):
        with self.assertRaises(InvalidArgument) as cm:
            self.c.insert(50, [1.0, 2.0, 3.0])
        e = cm.exception
        self.assertEqual((e.status, e.code), (400, "dim_mismatch"))
        self.assertIsInstance(e, ValueError)
        with self.assertRaises(InvalidArgument):
            self.c.search([1.0, 2.0])
        with self.assertRaises(NotFound):
            self.c.get(50)

    def test_invalid_arguments_rejected_before_sending(self):
        bad_ids = [-1, 1 << 64, "abc", "-3", "1.5", 1.5, True, None, b"1"]
        for bad in bad_ids:
            with self.subTest(id=bad), self.assertRaises(InvalidArgument) as cm:
                self.c.get(bad)
            self.assertIsNone(cm.exception.status)
        for bad_vec in ([1.0, float("nan")] + [0.0] * (DIM - 2), [float("inf")] * DIM, "abcdefgh", None, {"a": 1}):
            with self.subTest(vector=bad_vec), self.assertRaises(InvalidArgument) as cm:
                self.c.insert(60, bad_vec)
            self.assertIsNone(cm.exception.status)
        for kw in ({"k": 0}, {"k": "3"}, {"ef_search": 0}, {"filter": "color=red"}):
            with self.subTest(kw=kw), self.assertRaises(InvalidArgument):
                self.c.search(self.vec(), **kw)
        with self.assertRaises(InvalidArgument):
            self.c.set_payload(1, ["not", "an", "object"])
        with self.assertRaises(InvalidArgument):
            self.c.insert_batch([(1,)])
        with self.assertRaises(InvalidArgument):
            Client("ftp://example.invalid")
        with self.assertRaises(NotFound):
            self.c.get(60)  # nothing was written

    def test_400_server_side_bad_vector(self):
        # Strings in a vector are encodable JSON; the server must refuse them.
        with self.assertRaises(InvalidArgument) as cm:
            self.c.insert(61, ["a"] * DIM)
        self.assertEqual(cm.exception.status, 400)

    def test_401_unauthorized(self):
        for key in ("wrong-key", None):
            with self.subTest(key=key), Client(self.server.url, api_key=key) as bad:
                with self.assertRaises(Unauthorized) as cm:
                    bad.search(self.vec())
                e = cm.exception
                self.assertEqual((e.status, e.code), (401, "unauthorized"))
                self.assertTrue(e.message)
                with self.assertRaises(Unauthorized):
                    bad.stats()
                with self.assertRaises(Unauthorized):
                    bad.ready()

    def test_403_read_only_key(self):
        self.c.insert(70, self.vec(), metadata={"m": 1})
        with Client(self.server.url, api_key=RO_KEY) as ro:
            self.assertEqual(ro.get(70)["id"], 70)
            self.assertEqual(ro.get_payload(70), {"m": 1})
            self.assertIsInstance(ro.search(self.vec(), k=1), list)
            self.assertIn("vectors", ro.stats())
            writes = [
                lambda: ro.insert(71, self.vec()),
                lambda: ro.upsert(70, self.vec()),
                lambda: ro.delete(70),
                lambda: ro.set_payload(70, {"m": 2}),
                lambda: ro.merge_payload(70, {"m": 2}),
                lambda: ro.insert_batch([(72, self.vec())]),
                lambda: ro.bulk_build([self.vec()]),
            ]
            for i, w in enumerate(writes):
                with self.subTest(write=i), self.assertRaises(Forbidden) as cm:
                    w()
                self.assertEqual((cm.exception.status, cm.exception.code), (403, "forbidden"))
        self.assertEqual(self.c.get_payload(70), {"m": 1})
        with self.assertRaises(NotFound):
            self.c.get(71)

    def test_409_bulk_on_non_empty(self):
        self.c.insert(80, self.vec())
        with self.assertRaises(Conflict) as cm:
            self.c.bulk_build([self.vec(), self.vec()])
        self.assertEqual((cm.exception.status, cm.exception.code), (409, "db_not_empty"))

    def test_413_body_over_limit(self):
        # LSMVEC_MAX_BODY is 256 KiB here; this batch is about 1 MiB of JSON.
        items = [(5000 + i, self.vec(), {"pad": "p" * 1000}) for i in range(1000)]
        with self.assertRaises(PayloadTooLarge) as cm:
            self.c.insert_batch(items)
        self.assertEqual(cm.exception.status, 413)
        self.assertEqual(cm.exception.code, "payload_too_large")
        with self.assertRaises(NotFound):
            self.c.get(5000)
        # The connection pool recovers: the next call works.
        self.assertEqual(self.c.health(), {"status": "ok"})

    def test_concurrent_use(self):
        base = 6000
        errors = []

        def work(t: int) -> None:
            try:
                rng = random.Random(SEED + t)
                for i in range(20):
                    vid = base + t * 100 + i
                    v = [rng.uniform(-1, 1) for _ in range(DIM)]
                    self.c.insert(vid, v, metadata={"t": t})
                    if self.c.get(vid)["vector"] != f32(v):
                        errors.append(f"thread {t}: wrong vector for {vid}")
                    self.c.search(v, k=3)
            except Exception as e:  # reported below
                errors.append(f"thread {t}: {e!r}")

        threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        self.assertEqual(errors, [])
        self.assertLessEqual(len(self.c._pool._idle), self.c._pool.maxsize)


class BulkBuildTest(unittest.TestCase):
    """bulk_build needs an empty collection: each test starts its own server
    (no LSMVEC_DIM: the build's X-LSMVec-Dim sets it)."""

    def setUp(self) -> None:
        self.server = Server().start()
        self.c = Client(self.server.url, api_key=RW_KEY, timeout=30)
        self.rng = random.Random(SEED)
        print(f"seed {SEED}")

    def tearDown(self) -> None:
        self.c.close()
        self.server.stop()

    def rows(self, n, d):
        return [[self.rng.uniform(-1, 1) for _ in range(d)] for _ in range(n)]

    def check_loaded(self, rows, payloads=None):
        st = self.c.stats()
        self.assertEqual(st["vectors"], len(rows))
        self.assertEqual(st["dim"], len(rows[0]))
        for i in (0, len(rows) // 2, len(rows) - 1):
            self.assertEqual(self.c.get(i), {"id": i, "vector": f32(rows[i])})
            self.assertEqual(self.c.get_payload(i), (payloads[i] or {}) if payloads else {})
        hits = self.c.search(rows[3], k=1, ef_search=100)
        self.assertEqual(hits[0].id, 3)

    def test_lists_with_payloads_then_conflict(self):
        rows = self.rows(300, 12)
        payloads = [{"i": i, "even": i % 2 == 0} if i % 3 else None for i in range(300)]
        rep = self.c.bulk_build(rows, threads=2, payloads=payloads)
        self.assertEqual(rep["n"], 300)
        self.assertEqual(rep["threads"], 2)
        for key in ("elapsed_ms", "vectors_per_sec"):
            self.assertIn(key, rep)
        self.check_loaded(rows, payloads)
        hits = self.c.search(rows[0], k=300, filter={"even": True})
        self.assertEqual({h.id for h in hits}, {i for i in range(300) if i % 3 and i % 2 == 0})
        with self.assertRaises(Conflict) as cm:
            self.c.bulk_build(rows)
        self.assertEqual(cm.exception.code, "db_not_empty")

    def test_flat_array_and_local_checks(self):
        rows = self.rows(100, 6)
        flat = array.array("f", [x for r in rows for x in r])
        with self.assertRaises(InvalidArgument):
            self.c.bulk_build(flat)  # no dim
        with self.assertRaises(InvalidArgument):
            self.c.bulk_build(flat, dim=7)  # 600 values do not split into rows of 7
        with self.assertRaises(InvalidArgument):
            self.c.bulk_build([[1.0, 2.0], [1.0]])  # ragged
        with self.assertRaises(InvalidArgument):
            self.c.bulk_build([])
        with self.assertRaises(InvalidArgument):
            self.c.bulk_build(rows, payloads=[{}])  # wrong count
        with self.assertRaises(InvalidArgument):
            self.c.bulk_build(rows, threads=-1)
        self.assertEqual(self.c.stats()["vectors"], 0)
        rep = self.c.bulk_build(flat, dim=6)
        self.assertEqual(rep["n"], 100)
        self.check_loaded(rows)

    def test_non_finite_refused_by_server(self):
        rows = self.rows(20, 4)
        rows[5][2] = float("nan")  # raw float32 bodies are checked by the server
        with self.assertRaises(InvalidArgument) as cm:
            self.c.bulk_build(rows)
        self.assertEqual(cm.exception.status, 400)
        self.assertEqual(self.c.stats()["vectors"], 0)
        rows[5][2] = 0.5
        self.assertEqual(self.c.bulk_build(rows)["n"], 20)

    def test_numpy(self):
        np = support.numpy_or_none()
        if np is None:
            self.skipTest("numpy is not installed: the numpy bulk_build path is not exercised")
        rng = np.random.default_rng(SEED)
        a64 = rng.standard_normal((64, 200))  # float64, and transposed below: not C-contiguous
        m = a64.T
        self.assertFalse(m.flags["C_CONTIGUOUS"])

        class NoList(np.ndarray):
            def tolist(self):  # the numpy path must not build Python lists
                raise AssertionError("tolist called")

            def __iter__(self):
                raise AssertionError("iterated")

        rep = self.c.bulk_build(m.view(NoList), threads=0)
        self.assertEqual(rep["n"], 200)
        rows = m.astype(np.float32).tolist()
        self.check_loaded(rows)


class RateLimitTest(unittest.TestCase):
    """A server with LSMVEC_RATE_LIMIT=1, LSMVEC_RATE_BURST=1."""

    def test_429_and_retry(self):
        with Server({"LSMVEC_RATE_LIMIT": "1", "LSMVEC_RATE_BURST": "1"}) as srv:
            with Client(srv.url, api_key=RW_KEY) as c:
                c.stats()
                with self.assertRaises(RateLimited) as cm:
                    c.stats()
                e = cm.exception
                self.assertEqual((e.status, e.code), (429, "rate_limited"))
                self.assertIsNotNone(e.retry_after)
                self.assertGreaterEqual(e.retry_after, 1)
                self.assertLessEqual(e.retry_after, 2)
                self.assertEqual(c.health(), {"status": "ok"})  # /health is not limited
                # Retry-After (1 s) above max_backoff: raised without waiting.
                with Client(srv.url, api_key=RW_KEY, retries=3, max_backoff=0.1) as impatient:
                    t0 = time.monotonic()
                    with self.assertRaises(RateLimited):
                        impatient.stats()
                    self.assertLess(time.monotonic() - t0, 0.5)
            with Client(srv.url, api_key=RW_KEY, retries=3, max_backoff=5) as patient:
                slept = []
                patient._sleep = lambda s: (slept.append(s), time.sleep(s))
                patient.stats()  # may or may not wait for the bucket
                patient.stats()  # the bucket is empty now: this one waits
                self.assertTrue(slept, "expected at least one retry")
                self.assertTrue(all(0 < s <= 5 for s in slept), slept)


class ConnectionErrorTest(unittest.TestCase):
    def test_closed_port(self):
        port = support.closed_port()
        with Client(f"http://127.0.0.1:{port}", api_key=RW_KEY, timeout=2) as c:
            for call in (c.health, c.stats, lambda: c.insert(1, [1.0])):
                with self.assertRaises(LSMVecConnectionError) as cm:
                    call()
                e = cm.exception
                self.assertIsNone(e.status)
                self.assertEqual(e.code, "connection")
                self.assertIsInstance(e, LSMVecError)
                self.assertIsInstance(e, ConnectionError)
                self.assertIsInstance(e.__cause__, ConnectionRefusedError)
                self.assertIn("refused", str(e))
            self.assertIs(lsmvec_client.ConnectionError_, LSMVecConnectionError)

    def test_server_error_is_5xx(self):
        self.assertTrue(issubclass(lsmvec_client.ServiceUnavailable, ServerError))


if __name__ == "__main__":
    unittest.main()
