"""Transport tests against a scripted in-process HTTP server on loopback:
the wire format of each call, retries of 429/503, Retry-After forms, error
bodies that are not JSON, stale keep-alive connections and timeouts. These
need no Go toolchain."""

from __future__ import annotations

import array
import json
import queue
import shutil
import socket
import ssl
import subprocess
import tempfile
import struct
import threading
import time
import unittest
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

import support  # noqa: F401  (puts ../src on sys.path)

from lsmvec_client import (
    Client,
    Conflict,
    InvalidArgument,
    LSMVecConnectionError,
    LSMVecError,
    LSMVecTimeout,
    MethodNotAllowed,
    RateLimited,
    ServerError,
    ServiceUnavailable,
)
from lsmvec_client.errors import error_for_status, parse_retry_after

# A scripted reply: (status, headers, body bytes, close the connection after).
Reply = Tuple[int, Dict[str, str], bytes, bool]


def reply(status: int = 200, body: Any = None, headers: Optional[Dict[str, str]] = None, close: bool = False) -> Reply:
    if body is None:
        raw = b""
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body).encode()
    h = {"Content-Type": "application/json"} if body is not None and not isinstance(body, bytes) else {}
    h.update(headers or {})
    return (status, h, raw, close)


class Recorded:
    def __init__(self, method: str, path: str, headers: Dict[str, str], body: bytes, conn: int) -> None:
        self.method, self.path, self.headers, self.body, self.conn = method, path, headers, body, conn

    def json(self) -> Any:
        return json.loads(self.body)


