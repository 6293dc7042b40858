"""From files to clean articles to sentences and passages; no model here."""

from qa.corpus.clean import clean, review
from qa.corpus.load import SUPPORTED, Loaded, Problem, load
from qa.corpus.split import chunk, passages, sentences

__all__ = [
    "SUPPORTED",
    "Loaded",
    "Problem",
    "chunk",
    "clean",
    "load",
    "passages",
    "review",
    "sentences",
]
