"""Passage and sentence vectors in FAISS, searched by inner product, ids = qa's ids.

Small indexes are searched exactly (a flat index). Past ``QA_EXACT_MAX`` passages the
passage vectors go into an inverted-file index (IVF): k-means cells, of which a search
visits ``QA_IVF_NPROBE``, so a question reads a few thousand vectors instead of all.
Which one an index uses, and what it was trained on, is its ``Layout``, kept in the
manifest. Files are memory-mapped when read, so a version costs the memory of what
questions touch, not of its size.
"""

from __future__ import annotations

import math
import os
from array import array
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import faiss
import numpy as np
from numpy.typing import NDArray

from qa.config import Settings
from qa.encoders.base import Vectors
from qa.store.admission import Admission
from qa.store.base import Scored
from qa.types import Filters

# FAISS splits a flat search of a few questions over OpenMP threads by question, so a
# lone question's other threads only wait, spinning; on a busy machine that cost more
# than the search itself (README "Where the time goes"). Questions come one at a time
# or in small micro-batches, so one thread; training uses every core. OpenMP's thread
# count is each thread's own: searches set it in the thread that searches (the
# service's question thread, not the main thread that imported this).
faiss.omp_set_num_threads(1)

# A filter that admits this few passages is searched exactly over just those, which is
# quicker than an IVF search told to skip the rest, and always finds k when k exist.
EXACT_FILTERED = 20_000
Codes = Literal["float32", "fp16", "int8"]  # how a flat index keeps each vector
EXACT_MAX: int = Settings.model_fields["exact_max"].default
SENTENCE_CODES: Codes = Settings.model_fields["sentence_codes"].default
NPROBE: int = Settings.model_fields["ivf_nprobe"].default
RETRAIN_GROWTH = 4.0  # an IVF index trained on n vectors is retrained past 4n
_TRAIN_PER_CELL = 64  # k-means sample: this many vectors per cell at most
_MIN_PER_CELL = 39
_HASHTABLE = 2  # faiss.DirectMap.Hashtable
_SEED = 20221
_TRAIN_FLAT = 65_536  # vectors a scalar quantizer learns its ranges from
_ADD_ROWS = 65_536  # vectors added to an index at a time


@dataclass(frozen=True, slots=True)
class Layout:
    """How passage vectors are indexed: exactly ("flat"), or in ``nlist`` IVF cells
    trained on ``trained_on`` vectors."""

    kind: Literal["flat", "ivf"] = "flat"
    nlist: int = 0
    trained_on: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> Layout:
        if not isinstance(data, dict):
            return cls()
        nlist, trained_on = int(data.get("nlist", 0)), int(data.get("trained_on", 0))
        return cls("ivf", nlist, trained_on) if data.get("kind") == "ivf" else cls()

    def retrain_due(self, size: int, exact_max: int) -> str | None:
        """Why ``qa index --rebuild`` would help at ``size`` vectors, or None."""
        if self.kind == "ivf" and size > RETRAIN_GROWTH * self.trained_on:
            return (
                f"the IVF index was trained on {self.trained_on:,} passages and holds "
                f"{size:,}: `qa index --rebuild` retrains it"
            )
        if self.kind == "flat" and size > exact_max:
            return f"{size:,} passages are searched exactly: `qa index --rebuild` makes it IVF"
        return None


def layout_for(size: int, exact_max: int) -> Layout:
    """Exact search up to ``exact_max`` vectors; past it, about 4·√n IVF cells."""
    if size <= exact_max:
        return Layout()
    nlist = 2 ** round(math.log2(4 * math.sqrt(size)))
    trainable = 2 ** math.floor(math.log2(max(size / _MIN_PER_CELL, 1)))  # k-means needs 39 a cell
    return Layout("ivf", max(1, min(nlist, trainable, 65_536)), size)


