"""LSMVecDB: the embedded lsmvec engine, over the C ABI of capi/ (ctypes).

Ownership across the boundary (capi/capi.go has the Go side): Python owns
every buffer. Inputs (vectors, JSON text, paths) are passed as pointer and
length and only read during the call; outputs (search results, vectors,
JSON) are buffers Python allocates and Go fills. Go never returns memory
that must be freed, and a database is an integer handle (runtime/cgo.Handle).

Concurrency: an LSMVecDB may be shared by threads; ctypes releases the GIL
during each call, so searches from several threads run in parallel. close()
waits for calls in flight; calls after it raise Closed.
"""

import ctypes
import enum
import gc
import json
import os
import sys
import threading
from array import array
from collections import namedtuple
from ctypes import POINTER, byref, c_char_p, c_float, c_int, c_int32, c_int64, c_size_t, c_uint64, c_void_p
from itertools import repeat

from ._errors import BUFFER_TOO_SMALL, CODES, Closed, InternalError, InvalidArgument, LSMVecError

__all__ = ["DistanceMetric", "LSMVecDBOptions", "LSMVecDB", "SearchResult", "NO_ID"]

_LIB_NAME = "_lsmvec.so"
_ERRCAP = 1024
MAX_K = 10000  # the server's /v1 limit
MAX_EF = 65536
_U64 = 1 << 64
NO_ID = _U64 - 1  # pads the rows of search_knn_batch(numpy=True) that have fewer than k results

SearchResult = namedtuple("SearchResult", ["id", "distance"])
SearchResult.__doc__ = "One neighbour: the vector's id and its distance to the query."


class DistanceMetric(enum.IntEnum):
    """The collection's metric. Distances: L2 is the Euclidean distance (the
    square root of the squared L2), Cosine 1 − cos, IP 1 − ⟨q, x⟩. The values
    are the C ABI's; the names match the server's l2, cosine and ip."""

    L2 = 0
    Cosine = 1
    IP = 2


_METRIC_NAMES = {"l2": 0, "euclidean": 0, "cosine": 1, "ip": 2, "inner-product": 2}


class LSMVecDBOptions:
    """Options of LSMVecDB.open. They apply when the collection is created;
    an existing collection keeps the settings it was created with (a
    different non-zero dim is DimensionMismatch).

    dim: vector dimension; 0 means "set by the first vector written".
    metric: DistanceMetric (or "l2", "cosine", "ip").
    m, m_max: graph links per node above level 0 and on level 0.
    ef_construction, ef_search: candidate list sizes of inserts and of
    searches that name none.
    collection: the collection name; None means $LSMVEC_COLLECTION or
    "default", as the server's /v1 API does, so that the same data
    directory opens in both.
    """

    __slots__ = ("dim", "metric", "m", "m_max", "ef_construction", "ef_search", "collection")

    def __init__(self, dim=0, metric=DistanceMetric.L2, m=16, m_max=32, ef_construction=200, ef_search=64,
                 collection=None):
        if isinstance(metric, str):
            if metric.lower() not in _METRIC_NAMES:
                raise InvalidArgument("metric %r: want l2, cosine or ip" % (metric,))
            metric = _METRIC_NAMES[metric.lower()]
        try:
            metric = DistanceMetric(metric)
        except ValueError:
            raise InvalidArgument("metric %r: want DistanceMetric.L2, Cosine or IP" % (metric,)) from None
        self.dim = _int(dim, "dim", 0, 65536)
        self.metric = metric
        self.m = _int(m, "m", 2, 128)
        self.m_max = _int(m_max, "m_max", 2, 512)
        self.ef_construction = _int(ef_construction, "ef_construction", 1, MAX_EF)
        self.ef_search = _int(ef_search, "ef_search", 1, MAX_EF)
        if collection is None:
            collection = os.environ.get("LSMVEC_COLLECTION") or "default"
        if not isinstance(collection, str) or not collection:
            raise InvalidArgument("collection must be a non-empty string")
        self.collection = collection

    def __repr__(self):
        return "LSMVecDBOptions(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.__slots__)