class FakeServer:
    """Answers each request with the next scripted reply (200 {} when the
    script is empty) and records the requests. Safe for concurrent
    requests."""

    def __init__(self, tls: Optional["ssl.SSLContext"] = None) -> None:
        self.script: "queue.Queue[Reply]" = queue.Queue()
        self.requests: List[Recorded] = []
        self.lock = threading.Lock()
        self.conns = 0
        self.delay = 0.0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle's
                # algorithm and the client's delayed ACK add 40 ms a reply.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with fake.lock:
                    fake.conns += 1
                    self.conn_no = fake.conns

            def log_message(self, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with fake.lock:
                    fake.requests.append(
                        Recorded(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, self.conn_no)
                    )
                if fake.delay:
                    time.sleep(fake.delay)
                try:
                    status, headers, raw, close = fake.script.get_nowait()
                except queue.Empty:
                    status, headers, raw, close = reply(200, {})
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except OSError:  # the client gave up (timeout tests)
                    self.close_connection = True
                    return
                if close:
                    self.close_connection = True  # without telling the client

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_one

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def push(self, *replies: Reply) -> None:
        for r in replies:
            self.script.put(r)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class TransportTest(unittest.TestCase):
    def setUp(self) -> None:
        self.fake = FakeServer()
        self.c = Client(self.fake.url, api_key="k1", timeout=5)
        self.slept: List[float] = []
        self.c._sleep = self.slept.append

    def tearDown(self) -> None:
        self.c.close()
        self.fake.stop()

    def last(self) -> Recorded:
        return self.fake.requests[-1]

    def test_wire_format(self):
        f = self.fake
        f.push(reply(201, {"id": 7}))
        self.assertEqual(self.c.insert(7, [1, 2.5], metadata={"a": "é"}), 7)
        r = self.last()
        self.assertEqual((r.method, r.path), ("POST", "/v1/vectors"))
        self.assertEqual(r.json(), {"id": 7, "vector": [1, 2.5], "metadata": {"a": "é"}})
        self.assertEqual(r.headers["authorization"], "Bearer k1")
        self.assertEqual(r.headers["content-type"], "application/json")
        self.assertTrue(r.headers["user-agent"].startswith("lsmvec-client/"))

        self.c.insert(8, array.array("f", [0.5]))
        self.assertEqual(self.last().json(), {"id": 8, "vector": [0.5]})  # no metadata key

        f.push(reply(200, {"id": 9}))
        self.c.upsert("9", (1.0,))
        self.assertEqual((self.last().method, self.last().path, self.last().json()), ("PUT", "/v1/vectors/9", {"vector": [1.0]}))

        f.push(reply(204))
        self.assertIsNone(self.c.delete(10))
        self.assertEqual((self.last().method, self.last().path, self.last().body), ("DELETE", "/v1/vectors/10", b""))

        f.push(reply(200, {"id": "18446744073709551615", "vector": [1.0]}))
        self.assertEqual(self.c.get(18446744073709551615), {"id": 18446744073709551615, "vector": [1.0]})
        self.assertEqual(self.last().path, "/v1/vectors/18446744073709551615")

        f.push(reply(200, {"a": 1}))
        self.assertEqual(self.c.get_payload(1), {"a": 1})
        self.assertEqual((self.last().method, self.last().path), ("GET", "/v1/vectors/1/payload"))
        self.c.set_payload(1, {"b": 2})
        self.assertEqual((self.last().method, self.last().json()), ("PUT", {"b": 2}))
        self.c.merge_payload(1, {"b": None})
        self.assertEqual((self.last().method, self.last().json()), ("PATCH", {"b": None}))

        f.push(reply(200, {"results": [{"id": 3, "distance": 0.25}, {"id": "4", "distance": 1}]}))
        hits = self.c.search([1.0, 2.0], k=2, ef_search=50, filter={"c": {"$in": [1, 2]}})
        self.assertEqual(hits, [(3, 0.25), (4, 1.0)])
        self.assertEqual(hits[1].id, 4)
        self.assertEqual(
            self.last().json(), {"vector": [1.0, 2.0], "k": 2, "ef_search": 50, "filter": {"c": {"$in": [1, 2]}}}
        )
        f.push(reply(200, {"results": []}))
        self.assertEqual(self.c.search([1.0]), [])
        self.assertEqual(self.last().json(), {"vector": [1.0], "k": 10})

        f.push(reply(200, {"ids": [1, 2]}))
        self.assertEqual(self.c.insert_batch([{"id": 1, "vector": [1.0], "metadata": {"x": 1}}, (2, [2.0])]), [1, 2])
        self.assertEqual(
            self.last().json(),
            {"items": [{"id": 1, "vector": [1.0], "metadata": {"x": 1}}, {"id": 2, "vector": [2.0]}]},
        )

        f.push(reply(200, {"vectors": 0}), reply(200, {"status": "ok"}), reply(200, {"status": "ok"}))
        self.assertEqual(self.c.stats(), {"vectors": 0})
        self.assertEqual(self.last().path, "/v1/stats")
        self.assertEqual(self.c.health(), {"status": "ok"})
        self.assertEqual(self.last().path, "/health")
        self.assertTrue(self.c.ready())
        self.assertEqual(self.last().path, "/ready")
        # Every call above went over one keep-alive connection.
        self.assertEqual({r.conn for r in f.requests}, {1})

    def test_bulk_body(self):
        rows = [[1.0, -2.0, 3.5], [0.25, 0.0, 1e-3]]
        self.fake.push(reply(200, {"n": 2, "elapsed_ms": 1, "vectors_per_sec": 2000, "threads": 3}))
        rep = self.c.bulk_build(rows, threads=3, payloads=[{"a": 1}, None])
        self.assertEqual(rep["n"], 2)
        r = self.last()
        self.assertEqual((r.method, r.path), ("POST", "/v1/build/bulk"))
        self.assertEqual(r.headers["x-lsmvec-n"], "2")
        self.assertEqual(r.headers["x-lsmvec-dim"], "3")
        self.assertEqual(r.headers["x-lsmvec-threads"], "3")
        self.assertEqual(r.headers["content-type"], "application/octet-stream")
        raw = struct.pack("<6f", *(x for row in rows for x in row))
        self.assertEqual(r.body[: len(raw)], raw)
        self.assertEqual(json.loads(r.body[len(raw) :]), [{"a": 1}, None])
        self.assertEqual(int(r.headers["content-length"]), len(r.body))

        # A flat array('d') with dim, and rows of array('f'): same bytes, no payloads.
        for vecs, kw in (
            (array.array("d", [x for row in rows for x in row]), {"dim": 3}),
            ([array.array("f", row) for row in rows], {}),
            (tuple(tuple(row) for row in rows), {}),
        ):
            with self.subTest(type=type(vecs).__name__):
                self.fake.push(reply(200, {"n": 2}))
                self.c.bulk_build(vecs, **kw)
                self.assertEqual(self.last().body, raw)
                self.assertEqual(self.last().headers["x-lsmvec-threads"], "0")

    def test_bulk_numpy_body(self):
        np = support.numpy_or_none()
        if np is None:
            self.skipTest("numpy is not installed")
        a = np.arange(12, dtype=np.float64).reshape(3, 4)[:, ::-1]  # strided float64
        self.fake.push(reply(200, {"n": 3}))
        self.c.bulk_build(a)
        r = self.last()
        self.assertEqual((r.headers["x-lsmvec-n"], r.headers["x-lsmvec-dim"]), ("3", "4"))
        self.assertEqual(r.body, np.ascontiguousarray(a, dtype="<f4").tobytes())
        b = np.ones((2, 5), dtype=">f4")  # big-endian input is converted
        self.fake.push(reply(200, {"n": 2}))
        self.c.bulk_build(b)
        self.assertEqual(self.last().body, struct.pack("<10f", *([1.0] * 10)))
        with self.assertRaises(InvalidArgument):
            self.c.bulk_build(np.ones(5, dtype=np.float32))  # 1-D without dim
        with self.assertRaises(InvalidArgument):
            self.c.bulk_build(np.array([["a"]]))

    def test_retry_503_with_retry_after(self):
        self.c.retries = 2
        self.fake.push(
            reply(503, {"error": "not ready", "code": "not_ready"}, {"Retry-After": "0"}),
            reply(503, {"error": "not ready", "code": "not_ready"}, {"Retry-After": "1"}),
            reply(200, {"vectors": 1}),
        )
        self.assertEqual(self.c.stats(), {"vectors": 1})
        self.assertEqual(self.slept, [0.0, 1.0])
        self.assertEqual(len(self.fake.requests), 3)

    def test_retries_exhausted_and_off_by_default(self):
        self.c.retries = 0
        self.fake.push(reply(503, {"error": "down", "code": "not_ready"}, {"Retry-After": "3"}))
        with self.assertRaises(ServiceUnavailable) as cm:
            self.c.stats()
        self.assertEqual((cm.exception.status, cm.exception.code, cm.exception.retry_after), (503, "not_ready", 3.0))
        self.assertEqual(self.slept, [])
        self.c.retries = 1
        self.fake.push(reply(429, {"error": "slow down"}), reply(429, {"error": "slow down"}))
        with self.assertRaises(RateLimited) as cm:
            self.c.stats()
        self.assertIsNone(cm.exception.retry_after)
        self.assertEqual(len(self.slept), 1)
        self.assertTrue(0 < self.slept[0] <= 0.1, self.slept)  # backoff without Retry-After

    def test_backoff_grows_and_is_capped(self):
        self.c.retries = 6
        self.c.max_backoff = 0.5
        self.fake.push(*[reply(429, {"error": "x"}) for _ in range(6)], reply(200, {}))
        self.c.stats()
        self.assertEqual(len(self.slept), 6)
        self.assertTrue(all(s <= 0.5 for s in self.slept), self.slept)
        self.assertGreater(self.slept[-1], self.slept[0])

    def test_no_retry_for_other_statuses_or_ready(self):
        self.c.retries = 3
        self.fake.push(reply(409, {"error": "not empty", "code": "db_not_empty"}))
        with self.assertRaises(Conflict):
            self.c.bulk_build([[1.0]])
        self.fake.push(reply(503, {"error": "starting", "code": "not_ready"}))
        self.assertIs(self.c.ready(), False)
        self.assertEqual(self.slept, [])

    def test_http_date_retry_after(self):
        self.fake.push(reply(429, {"error": "x", "code": "rate_limited"}, {"Retry-After": formatdate(time.time() + 30, usegmt=True)}))
        with self.assertRaises(RateLimited) as cm:
            self.c.stats()
        self.assertTrue(25 <= cm.exception.retry_after <= 31, cm.exception.retry_after)
        self.assertEqual(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), 0.0)
        self.assertIsNone(parse_retry_after("soon"))
        self.assertIsNone(parse_retry_after("-5"))
        self.assertIsNone(parse_retry_after(None))

    def test_error_bodies(self):
        self.fake.push(reply(500, b"<html>oops</html>", {"Content-Type": "text/html"}))
        with self.assertRaises(ServerError) as cm:
            self.c.stats()
        e = cm.exception
        self.assertEqual((e.status, e.code, e.details, e.message), (500, None, "<html>oops</html>", "<html>oops</html>"))
        self.fake.push(reply(502, None))
        with self.assertRaises(ServerError) as cm:
            self.c.stats()
        self.assertEqual((cm.exception.status, cm.exception.details), (502, None))
        self.assertIn("502", str(cm.exception))
        self.fake.push(reply(405, {"error": "muted", "code": "muted"}))
        with self.assertRaises(MethodNotAllowed):
            self.c.delete(1)
        self.fake.push(reply(418, {"error": "teapot"}))
        with self.assertRaises(LSMVecError) as cm:
            self.c.stats()
        self.assertIs(type(cm.exception), LSMVecError)
        self.assertEqual(cm.exception.message, "teapot")

    def test_status_table(self):
        import lsmvec_client as lc

        table = {
            400: lc.InvalidArgument,
            401: lc.Unauthorized,
            403: lc.Forbidden,
            404: lc.NotFound,
            405: lc.MethodNotAllowed,
            409: lc.Conflict,
            413: lc.PayloadTooLarge,
            429: lc.RateLimited,
            500: lc.ServerError,
            503: lc.ServiceUnavailable,
            504: lc.ServerError,
            422: lc.LSMVecError,
        }
        for status, cls in table.items():
            e = error_for_status(status, {"error": "m", "code": "c"})
            self.assertIs(type(e), cls, status)
            self.assertEqual((e.status, e.code, e.message, e.details), (status, "c", "m", {"error": "m", "code": "c"}))

    def test_errors_pickle(self):
        import pickle

        import lsmvec_client as lc

        for e in (
            error_for_status(429, {"error": "slow", "code": "rate_limited"}, "2"),
            error_for_status(404, {"error": "gone", "code": "not_found"}),
            lc.LSMVecTimeout("late", code="timeout"),
        ):
            back = pickle.loads(pickle.dumps(e))
            self.assertIs(type(back), type(e))
            self.assertEqual((back.message, back.status, back.code, back.details), (e.message, e.status, e.code, e.details))
            self.assertEqual(getattr(back, "retry_after", None), getattr(e, "retry_after", None))

    def test_stale_keep_alive_connection_is_replaced(self):
        # The server closes the connection after answering, without saying
        # so: the client's pooled connection is dead when reused.
        self.fake.push(reply(200, {"vectors": 1}, close=True), reply(200, {"vectors": 2}))
        self.assertEqual(self.c.stats(), {"vectors": 1})
        time.sleep(0.05)
        self.assertEqual(self.c.stats(), {"vectors": 2})
        self.assertEqual([r.conn for r in self.fake.requests], [1, 2])

    def test_timeout(self):
        self.fake.delay = 0.5
        with Client(self.fake.url, timeout=0.1) as c:
            t0 = time.monotonic()
            with self.assertRaises(LSMVecTimeout) as cm:
                c.stats()
            self.assertLess(time.monotonic() - t0, 0.45)
            self.assertIsInstance(cm.exception, TimeoutError)
            self.assertEqual(cm.exception.code, "timeout")
            # A per-call timeout on bulk_build overrides the client's.
            time.sleep(0.5)  # let the timed-out request take its (default) reply
            self.fake.push(reply(200, {"n": 1}))
            self.assertEqual(c.bulk_build([[1.0]], timeout=5)["n"], 1)

    def test_closed_client(self):
        self.c.close()
        with self.assertRaises(LSMVecError):
            self.c.stats()

    def test_base_url_prefix(self):
        with Client(self.fake.url + "/db/", api_key=None) as c:
            c.health()
            self.assertEqual(self.last().path, "/db/health")
            self.assertNotIn("authorization", self.last().headers)

    def test_threads_share_a_client(self):
        errs: List[str] = []

        def work() -> None:
            for _ in range(30):
                try:
                    self.c.stats()
                except Exception as e:  # reported below
                    errs.append(repr(e))

        ths = [threading.Thread(target=work) for _ in range(6)]
        for t in ths:
            t.start()
        for t in ths:
            t.join()
        self.assertEqual(errs, [])
        self.assertEqual(len(self.fake.requests), 180)
        self.assertLessEqual(self.fake.conns, 6 + 1)  # connections are reused