class FaissVectors:
    """One FAISS index; filters become an id selector inside the search."""

    def __init__(
        self, index: Any, admission: Admission | None = None, nprobe: int = NPROBE
    ) -> None:
        self._index = index
        self._admission = admission
        self._ivf = faiss.try_extract_index_ivf(index) if _is_ivf(index) else None
        self.nprobe = nprobe

    @classmethod
    def read(
        cls, path: Path, admission: Admission | None = None, nprobe: int = NPROBE
    ) -> FaissVectors:
        """Memory-mapped: the pages a search touches are read, not the whole file."""
        return cls(faiss.read_index(str(path), faiss.IO_FLAG_MMAP_IFC), admission, nprobe)

    @property
    def dimension(self) -> int:
        return int(self._index.d)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def approximate(self) -> bool:
        return self._ivf is not None

    @property
    def codes(self) -> str:
        """How each vector is kept: float32, fp16 or int8."""
        inner = faiss.downcast_index(getattr(self._index, "index", self._index))
        if not isinstance(inner, faiss.IndexScalarQuantizer):
            return "float32"
        return next((c for c, q in _QUANTIZERS.items() if q == inner.sq.qtype), "quantized")

    def search(self, queries: Vectors, k: int, filters: Filters) -> list[list[Scored]]:
        k = max(1, min(k, self.size))
        faiss.omp_set_num_threads(1)  # this thread's; 2 threads cost 0.7 ms a batch here
        allowed = self._admission.admitted_ids(filters) if self._admission else None
        if allowed is not None and not len(allowed):
            return [[] for _ in range(len(queries))]
        if allowed is not None and self._ivf is not None and len(allowed) <= EXACT_FILTERED:
            return self._exact_among(queries, k, allowed)
        selector = None if allowed is None else faiss.IDSelectorBatch(allowed)
        wanted = min(k, self.size if allowed is None else len(allowed))
        nprobe = self.nprobe
        while True:
            scores, ids = self._index.search(queries, k, params=self._params(selector, nprobe))
            short = bool(np.any(np.count_nonzero(ids >= 0, axis=1) < wanted))
            if self._ivf is None or not short or nprobe >= self._ivf.nlist:
                break
            nprobe *= 4  # a filter that emptied the visited cells: visit more
        return _scored(scores, ids)

    def vectors(self, ids: Sequence[int]) -> Vectors:
        if not len(ids):
            return np.zeros((0, self.dimension), dtype=np.float32)
        wanted = np.asarray(ids, dtype=np.int64)
        return np.asarray(self._index.reconstruct_batch(wanted), dtype=np.float32)

    def _params(self, selector: Any, nprobe: int) -> Any:
        params: Any
        if self._ivf is not None:
            params = faiss.SearchParametersIVF()
            params.nprobe = min(nprobe, self._ivf.nlist)
        elif selector is None:
            return None
        else:
            params = faiss.SearchParameters()
        params.sel = selector  # held by params during the search
        return params

    def _exact_among(
        self, queries: Vectors, k: int, allowed: NDArray[np.int64]
    ) -> list[list[Scored]]:
        stored = np.asarray(self._index.reconstruct_batch(allowed), dtype=np.float32)
        scores = np.matmul(queries, stored.T)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        return _scored(np.take_along_axis(scores, top, axis=1), allowed[top])


def write(
    path: Path,
    previous: Path | None,
    dimension: int,
    remove: Sequence[int],
    ids: Sequence[int],
    vectors: Vectors | Sequence[Vectors],
    *,
    layout: Layout | None = None,
    codes: Codes = "float32",
) -> None:
    """``previous`` (or an empty index) less ``remove``, plus ``ids`` with their vectors.

    ``layout`` (flat when None) is made anew from every vector when given: an IVF
    index is trained then. Without it the new vectors join the previous index as it is
    (an IVF index's trained cells, and a flat one's ``codes``, included). ``vectors``
    may come in parts, so that they need not all be in memory at once.
    """
    parts = [vectors] if isinstance(vectors, np.ndarray) else list(vectors)
    new_ids = np.asarray(ids, dtype=np.int64)
    index: Any = None
    if previous is not None:
        index = faiss.read_index(str(previous))
        if len(remove):
            gone = np.asarray(remove, dtype=np.int64)
            index.remove_ids(faiss.IDSelectorArray(len(gone), faiss.swig_ptr(gone)))
    if index is None or layout is not None:
        if index is not None:
            old_ids, old_vectors = _contents(index)
            parts = [old_vectors, *parts]
            new_ids = np.concatenate([old_ids, new_ids])
        if codes == "int8" and not sum(len(p) for p in parts):
            codes = "float32"  # no vectors to learn int8's ranges from
        index = _new_index(layout or Layout(), dimension, codes)
        if not index.is_trained:
            _train(index, parts)
    offset = 0
    for part in parts:  # a slice at a time: a memory-mapped part is not copied whole
        for a in range(0, len(part), _ADD_ROWS):
            rows = np.ascontiguousarray(part[a : a + _ADD_ROWS], dtype=np.float32)
            index.add_with_ids(rows, new_ids[offset + a : offset + a + len(rows)])
        offset += len(part)
    faiss.write_index(index, str(path))


