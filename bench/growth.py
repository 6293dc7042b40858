"""Does the ranking of the seed articles hold as the corpus grows? Prints a table.

    .venv/bin/python -m bench.growth [--sizes 0,300,1000] [--retrievers hybrid,bm25]

The seed test set (seeds/questions.jsonl) is asked, as `qa eval` asks it, of an index
of the seed articles alone and of indexes of the seeds mixed with N distractor
articles: real text that answers none of its questions, SciFact abstracts and SQuAD 1.1
dev paragraphs, shuffled together (the same order every run), each with an outlet and a
date as a news article has. "moved" counts the answerable questions whose first answer
is not the one the seeds alone give; "to added" those whose first answer is now an
added article's.

Embedding is the cost: every passage and sentence of the distractors (300 articles are
about 1,000 passages and 2,200 sentences; all 7,247 are 25,796 and 55,042), at a few
texts a second on one busy core of this machine. So each index is kept under
QA_CACHE_DIR/growth and a larger one is built from a copy of the next smaller: only the
articles it adds are embedded, and a rerun embeds nothing. `--sizes 0,300,1000,3000,all`
measures up to every distractor (hours the first time).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import random
import shutil
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from qa.config import Settings
from qa.corpus.load import load, make_article
from qa.corpus.meta import Meta
from qa.encoders import Encoder, get_encoder
from qa.errors import CorpusError
from qa.evaluation import evaluate
from qa.evaluation.report import Evaluation
from qa.evaluation.sets import read_testset
from qa.indexing import build, chunking_of
from qa.store.local import LocalStore
from qa.types import Article

ROOT = Path(__file__).resolve().parent.parent
BENCHDATA = ROOT.parent / "shared" / "benchdata"
SCIFACT = BENCHDATA / "scifact" / "corpus.jsonl"
SQUAD = BENCHDATA / "squad-v1.1" / "dev-v1.1.json"
SHUFFLE_SEED = 17
FIRST_DAY = dt.date(2015, 1, 1)


@dataclass(frozen=True, slots=True)
class Row:
    size: str  # distractor articles added
    passages: int
    retriever: str
    r1: float
    mrr10: float
    quote_hit: float | None
    moved: int
    to_added: int
    off_topic_abstained: float | None


def _dated(key: str) -> str:
    """A day from 2015 to 2023 that depends on the article alone."""
    days = int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 3285
    return (FIRST_DAY + dt.timedelta(days=days)).isoformat()


def _scifact(path: Path) -> Iterator[tuple[str, str | None, str, str]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                doc = json.loads(line)
                title = doc.get("title") or None
                yield f"scifact-{doc['_id']}", title, "SciFact abstracts", doc["text"]


def _squad(path: Path) -> Iterator[tuple[str, str | None, str, str]]:
    topics = json.loads(path.read_text(encoding="utf-8"))["data"]
    for t, topic in enumerate(topics):
        title = topic["title"].replace("_", " ")
        for p, paragraph in enumerate(topic["paragraphs"]):
            yield f"squad11-{t:02d}-{p:03d}", title, "Wikipedia (SQuAD)", paragraph["context"]


def distractors(scifact: Path = SCIFACT, squad: Path = SQUAD) -> list[Article]:
    """Every distractor article, in one shuffled order that is the same on every run."""
    made: list[Article] = []
    for article_id, title, outlet, text in [*_scifact(scifact), *_squad(squad)]:
        meta = Meta(id=article_id, title=title, outlet=outlet, published=_dated(article_id))
        try:
            made.append(make_article(text, meta, origin=article_id, markdown=False))
        except CorpusError:  # nothing left after cleaning: it could not be found anyway
            continue
    random.Random(SHUFFLE_SEED).shuffle(made)
    return made


def _fingerprint(paths: Sequence[Path], settings: Settings) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    parts = [settings.model, settings.encoder, chunking_of(settings), SHUFFLE_SEED]
    digest.update(json.dumps(parts).encode())
    return digest.hexdigest()[:12]


def indexes(
    seeds: list[Article],
    added: list[Article],
    sizes: Sequence[int],
    settings: Settings,
    encoder: Encoder,
) -> Iterator[tuple[int, Path]]:
    """(size, index folder) for each size, smallest first, built or found in the cache."""
    seed_files = sorted(p for p in settings.seeds_dir.iterdir() if p.is_file())
    key = _fingerprint([*seed_files, SCIFACT, SQUAD], settings)
    home = settings.cache_dir / "growth"
    previous: Path | None = None
    for size in sorted(sizes):
        folder = home / f"seeds+{size}-{key}"
        if not (folder / "CURRENT").exists() and previous is not None:
            shutil.rmtree(folder, ignore_errors=True)  # a copy left half-done
            shutil.copytree(previous, folder)
        print(f"index of the seeds + {size:,} distractor articles: {folder}", file=sys.stderr)
        articles = [*seeds, *added[:size]]
        build(LocalStore(folder), articles, settings, lambda: encoder, progress=True)
        previous = folder
        yield size, folder


def rows_of(
    size: int, folder: Path, ev: Evaluation, alone: dict[str, dict[str, str]], seed_ids: set[str]
) -> list[Row]:
    passages = int(json.loads(_manifest(folder).read_text(encoding="utf-8"))["passages"])
    out = []
    for run, scores in zip(ev.results, ev.scores, strict=True):
        firsts = _firsts(ev, run.retriever)
        alone.setdefault(run.retriever, firsts)
        base = alone[run.retriever]
        moved = [q for q, unit in firsts.items() if unit != base.get(q)]
        out.append(
            Row(
                f"{size:,}",
                passages,
                run.retriever,
                scores.ranking["recall@1"],
                scores.ranking["mrr@10"],
                scores.quote_hit_rate,
                len(moved),
                sum(1 for q in moved if firsts[q].split(":")[0] not in seed_ids),
                scores.off_topic_abstained,
            )
        )
    return out


def _firsts(ev: Evaluation, retriever: str) -> dict[str, str]:
    """Each answerable question's first answer (article:start-end), '' when none."""
    run = next(r for r in ev.results if r.retriever == retriever)
    return {
        o.question.id: (o.units[0].id if o.units else "")
        for o in run.outcomes
        if o.question.answerable
    }


