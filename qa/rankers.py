"""How passages are ranked for a question: by meaning, by words, or both fused.

A ranker is chosen from the settings (``QA_RETRIEVER``); ``QA_RERANKER`` wraps it in a
cross-encoder that re-scores its first candidates.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.errors import InputError, ModelError
from qa.evidence import Evidence
from qa.fusion import Bag, Weights, fuse, neighbourhood_bm25
from qa.kept import keep
from qa.store import Scored, Snapshot, StoredPassage
from qa.store.base import indexed_text
from qa.store.local.lexical import stems
from qa.types import Filters

RANKERS = ("dense", "bm25", "hybrid")
# Hybrid search fuses this many candidates from each list at least: enough for the
# normalisation to see the spread of scores, which is what the weights were chosen with.
FUSION_POOL = 100
# Passages whose words hybrid search keeps counted (qa.kept): a topic's
# passages come near question after question, so each is stemmed and counted once.
BAGS_KEPT = 50_000


class Ranker(ABC):
    """Ranks a snapshot's passages for questions, best first."""

    name: str

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    @abstractmethod
    def rank(
        self, questions: Sequence[str], evidence: Sequence[Evidence], k: int, filters: Filters
    ) -> list[list[Scored]]:
        """Up to ``k`` passages per question; ``evidence[i]`` is question i's vector."""


class DenseRanker(Ranker):
    name = "dense"

    def rank(
        self, questions: Sequence[str], evidence: Sequence[Evidence], k: int, filters: Filters
    ) -> list[list[Scored]]:
        return dense(self.snapshot, evidence, k, filters)


class Bm25Ranker(Ranker):
    name = "bm25"

    def rank(
        self, questions: Sequence[str], evidence: Sequence[Evidence], k: int, filters: Filters
    ) -> list[list[Scored]]:
        return self.snapshot.lexical.search(questions, k, filters)


class HybridRanker(Ranker):
    """Meaning and words, z-normalised over the question's candidates and added.

    The words are scored again with the IDF of the question's neighbourhood (the dense
    list's first passages), so that the order of a topic's passages holds as unrelated
    articles are added (qa.fusion).
    """

    name = "hybrid"

    def __init__(
        self,
        snapshot: Snapshot,
        weights: Weights,
        neighbourhood: int = 100,
        beside_from: int = 20_000,
    ) -> None:
        super().__init__(snapshot)
        self.weights = weights
        self.beside = snapshot.manifest.passages >= beside_from  # QA_BESIDE_FROM
        self.neighbourhood = neighbourhood  # QA_FUSION_NEIGHBOURHOOD; 0: the index's BM25
        self._bags: dict[int, Bag] = {}  # by passage id, at most BAGS_KEPT

    def rank(
        self, questions: Sequence[str], evidence: Sequence[Evidence], k: int, filters: Filters
    ) -> list[list[Scored]]:
        pool = max(k, FUSION_POOL)
        search = self.snapshot.lexical.search
        if self.beside:
            words = _helper(os.getpid()).submit(search, questions, pool, filters)
            dense_lists = dense(self.snapshot, evidence, pool, filters)
            lexical_lists = words.result()
        else:
            dense_lists = dense(self.snapshot, evidence, pool, filters)
            lexical_lists = search(questions, pool, filters)
        return [
            self._fuse(q, known, d, lx, k)
            for q, known, d, lx in zip(questions, evidence, dense_lists, lexical_lists, strict=True)
        ]

    def _fuse(
        self,
        question: str,
        evidence: Evidence,
        dense: list[Scored],
        lexical: list[Scored],
        k: int,
    ) -> list[Scored]:
        # The dense list first, in its order: its head is the neighbourhood.
        candidates = list(dict.fromkeys([s.id for s in dense] + [s.id for s in lexical]))
        if not candidates:
            return []
        passages = [self.snapshot.documents.passage(pid) for pid in candidates]
        sentence_cosine = evidence.sentence_cosines(passages)
        starts = np.cumsum([0] + [len(p.sentence_ids) for p in passages[:-1]])
        best = np.maximum.reduceat(sentence_cosine, starts)
        if dense and self.neighbourhood:
            bm25 = self._words(question, passages, min(len(dense), self.neighbourhood))
        else:  # the index's own BM25 (and with no vectors there is no neighbourhood)
            scores = {s.id: s.score for s in lexical}
            bm25 = np.array([scores.get(pid, 0.0) for pid in candidates], dtype=np.float64)
        cosines = evidence.passage_cosines(candidates)
        fused = fuse(candidates, cosines, best, bm25, self.weights, limit=k)
        return [Scored(pid, score) for pid, score in fused]

    def _words(
        self, question: str, passages: Sequence[StoredPassage], neighbourhood: int
    ) -> np.ndarray:
        return neighbourhood_bm25(stems(question), [self._bag(p) for p in passages], neighbourhood)

    def _bag(self, passage: StoredPassage) -> Bag:
        bag = self._bags.get(passage.id)
        if bag is None:
            docs = self.snapshot.documents
            title = self.snapshot.manifest.passage_title()
            text = indexed_text(docs.articles[passage.article_id], passage, title=title)
            bag = keep(self._bags, passage.id, Bag.of(stems(text)), BAGS_KEPT)
        return bag


