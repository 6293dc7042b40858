"""`qa eval`: how well qa finds the passage that answers, on a test set or a benchmark."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from qa.config import Settings
from qa.embed import Embedder
from qa.errors import IndexMissingError, InputError
from qa.evaluation.metrics import score, significance
from qa.evaluation.report import Evaluation
from qa.evaluation.run import index_for, run
from qa.evaluation.sets import EvalSet, read
from qa.index import open_index
from qa.indexing import build
from qa.types import Filters

RETRIEVERS = ("dense", "bm25", "hybrid")
# How BEIR and MTEB index a benchmark, and so how their published figures were measured:
# each document one passage (up to 1,000 sentences), under its title.
WHOLE_DOCUMENTS = {"passage_sentences": 1000, "passage_max_chars": 1_000_000, "passage_title": True}

__all__ = ["RETRIEVERS", "EvalSet", "Evaluation", "evaluate", "read"]


def evaluate(
    evalset: EvalSet,
    settings: Settings,
    embedder: Callable[[], Embedder],
    *,
    retrievers: Sequence[str],
    k: int,
    filters: Filters | None = None,
    whole_documents: bool = False,
    progress: bool = False,
) -> Evaluation:
    """Ask every question with each retriever, on the same index, and score them.

    ``filters`` limit the articles every question is asked of, as `qa ask --outlet`
    does; a question whose answer is filtered out then counts as missed.
    ``whole_documents`` indexes a benchmark as BEIR and MTEB do, to compare with the
    figures they publish.
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
    folder = index_for(evalset, settings, embedder, progress=progress)
    try:
        index = open_index(folder, model=settings.model)
    except IndexMissingError:
        if evalset.articles is not None or folder != settings.index_dir:
            raise
        # The seed test set on a fresh checkout: build the index `make run` would build.
        from qa.corpus.load import load

        build(folder, load([settings.seeds_dir]).articles, settings, embedder, progress=progress)
        index = open_index(folder, model=settings.model)
    results = tuple(
        run(
            evalset,
            index,
            embedder(),
            settings.model_copy(update={"retriever": name}),
            k=k,
            filters=filters,
            progress=progress,
        )
        for name in retrievers
    )
    return Evaluation(
        evalset,
        k,
        results,
        tuple(score(r) for r in results),
        significance(results),
        filters or Filters(),
        settings.min_score,
    )


def default_testset(settings: Settings) -> Path:
    return settings.seeds_dir / "questions.jsonl"
