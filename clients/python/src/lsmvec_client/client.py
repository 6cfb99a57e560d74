"""The lsmvec /v1 HTTP client."""

from __future__ import annotations

import array
import http.client
import json
import operator
import platform
import random
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from typing import (
    Any,
    Callable,
    Dict,
    Iterable,
    List,
    Mapping,
    NamedTuple,
    Optional,
    Sequence,
    Tuple,
    Union,
    cast,
)

from . import __version__
from .errors import (
    InvalidArgument,
    LSMVecConnectionError,
    LSMVecError,
    LSMVecTimeout,
    error_for_status,
)

__all__ = ["Client", "SearchResult"]

Vector = Union[Sequence[float], "array.array[float]", Any]
"""A vector: a sequence of numbers, an ``array.array``, or a 1-D numpy array."""

Id = Union[int, str]
"""A vector id: an int in [0, 2**64) or its decimal string."""

_U64_MAX = (1 << 64) - 1
_RETRY_STATUSES = (429, 503)


class SearchResult(NamedTuple):
    """One search hit: the vector's id and its distance to the query
    (smaller is closer)."""

    id: int
    distance: float


def _check_id(vid: Any) -> int:
    """Returns vid as an int in [0, 2**64), or raises InvalidArgument."""
    if isinstance(vid, bool):
        raise InvalidArgument(f"id must be an integer in [0, 2**64), got {vid!r}", code="invalid_id")
    if isinstance(vid, str):
        s = vid.strip()
        if not s.isdigit() or not s.isascii():
            raise InvalidArgument(f"id must be a decimal u64, got {vid!r}", code="invalid_id")
        n = int(s)
    else:
        try:
            n = operator.index(vid)
        except TypeError:
            raise InvalidArgument(
                f"id must be an integer in [0, 2**64), got {type(vid).__name__}", code="invalid_id"
            ) from None
    if n < 0 or n > _U64_MAX:
        raise InvalidArgument(f"id {n} is outside [0, 2**64)", code="invalid_id")
    return n


def _vector_list(v: Any, what: str = "vector") -> List[float]:
    """Returns v as a list of numbers for JSON encoding."""
    if isinstance(v, (str, bytes, bytearray, Mapping)) or v is None:
        raise InvalidArgument(f"{what} must be a sequence of numbers, got {type(v).__name__}", code="invalid_vector")
    tolist = getattr(v, "tolist", None)
    if tolist is not None:
        out = tolist()
        if not isinstance(out, list):
            raise InvalidArgument(f"{what} must be one-dimensional", code="invalid_vector")
        return out
    try:
        return list(v)
    except TypeError:
        raise InvalidArgument(
            f"{what} must be a sequence of numbers, got {type(v).__name__}", code="invalid_vector"
        ) from None


def _is_numpy(obj: Any) -> bool:
    """Reports whether obj is a numpy array (or subclass), or another array
    type numpy can view (``__array__``) while numpy is imported. numpy is
    never imported here: an object cannot be a numpy array without it."""
    np = sys.modules.get("numpy")
    if np is None:
        return False
    return isinstance(obj, np.ndarray) or (hasattr(obj, "__array__") and not isinstance(obj, array.array))