def _int(v, what, lo, hi):
    if isinstance(v, bool):
        raise InvalidArgument("%s must be an integer, got %r" % (what, v))
    try:
        i = v.__index__()
    except (AttributeError, TypeError):
        raise InvalidArgument("%s must be an integer, got %r" % (what, v)) from None
    if not lo <= i <= hi:
        raise InvalidArgument("%s %d outside %d..%d" % (what, i, lo, hi))
    return i


def _id(v):
    if isinstance(v, bool):
        raise InvalidArgument("id must be an integer, got %r" % (v,))
    try:
        i = v.__index__()
    except (AttributeError, TypeError):
        raise InvalidArgument("id must be an integer in [0, 2^64), got %r" % (v,)) from None
    if not 0 <= i < _U64:
        raise InvalidArgument("id %d outside [0, 2^64)" % i)
    return i


_F32 = ("f", "<f", "=f", "@f")


def _floats(obj, what="vector"):
    """Returns (address, count, keepalive) of obj's float32 elements.

    float32 C-contiguous buffers (numpy arrays, array('f'), memoryviews) are
    passed in place, without a Python loop; read-only ones are copied with
    one memcpy, except numpy arrays (read in place through their
    __array_interface__: Go only reads inputs). Lists and tuples, and
    buffers of other element types, are converted to array('f') by C code.
    keepalive must stay referenced until the call returns."""
    if isinstance(obj, (list, tuple)):
        try:
            a = array("f", obj)
        except (TypeError, OverflowError) as e:
            raise InvalidArgument("%s must hold numbers: %s" % (what, e)) from None
        addr, n = a.buffer_info()
        return addr, n, a
    if isinstance(obj, (str, bytes, bytearray)):
        raise InvalidArgument("%s must be a sequence or buffer of float32, got %s" % (what, type(obj).__name__))
    try:
        mv = memoryview(obj)
    except TypeError:
        raise InvalidArgument("%s must be a sequence or buffer of float32, got %s" % (what, type(obj).__name__)) from None
    if mv.format not in _F32 or not mv.c_contiguous:
        try:
            a = array("f", _flat(mv.tolist()) if mv.ndim != 1 else mv.tolist())
        except (TypeError, OverflowError, NotImplementedError, ValueError) as e:
            raise InvalidArgument("%s must hold numbers: %s" % (what, e)) from None
        addr, n = a.buffer_info()
        return addr, n, a
    n = mv.nbytes // 4
    if n == 0:
        return None, 0, mv
    if mv.readonly:
        np = sys.modules.get("numpy")  # a read-only numpy array: its address, no copy
        if np is not None and isinstance(obj, np.ndarray):
            return obj.__array_interface__["data"][0], n, obj
        a = array("f")
        a.frombytes(mv.cast("B"))
        return a.buffer_info()[0], n, a
    c = (ctypes.c_char * mv.nbytes).from_buffer(mv)
    return ctypes.addressof(c), n, c


def _flat(rows):
    out = []
    for r in rows:
        if isinstance(r, list):
            out.extend(_flat(r))
        else:
            out.append(r)
    return out


_tuple_new = tuple.__new__


def _result_lists(ids, dists, counts, nq, k):
    """Lists of SearchResult, one per query, from the flat result arrays of
    a batch search. Built by C-level iteration (no Python frame per result:
    SearchResult(i, d) would call namedtuple's Python __new__ 10 times per
    query); tuple.__new__(SearchResult, (i, d)) makes the same object.

    The cyclic garbage collector is paused while the lists are built, as
    timeit pauses it: the objects built here cannot form cycles, yet their
    number (n·k tuples) would otherwise set off a collection every 700 of
    them and, every few batches, a full one over the whole process's
    objects. It is re-enabled only if it was enabled on entry (another
    thread that disables it meanwhile finds it enabled again; nothing
    leaves it disabled)."""
    n = nq * k
    enabled = gc.isenabled()
    if enabled:
        gc.disable()
    try:
        rs = list(map(_tuple_new, repeat(SearchResult, n), zip(ids, dists)))
        if counts.count(k) == nq:
            return list(map(rs.__getitem__, map(slice, range(0, n, k), range(k, n + k, k))))
        return [rs[o:o + c] for o, c in zip(range(0, n, k), counts)]
    finally:
        if enabled:
            gc.enable()


