"""Domain errors. Each message says what went wrong and what to do next.

The edges translate them: the CLI prints one line and exits non-zero, the API
answers with a 4xx, the bot replies politely.
"""

from __future__ import annotations


class QAError(Exception):
    """Base of every error qa raises on purpose."""


class InputError(QAError):
    """A question or an option the caller gave is not usable."""


class UnknownArticleError(InputError):
    """No article with the id asked for."""


class CorpusError(QAError):
    """Articles could not be found or read."""


class ModelError(QAError):
    """The embedding model could not be loaded."""


class IndexUnusableError(QAError):
    """The index on disk cannot be used as it is."""


class IndexMissingError(IndexUnusableError):
    """There is no index where one was expected."""


class IndexCorruptError(IndexUnusableError):
    """The index on disk is damaged or incomplete."""


class IndexMismatchError(IndexUnusableError):
    """The index was built with another model or dimension."""


class IndexBusyError(IndexUnusableError):
    """Another process is writing the index."""


class StoreUnavailableError(IndexUnusableError):
    """A database the store lives in (Milvus, PostgreSQL) cannot be reached now."""


class TryLaterError(QAError):
    """The request was refused for now; ``retry_after`` says in how many seconds to retry."""

    def __init__(self, message: str, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OverloadedError(TryLaterError):
    """More questions are waiting for the model than QA_MAX_PENDING."""


class RateLimitedError(TryLaterError):
    """One client asked more than QA_RATE_LIMIT questions per QA_RATE_WINDOW."""


class IndexWriteError(QAError):
    """The system refused a write to the index folder (disk full, read-only, permissions)."""


class FetchError(InputError):
    """A page or feed could not be fetched or used; the message names its URL."""


class UnsafeAddressError(FetchError):
    """A URL whose host is not a public address, refused against request forgery."""
