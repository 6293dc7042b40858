"""Figures out: a table a person can read, Markdown for a report, JSON for programs."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from qa.evaluation.metrics import RANKING, Calibration, Scores
from qa.evaluation.run import Outcome, RunResult
from qa.evaluation.sets import EvalSet
from qa.schemas import source_out
from qa.types import Filters

LABELS = {
    "recall@1": "R@1",
    "recall@3": "R@3",
    "recall@5": "R@5",
    "recall@10": "R@10",
    "mrr@10": "MRR@10",
    "ndcg@10": "nDCG@10",
}
TEXT_FAILURES = 10


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything one `qa eval` measured."""

    evalset: EvalSet
    k: int
    results: tuple[RunResult, ...]
    scores: tuple[Scores, ...]
    better_than: dict[str, dict[str, list[str]]]
    filters: Filters = field(default_factory=Filters)
    min_score: float | None = None  # the abstention threshold the questions were asked with
    # The same questions judged by the ranking before folding, per-article limits and
    # the threshold: for diagnosis, after the rows of what users get.
    rankings: tuple[RunResult, ...] = ()
    ranking_scores: tuple[Scores, ...] = ()


def header(ev: Evaluation) -> str:
    s = ev.scores[0]
    return (
        f"{ev.evalset.name}: {s.answerable + s.off_topic} questions "
        f"({s.answerable} answerable, {s.off_topic} that should abstain), k={ev.k}"
        + (f"; only {describe(ev.filters)}" if ev.filters else "")
    )


def describe(filters: Filters) -> str:
    """The filters in words, for the header of a table."""
    parts = []
    if filters.outlets:
        parts.append(" or ".join(filters.outlets))
    if filters.published_from:
        parts.append(f"from {filters.published_from}")
    if filters.published_to:
        parts.append(f"to {filters.published_to}")
    return ", ".join(parts)


def table_rows(ev: Evaluation) -> tuple[list[str], list[list[str]]]:
    columns = ["retriever", *(LABELS[m] for m in RANKING), "quote hit", "quote sents",
               "quote chars", "abstains off-topic", "abstains answerable", "p50 ms",
               "p95 ms"]  # fmt: skip
    rows = []
    for s in (*ev.scores, *ev.ranking_scores):
        wins = ev.better_than.get(s.retriever, {})
        rows.append(
            [
                s.retriever,
                *(_number(s.ranking[m]) + ("*" if wins.get(m) else "") for m in RANKING),
                _number(s.quote_hit_rate),
                _number(s.quote_sentences, digits=2),
                _number(s.quote_chars, digits=0),
                _number(s.off_topic_abstained),
                _number(s.answerable_abstained),
                f"{s.latency_p50_ms:.1f}",
                f"{s.latency_p95_ms:.1f}",
            ]
        )
    return columns, rows


def text(ev: Evaluation, *, failures: int = TEXT_FAILURES) -> str:
    columns, rows = table_rows(ev)
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = [header(ev), ""]
    lines.append("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    lines += _legend(ev)
    for result in ev.results:
        failed = _failures(result)
        if not failed:
            continue
        lines += ["", f"Failures of {result.retriever} ({len(failed)}):"]
        lines += [_failure_text(o) for o in failed[:failures]]
        if len(failed) > failures:
            lines.append(f"... and {len(failed) - failures} more (--report FILE lists them all)")
    return "\n".join(lines)


def markdown(ev: Evaluation) -> str:
    columns, rows = table_rows(ev)
    lines = [f"# qa eval: {ev.evalset.name}", "", header(ev), ""]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "---|" * len(columns))
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    lines += _legend(ev)
    for result in ev.results:
        failed = _failures(result)
        lines += ["", f"## Failures of {result.retriever} ({len(failed)})", ""]
        lines += [_failure_text(o, markdown=True) for o in failed] or ["None."]
    return "\n".join(lines) + "\n"


def as_json(ev: Evaluation) -> dict[str, Any]:
    return {
        "testset": ev.evalset.name,
        "k": ev.k,
        "filters": ev.filters.to_dict(),
        "results": [
            {
                "retriever": s.retriever,
                "questions": {"answerable": s.answerable, "off_topic": s.off_topic},
                "metrics": {m: _finite(s.ranking[m]) for m in RANKING},
                "quote_hit_rate": s.quote_hit_rate,
                "quote_length": {"sentences": s.quote_sentences, "chars": s.quote_chars},
                "abstention": {
                    "off_topic_abstained": s.off_topic_abstained,
                    "answerable_abstained": s.answerable_abstained,
                    "min_score": ev.min_score,
                    "calibration": _calibration_json(s.calibration),
                },
                "latency_ms": {"p50": s.latency_p50_ms, "p95": s.latency_p95_ms},
                "better_than": ev.better_than.get(s.retriever, {}),
                "failures": [_failure_json(o) for o in _failures(r)],
            }
            for s, r in zip(ev.scores, ev.results, strict=True)
        ],
        "rankings": [
            {
                "retriever": s.retriever,
                "metrics": {m: _finite(s.ranking[m]) for m in RANKING},
                "quote_hit_rate": s.quote_hit_rate,
                "better_than": ev.better_than.get(s.retriever, {}),
            }
            for s in ev.ranking_scores
        ],
    }


