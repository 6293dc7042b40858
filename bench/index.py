"""Benchmark of indexing: `qa index` of SciFact's corpus from scratch, beside a bare
PyTorch ``model.encode`` of the same passages in the same run; prints a table.

    .venv/bin/python -m bench.index [--corpus PATH] [--encoders onnx-int8] [--torch-sample 2000]

The bare encode is the reference: what the model alone costs on this machine now (the
machine may be shared, so compare rows of one run). It encodes a sample of the passages
(``--torch-sample``, 0 for all) and reports texts per second.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "benchdata" / "scifact" / "corpus.jsonl"


@dataclass(frozen=True)
class Row:
    what: str
    seconds: float
    texts: int
    note: str


def articles_file(corpus: Path, folder: Path) -> Path:
    """SciFact's corpus as a qa .jsonl of articles (the title as the title)."""
    out = folder / "scifact.jsonl"
    with corpus.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for line in src:
            if line.strip():
                doc = json.loads(line)
                record = {"id": doc["_id"], "title": doc.get("title") or None, "text": doc["text"]}
                dst.write(json.dumps(record) + "\n")
    return out


def qa_index(articles: Path, index_dir: Path, encoder: str) -> float:
    """Seconds for `qa index` from scratch, as a user runs it (a fresh process)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_ENCODER": encoder}
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "qa",
            "index",
            str(articles),
            "--quiet",
            "--index-dir",
            str(index_dir),
        ],
        check=True,
        env=env,
        cwd=ROOT,
    )
    return time.perf_counter() - started


def counts(index_dir: Path) -> tuple[int, int]:
    """Passages and sentences of the index just built."""
    current = (index_dir / "CURRENT").read_text(encoding="utf-8").strip()
    manifest = json.loads((index_dir / current / "manifest.json").read_text(encoding="utf-8"))
    return int(manifest["passages"]), int(manifest["sentences"])


def passage_texts(articles: Path) -> list[str]:
    from qa.config import Settings
    from qa.corpus.load import load
    from qa.corpus.split import chunk

    settings = Settings()
    texts = []
    for article in load([articles]).articles:
        cut = chunk(
            article, max_sentences=settings.passage_sentences, max_chars=settings.passage_max_chars
        )
        texts += [article.text[p.start : p.end] for p in cut.passages]
    return texts


def bare_torch(texts: list[str], sample: int) -> Row:
    """The reference: sentence-transformers on PyTorch, batch 32, nothing else."""
    from qa.config import Settings
    from qa.encoders.torch import TorchEncoder

    model = TorchEncoder.load(Settings().model).model
    chosen = random.Random(0).sample(texts, sample) if 0 < sample < len(texts) else texts
    model.encode(chosen[:64], batch_size=32)
    started = time.perf_counter()
    model.encode(chosen, batch_size=32, show_progress_bar=False)
    seconds = time.perf_counter() - started
    return Row("bare PyTorch model.encode of the passages", seconds, len(chosen), "reference")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="A BEIR corpus.jsonl.")
    parser.add_argument("--encoders", default="onnx-int8", help="QA_ENCODER values, a row each.")
    parser.add_argument("--torch-sample", type=int, default=2000, help="Passages; 0 for all.")
    args = parser.parse_args()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-index-") as folder:
        articles = articles_file(args.corpus, Path(folder))
        for encoder in args.encoders.split(","):
            index_dir = Path(folder) / f"index-{encoder}"
            seconds = qa_index(articles, index_dir, encoder.strip())
            passages, sentences = counts(index_dir)
            note = f"{passages:,} passages, {sentences:,} sentences"
            texts = passages + sentences  # QA_SENTENCE_VECTORS=pooled embeds passages only
            rows.append(Row(f"`qa index` from scratch, {encoder}", seconds, texts, note))
        rows.append(bare_torch(passage_texts(articles), args.torch_sample))
    print(table(rows))


def table(rows: list[Row]) -> str:
    lines = [
        "| what | seconds | texts | texts/s | |",
        "|---|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.what} | {r.seconds:.1f} | {r.texts:,} | {r.texts / r.seconds:.0f} | {r.note} |"
        )
    lines.append("")
    lines.append(
        "texts/s of `qa index` counts passages and sentences embedded, and its time includes"
        " loading, cleaning, splitting, BM25 and writing."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