_np_mod = None


def _numpy():
    """numpy, imported on first use (the package itself needs only the
    standard library)."""
    global _np_mod
    if _np_mod is None:
        try:
            import numpy
        except ImportError:
            raise ImportError("lsm_vec: numpy=True needs numpy, which is not installed") from None
        _np_mod = numpy
    return _np_mod


def _matrix(obj, dim, what="queries"):
    """Returns (address, rows, dim, keepalive) of a row-major float32 matrix:
    a 2-D buffer (numpy array, memoryview), a list of vectors, or a flat
    buffer or list with dim given."""
    if isinstance(obj, (list, tuple)) and obj and not isinstance(obj[0], (int, float)):
        a = array("f")
        d = None
        for row in obj:
            addr, n, keep = _floats(row, what + " row")
            if d is None:
                d = n
            elif n != d:
                raise InvalidArgument("%s rows have different lengths (%d and %d)" % (what, d, n))
            a.frombytes(ctypes.string_at(addr, 4 * n) if n else b"")
        if dim is not None and d != dim:
            raise InvalidArgument("%s rows have %d floats, dim says %d" % (what, d, dim))
        return a.buffer_info()[0], len(obj), d, a
    if not isinstance(obj, (list, tuple)):
        try:
            mv = memoryview(obj)
        except TypeError:
            raise InvalidArgument("%s must be a 2-D buffer, a list of vectors or a flat buffer with dim" % what) from None
        if mv.ndim == 2 and dim is None:
            dim = mv.shape[1]
        elif mv.ndim > 2:
            raise InvalidArgument("%s must be 1-D or 2-D, got %d dimensions" % (what, mv.ndim))
    addr, n, keep = _floats(obj, what)
    if dim is None:
        raise InvalidArgument("%s is flat: pass dim" % what)
    dim = _int(dim, "dim", 1, 65536)
    if n == 0 or n % dim:
        raise InvalidArgument("%s hold %d floats, not a positive multiple of dim %d" % (what, n, dim))
    return addr, n // dim, dim, keep


def _json_arg(v, what):
    """JSON text (bytes) of a dict, or of str/bytes passed as JSON text."""
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    try:
        return json.dumps(v, separators=(",", ":"), allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as e:
        raise InvalidArgument("cannot encode %s as JSON: %s" % (what, e)) from None


_lib = None
_lib_lock = threading.Lock()


def _load():
    global _lib
    if _lib is not None:
        return _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), _LIB_NAME)
        if not os.path.exists(path):
            raise ImportError("lsm_vec: %s is missing: the package was not built (install it with "
                              "`pip install --no-build-isolation .` at the lsmvec repository root)" % path)
        lib = ctypes.CDLL(path)
        eb = (c_char_p, c_size_t)
        sigs = {
            "lsmvec_open": (c_char_p, c_int64, c_char_p, c_int64, c_int64, c_int32, c_int32, c_int32, c_int32, c_int32,
                            POINTER(c_uint64)) + eb,
            "lsmvec_close": (c_uint64,) + eb,
            "lsmvec_put": (c_uint64, c_uint64, c_void_p, c_int64, c_char_p, c_int64, c_int32) + eb,
            "lsmvec_delete": (c_uint64, c_uint64) + eb,
            "lsmvec_get": (c_uint64, c_uint64, c_void_p, c_int64) + eb,
            "lsmvec_dim": (c_uint64, POINTER(c_int64)) + eb,
            "lsmvec_search": (c_uint64, c_void_p, c_int64, c_int32, c_int32, c_char_p, c_int64, c_void_p, c_void_p,
                              c_void_p) + eb,
            "lsmvec_search_batch": (c_uint64, c_void_p, c_int64, c_int64, c_int32, c_int32, c_char_p, c_int64, c_int32,
                                    c_void_p, c_void_p, c_void_p) + eb,
            "lsmvec_go_search_loop": (c_uint64, c_void_p, c_int64, c_int64, c_int32, c_int32, c_int32, c_int32,
                                      POINTER(c_int64)) + eb,
            "lsmvec_payload_get": (c_uint64, c_uint64, c_void_p, c_int64, POINTER(c_int64)) + eb,
            "lsmvec_payload_set": (c_uint64, c_uint64, c_char_p, c_int64) + eb,
            "lsmvec_payload_patch": (c_uint64, c_uint64, c_char_p, c_int64, c_void_p, c_int64, POINTER(c_int64)) + eb,
            "lsmvec_bulk": (c_uint64, c_void_p, c_int64, c_int64, c_char_p, c_int64, c_int32, POINTER(c_int64),
                            POINTER(c_int64)) + eb,
            "lsmvec_stats": (c_uint64, c_void_p, c_int64, POINTER(c_int64)) + eb,
            "lsmvec_debug_panic": eb,
        }
        for name, args in sigs.items():
            fn = getattr(lib, name)
            fn.argtypes = args
            fn.restype = c_int
        lib.lsmvec_max_payload_bytes.argtypes = ()
        lib.lsmvec_max_payload_bytes.restype = c_int64
        _lib = lib
        return lib


