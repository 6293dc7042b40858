"""qa: answers questions about news articles with verbatim quotes and their sources."""

from qa.config import Settings, get_settings
from qa.errors import (
    CorpusError,
    IndexBusyError,
    IndexCorruptError,
    IndexMismatchError,
    IndexMissingError,
    IndexUnusableError,
    InputError,
    ModelError,
    QAError,
)
from qa.schemas import AnswerOut, AskResponse, SourceOut, ask_response
from qa.types import Answer, Article, Hit, Passage, Result, Source, Span

__all__ = [
    "Answer",
    "AnswerOut",
    "Article",
    "AskResponse",
    "CorpusError",
    "Hit",
    "IndexBusyError",
    "IndexCorruptError",
    "IndexMismatchError",
    "IndexMissingError",
    "IndexUnusableError",
    "InputError",
    "ModelError",
    "Passage",
    "QAError",
    "Result",
    "Settings",
    "Source",
    "SourceOut",
    "Span",
    "ask_response",
    "get_settings",
]
