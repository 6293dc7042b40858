"""Benchmark of the HTTP API: start `qa serve`, load it from 1, 4 and 16 clients, print a table.

    .venv/bin/python -m bench.api [--requests 600] [--clients 1,4,16] [--retrievers dense,hybrid]
                                  [--workers 0,1]

Beside the service figures it times the bare PyTorch ``model.encode`` of one question in
the same run (the reference: the ratio shows the service against the model alone), each
of qa's encoders alone, and the cold start of `qa serve`. Numbers depend on the
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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
QA = [sys.executable, "-m", "qa"]


@dataclass(frozen=True)
class Row:
    retriever: str
    workers: int
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
def server(
    index_dir: Path, retriever: str, workers: int = 0, *, every_worker: bool = True
) -> Iterator[str]:
    """A real `qa serve` process, as `make run` starts it (``workers`` 0: its default,
    one per core)."""
    with serving(index_dir, retriever, workers, every_worker=every_worker) as (url, _):
        yield url


@contextmanager
def serving(
    index_dir: Path, retriever: str, workers: int = 0, *, every_worker: bool = True
) -> Iterator[tuple[str, int]]:
    """``server``'s address and its process id, once /health says 200 (and, with
    ``every_worker``, every worker answers)."""
    from qa.config import Settings
    from qa.serving import worker_count

    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "QA_RETRIEVER": retriever}
    if workers:
        env["QA_WORKERS"] = str(workers)
    expected = (None, worker_count(Settings(workers=workers))) if every_worker else None
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
                health = httpx.get(f"{url}/health")
                if health.status_code == 200 and (
                    expected is None or health.json()["workers"] in expected
                ):
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"qa serve did not become ready (exit {process.returncode})")
            time.sleep(0.1)
        yield url, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


async def load(
    url: str, clients: int, total: int, asked: list[str]
) -> tuple[list[float], float, int]:
    """``total`` questions from ``clients`` clients that each wait for their answer.

    Each client is one kept-alive HTTP/1.1 connection writing ready-made requests and
    reading the answers whole: httpx cost 3-4 ms of the client's CPU a request, which
    a 2-core machine takes from the server under test (and counted in every latency).
    """
    host, port = url.removeprefix("http://").split(":")
    requests = [_post(host, "/ask", {"question": q, "k": 5}) for q in asked]
    latencies: list[float] = []
    errors = 0
    counter = iter(range(total))

    async def client() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            await _exchange(reader, writer, _post(host, "/ask", {"question": "warm up", "k": 5}))
            for n in counter:
                start = time.perf_counter()
                status = await _exchange(reader, writer, requests[n % len(requests)])
                latencies.append(time.perf_counter() - start)
                errors += status != 200
        finally:
            writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - start
    return latencies, elapsed, errors


def _post(host: str, path: str, body: object) -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    return head.encode() + data


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    """Send one request and read its whole answer; its status."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(
        int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:")
    )
    await reader.readexactly(length)
    return status


@dataclass(frozen=True)
class EncoderRow:
    what: str
    one_ms: float  # median time of one question
    batch_qps: float  # questions per second in batches of 16


def timed_ms(call: Callable[[list[str]], object], texts: list[str], repeat: int) -> float:
    """Median milliseconds of ``call`` on ``texts``, after one untimed call."""
    call(texts)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call(texts)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def encoder_rows(asked: list[str], encoders: list[str], repeat: int = 50) -> list[EncoderRow]:
    """The bare PyTorch ``model.encode`` of one question (the reference under /ask
    latency), then each of qa's encoders on one question and on batches of 16."""
    from qa.config import Settings
    from qa.encoders import get_encoder
    from qa.encoders.torch import TorchEncoder

    settings = Settings()
    model = TorchEncoder.load(settings.model).model
    batch = asked[:16]
    rows = []
    for n, name in enumerate(["bare", *encoders]):
        if name == "bare":
            what = "bare PyTorch model.encode"
            call: Callable[[list[str]], object] = model.encode
        else:
            what = f"qa encoder {name}"
            call = get_encoder(settings.model_copy(update={"encoder": name})).encode_queries
        one = [asked[n % len(asked)]]
        rows.append(
            EncoderRow(
                what, timed_ms(call, one, repeat), 16000 / timed_ms(call, batch, repeat // 5)
            )
        )
    return rows


def cold_start(index_dir: Path) -> float:
    """Seconds from starting `qa serve` to a healthy /health (the export already cached)."""
    started = time.perf_counter()
    with server(index_dir, "hybrid", every_worker=False):
        return time.perf_counter() - started


def main() -> None:
    from qa.config import Settings
    from qa.serving import worker_count

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=600, help="Questions per row.")
    parser.add_argument("--clients", default="1,4,16", help="Concurrent clients per row.")
    parser.add_argument("--retrievers", default="dense,hybrid", help="Retrievers, a row set each.")
    parser.add_argument(
        "--workers", default="0,1", help="`qa serve` processes (0: its default), a row set each."
    )
    parser.add_argument(
        "--encoders", default="torch,onnx,onnx-int8", help="Encoders timed alone, a row each."
    )
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
        starts = [cold_start(index_dir) for _ in range(3)]
        for retriever, workers in (
            (r.strip(), int(w)) for r in args.retrievers.split(",") for w in args.workers.split(",")
        ):
            with server(index_dir, retriever, workers) as url:
                for clients in (int(c) for c in args.clients.split(",")):
                    latencies, elapsed, errors = asyncio.run(
                        load(url, clients, args.requests, asked)
                    )
                    rows.append(
                        Row(
                            retriever,
                            worker_count(Settings(workers=workers)),
                            clients,
                            len(latencies),
                            statistics.median(latencies) * 1000,
                            statistics.quantiles(latencies, n=20)[-1] * 1000,
                            len(latencies) / elapsed,
                            errors,
                        )
                    )
    encoders = encoder_rows(asked, [e.strip() for e in args.encoders.split(",") if e.strip()])
    print(table(rows, encoders, statistics.median(starts)))


def table(rows: list[Row], encoders: list[EncoderRow], start_s: float) -> str:
    reference = encoders[0].one_ms
    lines = [
        f"Bare PyTorch model.encode of one question: {reference:.1f} ms (median of 50, same "
        f"run); `qa serve` cold start to a healthy /health: {start_s:.1f} s (median of 3)",
        "",
        "| encoder | one question ms | x bare | questions/s in batches of 16 |",
        "|---|---:|---:|---:|",
    ]
    for e in encoders:
        lines.append(
            f"| {e.what} | {e.one_ms:.1f} | {e.one_ms / reference:.2f}x | {e.batch_qps:.0f} |"
        )
    lines += [
        "",
        "| retriever | workers | clients | requests | p50 ms | p95 ms | req/s | x 1 client | "
        "p50 / bare encode | errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    one_client = {(r.retriever, r.workers): r.rps for r in rows if r.clients == 1}
    for r in rows:
        alone = one_client.get((r.retriever, r.workers))
        gain = r.rps / alone if alone else float("nan")
        lines.append(
            f"| {r.retriever} | {r.workers} | {r.clients} | {r.requests} | {r.p50_ms:.1f} "
            f"| {r.p95_ms:.1f} "
            f"| {r.rps:.1f} | {gain:.1f}x | {r.p50_ms / reference:.2f}x | {r.errors} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