class CrossEncoderReranker(Ranker):
    """Re-scores another ranker's first candidates with a sentence-transformers CrossEncoder.

    The cross-encoder reads question and passage together, which a bi-encoder cannot;
    the candidates beyond ``depth`` keep their order after the re-scored ones.
    """

    def __init__(self, inner: Ranker, model: object, depth: int) -> None:
        super().__init__(inner.snapshot)
        self.inner = inner
        self.model = model
        self.depth = depth
        self.name = f"{inner.name}+rerank"

    def rank(
        self, questions: Sequence[str], evidence: Sequence[Evidence], k: int, filters: Filters
    ) -> list[list[Scored]]:
        found = self.inner.rank(questions, evidence, max(k, self.depth), filters)
        return [self._rescore(q, ranked)[:k] for q, ranked in zip(questions, found, strict=True)]

    def _rescore(self, question: str, ranked: list[Scored]) -> list[Scored]:
        head, tail = ranked[: self.depth], ranked[self.depth :]
        if not head:
            return ranked
        docs = self.snapshot.documents
        title = self.snapshot.manifest.passage_title()
        texts = []
        for found in head:
            passage = docs.passage(found.id)
            texts.append(indexed_text(docs.articles[passage.article_id], passage, title=title))
        scores = self.model.predict(  # type: ignore[attr-defined]
            [(question, text) for text in texts], show_progress_bar=False
        )
        order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
        rescored = [Scored(head[i].id, float(scores[i])) for i in order]
        floor = min(s.score for s in rescored)
        # What was not re-scored stays below everything that was.
        return rescored + [Scored(s.id, floor - 1.0 - n) for n, s in enumerate(tail)]


@cache
def _helper(pid: int) -> ThreadPoolExecutor:
    """The thread that runs BM25 beside the vector search: one a process (by pid, as a
    forked process has none of its parent's threads)."""
    return ThreadPoolExecutor(1, thread_name_prefix=f"qa-bm25-{pid}")


def dense(
    snapshot: Snapshot, evidence: Sequence[Evidence], k: int, filters: Filters
) -> list[list[Scored]]:
    """The passage vector search; its cosines are kept as evidence."""
    if not evidence:
        return []
    queries = np.vstack([e.vector for e in evidence])
    found = snapshot.passage_vectors.search(queries, k, filters)
    for known, scored in zip(evidence, found, strict=True):
        known.seed(scored)
    return found


def make_ranker(settings: Settings, snapshot: Snapshot) -> Ranker:
    """The ranker ``QA_RETRIEVER`` names, re-ranked when ``QA_RERANKER`` is set."""
    name = settings.retriever
    ranker: Ranker
    if name == "dense":
        ranker = DenseRanker(snapshot)
    elif name == "bm25":
        ranker = Bm25Ranker(snapshot)
    elif name == "hybrid":
        ranker = HybridRanker(
            snapshot,
            Weights(settings.hybrid_dense_weight, settings.hybrid_sentence_weight),
            settings.fusion_neighbourhood,
            settings.beside_from,
        )
    else:
        raise InputError(f"unknown retriever {name!r}; choose from {', '.join(RANKERS)}")
    if settings.reranker is None:
        return ranker
    return CrossEncoderReranker(
        ranker, load_cross_encoder(settings.reranker, settings.device), settings.rerank_depth
    )


def load_cross_encoder(folder: Path, device: str) -> object:
    """A CrossEncoder from a local folder; nothing is downloaded."""
    if not folder.is_dir():
        raise ModelError(
            f"QA_RERANKER {str(folder)!r} is not a folder; point it at a local "
            "sentence-transformers CrossEncoder (one saved with CrossEncoder.save), or unset it"
        )
    from qa.encoders.torch import first_line, quiet_huggingface

    quiet_huggingface()
    from sentence_transformers import CrossEncoder

    try:
        return CrossEncoder(str(folder), device=device, local_files_only=True)
    except Exception as exc:  # the library raises OSError, ValueError, HF errors...
        raise ModelError(
            f"cannot load the re-ranker in {folder} ({type(exc).__name__}: {first_line(exc)}); "
            "point QA_RERANKER at a folder saved with CrossEncoder.save, or unset it"
        ) from exc
