"""Metrics from ranx, an established IR evaluation library; no formulas written here.

For qa's own test sets each question has one relevant item, "the answer": the first
returned passage that holds a gold string stands for it, so Recall@k is whether the
answer is in the top k, and MRR and nDCG reward finding it early. For BEIR and SQuAD
the relevant items are the judged articles.
"""

from __future__ import annotations

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
class Scores:
    """All figures of one retriever on one test set."""

    retriever: str
    ranking: dict[str, float]  # the RANKING metrics, over answerable questions
    quote_hit_rate: float | None  # None when the set has no gold strings
    off_topic_abstained: float | None  # None when the set has no off-topic questions
    answerable_abstained: float
    latency_p50_ms: float
    latency_p95_ms: float
    answerable: int
    off_topic: int


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
        off_topic_abstained=_share(o.abstained for o in off_topic) if off_topic else None,
        answerable_abstained=_share(o.abstained for o in answerable) if answerable else 0.0,
        latency_p50_ms=float(np.percentile(latencies, 50)),
        latency_p95_ms=float(np.percentile(latencies, 95)),
        answerable=len(answerable),
        off_topic=len(off_topic),
    )


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
