"""Scale benchmark: indexes of 10,000, 100,000 and 1,000,000 passages, measured in one run.

    .venv/bin/python -m bench.scale [--sizes 10000,100000,1000000] [--real 10000]

The text is real: sentences of SciFact's abstracts and SQuAD 1.1's paragraphs, recombined
into distinct articles of two to four paragraphs (two or three sentences each) with one
of twelve outlets and a date in 2019-2024, so that BM25, filters and the splitter see
real prose. The five seed articles are mixed into every corpus, so the seed test set
can be asked of it.

The vectors: the real encoder (QA_ENCODER, ONNX by default) embeds the seeds and the
first ``--real`` passages' articles (passages and sentences) for real; that build's
rate is the "real" row. Every other text gets the vector of a real text it is assigned
to by its hash, moved by noise to cosine about 0.9 with it ("replayed"), which costs
nothing, so the replayed rows' build rate is qa's own work (splitting, batching and
checkpoints, SQLite, FAISS, BM25) without the model, the same at every size.

For each size: build time and passages a second; bytes on disk; the resident memory
of `qa serve` after loading and after the load below; `/ask` p50 and p95 from 1 and
from 16 clients; the p50 of the vector search and of BM25 alone; recall@10 of the
approximate search against exact search over the same vectors; and the seed test set's
R@1 and MRR@10 (`qa eval`, what users get) on the mixed corpus.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from pathlib import Path

import numpy as np

from bench.api import QA, ROOT, load, questions, serving
from qa.config import Settings
from qa.corpus.load import load as load_files
from qa.corpus.load import make_article
from qa.corpus.meta import Meta
from qa.encoders import Encoder, Vectors, get_encoder
from qa.indexing import build
from qa.store import local_store
from qa.store.local import PASSAGE_VECTORS, LocalStore
from qa.types import Article, Filters

BENCHDATA = ROOT.parent / "shared" / "benchdata"
OUTLETS = (
    "Daily Ledger", "Evening Post", "Harbour Times", "Capital Wire", "Northern Star",
    "Valley Courier", "Metro Journal", "Coastal Herald", "Plains Gazette", "River Review",
    "Summit News", "Union Observer",
)  # fmt: skip
NOISE = 0.025  # per dimension: cosine about 0.9 to the donor in 384 dimensions


def sentence_pool() -> list[str]:
    """Real sentences, 40 to 400 characters, from SciFact and SQuAD 1.1 dev."""
    texts = [
        json.loads(line)["text"]
        for line in (BENCHDATA / "scifact" / "corpus.jsonl").read_text().splitlines()
    ]
    squad = json.loads((BENCHDATA / "squad-v1.1" / "dev-v1.1.json").read_text())
    texts += [p["context"] for a in squad["data"] for p in a["paragraphs"]]
    split = re.compile(r"(?<=[a-z0-9)][.!?])\s+(?=[A-Z])")
    pool = {s.strip() for t in texts for s in split.split(t)}
    return sorted(s for s in pool if 40 <= len(s) <= 400 and "\n" not in s)


def articles(passages: int, pool: Sequence[str]) -> Iterator[Article]:
    """Articles until about ``passages`` paragraphs; article i is the same at every size."""
    made = i = 0
    while made < passages:
        rng = random.Random(i)
        paragraphs = [
            " ".join(rng.choice(pool) for _ in range(rng.randint(2, 3)))
            for _ in range(rng.randint(2, 4))
        ]
        day = 18000 + rng.randrange(2190)  # 2019-04 .. 2025-04, as days since 1970
        published = time.strftime("%Y-%m-%d", time.gmtime(day * 86400))
        title = " ".join(paragraphs[0].split()[:8])
        meta = Meta(
            id=f"b{i:07d}", title=title, outlet=OUTLETS[i % len(OUTLETS)], published=published
        )
        yield make_article("\n\n".join(paragraphs), meta, origin=f"bench:{i}", markdown=False)
        made += len(paragraphs)
        i += 1


class Replayed(Encoder):
    """Real vectors for the texts it was given; for any other text, a real one's
    vector (chosen by the text's hash) moved by noise."""

    backend = "replayed"

    def __init__(self, known: dict[str, np.ndarray], dimension: int) -> None:
        super().__init__()
        self.name = "replayed"
        self.dimension = dimension
        self._known = known
        self._donors = np.stack(list(known.values()))

    def embed_batch(self, texts: Sequence[str], *, batch_size: int) -> Vectors:
        rows = np.empty((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            found = self._known.get(text)
            if found is None:
                seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest())
                rng = np.random.default_rng(seed)
                found = self._donors[seed % len(self._donors)] + rng.normal(
                    0, NOISE, self.dimension
                )
                found = found / np.linalg.norm(found)
            rows[row] = found
        return rows


@dataclass
class Row:
    size: str
    passages: int
    vectors: str
    build_s: float
    rate: float
    build_peak_mb: float
    disk_mb: float
    search: str
    rss_loaded_mb: float = 0.0
    rss_after_mb: float = 0.0
    anon_after_mb: float = 0.0  # of rss_after_mb, what is not pages of mapped files
    p50_1: float = 0.0
    p95_1: float = 0.0
    p50_16: float = 0.0
    p95_16: float = 0.0
    rps_16: float = 0.0
    dense_ms: float = 0.0
    bm25_ms: float = 0.0
    recall10: float = 0.0
    seed_r1: float = 0.0
    seed_mrr: float = 0.0


def _build_child(index_dir: str, size: int, known: dict[str, np.ndarray] | None, out: Any) -> None:
    """Make the corpus of ``size`` passages and index it: with the real encoder when
    ``known`` is None, else replaying it."""
    corpus = seeds() + (list(articles(size, sentence_pool())) if size else [])
    settings = Settings(index_dir=Path(index_dir))
    encoder = (
        get_encoder(settings) if known is None else Replayed(known, len(next(iter(known.values()))))
    )
    started = time.perf_counter()
    report = build(local_store(settings, Path(index_dir)), corpus, settings, lambda: encoder)
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out.put((elapsed, report.passages, peak))


def timed_build(
    index_dir: Path, size: int, known: dict[str, np.ndarray] | None
) -> tuple[float, int, float]:
    """Build in a process of its own (spawned: FAISS's and BLAS's threads do not survive a
    fork), so that its time and peak memory are its own. A finished build's figures are
    kept beside it, and reused when the benchmark is run again on the same folder."""
    record = index_dir.with_suffix(".json")
    if record.is_file() and (index_dir / "CURRENT").is_file():
        seconds, passages, peak = json.loads(record.read_text())
        return float(seconds), int(passages), float(peak)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    child = context.Process(target=_build_child, args=(str(index_dir), size, known, out))
    child.start()
    result = out.get()
    child.join()
    if child.exitcode != 0:
        raise SystemExit(f"the build of {index_dir} failed")
    record.write_text(json.dumps(result))
    return result  # type: ignore[no-any-return]


def seeds() -> list[Article]:
    return list(load_files([ROOT / "seeds"]).articles)


def harvest(index_dir: Path) -> dict[str, np.ndarray]:
    """Every indexed passage's and sentence's text with its real vector."""
    snapshot = LocalStore(index_dir).open()
    docs = snapshot.documents
    known: dict[str, np.ndarray] = {}
    ids = docs.passage_ids()
    passage_rows = snapshot.passage_vectors.vectors(ids)
    for pid, row in zip(ids, passage_rows, strict=True):
        passage = docs.passage(pid)
        known[docs.articles[passage.article_id].text[passage.start : passage.end]] = row
        sentences = list(passage.sentence_ids)
        for sid, vector in zip(
            sentences, snapshot.sentence_vectors.vectors(sentences), strict=True
        ):
            span = docs.sentence(sid)
            known[docs.articles[passage.article_id].text[span.start : span.end]] = vector
    return known


def rss_mb(pid: int, field: str = "VmRSS") -> float:
    """``VmRSS`` counts the pages of memory-mapped files that questions touched, which the
    kernel may drop when memory is short; ``RssAnon`` is the process's own memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def serve_figures(index_dir: Path, row: Row, asked: list[str]) -> None:
    with serving(index_dir, "hybrid", 1) as (url, pid):  # one worker's memory
        row.rss_loaded_mb = rss_mb(pid)
        one, _, errors_1 = asyncio.run(load(url, 1, 300, asked))
        many, elapsed, errors_16 = asyncio.run(load(url, 16, 800, asked))
        row.rss_after_mb = rss_mb(pid)
        row.anon_after_mb = rss_mb(pid, "RssAnon")
    if errors_1 or errors_16:
        raise SystemExit(f"{errors_1 + errors_16} requests failed at {row.size}")
    row.p50_1, row.p95_1 = _p(one, 50), _p(one, 95)
    row.p50_16, row.p95_16 = _p(many, 50), _p(many, 95)
    row.rps_16 = len(many) / elapsed


def _p(values: list[float], percentile: int) -> float:
    return float(np.percentile(values, percentile) * 1000)


def search_figures(index_dir: Path, row: Row, asked: list[str], encoder: Encoder) -> None:
    """Search alone, and recall@10 against exact search over the same vectors."""
    import faiss

    snapshot = local_store(Settings(), index_dir).open()
    queries = encoder.encode_queries(asked)
    dense, lexical = [], []
    for i, question in enumerate(asked):
        started = time.perf_counter()
        snapshot.passage_vectors.search(queries[i : i + 1], 40, Filters())
        dense.append(time.perf_counter() - started)
        started = time.perf_counter()
        snapshot.lexical.search([question], 40, Filters())
        lexical.append(time.perf_counter() - started)
    row.dense_ms, row.bm25_ms = _p(dense, 50), _p(lexical, 50)
    whole = faiss.read_index(str(index_dir / snapshot.version / PASSAGE_VECTORS))
    from qa.store.local.vectors import _contents

    ids, vectors = _contents(whole)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    _, truth = exact.search(queries, 10)
    faiss.omp_set_num_threads(1)
    found = snapshot.passage_vectors.search(queries, 10, Filters())
    row.recall10 = float(
        np.mean(
            [len({s.id for s in f} & set(ids[t])) / 10 for f, t in zip(found, truth, strict=True)]
        )
    )


def seed_figures(index_dir: Path, row: Row) -> None:
    done = subprocess.run(
        [*QA, "eval", "--index-dir", str(index_dir), "--json", "-q"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    hybrid = json.loads(done.stdout)["results"][0]["metrics"]
    row.seed_r1, row.seed_mrr = hybrid["recall@1"], hybrid["mrr@10"]


def disk_mb(index_dir: Path) -> float:
    return sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--real", type=int, default=10_000, help="passages embedded for real")
    parser.add_argument("--work", type=Path, default=None, help="where the indexes go")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    work = args.work or Path(tempfile.mkdtemp(prefix="qa-scale-"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    pool = sentence_pool()
    asked = questions()
    print(f"{len(pool):,} real sentences; indexes in {work}", file=sys.stderr)
    rows: list[Row] = []
    seed_only = work / "seeds"
    timed_build(seed_only, 0, None)
    rows.append(
        Row("seeds alone", LocalStore(seed_only).open().manifest.passages, "", 0, 0, 0, 0, "exact")
    )
    seed_figures(seed_only, rows[0])
    real_dir = work / "real"
    seconds, passages, peak = timed_build(real_dir, args.real, None)
    rows.append(
        Row(
            f"{passages:,}",
            passages,
            "real",
            seconds,
            passages / seconds,
            peak,
            disk_mb(real_dir),
            "",
        )
    )
    known = harvest(real_dir)
    encoder = get_encoder(Settings())
    for size in sizes:
        index_dir = work / f"n{size}"
        seconds, passages, peak = timed_build(index_dir, size, known)
        snapshot = local_store(Settings(), index_dir).open()
        search = "IVF" if snapshot.passage_vectors.approximate else "exact"  # type: ignore[attr-defined]
        row = Row(
            f"{passages:,}",
            passages,
            "replayed",
            seconds,
            passages / seconds,
            peak,
            disk_mb(index_dir),
            search,
        )
        del snapshot
        search_figures(index_dir, row, asked, encoder)
        serve_figures(index_dir, row, asked)
        seed_figures(index_dir, row)
        rows.append(row)
        print(table(rows), file=sys.stderr)
        if size != sizes[-1]:
            shutil.rmtree(index_dir, ignore_errors=True)
    print(table(rows))


def table(rows: list[Row]) -> str:
    head = (
        "| passages | vectors | build s | passages/s | build peak MB | disk MB | search "
        "| serve RSS MB (loaded / after; own memory after) | /ask p50 / p95 ms, 1 client | /ask p50 / p95 ms, 16 clients "
        "| req/s, 16 | dense search p50 ms | BM25 p50 ms | recall@10 vs exact | seed R@1 | seed MRR@10 |"
    )
    lines = [head, "|" + "---|" * 16]
    for r in rows:
        if r.vectors == "":
            lines.append(
                f"| seeds alone ({r.passages}) | real | | | | | exact | | | | | | | | {r.seed_r1:.3f} | {r.seed_mrr:.3f} |"
            )
            continue
        if r.vectors == "real":
            lines.append(
                f"| {r.size} | real | {r.build_s:.0f} | {r.rate:.0f} | {r.build_peak_mb:.0f} | {r.disk_mb:.0f} "
                "| | | | | | | | | | |"
            )
            continue
        lines.append(
            f"| {r.size} | {r.vectors} | {r.build_s:.0f} | {r.rate:.0f} | {r.build_peak_mb:.0f} | {r.disk_mb:.0f} "
            f"| {r.search} | {r.rss_loaded_mb:.0f} / {r.rss_after_mb:.0f}; {r.anon_after_mb:.0f} | {r.p50_1:.1f} / {r.p95_1:.1f} "
            f"| {r.p50_16:.1f} / {r.p95_16:.1f} | {r.rps_16:.0f} | {r.dense_ms:.2f} | {r.bm25_ms:.2f} "
            f"| {r.recall10:.3f} | {r.seed_r1:.3f} | {r.seed_mrr:.3f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
