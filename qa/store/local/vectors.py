"""Passage and sentence vectors in FAISS, exact inner-product search, ids = qa's ids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from qa.encoders.base import Vectors
from qa.store.admission import Admission
from qa.store.base import Scored
from qa.types import Filters

# FAISS splits a flat search of a few questions over OpenMP threads by question, so a
# lone question's other threads only wait, spinning; on a busy machine that cost more
# than the search itself (README "Where the time goes"). Questions come one at a time
# or in small micro-batches, so one thread.
faiss.omp_set_num_threads(1)


class FaissVectors:
    """One FAISS index; filters become an id selector inside the search."""

    def __init__(self, index: Any, admission: Admission | None = None) -> None:
        self._index = index
        self._admission = admission

    @classmethod
    def read(cls, path: Path, admission: Admission | None = None) -> FaissVectors:
        return cls(faiss.read_index(str(path)), admission)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    def search(self, queries: Vectors, k: int, filters: Filters) -> list[list[Scored]]:
        k = max(1, min(k, self.size))
        allowed = self._admission.admitted_ids(filters) if self._admission else None
        if allowed is None:
            scores, ids = self._index.search(queries, k)
        elif not len(allowed):
            return [[] for _ in range(len(queries))]
        else:
            params = faiss.SearchParameters()
            params.sel = faiss.IDSelectorBatch(allowed)  # held by params during the search
            scores, ids = self._index.search(queries, k, params=params)
        return [
            [Scored(int(i), float(s)) for s, i in zip(row_s, row_i, strict=True) if i >= 0]
            for row_s, row_i in zip(scores, ids, strict=True)
        ]

    def vectors(self, ids: Sequence[int]) -> Vectors:
        if not len(ids):
            return np.zeros((0, self.dimension), dtype=np.float32)
        wanted = np.asarray(ids, dtype=np.int64)
        return np.asarray(self._index.reconstruct_batch(wanted), dtype=np.float32)


def write(
    path: Path,
    previous: Path | None,
    dimension: int,
    remove: Sequence[int],
    ids: Sequence[int],
    vectors: Vectors,
) -> None:
    """``previous`` (or an empty index) less ``remove``, plus ``ids`` with their vectors."""
    index: Any
    if previous is None:
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    else:
        index = faiss.read_index(str(previous))
        if len(remove):
            index.remove_ids(faiss.IDSelectorBatch(np.asarray(remove, dtype=np.int64)))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors), np.asarray(ids, dtype=np.int64))
    faiss.write_index(index, str(path))
