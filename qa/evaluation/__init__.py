"""`qa eval`: how well qa finds the passage that answers, on a test set or a benchmark."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from qa.config import Settings
from qa.encoders import Encoder
from qa.errors import IndexMissingError, InputError
from qa.evaluation.metrics import score, significance
from qa.evaluation.report import Evaluation
from qa.evaluation.run import run, store_for
from qa.evaluation.sets import EvalSet, read
from qa.indexing import build
from qa.rankers import RANKERS as RETRIEVERS
from qa.retrieve import Retriever
from qa.types import Filters

# How BEIR and MTEB index a benchmark, and so how their published figures were measured:
# each document one passage (up to 1,000 sentences), under its title.
WHOLE_DOCUMENTS = {"passage_sentences": 1000, "passage_max_chars": 1_000_000, "passage_title": True}

__all__ = ["RETRIEVERS", "EvalSet", "Evaluation", "evaluate", "read"]


def evaluate(
    evalset: EvalSet,
    settings: Settings,
    encoder: Callable[[], Encoder],
    *,
    retrievers: Sequence[str],
    k: int,
    filters: Filters | None = None,
    whole_documents: bool = False,
    progress: bool = False,
    query_encoder: Callable[[Settings], Encoder] | None = None,
) -> Evaluation:
    """Ask every question with each retriever, on the same index, and score them.

    ``filters`` limit the articles every question is asked of, as `qa ask --outlet`
    does; a question whose answer is filtered out then counts as missed.
    ``whole_documents`` indexes a benchmark as BEIR and MTEB do, to compare with the
    figures they publish. ``query_encoder`` embeds each retriever's questions, as the
    settings of that retriever choose (``encoder``'s, when not given).
    """
    unknown = [r for r in retrievers if r not in RETRIEVERS]
    if unknown or not retrievers:
        named = ", ".join(unknown) or "(none)"
        raise InputError(f"unknown retriever {named}; choose from {', '.join(RETRIEVERS)}")
    if not 1 <= k <= settings.max_k:
        raise InputError(f"--k must be from 1 to {settings.max_k}, not {k}")
    if whole_documents:
        if evalset.articles is None:
            raise InputError(
                "--whole-documents is for benchmarks (a BEIR folder or a SQuAD file), which "
                "qa indexes itself; a qa test set is asked of the index as it was built"
            )
        settings = settings.model_copy(update=WHOLE_DOCUMENTS)
    store = store_for(evalset, settings, encoder, progress=progress)
    try:
        snapshot = store.open()
    except IndexMissingError:
        if evalset.articles is not None:
            raise
        # The seed test set on a fresh checkout: build the index `make run` would build.
        from qa.corpus.load import load

        build(store, load([settings.seeds_dir]).articles, settings, encoder, progress=progress)
        snapshot = store.open()
    shown, ranked = [], []
    for name in retrievers:
        asked = settings.model_copy(update={"retriever": name})
        asking = encoder() if query_encoder is None else query_encoder(asked)
        retriever = Retriever(snapshot, asking, asked, location=store.location)
        seen, ranking = run(evalset, retriever, k=k, filters=filters, progress=progress)
        shown.append(seen)
        ranked.append(ranking)
    return Evaluation(
        evalset,
        k,
        tuple(shown),
        tuple(score(r) for r in shown),
        {**significance(shown), **significance(ranked)},
        filters or Filters(),
        settings.min_score,
        tuple(ranked),
        tuple(score(r) for r in ranked),
    )


def default_testset(settings: Settings) -> Path:
    return settings.seeds_dir / "questions.jsonl"
