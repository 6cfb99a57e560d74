"""Exceptions of lsm_vec, one per status code of the C ABI (capi/engine.go)."""


class LSMVecError(Exception):
    """Base class of every error lsm_vec raises."""


class InvalidArgument(LSMVecError, ValueError):
    """An argument is malformed or out of range (bad vector, bad filter, ...)."""


class DimensionMismatch(InvalidArgument):
    """A vector's length differs from the collection's dimension."""


class NotFound(LSMVecError, KeyError):
    """The id (or the collection) does not exist."""

    def __str__(self):  # KeyError would repr() the message
        return Exception.__str__(self)


class Conflict(LSMVecError):
    """The operation conflicts with the stored state (bulk build into a
    non-empty collection, a collection of the Casper API, ...)."""


class Closed(LSMVecError):
    """The database was closed."""


class TooLarge(InvalidArgument):
    """A payload exceeds the size limit (64 KiB)."""


class StorageError(LSMVecError, OSError):
    """The store failed (an I/O error); reopen the database."""


class InternalError(LSMVecError):
    """A bug: the engine recovered from an internal panic."""


BUFFER_TOO_SMALL = 9

CODES = {
    1: InvalidArgument,
    2: NotFound,
    3: DimensionMismatch,
    4: Conflict,
    5: Closed,
    6: TooLarge,
    7: StorageError,
    8: InternalError,
}
