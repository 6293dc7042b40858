"""Versions of a local index folder: written aside, published by replacing CURRENT.

Layout::

    CURRENT                  name of the version in use, replaced atomically
    v-<time>-<rand>/         one complete version, never changed once written
    .build-<rand>/           a version being written; renamed into place when whole
    .lock                    held by the one writer

A build killed halfway leaves the previous version in use; the next writer removes
what it left. The version before the current one is kept for readers still using it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from qa.errors import IndexBusyError, IndexCorruptError, IndexMissingError
from qa.integrity import write_sums
from qa.store.manifest import REBUILD_HINT

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
LOCK = ".lock"
BUILD_PREFIX = ".build-"
VERSION_NAME = re.compile(r"^v-\d{8}T\d{6}-[0-9a-f]{6}$")


def current_name(index_dir: Path) -> str | None:
    """What CURRENT says, without checking it; None when there is no CURRENT."""
    try:
        return (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def current_version(index_dir: Path) -> Path:
    """The folder of the version in use; IndexMissingError when there is none."""
    if not (index_dir / CURRENT).is_file():
        raise IndexMissingError(
            f"no index in {index_dir}: run `qa index` to build it from the seed articles "
            "(or `qa index PATH` for your own)"
        )
    name = current_name(index_dir) or ""
    if not VERSION_NAME.match(name) or not (index_dir / name).is_dir():
        raise IndexCorruptError(
            f"the index in {index_dir} is damaged: {CURRENT} names {name!r}, which is not there. "
            f"{REBUILD_HINT}."
        )
    return index_dir / name


def new_build(index_dir: Path) -> Path:
    build = index_dir / f"{BUILD_PREFIX}{secrets.token_hex(4)}"
    build.mkdir()
    return build


def publish(index_dir: Path, build: Path) -> Path:
    """Make ``build`` the current version; keep the one before for open readers."""
    write_sums(build)
    for path in build.rglob("*"):
        _fsync(path)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    final = index_dir / f"v-{stamp}-{secrets.token_hex(3)}"
    previous = current_name(index_dir)
    os.rename(build, final)
    temporary = index_dir / f"{CURRENT}.tmp"
    temporary.write_text(final.name + "\n", encoding="utf-8")
    _fsync(temporary)
    os.replace(temporary, index_dir / CURRENT)
    _fsync(index_dir)
    for version in versions(index_dir):
        if version.name not in (final.name, previous):
            shutil.rmtree(version, ignore_errors=True)
    return final


def versions(index_dir: Path) -> Iterator[Path]:
    """Version folders qa wrote (and nothing else that may live in the folder)."""
    if index_dir.is_dir():
        for path in index_dir.iterdir():
            if path.is_dir() and VERSION_NAME.match(path.name) and (path / MANIFEST).exists():
                yield path


@contextlib.contextmanager
def locked(index_dir: Path, timeout: float) -> Iterator[None]:
    """One writer at a time per index folder, across processes; abandoned builds go."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise IndexBusyError(
                        f"another qa process is writing the index in {index_dir}; "
                        "try again when it has finished"
                    ) from None
                time.sleep(0.2)
        try:
            _remove_abandoned_builds(index_dir)
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_abandoned_builds(index_dir: Path) -> None:
    """Builds left by a killed writer; safe to remove while holding the lock."""
    for path in index_dir.glob(f"{BUILD_PREFIX}*"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
