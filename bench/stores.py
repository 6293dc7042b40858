"""The seed test set through both stores in one run: local (FAISS + bm25s + SQLite) and
Milvus + PostgreSQL (Milvus Lite's server and a throwaway PostgreSQL on loopback ports).

    .venv/bin/python -m bench.stores

Both stores hold the same passages and vectors (the local index is copied, not
embedded again), so the rows differ only where the stores do: Milvus's HNSW against
FAISS's exact search, and Milvus's BM25 (its own tokenizer and statistics) against
bm25s. It also times how long an article added through one process's store takes to
be answered through another's.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

from qa.config import Settings
from qa.corpus.load import load
from qa.encoders import Encoder, get_encoder
from qa.evaluation import evaluate, read
from qa.indexing import build
from qa.retrieve import Retriever
from qa.store import get_store
from qa.store.local import LocalStore
from qa.transfer import copy
from qa.types import Article, Source
from tests.servers import running

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("recall@1", "recall@5", "mrr@10", "ndcg@10")
RETRIEVERS = ("dense", "bm25", "hybrid")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="qa-bench-stores-") as folder:
        base = Path(folder)
        local = Settings(index_dir=base / "index", seeds_dir=ROOT / "seeds")
        encoder = get_encoder(local)
        build(LocalStore(local.index_dir), load([local.seeds_dir]).articles, local, lambda: encoder)
        with running(base / "servers") as (milvus, postgres):
            remote = Settings(
                **{
                    **dict(local),
                    "store": "milvus",
                    "milvus_uri": milvus.uri,
                    "database_url": postgres.new_database("qa_bench"),
                }
            )
            store = get_store(remote)
            copy(LocalStore(local.index_dir).open(), store)
            store.close()
            testset = read(ROOT / "seeds" / "questions.jsonl")
            print(f"seed test set, {len(testset.questions)} questions, k=10; what users get")
            print(f"{'store':<22}{'retriever':<10}" + "".join(f"{m:>11}" for m in METRICS))
            for name, settings in (("local", local), ("milvus + postgresql", remote)):
                found = evaluate(testset, settings, lambda: encoder, retrievers=RETRIEVERS, k=10)
                for scores in found.scores:
                    row = "".join(f"{scores.ranking[m]:>11.3f}" for m in METRICS)
                    print(f"{name:<22}{scores.retriever:<10}{row}")
            print(f"an add seen by another process's store: {_propagation(remote, encoder)}")
    return 0


def _propagation(settings: Settings, encoder: Encoder) -> str:
    """Seconds from an add through one store until another store's retriever answers it."""
    waits = []
    writer, reader = get_store(settings), get_store(settings)
    try:
        for n in range(5):
            text = f"The harbour of Tromsø{n} will get a new pier, the mayor said on Monday."
            article = Article(Source(f"pier-{n}", title="Pier"), text)
            build(writer, [article], settings, lambda: encoder, add=True)
            started = time.perf_counter()
            while True:
                retriever = Retriever(reader.open(), encoder, settings)
                hits = retriever.search(f"Where will the new pier of Tromsø{n} be?", 3)
                if any(h.article_id == f"pier-{n}" for h in hits):
                    break
                time.sleep(0.05)
            waits.append(time.perf_counter() - started)
    finally:
        writer.close()
        reader.close()
    return f"median {statistics.median(waits):.2f} s, max {max(waits):.2f} s (5 adds)"


if __name__ == "__main__":
    sys.exit(main())