def _manifest(folder: Path) -> Path:
    current = (folder / "CURRENT").read_text(encoding="utf-8").strip()
    return folder / current / "manifest.json"


def table(rows: list[Row]) -> str:
    lines = [
        "| distractor articles | passages | retriever | R@1 | MRR@10 | quote hit | moved | to added"
        " | abstains off-topic |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        hit = f"{r.quote_hit:.3f}" if r.quote_hit is not None else "-"
        off = f"{r.off_topic_abstained:.3f}" if r.off_topic_abstained is not None else "-"
        lines.append(
            f"| {r.size} | {r.passages:,} | {r.retriever} | {r.r1:.3f} | {r.mrr10:.3f} | {hit}"
            f" | {r.moved} | {r.to_added} | {off} |"
        )
    lines.append("")
    lines.append(
        "R@1, MRR@10, quote hit: as `qa eval` reports them, over the seed test set's answerable"
        " questions (one is 0.015 of R@1); moved: first answers that differ from the seeds'"
        " alone; to added: of those, how many are now a distractor's; abstains off-topic:"
        " the off-topic questions' share left unanswered (the distractors answer some of them)."
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="0,300,1000", help="Distractor articles added, or all.")
    parser.add_argument("--retrievers", default="hybrid", help="Comma-separated, a row each.")
    args = parser.parse_args()
    for needed in (SCIFACT, SQUAD):
        if not needed.is_file():
            sys.exit(f"{needed} is missing: the benchmark needs SciFact's corpus and SQuAD 1.1 dev")
    settings = Settings()
    seeds = list(load([settings.seeds_dir]).articles)
    seed_ids = {a.id for a in seeds}
    added = distractors()
    sizes = [len(added) if s == "all" else min(int(s), len(added)) for s in args.sizes.split(",")]
    testset = read_testset(settings.seeds_dir / "questions.jsonl")
    retrievers = [r.strip() for r in args.retrievers.split(",")]
    rows: list[Row] = []
    alone: dict[str, dict[str, str]] = {}
    encoder = get_encoder(settings)
    for size, folder in indexes(seeds, added, sizes, settings, encoder):
        asked = settings.model_copy(update={"index_dir": folder})
        ev = evaluate(testset, asked, lambda: encoder, retrievers=retrievers, k=10)
        rows += rows_of(size, folder, ev, alone, seed_ids)
    print(table(rows))


if __name__ == "__main__":
    main()