def _encode_json(obj: Any) -> bytes:
    try:
        return json.dumps(obj, allow_nan=False, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except ValueError as e:  # NaN or Infinity
        raise InvalidArgument(f"cannot encode the request: {e} (vectors must be finite)", code="invalid_vector") from None
    except TypeError as e:
        raise InvalidArgument(f"cannot encode the request: {e}", code="invalid_argument") from None


class _Pool:
    """Keep-alive HTTP connections to one host. Safe for concurrent use: each
    request takes a connection for itself and gives it back when the
    response has been read."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int,
        timeout: Optional[float],
        ssl_context: Optional[ssl.SSLContext],
        maxsize: int,
    ) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.maxsize = maxsize
        self._lock = threading.Lock()
        self._idle: List[http.client.HTTPConnection] = []
        self._closed = False

    def get(self) -> Tuple[http.client.HTTPConnection, bool]:
        """Returns an idle connection (reused=True) or a new, unconnected
        one."""
        with self._lock:
            if self._closed:
                raise LSMVecConnectionError("cannot send a request: the client is closed", code="closed")
            if self._idle:
                return self._idle.pop(), True
        if self.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                self.host, self.port, timeout=self.timeout, context=self.ssl_context
            )
        else:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return conn, False

    def put(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self.maxsize:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for c in idle:
            c.close()


class Client:
    """A client of the lsmvec /v1 HTTP API (the LSM-Vec family).

    Args:
        base_url: the server's URL, ``http://`` or ``https://``, optionally
            with a path prefix when the server sits behind a proxy.
        api_key: sent as ``Authorization: Bearer <api_key>``; ``None`` sends
            no key (for servers started without ``LSMVEC_API_KEYS``).
        timeout: seconds allowed for connecting and for each read or write
            on the socket (not for the whole call); ``None`` waits forever.
        retries: how many times a request answered with 429 (rate limited)
            or 503 (not ready) is sent again. 0, the default, never retries.
        max_backoff: the longest wait between retries, in seconds. The wait
            is the server's ``Retry-After`` when it sends one, else an
            exponential backoff from 0.1 s with jitter; when ``Retry-After``
            asks for more than ``max_backoff`` the error is raised at once.
        pool_size: how many idle keep-alive connections are kept.
        ssl_context: the TLS context for ``https`` URLs (default: the
            system's trust store).
        headers: extra headers sent with every request.

    A Client is safe for concurrent use by several threads: each request
    takes a keep-alive connection of its own from a small pool. Call
    :meth:`close` (or use it as a context manager) to close the pooled
    connections. Arguments are read during the call and never retained:
    vectors, payloads and numpy arrays may be changed as soon as a method
    returns.

    Every method raises a subclass of :class:`~lsmvec_client.LSMVecError`
    when the call fails: the one for the HTTP status the server answered
    (``NotFound``, ``InvalidArgument``, ...), ``InvalidArgument`` with
    ``status`` ``None`` for arguments rejected before sending, and
    ``LSMVecConnectionError`` when the server cannot be reached.
    """

    def __init__(
        self,
        base_url: str = "http://localhost:8080",
        api_key: Optional[str] = None,
        timeout: Optional[float] = 30.0,
        *,
        retries: int = 0,
        max_backoff: float = 30.0,
        pool_size: int = 10,
        ssl_context: Optional[ssl.SSLContext] = None,
        headers: Optional[Mapping[str, str]] = None,
    ) -> None:
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise InvalidArgument(
                f"base_url must be an http:// or https:// URL with a host, got {base_url!r}", code="invalid_url"
            )
        try:
            port = u.port
        except ValueError:
            raise InvalidArgument(f"base_url has an invalid port: {base_url!r}", code="invalid_url") from None
        if port is None:
            port = 443 if u.scheme == "https" else 80
        if timeout is not None and timeout <= 0:
            raise InvalidArgument(f"timeout must be > 0 or None, got {timeout!r}", code="invalid_argument")
        if retries < 0:
            raise InvalidArgument(f"retries must be >= 0, got {retries!r}", code="invalid_argument")
        if max_backoff < 0:
            raise InvalidArgument(f"max_backoff must be >= 0, got {max_backoff!r}", code="invalid_argument")
        self.base_url = base_url
        self.timeout = timeout
        self.retries = retries
        self.max_backoff = max_backoff
        self._prefix = u.path.rstrip("/")
        host = u.hostname
        self._pool = _Pool(u.scheme, host, port, timeout, ssl_context, max(0, pool_size))
        h = {
            "Accept": "application/json",
            "User-Agent": f"lsmvec-client/{__version__} python/{platform.python_version()}",
        }
        if api_key is not None:
            h["Authorization"] = f"Bearer {api_key}"
        if headers:
            h.update(headers)
        self._headers = h
        # _sleep is a test hook.
        self._sleep: Callable[[float], None] = time.sleep

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r}, timeout={self.timeout!r}, retries={self.retries!r})"

    def close(self) -> None:
        """Closes the pooled connections. The client cannot be used
        afterwards."""
        self._pool.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ----- vectors -------------------------------------------------------

    def insert(self, id: Id, vector: Vector, metadata: Optional[Mapping[str, Any]] = None) -> int:
        """Inserts (or replaces) the vector ``id``: ``POST /v1/vectors``.

        ``metadata``, when given, replaces the vector's payload (a JSON object
        of at most 64 KiB); when ``None`` an existing payload is kept. The
        first vector written to an empty collection sets its dimension unless
        the server has ``LSMVEC_DIM``. Returns the id.
        """
        body: Dict[str, Any] = {"id": _check_id(id), "vector": _vector_list(vector)}
        if metadata is not None:
            body["metadata"] = metadata
        out = self._json("POST", "/v1/vectors", body)
        return _reply_id(out, body["id"])

    def upsert(self, id: Id, vector: Vector) -> int:
        """Inserts or replaces the vector ``id`` and leaves its payload
        untouched: ``PUT /v1/vectors/{id}``. Returns the id."""
        vid = _check_id(id)
        out = self._json("PUT", f"/v1/vectors/{vid}", {"vector": _vector_list(vector)})
        return _reply_id(out, vid)

    def get(self, id: Id) -> Dict[str, Any]:
        """Returns ``{"id": int, "vector": [float, ...]}`` with the float32
        values the server stores, exactly (as Python floats: the list equals
        ``array.array("f", v).tolist()`` for the ``v`` that was written).
        Raises :class:`NotFound` when the id is absent."""
        vid = _check_id(id)
        out = self._json("GET", f"/v1/vectors/{vid}")
        if not isinstance(out, dict):
            raise LSMVecError("unexpected reply to GET /v1/vectors/{id}", code="bad_reply", details=out)
        if "id" in out:
            try:
                out["id"] = int(out["id"])
            except (TypeError, ValueError):
                pass
        vec = out.get("vector")
        if isinstance(vec, list):
            # The server prints each float32 in its shortest form; rounding
            # the parsed doubles to float32 gives back the stored values.
            try:
                out["vector"] = array.array("f", vec).tolist()
            except (TypeError, OverflowError):
                pass
        return out

    def delete(self, id: Id) -> None:
        """Deletes the vector ``id`` and its payload. Deleting an absent id
        succeeds."""
        vid = _check_id(id)
        self._json("DELETE", f"/v1/vectors/{vid}")

    def insert_batch(
        self,
        items: Iterable[Union[Mapping[str, Any], Sequence[Any]]],
        *,
        timeout: Optional[float] = None,
    ) -> List[int]:
        """Inserts many vectors in one request: ``POST /v1/vectors/batch``
        with ``{"items": [{"id", "vector", "metadata"?}, ...]}``.

        Each item is a mapping with ``id``, ``vector`` and optional
        ``metadata``, or a tuple ``(id, vector)`` / ``(id, vector,
        metadata)``. The batch is applied as a whole or not at all: one bad
        item fails the call and writes nothing. Returns the ids written, in
        order. ``timeout`` overrides the client's for this call.
        """
        out: List[Dict[str, Any]] = []
        for i, it in enumerate(items):
            if isinstance(it, Mapping):
                if "id" not in it or "vector" not in it:
                    raise InvalidArgument(f"item {i} needs 'id' and 'vector'", code="invalid_argument")
                vid, vec, meta = it["id"], it["vector"], it.get("metadata")
            elif isinstance(it, (tuple, list)) and len(it) in (2, 3):
                vid, vec = it[0], it[1]
                meta = it[2] if len(it) == 3 else None
            else:
                raise InvalidArgument(
                    f"item {i} must be a mapping or an (id, vector[, metadata]) tuple", code="invalid_argument"
                )
            d: Dict[str, Any] = {"id": _check_id(vid), "vector": _vector_list(vec, f"item {i} vector")}
            if meta is not None:
                d["metadata"] = meta
            out.append(d)
        reply = self._json("POST", "/v1/vectors/batch", {"items": out}, timeout=timeout)
        ids = reply.get("ids") if isinstance(reply, dict) else None
        if not isinstance(ids, list):
            return [d["id"] for d in out]
        return [int(x) for x in ids]

    # ----- payloads ------------------------------------------------------

    def get_payload(self, id: Id) -> Dict[str, Any]:
        """Returns the payload of vector ``id`` (``{}`` when it has none).
        Raises :class:`NotFound` when the vector does not exist."""
        vid = _check_id(id)
        out = self._json("GET", f"/v1/vectors/{vid}/payload")
        if out is None:
            return {}
        if not isinstance(out, dict):
            raise LSMVecError("unexpected reply to GET /v1/vectors/{id}/payload", code="bad_reply", details=out)
        return out

    def set_payload(self, id: Id, payload: Mapping[str, Any]) -> Any:
        """Replaces the payload of vector ``id`` with the JSON object
        ``payload``. Returns the server's decoded reply (``None`` when
        empty). Raises :class:`NotFound` when the vector does not exist."""
        vid = _check_id(id)
        if not isinstance(payload, Mapping):
            raise InvalidArgument("payload must be a JSON object (a mapping)", code="invalid_payload")
        return self._json("PUT", f"/v1/vectors/{vid}/payload", dict(payload))

    def merge_payload(self, id: Id, patch: Mapping[str, Any]) -> Any:
        """Applies ``patch`` to the payload of vector ``id`` as an RFC 7396
        merge patch: keys set to ``None`` are removed, nested objects merge.
        Returns the server's decoded reply (``None`` when empty). Raises
        :class:`NotFound` when the vector does not exist."""
        vid = _check_id(id)
        if not isinstance(patch, Mapping):
            raise InvalidArgument("patch must be a JSON object (a mapping)", code="invalid_payload")
        return self._json(
            "PATCH", f"/v1/vectors/{vid}/payload", dict(patch), content_type="application/merge-patch+json"
        )

    # ----- search --------------------------------------------------------

    def search(
        self,
        vector: Vector,
        k: int = 10,
        ef_search: Optional[int] = None,
        filter: Optional[Mapping[str, Any]] = None,
    ) -> List[SearchResult]:
        """Returns the ``k`` nearest vectors to ``vector``, nearest first:
        ``POST /v1/search``.

        ``ef_search`` widens the graph search (recall for speed; the server's
        default when ``None``). ``filter`` is a Mongo-style payload filter,
        e.g. ``{"color": "red", "price": {"$lt": 10}}``; only vectors whose
        payload matches are returned.
        """
        body: Dict[str, Any] = {"vector": _vector_list(vector), "k": _check_int(k, "k", 1)}
        if ef_search is not None:
            body["ef_search"] = _check_int(ef_search, "ef_search", 1)
        if filter is not None:
            if not isinstance(filter, Mapping):
                raise InvalidArgument("filter must be a JSON object (a mapping)", code="bad_filter")
            body["filter"] = filter
        out = self._json("POST", "/v1/search", body)
        results = out.get("results") if isinstance(out, dict) else out
        if results is None:
            return []
        if not isinstance(results, list):
            raise LSMVecError("unexpected reply to POST /v1/search", code="bad_reply", details=out)
        hits = []
        for r in results:
            if isinstance(r, dict):
                hits.append(SearchResult(int(r["id"]), float(r["distance"])))
            else:  # [id, distance]
                hits.append(SearchResult(int(r[0]), float(r[1])))
        return hits

    # ----- bulk build ----------------------------------------------------

    def bulk_build(
        self,
        vectors: Any,
        threads: int = 0,
        *,
        payloads: Optional[Sequence[Optional[Mapping[str, Any]]]] = None,
        dim: Optional[int] = None,
        timeout: Optional[float] = None,
    ) -> Dict[str, Any]:
        """Loads ``vectors`` into an empty collection in one pass and builds
        the index: ``POST /v1/build/bulk``. Vector ``i`` gets id ``i``.

        ``vectors`` is a 2-D numpy array (sent from its memory as
        little-endian float32, converted only when it is not already
        C-contiguous ``<f4``; no Python list is built), a sequence of rows
        (lists, ``array.array`` or 1-D numpy arrays of one length), or a
        flat ``array.array('f')`` with ``dim`` giving the row length.
        ``payloads``, when given, is a list of one JSON object (or ``None``)
        per vector. ``threads`` is the build's parallelism (0: all cores).
        ``timeout`` overrides the client's for this call (large builds are
        slow).

        Returns the server's report: ``{"n", "elapsed_ms",
        "vectors_per_sec", "threads"}``. Raises :class:`Conflict` (code
        ``db_not_empty``) when the collection already holds vectors.
        """
        threads = _check_int(threads, "threads", 0)
        n, d, raw = _bulk_matrix(vectors, dim)
        chunks: List[Any] = [raw]
        size = len(raw)
        if payloads is not None:
            if isinstance(payloads, (str, bytes, Mapping)):
                raise InvalidArgument("payloads must be a list of objects or None", code="invalid_payload")
            plist = list(payloads)
            if len(plist) != n:
                raise InvalidArgument(
                    f"payloads has {len(plist)} entries for {n} vectors", code="invalid_payload"
                )
            for i, p in enumerate(plist):
                if p is not None and not isinstance(p, Mapping):
                    raise InvalidArgument(f"payload {i} must be an object or None", code="invalid_payload")
            pj = _encode_json([dict(p) if p is not None else None for p in plist])
            chunks.append(pj)
            size += len(pj)
        headers = {
            "Content-Type": "application/octet-stream",
            "Content-Length": str(size),
            "X-LSMVec-N": str(n),
            "X-LSMVec-Dim": str(d),
            "X-LSMVec-Threads": str(threads),
        }
        out = self._request("POST", "/v1/build/bulk", chunks, headers, timeout=timeout)
        if not isinstance(out, dict):
            raise LSMVecError("unexpected reply to POST /v1/build/bulk", code="bad_reply", details=out)
        return out

    # ----- diagnostics ---------------------------------------------------

    def stats(self) -> Dict[str, Any]:
        """Returns the server's counters: ``GET /v1/stats`` (``vectors``,
        ``dim``, ``metric``, ``tombstones``, ``tombstone_ratio``,
        ``total_inserts_ever``, ``memory_bytes``, ``bloom_*``, ...)."""
        out = self._json("GET", "/v1/stats")
        if not isinstance(out, dict):
            raise LSMVecError("unexpected reply to GET /v1/stats", code="bad_reply", details=out)
        return out

    def health(self) -> Dict[str, Any]:
        """Returns ``{"status": "ok"}`` when the server process is alive:
        ``GET /health`` (needs no key). Raises on any other answer."""
        out = self._json("GET", "/health")
        return out if isinstance(out, dict) else {"status": out}

    def ready(self) -> bool:
        """Returns True when the server's store is open and its index loaded
        (``GET /ready`` answers 200), False while it answers 503. Other
        failures (a wrong key, an unreachable server) raise. Never retried."""
        try:
            self._json("GET", "/ready", retry=False)
        except LSMVecError as e:
            if e.status == 503:
                return False
            raise
        return True

    # ----- transport -----------------------------------------------------

    def _json(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        retry: bool = True,
        timeout: Optional[float] = None,
    ) -> Any:
        headers: Dict[str, str] = {}
        data: Optional[List[Any]] = None
        if body is not None:
            b = _encode_json(body)
            data = [b]
            headers["Content-Type"] = content_type
            headers["Content-Length"] = str(len(b))
        elif method in ("POST", "PUT", "PATCH"):
            headers["Content-Length"] = "0"
        return self._request(method, path, data, headers, retry=retry, timeout=timeout)

    def _request(
        self,
        method: str,
        path: str,
        body: Optional[List[Any]],
        headers: Dict[str, str],
        *,
        retry: bool = True,
        timeout: Optional[float] = None,
    ) -> Any:
        """Sends one request (and its retries) and returns the decoded JSON
        reply, or None for an empty one. body is a list of bytes-like chunks
        whose total length is in headers' Content-Length."""
        h = dict(self._headers)
        h.update(headers)
        url = self._prefix + path
        attempt = 0
        while True:
            status, reason, resp_headers, data = self._send(method, url, body, h, timeout)
            decoded = _decode(data, resp_headers.get("Content-Type"))
            if 200 <= status < 300:
                return decoded
            err = error_for_status(status, decoded, resp_headers.get("Retry-After"), reason)
            if not retry or status not in _RETRY_STATUSES or attempt >= self.retries:
                raise err
            wait = getattr(err, "retry_after", None)
            if wait is None:
                wait = min(self.max_backoff, 0.1 * (2 ** attempt)) * (0.5 + random.random() / 2)
            if wait > self.max_backoff:
                raise err
            attempt += 1
            self._sleep(wait)

    def _send(
        self,
        method: str,
        url: str,
        body: Optional[List[Any]],
        headers: Dict[str, str],
        timeout: Optional[float],
    ) -> Tuple[int, str, Any, bytes]:
        """Sends the request once over a pooled connection and reads the
        whole response. A connection reused from the pool that turns out to
        be closed by the server is replaced by a new one once."""
        while True:
            conn, reused = self._pool.get()
            send_err: Optional[BaseException] = None
            try:
                if timeout is not None:
                    conn.timeout = timeout
                    if conn.sock is not None:
                        conn.sock.settimeout(timeout)
                try:
                    conn.request(method, url, body=body, headers=headers)
                except (BrokenPipeError, ConnectionResetError) as e:
                    # The server may have answered (413 before reading the
                    # whole body) and closed: try to read that answer.
                    send_err = e
                resp = conn.getresponse()
                data = resp.read()
            except socket.timeout as e:
                conn.close()
                raise LSMVecTimeout(
                    f"cannot {method} {url}: no answer within the timeout ({conn.timeout} s)", code="timeout"
                ) from e
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                if reused and (send_err is not None or _stale(e)):
                    continue  # a keep-alive connection the server had closed
                cause = send_err if send_err is not None else e
                raise LSMVecConnectionError(
                    f"cannot {method} {url} on {self._pool.host}:{self._pool.port}: {_describe(cause)}",
                    code="connection",
                ) from cause
            if timeout is not None:
                conn.timeout = self.timeout
                if conn.sock is not None:
                    conn.sock.settimeout(self.timeout)
            if send_err is not None or resp.will_close:
                conn.close()
            else:
                self._pool.put(conn)
            return resp.status, resp.reason, resp.headers, data