def _legend(ev: Evaluation) -> list[str]:
    lines = [
        "",
        "R@k: the answer is in the top k; MRR@10 and nDCG@10 reward finding it early; quote hit: "
        "the top quote holds a gold string; quote sents/chars: the top quote's mean length; "
        "abstains: the share of questions with no answer given.",
    ]
    if ev.ranking_scores:
        lines.append(
            "Rows without ', ranking' judge the answers as the API returns them (folded, at most "
            "QA_MAX_PER_ARTICLE per article first, below QA_MIN_SCORE left out); ', ranking' "
            "rows judge the ranking before those steps."
        )
    for name, wins in ev.better_than.items():
        beaten = {other for others in wins.values() for other in others}
        for other in sorted(beaten):
            metrics = [LABELS[m] for m, others in wins.items() if other in others]
            lines.append(
                f"* {name} beats {other} on {', '.join(metrics)} (paired t-test, p < 0.05)"
            )
    calibrated = [_calibration_text(s.retriever, c) for s in ev.scores if (c := s.calibration)]
    if calibrated:
        now = "" if ev.min_score is None else f" (now {ev.min_score:g})"
        lines += ["", f"Abstention threshold QA_MIN_SCORE{now}, from each question's best cosine:"]
        lines += calibrated
    return lines


def _calibration_text(retriever: str, c: Calibration) -> str:
    (low_id, low), (high_id, high) = c.lowest_answerable, c.highest_off_topic
    return (
        f"- {retriever}: answerable questions {_cosine_text(low)} and up (lowest {low_id}), "
        f"the others {_cosine_text(high)} at most (highest {high_id}); {c.threshold:.3f} "
        f"separates them best here (balanced accuracy {c.balanced_accuracy:.3f})"
    )


def _cosine_text(value: float) -> str:
    return "(nothing found)" if math.isinf(value) else f"{value:.3f}"


def _calibration_json(c: Calibration | None) -> dict[str, Any] | None:
    if c is None:
        return None
    (low_id, low), (high_id, high) = c.lowest_answerable, c.highest_off_topic
    return {
        "lowest_answerable": {"id": low_id, "cosine": _finite(low)},
        "highest_off_topic": {"id": high_id, "cosine": _finite(high)},
        "suggested_min_score": c.threshold,
        "balanced_accuracy": c.balanced_accuracy,
    }


def _failures(result: RunResult) -> list[Outcome]:
    """Answerable questions whose first answer misses, and wrong abstentions."""
    return [
        o
        for o in result.outcomes
        if (o.question.answerable and (not o.top_relevant or o.abstained))
        or (not o.question.answerable and not o.abstained)
    ]


def _why(o: Outcome) -> str:
    if not o.question.answerable:
        return "should abstain, but answered"
    if o.abstained and o.top_relevant:
        return "abstained, although the first answer was right"
    rank = next((i for i, u in enumerate(o.units, start=1) if u.relevant), None)
    return (
        f"the answer came at rank {rank}"
        if rank
        else f"the answer is not in the top {len(o.units) or 0}"
    )


def _gold(o: Outcome) -> str:
    if o.question.answers:
        return " | ".join(o.question.answers)
    return ", ".join(o.question.relevant) or "(none: should abstain)"


def _failure_text(o: Outcome, *, markdown: bool = False) -> str:
    bullet, indent = ("- ", "  ") if markdown else ("✗ ", "    ")
    lines = [
        f"{bullet}[{o.question.id}] {o.question.text} — {_why(o)}",
        f"{indent}gold: {_gold(o)}",
    ]
    for n, answer in enumerate(o.quotes, start=1):
        where = answer.source.outlet or answer.source.title or answer.source.article_id
        quote = answer.quote if len(answer.quote) <= 160 else answer.quote[:157] + "..."
        lines.append(f"{indent}{n}. {quote} ({where})")
    return "\n".join(lines)


def _failure_json(o: Outcome) -> dict[str, Any]:
    return {
        "id": o.question.id,
        "question": o.question.text,
        "why": _why(o),
        "gold": list(o.question.answers) or sorted(o.question.relevant),
        "top_quotes": [
            {
                "quote": a.quote,
                "source": source_out(a.source).model_dump(),
                "score": round(a.score, 4),
            }
            for a in o.quotes
        ],
    }


def _number(value: float | None, *, digits: int = 3) -> str:
    return "–" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _finite(value: float) -> float | None:
    return None if not math.isfinite(value) else value
