"""lsm_vec: the lsmvec engine embedded in Python (no server).

    import lsm_vec
    opts = lsm_vec.LSMVecDBOptions(dim=4, metric=lsm_vec.DistanceMetric.L2)
    with lsm_vec.LSMVecDB.open("data", opts) as db:
        db.insert(1, [0.1, 0.2, 0.3, 0.4], metadata={"color": "red"})
        db.search([0.1, 0.2, 0.3, 0.4], k=5, filter={"color": "red"})

The data directory has the lsmvec server's format. The Go engine is a
shared library built by `pip install --no-build-isolation .` at the
repository root (README.md, "Embedded Python engine").
"""

from ._db import MAX_EF, MAX_K, NO_ID, DistanceMetric, LSMVecDB, LSMVecDBOptions, SearchResult
from ._errors import (Closed, Conflict, DimensionMismatch, InternalError, InvalidArgument, LSMVecError, NotFound,
                      StorageError, TooLarge)

__version__ = "0.1.0"

__all__ = [
    "DistanceMetric", "LSMVecDB", "LSMVecDBOptions", "SearchResult", "MAX_K", "MAX_EF", "NO_ID",
    "LSMVecError", "InvalidArgument", "DimensionMismatch", "NotFound", "Conflict", "Closed", "TooLarge",
    "StorageError", "InternalError",
]
