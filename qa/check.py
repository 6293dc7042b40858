"""`qa check`: verify an index as it is on disk, and say what is wrong.

Opening checks the manifest, the counts and (for the local store) the checksums; beyond
that every offset must slice back to its sentence and passage, and a sample of stored
vectors must match the texts embedded again now (a vector file that loads but holds
other vectors answers wrongly without any error).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from qa.config import Settings
from qa.encoders import Encoder
from qa.errors import IndexUnusableError
from qa.store import Snapshot, check_encoder, get_store
from qa.store.base import indexed_text

MIN_COSINE = 0.99  # the same text through the same model on CPU gives ~1.0
BUILD_PREFIX = ".build-"


@dataclass
class CheckReport:
    version: str | None = None
    location: str = ""  # the store's, for messages
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def check(settings: Settings, encoder: Callable[[], Encoder], sample: int = 50) -> CheckReport:
    """Everything that can be verified about the index the settings name."""
    report = CheckReport()
    store = get_store(settings)
    report.location = store.location
    leftovers = sorted(p.name for p in settings.index_dir.glob(f"{BUILD_PREFIX}*"))
    if leftovers:
        report.checked.append(
            f"{len(leftovers)} unfinished build(s) left by a stopped writer "
            f"({', '.join(leftovers)}); the next write removes them"
        )
    try:
        snapshot = store.open()
        check_encoder(snapshot.manifest, store.location, settings.encoder, settings.model)
    except IndexUnusableError as exc:
        report.problems.append(str(exc))
        good = store.last_good()
        if good is not None:
            report.checked.append(
                f"the last good version, {good.version}, opens whole "
                f"({good.manifest.articles} articles): it answers meanwhile, and `qa index` "
                "rebuilds from what can be saved"
            )
        return report
    report.version = snapshot.version
    m = snapshot.manifest
    report.checked.append(
        f"manifest and counts of {snapshot.version}: {m.articles} articles, "
        f"{m.passages} passages, {m.sentences} sentences, model {m.model}"
    )
    offsets = _offsets(snapshot)
    report.problems += offsets
    if not offsets:
        report.checked.append("every passage and sentence offset slices its article's text")
    if sample > 0:
        _vectors(snapshot, encoder(), sample, report)
    return report


def _passages(snapshot: Snapshot) -> list[int]:
    docs = snapshot.documents
    return sorted(p.id for a in docs.articles for p in docs.passages_of(a))


def _offsets(snapshot: Snapshot) -> list[str]:
    docs = snapshot.documents
    problems = []
    for article_id, article in docs.articles.items():
        for passage in docs.passages_of(article_id):
            spans = [docs.sentence(i) for i in passage.sentence_ids]
            inside = 0 <= passage.start < passage.end <= len(article.text)
            bounds = (spans[0].start, spans[-1].end) == (passage.start, passage.end)
            if not inside or not bounds or any(s.end > len(article.text) for s in spans):
                problems.append(
                    f"passage {passage.id} of {article_id} has offsets outside its text"
                )
    return problems[:20]


def _vectors(snapshot: Snapshot, encoder: Encoder, sample: int, report: CheckReport) -> None:
    docs = snapshot.documents
    rng = random.Random(0)
    titled = bool(snapshot.manifest.chunking.get("passage_title"))
    passage_ids = _passages(snapshot)
    owner = {
        s: (p.article_id, docs.sentence(s))
        for a in docs.articles
        for p in docs.passages_of(a)
        for s in p.sentence_ids
    }
    passages = rng.sample(passage_ids, min(sample, len(passage_ids)))
    sentences = rng.sample(sorted(owner), min(sample, len(owner)))
    texts = [
        indexed_text(docs.articles[docs.passage(i).article_id], docs.passage(i), title=titled)
        for i in passages
    ]
    texts += [
        docs.articles[owner[i][0]].text[owner[i][1].start : owner[i][1].end] for i in sentences
    ]
    fresh = encoder.encode_documents(texts)
    stored = np.vstack(
        [snapshot.passage_vectors.vectors(passages), snapshot.sentence_vectors.vectors(sentences)]
    )
    cosines = np.sum(fresh * stored, axis=1)
    bad = int(np.sum(cosines < MIN_COSINE))
    worst = float(cosines.min()) if len(cosines) else 1.0
    if bad:
        report.problems.append(
            f"{bad} of {len(cosines)} stored vectors do not match their texts embedded again "
            f"(lowest cosine {worst:.3f}, {MIN_COSINE} needed)"
        )
    else:
        report.checked.append(
            f"{len(passages)} passage and {len(sentences)} sentence vectors match their "
            f"texts embedded again (lowest cosine {worst:.4f})"
        )
