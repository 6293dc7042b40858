"""Ask every question of a test set, one at a time, and keep what came back."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from qa.answer import make_result
from qa.config import Settings
from qa.embed import Embedder
from qa.evaluation.sets import EvalSet, Question, fold
from qa.index import Index
from qa.indexing import build, chunking_of
from qa.retrieve import Retriever
from qa.types import Answer, Filters, Source

TOP_QUOTES = 3


@dataclass(frozen=True, slots=True)
class Unit:
    """One ranked thing judged for relevance: an answer (passage unit) or an article."""

    id: str
    relevant: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one retriever did with one question."""

    question: Question
    units: tuple[Unit, ...]  # best first, at most k
    quotes: tuple[Answer, ...]  # the top answers, for listing failures
    abstained: bool
    quote_hit: bool | None  # top quote holds a gold string; None without gold strings
    latency_ms: float
    best_cosine: float | None = None  # what abstention is decided on; None: nothing found

    @property
    def top_relevant(self) -> bool:
        return bool(self.units) and self.units[0].relevant


@dataclass(frozen=True, slots=True)
class RunResult:
    retriever: str
    outcomes: tuple[Outcome, ...]


def index_for(
    evalset: EvalSet, settings: Settings, embedder: Callable[[], Embedder], *, progress: bool
) -> Path:
    """The index to ask: a cached one of the set's own articles, built when needed."""
    if evalset.articles is None:
        return settings.index_dir
    slug = "".join(c if c.isalnum() else "-" for c in evalset.name.lower()).strip("-")
    # One cached index per corpus and per way of indexing it, so that switching the
    # model or the passage settings back and forth does not rebuild each time.
    key = json.dumps([evalset.fingerprint, settings.model, chunking_of(settings)])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    folder = settings.cache_dir / "eval" / f"{slug}-{digest}"
    build(folder, evalset.articles, settings, embedder, progress=progress)
    return folder


def run(
    evalset: EvalSet,
    index: Index,
    embedder: Embedder,
    settings: Settings,
    *,
    k: int,
    filters: Filters | None = None,
    progress: bool = False,
) -> RunResult:
    """Every question, one at a time, so the latency is what a user waits."""
    retriever = Retriever(index, embedder, settings)
    search_k = min(settings.max_k, k * 2) if evalset.unit == "article" else k
    everything = replace(retriever.policy, min_score=-math.inf)
    questions: Iterable[Question] = evalset.questions
    if evalset.questions:  # untimed: the first call of a process pays for warming up
        retriever.search(evalset.questions[0].text, search_k, filters)
    if progress:
        from tqdm import tqdm

        questions = tqdm(questions, desc=f"Asking ({settings.retriever})", unit="question")
    outcomes = []
    for question in questions:
        started = time.perf_counter()
        hits = retriever.search(question.text, search_k, filters)
        # Passages are judged as a user sees them, paraphrases from other articles folded
        # into the answer they corroborate. Articles (benchmarks) are judged by the
        # ranking itself: there, folding similar abstracts or paragraphs of one topic
        # would hide documents that each count.
        vectors = index.sentence_vectors if evalset.unit != "article" else None
        ranked, kept = (
            make_result(question.text, hits, index.articles, k=n, policy=policy, vectors=vectors)
            for n, policy in ((search_k, everything), (k, retriever.policy))
        )
        latency = (time.perf_counter() - started) * 1000
        answers = ranked.answers
        outcomes.append(
            Outcome(
                question=question,
                units=_units(question, answers, evalset.unit, k),
                quotes=answers[:TOP_QUOTES],
                abstained=kept.abstained,
                quote_hit=_quote_hit(question, answers),
                latency_ms=latency,
                best_cosine=max((h.similarity for h in hits), default=None),
            )
        )
    return RunResult(settings.retriever, tuple(outcomes))


def _units(question: Question, answers: Sequence[Answer], unit: str, k: int) -> tuple[Unit, ...]:
    if unit == "article":  # an article listed as also reporting an answer was found too
        found = (s.article_id for a in answers for s in (a.source, *_sources(a)))
        ids = list(dict.fromkeys(found))[:k]
        return tuple(Unit(i, i in question.relevant) for i in ids)
    # An answer is right when its passage, or a quote it lists as also reported, holds
    # a gold string: the reader sees both in the same place.
    return tuple(
        Unit(
            f"{a.source.article_id}:{a.start}-{a.end}",
            _holds(question, a.source, a.passage)
            or any(_holds(question, c.source, c.quote) for c in a.also_reported_by),
        )
        for a in answers[:k]
    )


def _sources(answer: Answer) -> list[Source]:
    return [c.source for c in answer.also_reported_by]


def _holds(question: Question, source: Source, text: str) -> bool:
    """The text holds a gold string, in one of the allowed articles if any are named."""
    if question.article_ids and source.article_id not in question.article_ids:
        return False
    folded = fold(text)
    return any(fold(gold) in folded for gold in question.answers)


def _quote_hit(question: Question, answers: Sequence[Answer]) -> bool | None:
    if not question.answers:
        return None
    return bool(answers) and any(fold(g) in fold(answers[0].quote) for g in question.answers)
