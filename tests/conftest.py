"""Shared fixtures: the real bundled model, a seed index built once, and a hashing encoder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"

from qa.config import DEFAULT_MODEL, Settings, get_settings
from qa.corpus.load import load
from qa.encoders import Encoder, get_encoder
from qa.encoders.hashing import HashingEncoder
from qa.indexing import build
from qa.retrieve import Retriever
from qa.store import Snapshot, check_encoder
from qa.store.local import LocalStore

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"
FAKE_MODEL = "test-hash-embedder"


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
    return Settings(
        index_dir=tmp_path / "index", model=FAKE_MODEL, encoder="hashing", lock_timeout=0.5
    )


@pytest.fixture
def fake_encoder() -> HashingEncoder:
    return HashingEncoder(FAKE_MODEL)


@pytest.fixture(scope="session")
def real_encoder() -> Encoder:
    return get_encoder(Settings(model=DEFAULT_MODEL))


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(index_dir=tmp_path_factory.mktemp("seed-index"), seeds_dir=SEEDS)


@pytest.fixture(scope="session")
def seed_index_dir(seed_settings: Settings, real_encoder: Encoder) -> Path:
    """The seed articles indexed once with the real model; tests only read it."""
    store = LocalStore(seed_settings.index_dir)
    build(store, load([SEEDS]).articles, seed_settings, lambda: real_encoder)
    return seed_settings.index_dir


@pytest.fixture(scope="session")
def seed_retriever(
    seed_index_dir: Path, seed_settings: Settings, real_encoder: Encoder
) -> Retriever:
    return Retriever(LocalStore(seed_index_dir).open(), real_encoder, seed_settings)


def opened(index_dir: Path, model: str | None = None) -> Snapshot:
    """The current version of a local index, refused when built with another model."""
    snapshot = LocalStore(index_dir).open()
    if model is not None:
        check_encoder(snapshot.manifest, str(index_dir), snapshot.manifest.encoder, model)
    return snapshot


def using(retriever: Retriever, method: str | None = None, **settings: object) -> Retriever:
    """The same index and model, searched with another method (dense, bm25 or hybrid)
    or other settings."""
    changes = {**settings, **({"retriever": method} if method else {})}
    return Retriever(
        retriever.snapshot, retriever.encoder, retriever.settings.model_copy(update=changes)
    )


@pytest.fixture
def seed_copy(tmp_path: Path, seed_index_dir: Path) -> Path:
    """A private copy of the seed index that a test may change."""
    target = tmp_path / "index"
    shutil.copytree(seed_index_dir, target)
    return target
