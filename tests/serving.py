"""A real uvicorn server on a free loopback port: in a thread of the test process, or a
`qa serve` process of its own."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI


@contextmanager
def running(
    app: FastAPI, *, ready_timeout: float = 120.0, wait_ready: bool = True
) -> Iterator[str]:
    """Serve ``app``; yield its base URL once /health says 200 (or at once if not waiting)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        if wait_ready:
            wait_until_ready(url, deadline)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


def wait_until_ready(url: str, deadline: float) -> None:
    while httpx.get(f"{url}/health", timeout=60).status_code != 200:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url}/health never answered 200")
        time.sleep(0.05)


def qa_process(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The qa command run to its end as a process of its own, with ``env`` added to this
    one's environment (offline, one thread)."""
    return subprocess.run(
        [sys.executable, "-m", "qa", *args],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **env},
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        timeout=300,
    )


@contextmanager
def serving_process(index_dir: Path, log: Path | None = None, **env: str) -> Iterator[str]:
    """A real `qa serve` process, as `make run` starts it, with these QA_* settings;
    yield its base URL once /health says 200. Its stderr goes to ``log`` (default: a
    file beside the index folder), so a test can read the server's log lines."""
    with served_process(index_dir, log, **env) as (url, _):
        yield url


@contextmanager
def served_process(
    index_dir: Path, log: Path | None = None, **env: str
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``serving_process``'s URL, and the process."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", **env}
    environment.pop("TELEGRAM_BOT_TOKEN", None)
    log = log or index_dir.parent / f"serve-{port}.log"
    with open(log, "w") as err:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "qa",
                "serve",
                "--port",
                str(port),
                "--index-dir",
                str(index_dir),
            ],
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"qa serve did not become ready: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=60)
