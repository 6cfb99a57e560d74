"""Exceptions raised by :mod:`lsmvec_client`.

Every exception the client raises for a failed call is an :class:`LSMVecError`.
Errors the server reported carry its HTTP status in ``.status``, its
snake_case error code in ``.code`` (for example ``"not_found"`` or
``"db_not_empty"``) and the decoded response body in ``.details``. Errors
detected before anything was sent (an id that is not a u64, a vector with a
NaN) are :class:`InvalidArgument` with ``status`` ``None``. Network failures
are :class:`LSMVecConnectionError` (and :class:`LSMVecTimeout` for timeouts),
with ``status`` ``None``.
"""

from __future__ import annotations

import email.utils
import time
from typing import Any, Dict, Optional, Type

__all__ = [
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
    "LSMVecTimeout",
    "error_for_status",
]


class LSMVecError(Exception):
    """Base class of every error raised by the client.

    Attributes:
        message: the human-readable message (the server's ``error`` field when
            the server sent one).
        status: the HTTP status code, or ``None`` when the error did not come
            from an HTTP response (local validation, network failure).
        code: the server's snake_case error code (``"invalid_vector"``,
            ``"not_found"``, ...), or a client code such as ``"connection"``.
        details: the decoded response body: a ``dict`` for the server's JSON
            errors, a ``str`` when the body was not JSON, ``None`` when there
            was no body.
    """

    def __init__(
        self,
        message: str,
        status: Optional[int] = None,
        code: Optional[str] = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.details = details

    def __reduce__(self) -> Any:
        # Keeps status, code, details (and retry_after) through pickle, e.g.
        # across multiprocessing.
        return (_rebuild, (type(self), self.message, self.status, self.code, self.details, self.__dict__))

    def __str__(self) -> str:
        parts = []
        if self.status is not None:
            parts.append(str(self.status))
        if self.code:
            parts.append(self.code)
        prefix = " ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"code={self.code!r})"
        )


def _rebuild(
    cls: Type["LSMVecError"], message: str, status: Optional[int], code: Optional[str], details: Any, state: Dict[str, Any]
) -> "LSMVecError":
    e = cls(message, status, code, details)
    e.__dict__.update(state)
    return e


class InvalidArgument(LSMVecError, ValueError):
    """400: the request was malformed (bad JSON, wrong dimension, NaN, bad
    filter, ...). Also raised, with ``status`` ``None``, for arguments the
    client rejects before sending anything. It is a :class:`ValueError` too."""


class Unauthorized(LSMVecError):
    """401: the API key is missing or unknown."""


class Forbidden(LSMVecError):
    """403: the API key is valid but may not do this (a read-only key
    writing)."""


class NotFound(LSMVecError):
    """404: the vector (or route) does not exist."""


class MethodNotAllowed(LSMVecError):
    """405: the method is not allowed on this route, or the collection is
    muted."""


class Conflict(LSMVecError):
    """409: the request conflicts with the current state (for example a bulk
    build on a non-empty collection: ``code == "db_not_empty"``)."""


class PayloadTooLarge(LSMVecError):
    """413: the request body (or a payload) is over the server's limit."""


class RateLimited(LSMVecError):
    """429: the API key is over its rate limit.

    Attributes:
        retry_after: seconds to wait before retrying, from the ``Retry-After``
            header (``None`` when the server sent none).
    """

    def __init__(
        self,
        message: str,
        status: Optional[int] = None,
        code: Optional[str] = None,
        details: Any = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message, status, code, details)
        self.retry_after = retry_after


class ServerError(LSMVecError):
    """5xx: the server failed or is not ready.

    Attributes:
        retry_after: seconds from the ``Retry-After`` header, if any.
    """

    def __init__(
        self,
        message: str,
        status: Optional[int] = None,
        code: Optional[str] = None,
        details: Any = None,
        retry_after: Optional[float] = None,
    ) -> None:
        super().__init__(message, status, code, details)
        self.retry_after = retry_after


class ServiceUnavailable(ServerError):
    """503: the server is not ready (store opening, index loading) or its
    store failed."""


class LSMVecConnectionError(LSMVecError, ConnectionError):
    """The server could not be reached or the connection broke before a full
    response arrived. ``status`` is ``None``; the underlying exception is
    chained as ``__cause__``. It is a builtin :class:`ConnectionError` too."""


class LSMVecTimeout(LSMVecConnectionError, TimeoutError):
    """The request did not complete within the client's timeout. It is a
    builtin :class:`TimeoutError` too."""


_BY_STATUS: Dict[int, Type[LSMVecError]] = {
    400: InvalidArgument,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    405: MethodNotAllowed,
    409: Conflict,
    413: PayloadTooLarge,
    429: RateLimited,
    503: ServiceUnavailable,
}


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """Returns the delay in seconds that a ``Retry-After`` header value asks
    for (delta-seconds or an HTTP date), or ``None`` when it is absent or
    unparsable. A date in the past gives 0."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        secs = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        if now is None:
            now = time.time()
        return max(0.0, when.timestamp() - now)
    if secs != secs or secs < 0 or secs == float("inf"):
        return None
    return secs


def error_for_status(
    status: int,
    body: Any,
    retry_after_header: Optional[str] = None,
    reason: str = "",
) -> LSMVecError:
    """Returns the exception for an HTTP error response: the subclass for
    ``status`` (:class:`ServerError` for other 5xx, :class:`LSMVecError` for
    other statuses), with the message and code taken from a JSON body of the
    form ``{"error": ..., "code": ...}`` when there is one."""
    message: Optional[str] = None
    code: Optional[str] = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, str):
            message = err
        elif isinstance(err, dict) and isinstance(err.get("message"), str):
            message = err["message"]
        c = body.get("code")
        if isinstance(c, str):
            code = c
    elif isinstance(body, str) and body.strip():
        message = body.strip()[:500]
    if message is None:
        message = reason or f"HTTP {status}"
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = ServerError if 500 <= status <= 599 else LSMVecError
    if cls is RateLimited:
        return RateLimited(message, status, code, body, retry_after=parse_retry_after(retry_after_header))
    if issubclass(cls, ServerError):
        return cls(message, status, code, body, retry_after=parse_retry_after(retry_after_header))
    return cls(message, status, code, body)
