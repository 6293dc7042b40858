"""Shared fixtures: the real bundled model, a seed index built once, and a fake embedder."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

from qa.config import DEFAULT_MODEL, Settings, get_settings
from qa.corpus.load import load
from qa.embed import Embedder, Vectors, get_embedder
from qa.index import open_index
from qa.indexing import build
from qa.retrieve import Retriever

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"
FAKE_MODEL = "test-hash-embedder"


class HashEmbedder(Embedder):
    """Bag-of-words hashing: deterministic, instant, and similar texts get similar vectors.

    For tests of index bookkeeping, which must not depend on the model. It records every
    text it embeds, so tests can tell what was (not) embedded again.
    """

    def __init__(self, name: str = FAKE_MODEL, dimension: int = 64) -> None:
        self.name = name
        self.dimension = dimension
        self.embedded: list[str] = []

    def _encode(self, texts: Sequence[str], *, batch_size: int) -> Vectors:
        self.embedded.extend(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms == 0, 1.0, norms)).astype(np.float32)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No QA_* variable of the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("QA_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def fake_settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index", model=FAKE_MODEL, lock_timeout=0.5)


@pytest.fixture
def fake_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def real_embedder() -> Embedder:
    return get_embedder(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(index_dir=tmp_path_factory.mktemp("seed-index"), seeds_dir=SEEDS)


@pytest.fixture(scope="session")
def seed_index_dir(seed_settings: Settings, real_embedder: Embedder) -> Path:
    """The seed articles indexed once with the real model; tests only read it."""
    build(seed_settings.index_dir, load([SEEDS]).articles, seed_settings, lambda: real_embedder)
    return seed_settings.index_dir


@pytest.fixture(scope="session")
def seed_retriever(
    seed_index_dir: Path, seed_settings: Settings, real_embedder: Embedder
) -> Retriever:
    return Retriever(open_index(seed_index_dir), real_embedder, seed_settings)


def using(retriever: Retriever, method: str | None = None, **settings: object) -> Retriever:
    """The same index and model, searched with another method (dense, bm25 or hybrid)
    or other settings."""
    changes = {**settings, **({"retriever": method} if method else {})}
    return Retriever(
        retriever.index, retriever.embedder, retriever.settings.model_copy(update=changes)
    )


@pytest.fixture
def seed_copy(tmp_path: Path, seed_index_dir: Path) -> Path:
    """A private copy of the seed index that a test may change."""
    target = tmp_path / "index"
    shutil.copytree(seed_index_dir, target)
    return target