def _stale(e: BaseException) -> bool:
    return isinstance(
        e, (http.client.RemoteDisconnected, http.client.BadStatusLine, BrokenPipeError, ConnectionResetError)
    )


def _describe(e: BaseException) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(e, socket.gaierror):
        return f"cannot resolve the host: {e}"
    s = str(e)
    return f"{type(e).__name__}: {s}" if s else type(e).__name__


def _decode(data: bytes, content_type: Optional[str]) -> Any:
    if not data:
        return None
    ct = (content_type or "").lower()
    if "json" in ct or data[:1] in (b"{", b"["):
        try:
            return json.loads(data)
        except ValueError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def _reply_id(out: Any, default: int) -> int:
    if isinstance(out, dict) and "id" in out:
        try:
            return int(out["id"])
        except (TypeError, ValueError):
            pass
    return default


def _check_int(v: Any, name: str, lo: int) -> int:
    if isinstance(v, bool):
        raise InvalidArgument(f"{name} must be an integer, got {v!r}", code="invalid_argument")
    try:
        n = operator.index(v)
    except TypeError:
        raise InvalidArgument(f"{name} must be an integer, got {type(v).__name__}", code="invalid_argument") from None
    if n < lo:
        raise InvalidArgument(f"{name} must be >= {lo}, got {n}", code="invalid_argument")
    return n


