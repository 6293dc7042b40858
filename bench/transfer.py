"""`qa import` of a large export into both stores: the peak memory of the process and
the time, beside the same import of the seeds alone (the libraries' own share).

    .venv/bin/python -m bench.transfer [COPIES]

The large file is the seed index (the bundled model's vectors) COPIES times over
(default 400: 2,000 articles), each copy with ids of its own. Each import runs as its
own `qa import` process, so its peak resident memory is that of the import alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qa.config import Settings
from qa.corpus.load import load
from qa.encoders import get_encoder
from qa.indexing import build
from qa.store.local import LocalStore
from qa.transfer import export
from tests.exports import repeated
from tests.servers import running

ROOT = Path(__file__).resolve().parent.parent


def main(copies: int) -> int:
    with tempfile.TemporaryDirectory(prefix="qa-bench-transfer-") as folder:
        base = Path(folder)
        local = Settings(index_dir=base / "index", seeds_dir=ROOT / "seeds")
        encoder = get_encoder(local)
        build(LocalStore(local.index_dir), load([local.seeds_dir]).articles, local, lambda: encoder)
        seeds = base / "seeds.jsonl"
        with open(seeds, "w", encoding="utf-8") as out:
            export(LocalStore(local.index_dir).open(), out)
        large = repeated(seeds, copies, base / "large.jsonl")
        columns = f"{'file':>10}{'articles':>10}{'passages':>10}{'peak RSS':>11}{'time':>9}"
        print(f"{'store':<22}{columns}")
        with running(base / "servers") as (milvus, postgres):
            stores = {
                "local": {"QA_STORE": "local", "QA_INDEX_DIR": str(base / "imported")},
                "milvus + postgresql": {
                    "QA_STORE": "milvus",
                    "QA_MILVUS_URI": milvus.uri,
                    "QA_DATABASE_URL": postgres.new_database("qa_bench"),
                },
            }
            for name, env in stores.items():
                for path in (seeds, large):
                    print(f"{name:<22}{_import(path, env)}")
    return 0


def _import(path: Path, env: dict[str, str]) -> str:
    """One `qa import` process: the file's size, what it imported, peak RSS and time."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "qa", "import", str(path)],
            env={**os.environ, "OMP_NUM_THREADS": "1", **env},
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(process.pid, 0)  # this child's own resource usage
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        said, complaint = out.read().decode(), err.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"qa import failed: {complaint}")
    words = said.split()  # "Imported N articles (P passages, ..."
    articles, passages = int(words[1]), int(words[3].lstrip("("))
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    size = path.stat().st_size / 2**20
    return f"{size:>8.1f}MB{articles:>10,}{passages:>10,}{peak:>9.0f}MB{seconds:>8.1f}s"


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 400))
