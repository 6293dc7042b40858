"""Embedded batches kept on disk while a build runs, so a stopped build resumes.

Embedding is nearly all of a build's time. Each batch of articles is embedded and
saved here before the next starts, named by what went into it (the encoder, the model,
the way passages are cut and the texts themselves); a build started again after Ctrl-C,
SIGKILL or a full disk finds the batches already done and embeds only the rest. The
files are read back memory-mapped, so a build holds one batch's vectors at a time, and
removed once the build is published.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from qa.encoders import Vectors

_NAMES = ("passages", "sentences")


class Checkpoints:
    """A folder of batches: ``<key>/passages.npy`` and ``<key>/sentences.npy`` each."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @staticmethod
    def key(parts: Iterable[str]) -> str:
        digest = hashlib.sha256()
        for part in parts:
            digest.update(part.encode("utf-8", "surrogatepass"))
            digest.update(b"\0")
        return digest.hexdigest()[:32]

    def load(self, key: str, passages: int, sentences: int) -> tuple[Vectors, Vectors] | None:
        """The batch saved under ``key``, memory-mapped, if it has the expected shape."""
        batch = self.folder / key
        try:
            found = tuple(np.load(batch / f"{n}.npy", mmap_mode="r") for n in _NAMES)
        except (OSError, ValueError):
            return None  # missing, or damaged by whatever stopped the build
        if len(found[0]) != passages or len(found[1]) != sentences:
            return None
        return found[0], found[1]

    def save(self, key: str, passage_vectors: Vectors, sentence_vectors: Vectors) -> None:
        """Written aside, then renamed into place: a batch under ``key`` is always whole."""
        self.folder.mkdir(parents=True, exist_ok=True)
        scratch = self.folder / f".{key}.{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        try:
            for name, rows in zip(_NAMES, (passage_vectors, sentence_vectors), strict=True):
                with (scratch / f"{name}.npy").open("wb") as handle:
                    np.save(handle, np.ascontiguousarray(rows, dtype=np.float32))
                    handle.flush()
                    os.fsync(handle.fileno())
            shutil.rmtree(self.folder / key, ignore_errors=True)
            os.replace(scratch, self.folder / key)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def clear(self) -> None:
        """Remove every batch: the build they were for is published."""
        shutil.rmtree(self.folder, ignore_errors=True)
