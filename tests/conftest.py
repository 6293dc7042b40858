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
from qa.store import Snapshot, check_encoder, get_store
from qa.store.local import LocalStore
from qa.transfer import copy
from tests.servers import MilvusLite, Postgres, running

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
DATA = Path(__file__).resolve().parent / "data"
FAKE_MODEL = "test-hash-embedder"
# The stores the retrieval, API and bot tests run against (QA_STORE).
STORES = ("local", "milvus")


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


class Remote:
    """One Milvus Lite server and one PostgreSQL for the session; each store made here
    has a database and collections of its own."""

    def __init__(self, milvus: MilvusLite, postgres: Postgres) -> None:
        self.milvus = milvus
        self.postgres = postgres
        self._made = 0

    def settings(self, base: Settings, **changes: object) -> Settings:
        """``base`` moved to a new, empty Milvus + PostgreSQL store."""
        self._made += 1
        name = f"qa_t{self._made}"
        return Settings(
            **{
                **dict(base),
                "store": "milvus",
                "milvus_uri": self.milvus.uri,
                "milvus_collection_prefix": name,
                "database_url": self.postgres.new_database(name),
                "store_timeout": 6.0,  # a loaded machine's Milvus Lite search can pass 3 s
                **changes,
            }
        )

    def seeded(self, base: Settings, index_dir: Path, **changes: object) -> Settings:
        """A new store holding a copy of the local index in ``index_dir``."""
        settings = self.settings(base, **changes)
        store = get_store(settings)
        try:
            copy(LocalStore(index_dir).open(), store)
        finally:
            store.close()
        return settings


def store_environment(settings: Settings) -> dict[str, str]:
    """The QA_* variables that name the store of ``settings`` to another qa process."""
    env = {"QA_STORE": settings.store, "QA_INDEX_DIR": str(settings.index_dir)}
    if settings.database_url is not None:
        env |= {
            "QA_MILVUS_URI": settings.milvus_uri,
            "QA_MILVUS_COLLECTION_PREFIX": settings.milvus_collection_prefix,
            "QA_DATABASE_URL": settings.database_url.get_secret_value(),
        }
    return env


@pytest.fixture(scope="session")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    """Milvus Lite's server and Debian's PostgreSQL on free loopback ports."""
    with running(tmp_path_factory.mktemp("remote")) as (milvus, postgres):
        yield Remote(milvus, postgres)


@pytest.fixture(scope="session")
def milvus_seed_settings(remote: Remote, seed_settings: Settings, seed_index_dir: Path) -> Settings:
    """The seed index copied into Milvus + PostgreSQL once; tests only read it."""
    return remote.seeded(seed_settings, seed_index_dir)


def seed_settings_for(request: pytest.FixtureRequest, kind: str) -> Settings:
    """The shared, read-only seed index in the store ``kind``."""
    name = "seed_settings" if kind == "local" else "milvus_seed_settings"
    settings: Settings = request.getfixturevalue(name)
    if kind == "local":
        request.getfixturevalue("seed_index_dir")
    return settings


def seed_copy_for(request: pytest.FixtureRequest, kind: str) -> Settings:
    """A private copy of the seed index in the store ``kind``, which a test may change."""
    base: Settings = request.getfixturevalue("seed_settings")
    if kind == "local":
        return base.model_copy(update={"index_dir": request.getfixturevalue("seed_copy")})
    remote: Remote = request.getfixturevalue("remote")
    return remote.seeded(base, request.getfixturevalue("seed_index_dir"))
