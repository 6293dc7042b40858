"""Ask every question of a test set, one at a time, and keep what came back."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from qa.answer import make_result
from qa.config import Settings
from qa.encoders import Encoder
from qa.evaluation.sets import EvalSet, Question, fold
from qa.indexing import build, chunking_of
from qa.retrieve import Query, Retriever
from qa.store import Store, get_store, local_store
from qa.store.base import Documents
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
    quote_sentences: int | None = None  # the top quote's length; None: nothing answered
    quote_chars: int | None = None

    @property
    def top_relevant(self) -> bool:
        return bool(self.units) and self.units[0].relevant


@dataclass(frozen=True, slots=True)
class RunResult:
    retriever: str
    outcomes: tuple[Outcome, ...]


def store_for(
    evalset: EvalSet, settings: Settings, encoder: Callable[[], Encoder], *, progress: bool
) -> Store:
    """The store to ask: a cached index of the set's own articles, built when needed."""
    if evalset.articles is None:
        return get_store(settings)
    slug = "".join(c if c.isalnum() else "-" for c in evalset.name.lower()).strip("-")
    # One cached index per corpus and per way of indexing it, so that switching the
    # model or the passage settings back and forth does not rebuild each time.
    parts: list[object] = [evalset.fingerprint, settings.model, chunking_of(settings)]
    if settings.encoder != "torch":  # indexes cached before encoders had names stay valid
        parts.append(settings.encoder)
    if settings.sentence_codes != "float32":  # as are those from before sentence codes
        parts.append(settings.sentence_codes)
    digest = hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]
    store = local_store(settings, settings.cache_dir / "eval" / f"{slug}-{digest}")
    build(store, evalset.articles, settings, encoder, progress=progress)
    return store


def run(
    evalset: EvalSet,
    retriever: Retriever,
    *,
    k: int,
    filters: Filters | None = None,
    progress: bool = False,
) -> tuple[RunResult, RunResult]:
    """Every question, one at a time, so the latency is what a user waits.

    Two readings of the same answers: first what a user gets (the answers as the API
    returns them, after folding, per-article limits and the threshold), then the
    ranking before those steps, for diagnosis.
    """
    settings = retriever.settings
    search_k = min(settings.max_k, k * 2) if evalset.unit == "article" else k
    everything = replace(retriever.policy, min_score=-math.inf)
    filters = filters or Filters()
    questions: Iterable[Question] = evalset.questions
    if evalset.questions:  # untimed: the first call of a process pays for warming up
        retriever.run_batch([Query(evalset.questions[0].text, search_k, filters)])
    if progress:
        from tqdm import tqdm

        questions = tqdm(questions, desc=f"Asking ({settings.retriever})", unit="question")
    seen: list[Outcome] = []
    ranked: list[Outcome] = []
    documents = retriever.snapshot.documents
    articles = documents.articles
    for question in questions:
        started = time.perf_counter()
        answered = retriever.run_batch([Query(question.text, search_k, filters)])[0]
        shown = (
            retriever.answer(answered, k)  # what the API returns for k
            if search_k != k
            else answered.result
        )
        latency = (time.perf_counter() - started) * 1000
        # The ranking is judged with passages merged and paraphrases of other articles
        # folded into the answer they corroborate; articles (benchmarks) without the
        # folding, where similar abstracts or paragraphs of one topic each count.
        vectors = answered.evidence.sentence_vectors if evalset.unit != "article" else None
        listed = make_result(
            question.text, answered.hits, articles, k=search_k, policy=everything, vectors=vectors
        )
        best = max((h.similarity for h in answered.hits), default=None)
        for out, answers in ((seen, shown.answers), (ranked, listed.answers)):
            out.append(
                Outcome(
                    question=question,
                    units=_units(question, answers, evalset.unit, k),
                    quotes=answers[:TOP_QUOTES],
                    abstained=shown.abstained,
                    quote_hit=_quote_hit(question, answers),
                    latency_ms=latency,
                    best_cosine=best,
                    quote_sentences=_sentence_count(documents, answers[0]) if answers else None,
                    quote_chars=len(answers[0].quote) if answers else None,
                )
            )
    name = retriever.ranker.name
    return RunResult(name, tuple(seen)), RunResult(f"{name}, ranking", tuple(ranked))


def _units(question: Question, answers: Sequence[Answer], unit: str, k: int) -> tuple[Unit, ...]:
    if unit == "article":  # an article listed as also reporting an answer comes right after it
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


def _sentence_count(documents: Documents, answer: Answer) -> int:
    """How many of the article's sentences the quote spans."""
    passages = documents.passages_of(answer.source.article_id)
    ids = range(passages[0].first_sentence, passages[-1].last_sentence + 1) if passages else ()
    spans = (documents.sentence(i) for i in ids)
    return sum(1 for s in spans if s.start < answer.end and answer.start < s.end)


def _quote_hit(question: Question, answers: Sequence[Answer]) -> bool | None:
    if not question.answers:
        return None
    return bool(answers) and any(fold(g) in fold(answers[0].quote) for g in question.answers)
