"""Checksums of a version's files, written when it is published and checked when opened.

Truncation shows when a file is read, but a few changed bytes in the middle of a vector
file or the SQLite file would load and answer wrongly; a checksum catches both. A
version written before checksums existed has no SHA256SUMS and is opened unchecked.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

SUMS = "SHA256SUMS"
_BLOCK = 1 << 20


def write_sums(folder: Path) -> None:
    """Record the checksum of every file in ``folder`` (in the sha256sum format)."""
    lines = [f"{_digest(path)}  {path.relative_to(folder).as_posix()}" for path in _files(folder)]
    (folder / SUMS).write_text("\n".join(lines) + "\n", encoding="utf-8")


def damaged_files(folder: Path) -> list[str]:
    """Files of ``folder`` that are missing or differ from their checksums; [] if none
    (or if the version has no checksums)."""
    sums = folder / SUMS
    if not sums.is_file():
        return []
    damaged = []
    for line in sums.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.partition("  ")
        path = folder / name
        if not path.is_file() or _digest(path) != digest:
            damaged.append(name)
    return damaged


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != SUMS)


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            sha.update(block)
    return sha.hexdigest()