class _Scratch(threading.local):
    """Per-thread buffers: the error message buffer and the result arrays of
    the last k searched, so that a search allocates no ctypes objects."""

    def __init__(self):
        self.err = ctypes.create_string_buffer(_ERRCAP)
        self.k = 0
        self.ids = None
        self.dists = None
        self.count = c_int32()

    def results(self, k):
        if self.k != k:
            self.ids = (c_uint64 * k)()
            self.dists = (c_float * k)()
            self.k = k
        return self.ids, self.dists


_scratch = _Scratch()


def _raise(rc, err):
    msg = err.value.decode("utf-8", "replace") or "lsm_vec: error code %d" % rc
    raise CODES.get(rc, LSMVecError)(msg)


def _debug_panic():
    """Calls the C ABI's deliberate panic (tests: a Go panic must surface as
    InternalError)."""
    lib = _load()
    sc = _scratch
    rc = lib.lsmvec_debug_panic(sc.err, _ERRCAP)
    if rc:
        _raise(rc, sc.err)


class LSMVecDB:
    """An open lsmvec data directory and its /v1 collection, in process.

    Create with LSMVecDB.open(path, options). The directory has the server's
    on-disk format: one closed by this class opens in `lsmvec -data DIR` and
    the other way round (never both at once: the store locks it). Every
    acknowledged write is durable (synced). Thread-safe; also a context
    manager (close on exit)."""

    def __init__(self, handle, options, lib):
        self._h = handle
        self._opts = options
        self._lib = lib
        self._dim = options.dim
        self._close_lock = threading.Lock()

    @classmethod
    def open(cls, path, options=None):
        """Opens (creating when absent) the data directory path."""
        if options is None:
            options = LSMVecDBOptions()
        if not isinstance(options, LSMVecDBOptions):
            raise InvalidArgument("options must be an LSMVecDBOptions")
        try:
            p = os.fsencode(path)
        except TypeError:
            raise InvalidArgument("path must be a str, bytes or os.PathLike, got %s" % type(path).__name__) from None
        if not p or b"\x00" in p:
            raise InvalidArgument("path must be non-empty and hold no NUL byte")
        coll = options.collection.encode("utf-8")
        lib = _load()
        h = c_uint64()
        sc = _scratch
        rc = lib.lsmvec_open(p, len(p), coll, len(coll), options.dim, int(options.metric), options.m,
                             options.m_max, options.ef_construction, options.ef_search, byref(h), sc.err, _ERRCAP)
        if rc:
            _raise(rc, sc.err)
        db = cls(h.value, options, lib)
        db._dim = db._load_dim()
        return db

    # -- lifecycle ---------------------------------------------------------

    def close(self):
        """Checkpoints the index and closes the directory. Idempotent."""
        with self._close_lock:
            h, self._h = self._h, 0
        if not h:
            return
        sc = _scratch
        rc = self._lib.lsmvec_close(h, sc.err, _ERRCAP)
        if rc and CODES.get(rc) is not Closed:
            _raise(rc, sc.err)

    @property
    def closed(self):
        return not self._h

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        try:
            if self._h:
                self.close()
        except Exception:
            pass

    def _handle(self):
        h = self._h
        if not h:
            raise Closed("lsm_vec: database is closed")
        return h

    def _load_dim(self):
        d = c_int64()
        sc = _scratch
        rc = self._lib.lsmvec_dim(self._handle(), byref(d), sc.err, _ERRCAP)
        if rc:
            _raise(rc, sc.err)
        return d.value

    @property
    def dim(self):
        """The collection's dimension; 0 until the first vector is written."""
        if not self._dim:
            self._dim = self._load_dim()
        return self._dim

    # -- vectors -----------------------------------------------------------

    def insert(self, id, vector, metadata=None):
        """Inserts or replaces the vector of id. metadata, when given (a dict,
        or JSON object text), replaces the payload in the same durable write;
        None keeps it. The first write creates the collection."""
        self._put(id, vector, metadata, False)

    def update(self, id, vector):
        """Replaces the vector of an existing id, keeping its payload.
        NotFound when id has no vector."""
        self._put(id, vector, None, True)

    def _put(self, id, vector, metadata, must_exist):
        i = _id(id)
        addr, n, keep = _floats(vector)
        if metadata is None:
            p, plen = None, -1
        else:
            p = _json_arg(metadata, "metadata")
            plen = len(p)
        sc = _scratch
        rc = self._lib.lsmvec_put(self._handle(), i, addr, n, p, plen, 1 if must_exist else 0, sc.err, _ERRCAP)
        if rc:
            _raise(rc, sc.err)
        if not self._dim:
            self._dim = n

    def delete(self, id):
        """Removes id's vector and payload. NotFound when absent."""
        sc = _scratch
        rc = self._lib.lsmvec_delete(self._handle(), _id(id), sc.err, _ERRCAP)
        if rc:
            _raise(rc, sc.err)

    def get(self, id):
        """Returns the stored vector of id (a list of floats, exactly as
        stored). NotFound when absent."""
        i = _id(id)
        d = self.dim
        if not d:
            raise CODES[2]("lsm_vec: vector %d not found (the collection is empty)" % i)
        out = array("f", bytes(4 * d))
        sc = _scratch
        rc = self._lib.lsmvec_get(self._handle(), i, out.buffer_info()[0], d, sc.err, _ERRCAP)
        if rc:
            _raise(rc, sc.err)
        return out.tolist()

    def __contains__(self, id):
        try:
            self.get(id)
        except CODES[2]:
            return False
        return True

    # -- search ------------------------------------------------------------

    def search_knn(self, query, k, ef_search=None):
        """Returns up to k nearest neighbours of query, nearest first, as
        SearchResult(id, distance). ef_search None uses the collection's
        (at least k). query: a float32 buffer (numpy array, array('f'),
        memoryview) passed without copying, or a list of numbers."""
        if k.__class__ is not int or not 0 < k <= MAX_K:
            k = _int(k, "k", 1, MAX_K)
        ef = 0 if ef_search is None else _int(ef_search, "ef_search", 1, MAX_EF)
        addr, n, keep = _floats(query, "query")
        sc = _scratch
        ids, dists = sc.results(k)
        cnt = sc.count
        rc = self._lib.lsmvec_search(self._handle(), addr, n, k, ef, None, 0, ids, dists, byref(cnt),
                                     sc.err, _ERRCAP)
        if rc:
            _raise(rc, sc.err)
        c = cnt.value
        return list(map(_tuple_new, repeat(SearchResult, c), zip(ids[:c], dists[:c])))  # = SearchResult(i, d)

    def search(self, query, k=10, ef_search=None, filter=None):
        """The /v1 search: up to k neighbours of query whose payload matches
        filter (the /v1 filter language: a dict or JSON text; None matches
        everything), as [{"id": ..., "distance": ...}], nearest first."""
        k = _int(k, "k", 1, MAX_K)
        ef = 0 if ef_search is None else _int(ef_search, "ef_search", 1, MAX_EF)
        f = None if filter is None else _json_arg(filter, "filter")
        addr, n, keep = _floats(query, "query")
        sc = _scratch
        ids, dists = sc.results(k)
        cnt = sc.count
        rc = self._lib.lsmvec_search(self._handle(), addr, n, k, ef, f, 0 if f is None else len(f), ids, dists,
                                     byref(cnt), sc.err, _ERRCAP)
        if rc:
            _raise(rc, sc.err)
        c = cnt.value
        return [{"id": i, "distance": d} for i, d in zip(ids[:c], dists[:c])]

    def search_knn_batch(self, queries, k, ef_search=None, dim=None, threads=1, filter=None, raw=False,
                         numpy=False):
        """Searches many queries in one call (one crossing into Go, the GIL
        released throughout): queries is a 2-D float32 buffer (numpy (n, dim)
        array, memoryview), a list of vectors, or a flat buffer with dim;
        float32 C-contiguous numpy arrays and writable buffers are read in
        place, not copied.
        threads: Go goroutines (0 = all CPUs; 1, the default, is
        single-threaded). filter: as in search().

        Returns one list of SearchResult per query, nearest first (the
        default; the cyclic garbage collector is paused while they are
        built, and left as it was found). numpy=True returns (ids, distances) numpy arrays instead,
        as hnswlib's knn_query does: ids uint64 and distances float32, both
        of shape (n, k) and owned by the caller; a query with fewer than k
        neighbours (a collection of fewer than k vectors, a selective
        filter) has its row padded with id NO_ID (2^64 - 1) and distance
        inf, a distance no stored vector has. It builds no Python object
        per result, so it is the fast form for large batches; it needs
        numpy (ImportError without it). raw=True returns (ids, distances,
        counts) as flat arrays: array('Q') and array('f') of n·k entries
        (query i's at i·k, valid up to counts[i]) and array('i') of n
        counts."""
        k = _int(k, "k", 1, MAX_K)
        ef = 0 if ef_search is None else _int(ef_search, "ef_search", 1, MAX_EF)
        threads = _int(threads, "threads", 0, 4096)
        f = None if filter is None else _json_arg(filter, "filter")
        if numpy and raw:
            raise InvalidArgument("raw=True and numpy=True are two output forms: pass one")
        np = _numpy() if numpy else None
        addr, nq, d, keep = _matrix(queries, dim)
        if np is not None:
            ids = np.empty((nq, k), dtype=np.uint64)
            dists = np.empty((nq, k), dtype=np.float32)
            ids_addr = ids.__array_interface__["data"][0]
            dists_addr = dists.__array_interface__["data"][0]
        else:
            ids = array("Q", bytes(8 * nq * k))
            dists = array("f", bytes(4 * nq * k))
            ids_addr = ids.buffer_info()[0]
            dists_addr = dists.buffer_info()[0]
        counts = array("i", bytes(4 * nq))
        sc = _scratch
        rc = self._lib.lsmvec_search_batch(self._handle(), addr, nq, d, k, ef, f, 0 if f is None else len(f), threads,
                                           ids_addr, dists_addr, counts.buffer_info()[0], sc.err, _ERRCAP)
        if rc:
            _raise(rc, sc.err)
        if np is not None:
            if counts.count(k) != nq:  # pad the short rows
                short = np.arange(k) >= np.frombuffer(counts, dtype=np.int32)[:, None]
                ids[short] = NO_ID
                dists[short] = np.inf
            return ids, dists
        if raw:
            return ids, dists, counts
        return _result_lists(ids, dists, counts, nq, k)

    def _go_search_loop(self, queries, k, ef_search=None, dim=None, rounds=1, threads=1):
        """Benchmark hook: runs the queries rounds times through the store's
        Search in a Go loop (no Python per query) on threads goroutines
        (0: all CPUs), as search_knn_batch shares them; returns the number
        of results seen."""
        addr, nq, d, keep = _matrix(queries, dim)
        ef = 0 if ef_search is None else _int(ef_search, "ef_search", 1, MAX_EF)
        seen = c_int64()
        sc = _scratch
        rc = self._lib.lsmvec_go_search_loop(self._handle(), addr, nq, d, _int(k, "k", 1, MAX_K), ef,
                                             _int(rounds, "rounds", 1, 1 << 20), _int(threads, "threads", 0, 4096),
                                             byref(seen), sc.err, _ERRCAP)
        if rc:
            _raise(rc, sc.err)
        return seen.value

    # -- payloads ----------------------------------------------------------

    def _json_call(self, fn, *args):
        sc = _scratch
        cap = 4096
        while True:
            buf = ctypes.create_string_buffer(cap)
            n = c_int64()
            rc = fn(self._handle(), *args, buf, cap, byref(n), sc.err, _ERRCAP)
            if rc == BUFFER_TOO_SMALL and n.value > cap:
                cap = n.value
                continue
            if rc:
                _raise(rc, sc.err)
            return json.loads(buf.raw[:n.value])

    def get_payload(self, id):
        """Returns id's payload (a dict; {} when none was set). NotFound when
        id has no vector."""
        return self._json_call(self._lib.lsmvec_payload_get, _id(id))

    def set_payload(self, id, payload):
        """Replaces id's payload (a dict or JSON object text, at most 64 KiB).
        NotFound when id has no vector."""
        i = _id(id)
        p = _json_arg(payload, "payload")
        sc = _scratch
        rc = self._lib.lsmvec_payload_set(self._handle(), i, p, len(p), sc.err, _ERRCAP)
        if rc:
            _raise(rc, sc.err)

    def update_payload(self, id, patch):
        """Applies an RFC 7396 merge patch (a dict: null members remove keys)
        to id's payload; returns the new payload."""
        i = _id(id)
        p = _json_arg(patch, "patch")
        cap = self._lib.lsmvec_max_payload_bytes() + 1
        buf = ctypes.create_string_buffer(cap)
        n = c_int64()
        sc = _scratch
        rc = self._lib.lsmvec_payload_patch(self._handle(), i, p, len(p), buf, cap, byref(n), sc.err, _ERRCAP)
        if rc == BUFFER_TOO_SMALL:  # cannot happen with a max-size buffer; stay correct anyway
            return self.get_payload(i)
        if rc:
            _raise(rc, sc.err)
        return json.loads(buf.raw[:n.value])

    # -- bulk and stats ----------------------------------------------------

    def bulk_build(self, vectors, threads=0, payloads=None, dim=None):
        """Loads vectors (a 2-D float32 buffer, a list of vectors, or a flat
        buffer with dim) with ids 0..n-1 into the empty collection and
        builds the graph on threads goroutines (0: all CPUs). payloads, when
        given, is a list of n dicts or None. Conflict if the collection holds
        vectors. Returns {"n": ..., "payloads": ...}."""
        threads = _int(threads, "threads", 0, 4096)
        addr, n, d, keep = _matrix(vectors, dim, "vectors")
        p = None
        if payloads is not None:
            if len(payloads) != n:
                raise InvalidArgument("payloads has %d entries for %d vectors" % (len(payloads), n))
            p = _json_arg(list(payloads), "payloads")
        on, op = c_int64(), c_int64()
        sc = _scratch
        rc = self._lib.lsmvec_bulk(self._handle(), addr, n, d, p, 0 if p is None else len(p), threads, byref(on),
                                   byref(op), sc.err, _ERRCAP)
        if rc:
            _raise(rc, sc.err)
        self._dim = d
        return {"n": on.value, "payloads": op.value}

    def stats(self):
        """The collection's and the storage engine's counters: the fields of
        the server's GET /v1/stats (README.md, "## /v1 stats")."""
        return self._json_call(self._lib.lsmvec_stats)