class TLSTest(unittest.TestCase):
    def test_https_with_a_custom_ssl_context(self):
        openssl = shutil.which("openssl")
        if openssl is None:
            self.skipTest("openssl is not installed: cannot make a test certificate")
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = f"{tmp}/cert.pem", f"{tmp}/key.pem"
            subprocess.run(
                [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                 "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_ctx.load_cert_chain(cert, key)
            fake = FakeServer(tls=server_ctx)
            try:
                self.assertTrue(fake.url.startswith("https://"))
                with Client(fake.url, api_key="k", timeout=5) as untrusted:
                    with self.assertRaises(LSMVecConnectionError) as cm:
                        untrusted.health()  # the system trust store does not know this certificate
                    self.assertIsInstance(cm.exception.__cause__, ssl.SSLError)
                ctx = ssl.create_default_context(cafile=cert)
                with Client(fake.url, api_key="k", timeout=5, ssl_context=ctx) as c:
                    fake.push(reply(200, {"status": "ok"}), reply(200, {"vectors": 3}))
                    self.assertEqual(c.health(), {"status": "ok"})
                    self.assertEqual(c.stats(), {"vectors": 3})
                self.assertEqual(fake.requests[-1].headers["authorization"], "Bearer k")
            finally:
                fake.stop()


if __name__ == "__main__":
    unittest.main()
