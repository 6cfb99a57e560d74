"""lsmvec_client: a dependency-free Python client for lsmvec's /v1 HTTP API.

    from lsmvec_client import Client
    c = Client("http://localhost:8080", api_key="...")
    c.insert(1, [0.1, 0.2, 0.3], metadata={"color": "red"})
    print(c.search([0.1, 0.2, 0.3], k=5))

See Client for the methods and lsmvec_client.errors for the exceptions.
"""

__version__ = "0.1.0"

from .client import Client, SearchResult  # noqa: E402
from .errors import (  # noqa: E402
    Conflict,
    Forbidden,
    InvalidArgument,
    LSMVecConnectionError,
    LSMVecError,
    LSMVecTimeout,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServerError,
    ServiceUnavailable,
    Unauthorized,
)

ConnectionError_ = LSMVecConnectionError
"""Alias of LSMVecConnectionError (the name avoids shadowing the builtin)."""

__all__ = [
    "Client",
    "SearchResult",
    "LSMVecError",
    "InvalidArgument",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "MethodNotAllowed",
    "Conflict",
    "PayloadTooLarge",
    "RateLimited",
    "ServerError",
    "ServiceUnavailable",
    "LSMVecConnectionError",
    "ConnectionError_",
    "LSMVecTimeout",
    "__version__",
]
