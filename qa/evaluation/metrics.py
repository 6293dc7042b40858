"""Metrics from ranx, an established IR evaluation library; no formulas written here.

For qa's own test sets each question has one relevant item, "the answer": the first
returned passage that holds a gold string stands for it, so Recall@k is whether the
answer is in the top k, and MRR and nDCG reward finding it early. For BEIR and SQuAD
the relevant items are the judged articles.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from qa.evaluation.run import Outcome, RunResult

RANKING = ("recall@1", "recall@3", "recall@5", "recall@10", "mrr@10", "ndcg@10")
GOLD = "answer"
MAX_P = 0.05


@dataclass(frozen=True, slots=True)
class Calibration:
    """Where the abstention threshold (`QA_MIN_SCORE`) falls among a set's questions.

    Each question's best passage cosine decides whether qa answers it. With another
    model or corpus the cosines shift, so the threshold has to be chosen again: this
    says which one this set supports.
    """

    lowest_answerable: tuple[str, float]  # question id, best cosine
    highest_off_topic: tuple[str, float]
    threshold: float  # best balanced accuracy here, in the middle of the widest such gap
    balanced_accuracy: float  # mean of answerable questions answered and others abstained


@dataclass(frozen=True, slots=True)
class Scores:
    """All figures of one retriever on one test set."""

    retriever: str
    ranking: dict[str, float]  # the RANKING metrics, over answerable questions
    quote_hit_rate: float | None  # None when the set has no gold strings
    # The top quote's mean length over answered answerable questions, so that a quote
    # that hits more often by growing longer shows it; None when none was answered.
    quote_sentences: float | None
    quote_chars: float | None
    off_topic_abstained: float | None  # None when the set has no off-topic questions
    answerable_abstained: float
    latency_p50_ms: float
    latency_p95_ms: float
    answerable: int
    off_topic: int
    calibration: Calibration | None = None  # None unless the set has both kinds


def score(result: RunResult) -> Scores:
    answerable = [o for o in result.outcomes if o.question.answerable]
    off_topic = [o for o in result.outcomes if not o.question.answerable]
    with _ranx() as ranx:
        ranking = (
            {
                name: float(value)
                for name, value in ranx.evaluate(
                    _qrels(ranx, answerable),
                    _run(ranx, answerable, result.retriever),
                    list(RANKING),
                ).items()
            }
            if answerable
            else dict.fromkeys(RANKING, float("nan"))
        )
    hits = [o.quote_hit for o in answerable if o.quote_hit is not None]
    latencies = [o.latency_ms for o in result.outcomes]
    return Scores(
        retriever=result.retriever,
        ranking=ranking,
        quote_hit_rate=float(np.mean(hits)) if hits else None,
        quote_sentences=_mean(o.quote_sentences for o in answerable),
        quote_chars=_mean(o.quote_chars for o in answerable),
        off_topic_abstained=_share(o.abstained for o in off_topic) if off_topic else None,
        answerable_abstained=_share(o.abstained for o in answerable) if answerable else 0.0,
        latency_p50_ms=float(np.percentile(latencies, 50)),
        latency_p95_ms=float(np.percentile(latencies, 95)),
        answerable=len(answerable),
        off_topic=len(off_topic),
        calibration=calibrate(answerable, off_topic),
    )


def calibrate(answerable: Sequence[Outcome], off_topic: Sequence[Outcome]) -> Calibration | None:
    """The threshold that best tells this set's answerable questions from the others.

    A question is answered when its best cosine is at least the threshold, so the
    candidates are the midpoints between neighbouring cosines (and just outside them).
    """
    if not answerable or not off_topic:
        return None
    yes = np.sort([_cosine(o) for o in answerable])
    no = np.sort([_cosine(o) for o in off_topic])
    seen = np.unique(np.concatenate([yes, no]))
    seen = seen[np.isfinite(seen)]
    if not len(seen):
        return None
    edges = np.concatenate([[seen[0] - _OUTSIDE], seen, [seen[-1] + _OUTSIDE]])
    thresholds = (edges[:-1] + edges[1:]) / 2
    gaps = np.diff(edges)
    answered = 1 - np.searchsorted(yes, thresholds, side="left") / len(yes)
    abstained = np.searchsorted(no, thresholds, side="left") / len(no)
    accuracy = (answered + abstained) / 2
    best = np.flatnonzero(np.isclose(accuracy, accuracy.max()))
    pick = best[np.argmax(gaps[best])]
    lowest = min(answerable, key=_cosine)
    highest = max(off_topic, key=_cosine)
    return Calibration(
        lowest_answerable=(lowest.question.id, _cosine(lowest)),
        highest_off_topic=(highest.question.id, _cosine(highest)),
        threshold=float(thresholds[pick]),
        balanced_accuracy=float(accuracy[pick]),
    )


# How far outside the cosines seen a threshold that answers (or abstains on) all is put.
_OUTSIDE = 0.02


def _cosine(outcome: Outcome) -> float:
    """The best passage cosine; nothing found counts as lower than any."""
    return -math.inf if outcome.best_cosine is None else outcome.best_cosine


def significance(results: Sequence[RunResult]) -> dict[str, dict[str, list[str]]]:
    """For each retriever and metric, the retrievers it beats (paired t-test, p < 0.05)."""
    answerable = [[o for o in r.outcomes if o.question.answerable] for r in results]
    if len(results) < 2 or not answerable[0]:
        return {}
    with _ranx() as ranx:
        runs = [_run(ranx, a, r.retriever) for a, r in zip(answerable, results, strict=True)]
        report = ranx.compare(
            _qrels(ranx, answerable[0]),
            runs,
            list(RANKING),
            stat_test="student",
            max_p=MAX_P,
        ).to_dict()
    better: dict[str, dict[str, list[str]]] = {}
    for name in report["model_names"]:
        mine = report[name]
        better[name] = {
            metric: [
                other
                for other, p_values in mine["comparisons"].items()
                if p_values[metric] < MAX_P
                and mine["scores"][metric] > report[other]["scores"][metric]
            ]
            for metric in RANKING
        }
    return better


def _qrels(ranx: Any, outcomes: Sequence[Outcome]) -> Any:
    judged = {
        o.question.id: dict(o.question.relevant) if o.question.relevant else {GOLD: 1}
        for o in outcomes
    }
    return ranx.Qrels(judged)


def _run(ranx: Any, outcomes: Sequence[Outcome], name: str) -> Any:
    ranked = {}
    for o in outcomes:
        gold_given = not o.question.relevant
        ids, named_gold = [], False
        for unit in o.units:
            if gold_given and unit.relevant and not named_gold:
                ids.append(GOLD)
                named_gold = True
            else:
                ids.append(unit.id)
        # Scores only order the list: the first gets the most. An empty list gets a
        # placeholder, since ranx needs one document per question.
        ranked[o.question.id] = {doc: float(len(ids) - i) for i, doc in enumerate(ids)} or {
            "(nothing)": 0.0
        }
    return ranx.Run(ranked, name=name)


def _mean(values: Iterable[int | None]) -> float | None:
    """The mean of the values given; None when there are none."""
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


def _share(flags: Iterable[bool]) -> float:
    values = list(flags)
    return sum(values) / len(values)


@contextmanager
def _ranx() -> Iterator[Any]:
    """ranx, with the warnings its numba and scipy internals print kept quiet."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import ranx

        yield ranx