def _bulk_matrix(vectors: Any, dim: Optional[int]) -> Tuple[int, int, memoryview]:
    """Returns (n, dim, a byte view of the little-endian float32 rows) for
    bulk_build's accepted inputs. The view keeps its buffer alive."""
    if dim is not None:
        dim = _check_int(dim, "dim", 1)
    if _is_numpy(vectors):
        import numpy as np  # only when the caller already uses numpy

        a = np.asarray(vectors)
        if a.ndim == 1 and dim is not None and a.size % dim == 0:
            a = a.reshape(-1, dim)
        if a.ndim != 2:
            raise InvalidArgument(f"bulk_build needs a 2-D array, got shape {a.shape}", code="invalid_vector")
        if dim is not None and a.shape[1] != dim:
            raise InvalidArgument(f"array rows have {a.shape[1]} values, dim is {dim}", code="invalid_vector")
        if a.dtype.kind not in "fiu":
            raise InvalidArgument(f"bulk_build needs a numeric array, got dtype {a.dtype}", code="invalid_vector")
        a = np.ascontiguousarray(a, dtype="<f4")
        n, d = int(a.shape[0]), int(a.shape[1])
        return n, d, memoryview(a.data).cast("B")
    if isinstance(vectors, array.array):
        if dim is None:
            raise InvalidArgument("bulk_build of a flat array.array needs dim=", code="invalid_argument")
        if len(vectors) % dim != 0:
            raise InvalidArgument(f"{len(vectors)} values do not split into rows of {dim}", code="invalid_vector")
        buf = cast("array.array[float]", vectors)
        if vectors.typecode != "f":
            buf = array.array("f", [float(x) for x in vectors])
        if sys.byteorder != "little":
            buf = array.array("f", buf.tobytes())  # a copy: the caller's array is not changed
            buf.byteswap()
        return len(buf) // dim, dim, memoryview(buf).cast("B")
    if isinstance(vectors, (str, bytes, bytearray, Mapping)) or vectors is None:
        raise InvalidArgument("bulk_build needs a sequence of vectors or a 2-D array", code="invalid_vector")
    try:
        rows = list(vectors)
    except TypeError:
        raise InvalidArgument("bulk_build needs a sequence of vectors or a 2-D array", code="invalid_vector") from None
    if not rows:
        raise InvalidArgument("bulk_build needs at least one vector", code="invalid_vector")
    flat: "array.array[float]" = array.array("f")
    d = -1
    for i, r in enumerate(rows):
        if isinstance(r, array.array) and r.typecode != "f":
            r = r.tolist()
        elif _is_numpy(r):
            r = r.tolist()
        try:
            ln = len(r)
        except TypeError:
            raise InvalidArgument(f"vector {i} is not a sequence", code="invalid_vector") from None
        if d < 0:
            d = ln
            if dim is not None and d != dim:
                raise InvalidArgument(f"vector 0 has {d} values, dim is {dim}", code="invalid_vector")
            if d == 0:
                raise InvalidArgument("vectors must not be empty", code="invalid_vector")
        elif ln != d:
            raise InvalidArgument(f"vector {i} has {ln} values, vector 0 has {d}", code="invalid_vector")
        try:
            flat.extend(r)
        except (TypeError, OverflowError) as e:
            raise InvalidArgument(f"vector {i}: {e}", code="invalid_vector") from None
    if sys.byteorder != "little":
        flat.byteswap()
    return len(rows), d, memoryview(flat).cast("B")
