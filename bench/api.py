"""Benchmark of the HTTP API: start `qa serve`, load it from 1, 4 and 16 clients, print a table.

    .venv/bin/python -m bench.api [--requests 600] [--clients 1,4,16] [--retrievers dense,hybrid]

Beside the service figures it times the bare ``model.encode`` of one question in the
same run, so the ratio shows what the service adds to the model. Numbers depend on the
machine: compare rows of one run, not runs of different machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QA = [sys.executable, "-m", "qa"]


@dataclass(frozen=True)
class Row:
    retriever: str
    clients: int
    requests: int
    p50_ms: float
    p95_ms: float
    rps: float
    errors: int


def questions() -> list[str]:
    lines = (ROOT / "seeds" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def server(index_dir: Path, retriever: str) -> Iterator[str]:
    """A real `qa serve` process, as `make run` starts it."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_RETRIEVER": retriever}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    process = subprocess.Popen(
        [*QA, "serve", "--port", str(port), "--index-dir", str(index_dir)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"qa serve did not become ready (exit {process.returncode})")
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


async def load(
    url: str, clients: int, total: int, asked: list[str]
) -> tuple[list[float], float, int]:
    """``total`` questions from ``clients`` clients that each wait for their answer."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal errors
        for n in counter:
            start = time.perf_counter()
            response = await http.post("/ask", json={"question": asked[n % len(asked)], "k": 5})
            latencies.append(time.perf_counter() - start)
            errors += response.status_code != 200

    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        await http.post("/ask", json={"question": "warm up", "k": 5})
        start = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        elapsed = time.perf_counter() - start
    return latencies, elapsed, errors


def bare_encode_ms(asked: list[str], repeat: int = 50) -> float:
    """Median time of the model alone on one question: the floor under /ask latency."""
    from qa.config import get_settings
    from qa.encoders import get_encoder

    settings = get_settings()
    embedder = get_encoder(settings)
    embedder.encode_queries([asked[0]])
    times = []
    for n in range(repeat):
        start = time.perf_counter()
        embedder.encode_queries([asked[n % len(asked)]])
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=600, help="Questions per row.")
    parser.add_argument("--clients", default="1,4,16", help="Concurrent clients per row.")
    parser.add_argument("--retrievers", default="dense,hybrid", help="Retrievers, a row set each.")
    args = parser.parse_args()
    asked = questions()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as folder:
        index_dir = Path(folder) / "index"
        subprocess.run(
            [*QA, "index", "--quiet", "--index-dir", str(index_dir)],
            check=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            cwd=ROOT,
        )
        for retriever in args.retrievers.split(","):
            with server(index_dir, retriever.strip()) as url:
                for clients in (int(c) for c in args.clients.split(",")):
                    latencies, elapsed, errors = asyncio.run(
                        load(url, clients, args.requests, asked)
                    )
                    rows.append(
                        Row(
                            retriever.strip(),
                            clients,
                            len(latencies),
                            statistics.median(latencies) * 1000,
                            statistics.quantiles(latencies, n=20)[-1] * 1000,
                            len(latencies) / elapsed,
                            errors,
                        )
                    )
    encode = bare_encode_ms(asked)
    print(table(rows, encode))


def table(rows: list[Row], encode_ms: float) -> str:
    lines = [
        f"Bare model.encode of one question: {encode_ms:.1f} ms (median of 50, same run)",
        "",
        "| retriever | clients | requests | p50 ms | p95 ms | req/s | p50 / encode | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.retriever} | {r.clients} | {r.requests} | {r.p50_ms:.1f} | {r.p95_ms:.1f} "
            f"| {r.rps:.1f} | {r.p50_ms / encode_ms:.1f}x | {r.errors} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