class Spool:
    """Vectors gathered batch by batch in a file, for a write too large to hold them as
    they come (the FAISS index made from them is all that is in memory then)."""

    def __init__(self, path: Path, dimension: int) -> None:
        self.path = path
        self.dimension = dimension
        self.ids = array("q")
        self._out = open(path, "wb")  # noqa: SIM115 (held until ``vectors``)

    def add(self, ids: Sequence[int], vectors: Sequence[Vectors]) -> None:
        self.ids.extend(ids)
        for part in vectors:
            self._out.write(np.ascontiguousarray(part, dtype="<f4").tobytes())

    def vectors(self) -> Vectors:
        """Everything added, memory-mapped from the file."""
        self._out.close()
        if not self.ids:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.memmap(self.path, dtype="<f4", mode="r", shape=(len(self.ids), self.dimension))

    def remove(self) -> None:
        self._out.close()
        self.path.unlink(missing_ok=True)


_QUANTIZERS = {"fp16": faiss.ScalarQuantizer.QT_fp16, "int8": faiss.ScalarQuantizer.QT_8bit}


def _new_index(layout: Layout, dimension: int, codes: Codes = "float32") -> Any:
    if layout.kind == "flat" and codes == "float32":
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    if layout.kind == "flat":  # int8 learns each dimension's range when trained
        flat = faiss.IndexScalarQuantizer(dimension, _QUANTIZERS[codes], faiss.METRIC_INNER_PRODUCT)
        return faiss.IndexIDMap2(flat)
    quantizer = faiss.IndexFlatIP(dimension)
    index = faiss.IndexIVFFlat(quantizer, dimension, layout.nlist, faiss.METRIC_INNER_PRODUCT)
    index.set_direct_map_type(_HASHTABLE)  # reconstruct by qa's ids, which are sparse
    return index


def _train(index: Any, parts: Sequence[Vectors]) -> None:
    """k-means (or a scalar quantizer's ranges) on a sample of every part, with every core."""
    ends = np.cumsum([len(p) for p in parts])
    total = int(ends[-1]) if len(ends) else 0
    ivf = faiss.try_extract_index_ivf(index)
    take = min(total, ivf.nlist * _TRAIN_PER_CELL if ivf is not None else _TRAIN_FLAT)
    rows = np.sort(np.random.default_rng(_SEED).choice(total, size=take, replace=False))
    owner = np.searchsorted(ends, rows, side="right")  # which part holds each row
    held, first = np.unique(owner, return_index=True)  # rows are sorted: runs per part
    sample = []
    for part, a, b in zip(held, first, [*first[1:], len(rows)], strict=True):
        mine = rows[a:b] - (ends[part] - len(parts[part]))
        sample.append(np.asarray(parts[part][mine], dtype=np.float32))
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    try:
        index.train(np.ascontiguousarray(np.vstack(sample)))
    finally:
        faiss.omp_set_num_threads(threads)


def _contents(index: Any) -> tuple[NDArray[np.int64], Vectors]:
    """Every id and vector an index holds."""
    if _is_ivf(index):
        ivf = faiss.extract_index_ivf(index)
        lists = ivf.invlists
        assert lists is not None
        found = [
            faiss.rev_swig_ptr(lists.get_ids(cell), lists.list_size(cell)).copy()
            for cell in range(ivf.nlist)
            if lists.list_size(cell)
        ]
        ids = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    else:
        ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    if not len(ids):
        return _empty(int(index.d))
    return ids, np.asarray(index.reconstruct_batch(ids), dtype=np.float32)


def _empty(dimension: int) -> tuple[NDArray[np.int64], Vectors]:
    return np.zeros(0, dtype=np.int64), np.zeros((0, dimension), dtype=np.float32)


def _is_ivf(index: Any) -> bool:
    return faiss.try_extract_index_ivf(index) is not None


def _scored(scores: np.ndarray, ids: np.ndarray) -> list[list[Scored]]:
    return [
        [Scored(int(i), float(s)) for s, i in zip(row_s, row_i, strict=True) if i >= 0]
        for row_s, row_i in zip(scores, ids, strict=True)
    ]
