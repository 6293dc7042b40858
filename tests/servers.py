"""Milvus Lite's server and a throwaway PostgreSQL, started on free loopback ports.

Used by the tests (as session fixtures) and by `make bench-stores`. PostgreSQL refuses
to run as root, so as root it runs as the unprivileged ``nobody``; ``make test``
installs Debian's postgresql when it is missing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg

_USER = "nobody"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server stopped: {log.read_text(errors='replace')[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"the server did not listen on {port}: {log.read_text()[-2000:]}")


class MilvusLite:
    """``python -m milvus_lite server`` on one data folder; stop and start it again on
    the same port and folder (one server per folder: Milvus Lite allows one writer)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.folder / "server.log"
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "milvus_lite",
                    "server",
                    "--data-dir",
                    str(self.folder / "data"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "OMP_NUM_THREADS": "1"},
            )
        _wait_for_port(self.port, self._process, log, 60)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"{name} not found: install Debian's postgresql (`make test` does)")
    return found


class Postgres:
    """A PostgreSQL cluster in a temporary folder of its own (where ``nobody`` may
    reach it: pytest's folders are root's alone), trusting local connections."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="qa-postgres-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._as_other = os.geteuid() == 0

    def _run(self, *args: str) -> None:
        user = _USER if self._as_other else None
        subprocess.run(
            args, check=True, capture_output=True, user=user, cwd=self.folder, timeout=120
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://qa@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        if self._as_other:
            shutil.chown(self.folder, _USER)
        self._run(_pg_bin("initdb"), "-D", str(self.data), "-U", "qa", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.folder} -c fsync=off"
        self._run(
            _pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.folder / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def new_database(self, name: str) -> str:
        """An empty database; its URL."""
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


@contextlib.contextmanager
def running(folder: Path) -> Iterator[tuple[MilvusLite, Postgres]]:
    """Both servers, stopped on leaving."""
    milvus = MilvusLite(folder / "milvus")
    postgres = Postgres()
    try:
        milvus.start()
        postgres.init()
        postgres.start()
        yield milvus, postgres
    finally:
        milvus.stop()
        postgres.remove()
