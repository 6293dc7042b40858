"""Cosines of one question with the passages and sentences it may be answered from.

Each is computed once per question: the dense search's own scores are kept, and the
vectors it did not score are read from the store in one batch, then reused by fusion,
by the sentence scores of each hit and by the folding of answers that say the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from qa.encoders import Vectors
from qa.store import Scored, Snapshot, StoredPassage


class Evidence:
    """What is known of one question's vector against the store, read lazily in batches."""

    def __init__(self, snapshot: Snapshot, vector: np.ndarray) -> None:
        self.snapshot = snapshot
        self.vector = vector
        self._passages: dict[int, float] = {}
        self._sentences: dict[int, int] = {}  # sentence id -> row of _rows
        self._rows: list[Vectors] = []
        self._matrix: Vectors | None = None

    def seed(self, scored: Iterable[Scored]) -> None:
        """Cosines a search already computed."""
        for found in scored:
            self._passages.setdefault(found.id, found.score)

    def passage_cosines(self, ids: Sequence[int]) -> np.ndarray:
        missing = [i for i in dict.fromkeys(ids) if i not in self._passages]
        if missing:
            cosines = self.snapshot.passage_vectors.vectors(missing) @ self.vector
            self._passages.update(zip(missing, (float(c) for c in cosines), strict=True))
        return np.fromiter((self._passages[i] for i in ids), np.float32, len(ids))

    def sentence_cosines(self, passages: Sequence[StoredPassage]) -> np.ndarray:
        """The cosine of every sentence of ``passages``, passage after passage."""
        ids = [s for p in passages for s in p.sentence_ids]
        cosines: np.ndarray = self.sentence_vectors(ids) @ self.vector
        return cosines

    def sentence_vectors(self, ids: Sequence[int]) -> Vectors:
        """Stored vectors of sentences; those not read yet are read now, in one batch."""
        if not len(ids):
            return np.zeros((0, len(self.vector)), dtype=np.float32)
        self._read_sentences(ids)
        if self._matrix is None or len(self._matrix) != len(self._sentences):
            self._matrix = np.vstack(self._rows)
        rows = np.fromiter((self._sentences[i] for i in ids), np.int64, len(ids))
        return self._matrix[rows]

    def _read_sentences(self, ids: Sequence[int]) -> None:
        missing = [i for i in dict.fromkeys(ids) if i not in self._sentences]
        if not missing:
            return
        first = len(self._sentences)
        self._sentences.update((sid, first + n) for n, sid in enumerate(missing))
        self._rows.append(self.snapshot.sentence_vectors.vectors(missing))
