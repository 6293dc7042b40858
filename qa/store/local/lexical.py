"""BM25 over the passages (bm25s), stored beside the FAISS vectors in each version.

Lexical matching finds what embeddings miss: names, numbers and rare words. The BM25
index is rebuilt whole on every write; tokenising is cheap next to embedding.
"""

from __future__ import annotations

import json
import logging
import re
from array import array
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qa.store.admission import Admission
from qa.store.base import Scored
from qa.types import Filters

IDS = "ids.npy"
SETTINGS = "tokenizer.json"
TOKENIZER = {"stopwords": "en", "stemmer": "english", "token_pattern": r"(?u)\b\w\w+\b"}


class Bm25Lexical:
    """BM25 scores of passages for questions; ids are passage ids."""

    def __init__(
        self, model: Any, ids: NDArray[np.int64], admission: Admission | None = None
    ) -> None:
        self._model = model
        self.ids = ids
        self._admission = admission

    @property
    def size(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, texts: Iterable[str], ids: Sequence[int]) -> Bm25Lexical:
        """The texts are read once, one at a time, so that a million of them need not be
        held at once; each one's words are kept as a compact array of ids."""
        import bm25s

        model = bm25s.BM25()
        corpus, vocab = _word_ids(texts)
        if corpus:  # texts of stopwords alone have no mean length: NaN scores, never > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                model.index((corpus, vocab), show_progress=False)
        return cls(model, np.asarray(ids, dtype=np.int64))

    def save(self, folder: Path) -> None:
        folder.mkdir()
        if len(self.ids):
            self._model.save(str(folder), show_progress=False)
        np.save(folder / IDS, self.ids)
        (folder / SETTINGS).write_text(json.dumps(TOKENIZER), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, admission: Admission | None = None) -> Bm25Lexical:
        """Raise OSError or ValueError when the files are missing or do not fit together."""
        import bm25s

        if json.loads((folder / SETTINGS).read_text(encoding="utf-8")) != TOKENIZER:
            raise ValueError("the BM25 index was built with another tokenizer")
        ids = np.load(folder / IDS)
        if not len(ids):
            return cls(bm25s.BM25(), ids, admission)
        _quiet_bm25s()
        model = bm25s.BM25.load(str(folder), mmap=True, show_progress=False)
        return cls(model, ids, admission)

    def search(self, questions: Sequence[str], k: int, filters: Filters) -> list[list[Scored]]:
        """The ``k`` best passages per question that the filters admit; only scores > 0."""
        found: list[list[Scored]] = [[] for _ in questions]
        if not len(self.ids):
            return found
        mask = self._admission.mask(self.ids, filters) if self._admission else None
        for row, question in enumerate(questions):
            words = stems(question)  # as bm25s.tokenize would, in a tenth of the time
            if not words:  # only stopwords or one-letter words: nothing to match
                continue
            scores, rows, repeats = self._scores(words)
            if mask is not None:
                rows = rows[mask[rows]]
            picked = top_among(scores, rows, repeats, k)
            found[row] = [Scored(int(self.ids[i]), float(scores[i])) for i in picked]
        return found

    def _scores(self, words: list[str]) -> tuple[NDArray[np.float32], NDArray[np.int32], int]:
        """bm25s's scores of every passage for these words (a word asked twice counts
        twice, as in its ``get_scores``), and the rows of the words' postings: the only
        rows that score. Added row by row, not with ``np.add.at`` as bm25s does, which
        cost 4 ms a question at a million passages: a word's postings hold each row once.
        """
        matrix = self._model.scores
        indptr, indices, data = matrix["indptr"], matrix["indices"], matrix["data"]
        vocab = self._model.vocab_dict
        scores = np.zeros(matrix["num_docs"], dtype=self._model.dtype)
        postings = []
        for word in words:
            if word in vocab:
                at = vocab[word]
                rows = indices[indptr[at] : indptr[at + 1]]
                scores[rows] += data[indptr[at] : indptr[at + 1]]
                postings.append(rows)
        if not postings:
            return scores, np.zeros(0, dtype=np.int32), 1
        return scores, np.concatenate(postings), len(postings)


def top_among(
    scores: NDArray[np.float32], rows: NDArray[np.integer[Any]], repeats: int, k: int
) -> NDArray[np.intp]:
    """The rows of the ``k`` highest positive scores, best first, ties in row order (as a
    stable sort of every score would give), when only ``rows`` may score (each there at
    most ``repeats`` times): only their scores are read, not a million. Of the
    ``k * repeats`` best entries at least ``k`` are distinct rows, so the k-th best
    row's score is among them; rows tied with it are taken from all ``rows``."""
    values = scores[rows]
    positive = values > 0
    rows, values = rows[positive], values[positive]
    enough = k * repeats
    cut_off = len(rows) > enough  # then rows tied with the last candidate may be left out
    if cut_off:
        best = np.argpartition(values, len(values) - enough)[len(values) - enough :]
        candidates = np.unique(rows[best])
    else:
        candidates = np.unique(rows)
    if cut_off or len(candidates) > k:
        cut = np.partition(scores[candidates], len(candidates) - k)[len(candidates) - k]
        above = candidates[scores[candidates] > cut]
        ties = np.unique(rows[values == cut])[: k - len(above)]
        candidates = np.concatenate([above, ties])
    order = np.lexsort((candidates, -scores[candidates]))  # best first, ties in row order
    picked: NDArray[np.intp] = candidates[order]
    return picked


def _word_ids(texts: Iterable[str]) -> tuple[list[array[int]], dict[str, int]]:
    """Each text's stems as ids into one vocabulary: the words ``bm25s.tokenize`` would
    give, without holding every text and every list of words at once."""
    stem = _stemmer()
    vocab: dict[str, int] = {"": 0}  # bm25s's empty word, so no vocabulary is empty
    known: dict[str, int] = {}  # a word as written -> its stem's id
    corpus: list[array[int]] = []
    for text in texts:
        words = _words(text)
        try:
            corpus.append(array("i", [known[w] for w in words]))
        except KeyError:  # words not seen before: stem them once
            new = list(dict.fromkeys(w for w in words if w not in known))
            for word, stemmed in zip(new, stem(new), strict=True):
                known[word] = vocab.setdefault(stemmed, len(vocab))
            corpus.append(array("i", [known[w] for w in words]))
    return corpus, vocab


def stems(text: str) -> list[str]:
    """The words of a text as the index sees them: lowercased, no stopwords, stemmed.

    For scoring a few texts at question time, where ``bm25s.tokenize`` costs more than
    the words.
    """
    return list(_stemmer()(_words(text)))


def _words(text: str) -> list[str]:
    """A text's words before stemming: lowercased, stopwords left out."""
    stopwords = _stopwords()
    return [w for w in _TOKEN.findall(text.lower()) if w not in stopwords]


_TOKEN = re.compile(TOKENIZER["token_pattern"])


@cache
def _stopwords() -> frozenset[str]:
    from bm25s.stopwords import STOPWORDS_EN  # TOKENIZER's "en"

    return frozenset(STOPWORDS_EN)


@cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer(TOKENIZER["stemmer"]).stemWords


def _quiet_bm25s() -> None:
    """bm25s warns when it finds no saved corpus; we never save one."""
    logging.getLogger("bm25s").setLevel(logging.ERROR)
