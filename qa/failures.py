"""The system's refusals to write the index (disk full, read-only, no permission) as
errors that say what to do. A failed write leaves the index in use as it was.

SQLite and FAISS report the same refusals in their own words; they are recognised here
so that a full disk is never an "unexpected error".
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from qa.errors import IndexWriteError

_ADVICE = {
    errno.ENOSPC: "free some space there (or set QA_INDEX_DIR to a bigger disk)",
    errno.EDQUOT: "free some space there or raise the quota (or set QA_INDEX_DIR elsewhere)",
    errno.EFBIG: "a file grew past the size this system allows; raise the limit or index less",
    errno.EROFS: "it is on a read-only file system; mount it writable or set QA_INDEX_DIR",
    errno.EACCES: "this user may not write there; fix its permissions or set QA_INDEX_DIR",
    errno.EPERM: "this user may not write there; fix its permissions or set QA_INDEX_DIR",
}
# How SQLite and FAISS word the same failures (FAISS quotes strerror).
_WORDING = {
    "disk is full": errno.ENOSPC,
    "no space left": errno.ENOSPC,
    "disk quota": errno.EDQUOT,
    "file too large": errno.EFBIG,
    "read-only": errno.EROFS,
    "readonly": errno.EROFS,
    "permission denied": errno.EACCES,
}


def refusal(exc: BaseException) -> int | None:
    """The errno of a write the system refused, if ``exc`` is one."""
    if isinstance(exc, OSError) and exc.errno in _ADVICE:
        return exc.errno
    if isinstance(exc, sqlite3.Error | RuntimeError | OSError):
        text = str(exc).lower()
        return next((code for words, code in _WORDING.items() if words in text), None)
    return None


@contextlib.contextmanager
def writing(location: str | Path) -> Iterator[None]:
    """Turn a refused write inside into IndexWriteError; other errors pass unchanged."""
    try:
        yield
    except (OSError, sqlite3.Error, RuntimeError) as exc:
        code = refusal(exc)
        if code is None:
            raise
        raise IndexWriteError(
            f"cannot write the index in {location}: {os.strerror(code).lower()}; "
            f"{_ADVICE[code]}. The index in use is unchanged and still answers."
        ) from exc
