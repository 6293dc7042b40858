"""`qa serve` in several processes: each has its own GIL, so questions use every core.

The `qa serve` process is the first worker. It runs the sidecars (the Telegram bot,
feed watching: one of each) and answers at once, saying "loading" until it has loaded;
then it starts the others, which load before they accept a connection, so that no
question meets a worker still loading. Every worker accepts from one listening socket:
the kernel hands each connection to one of them. A worker that dies is started again;
one left behind by a killed `qa serve` stops by itself.

The workers share the index on disk (what one writes, the others read before their
next answer or listing), the rate limit (a SQLite file) and the metrics (Prometheus'
multiprocess files), both in a folder that is removed when the server stops (or, if
it was killed, when the next `qa serve` starts).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Sequence
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.config import Settings

if TYPE_CHECKING:
    from fastapi import FastAPI

    from qa.api.app import Sidecar
    from qa.service import Service

log = logging.getLogger("qa.serve")
MAX_AUTO = 8  # workers QA_WORKERS=0 starts at most, whatever the cores
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when imported
_READY = "ready-"  # a worker's file in the shared folder once it answers
_SHARED = "qa-serve-"  # + the server's pid + "-" + mkdtemp's letters: the shared folder
_RESTART_PAUSE = (1.0, 60.0)  # seconds before a dead worker starts again: doubling, to


def cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_count(settings: Settings) -> int:
    """QA_WORKERS, or one per core (at most MAX_AUTO)."""
    return settings.workers or min(cores(), MAX_AUTO)


def share_cores(settings: Settings, workers: int) -> Settings:
    """Each worker's model calls get its share of the cores: with every worker's
    model on every core, they only wait for each other (~20% fewer answers a second)."""
    if workers > 1 and settings.encoder_threads == 0:
        return settings.model_copy(update={"encoder_threads": max(1, cores() // workers)})
    return settings


def ready_workers(shared: Path | None) -> int | None:
    """How many workers answer now, or None for a server of one process."""
    if shared is None:
        return None
    return sum(1 for _ in shared.glob(f"{_READY}*"))


def serve(
    settings: Settings, sidecars: Sequence[Sidecar], listening: socket.socket, workers: int
) -> None:
    """Serve on ``listening`` with ``workers`` processes until stopped (Ctrl-C, SIGTERM)."""
    settings = share_cores(settings, workers)
    if workers == 1:
        from qa.api import create_app

        _run(create_app(settings, sidecars=tuple(sidecars)), listening)
        return
    shared = shared_folder(Path(tempfile.gettempdir()))
    # uvicorn raises SIGTERM again once it has stopped: as an exception, so that the
    # workers are stopped and the folder removed (the default handler ends at once).
    signal.signal(signal.SIGTERM, _exit)
    os.environ[METRICS_ENV] = str(shared)  # before prometheus_client is imported
    try:
        from qa.api import create_app

        app = create_app(settings, sidecars=tuple(sidecars), shared=shared)
        others = Workers(settings, listening, shared, workers - 1)
        threading.Thread(
            target=others.run, args=(app.state.service,), name="qa-workers", daemon=True
        ).start()
        try:
            _announce(app.state.service, shared)
            _run(app, listening)
        finally:
            others.stop()
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def shared_folder(parent: Path) -> Path:
    """A new folder for the workers to share, named for this process; first the folders
    of servers that were killed (SIGKILL skips their own removal) are removed."""
    for folder in parent.glob(f"{_SHARED}*-*"):
        pid = folder.name.removeprefix(_SHARED).split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{_SHARED}{os.getpid()}-", dir=parent))


def _exit(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # PermissionError would be another user's: alive
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


class Workers:
    """The workers past the first: started once it has loaded, started again if they die."""

    def __init__(
        self, settings: Settings, listening: socket.socket, shared: Path, count: int
    ) -> None:
        self._settings = settings
        self._listening = listening
        self._shared = shared
        self._processes: list[BaseProcess | None] = [None] * count
        self._stopping = threading.Event()
        self._context = multiprocessing.get_context("spawn")  # no threads or locks copied

    def run(self, first: Service) -> None:
        while first.problem == "loading":  # the first worker's load has the cores
            if self._stopping.wait(0.05):
                return
        pauses = [_RESTART_PAUSE[0]] * len(self._processes)
        started = [0.0] * len(self._processes)
        while not self._stopping.is_set():
            for n, process in enumerate(self._processes):
                if process is not None and process.exitcode is None:
                    continue
                if process is not None:
                    if time.monotonic() - started[n] > _RESTART_PAUSE[1]:
                        pauses[n] = _RESTART_PAUSE[0]  # it had run a while: not a crash loop
                    _forget(self._shared, process.pid)
                    # Ctrl-C reaches every worker at once: the server is stopping, not it.
                    if self._stopping.wait(pauses[n]):
                        return
                    log.warning(
                        "worker %d (pid %s) stopped with exit code %s %.0f s ago; started again",
                        n + 1,
                        process.pid,
                        process.exitcode,
                        pauses[n],
                    )
                    pauses[n] = min(pauses[n] * 2, _RESTART_PAUSE[1])
                self._processes[n] = self._start(n + 1)
                started[n] = time.monotonic()
            self._stopping.wait(0.2)

    def _start(self, number: int) -> BaseProcess:
        process = self._context.Process(
            target=_worker,
            args=(
                self._settings,
                self._listening.family,
                self._listening.getsockname(),
                self._shared,
                number,
                os.getpid(),
            ),
            name=f"qa-worker-{number}",
            daemon=True,
        )
        process.start()
        return process

    def stop(self) -> None:
        self._stopping.set()
        running = [p for p in self._processes if p is not None and p.exitcode is None]
        for process in running:
            process.terminate()  # uvicorn's graceful shutdown: answers in flight finish
        for process in running:
            process.join(timeout=15)
            if process.exitcode is None:
                process.kill()
                process.join()


def _worker(
    settings: Settings, family: int, address: Any, shared: Path, number: int, parent: int
) -> None:
    """One more worker: load, then listen beside the others and say so."""
    from qa.logs import configure_logging

    configure_logging()
    from tqdm import tqdm  # bm25s draws bars: a thread's lock, not a leaked semaphore

    tqdm.set_lock(threading.RLock())
    threading.Thread(target=_follow, args=(parent,), name="qa-parent", daemon=True).start()
    from qa.api import create_app

    app = create_app(settings, shared=shared)
    service = app.state.service
    service.load()  # before listening: no question meets a worker that is loading
    own = listen(family, address, shared=True)
    log.info("worker %d (pid %d) answers", number, os.getpid())
    _announce(service, shared)
    _run(app, own)


def _follow(parent: int) -> None:
    """Stop when `qa serve` is gone (killed), rather than answer on without it."""
    while os.getppid() == parent:
        threading.Event().wait(1.0)
    os.kill(os.getpid(), signal.SIGTERM)


def _announce(service: Service, shared: Path) -> None:
    """The worker's file in the shared folder, counted by /health once it answers."""

    def wait_then_mark() -> None:
        while service.problem == "loading":
            threading.Event().wait(0.05)
        (shared / f"{_READY}{os.getpid()}").touch()

    threading.Thread(target=wait_then_mark, name="qa-ready", daemon=True).start()


def _forget(shared: Path, pid: int | None) -> None:
    """A dead worker's ready file, and its live gauges in the metrics."""
    if pid is None:
        return
    (shared / f"{_READY}{pid}").unlink(missing_ok=True)
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid, str(shared))  # type: ignore[no-untyped-call]


def listen(family: int, address: Any, *, shared: bool) -> socket.socket:
    """A listening TCP socket; ``shared``: in a SO_REUSEPORT group, where the kernel
    spreads new connections over the workers' sockets. (With one socket for all, the
    worker that woke first took every connection of a burst: 16 clients' kept-alive
    connections on one worker while the other idled.) Made as asyncio makes its own:
    with proto TCP, so that asyncio turns Nagle off on every connection (it checks the
    proto); without, each answer waits ~40 ms for an ACK."""
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def _run(app: FastAPI | Any, listening: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(
        app,
        access_log=False,  # qa.api logs one line per request, without the query string
        log_config=None,
    )
    uvicorn.Server(config).run(sockets=[listening])
