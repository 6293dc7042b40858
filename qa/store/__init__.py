"""Stores: where the index lives. ``get_store`` picks one from the settings.

A second store is one module implementing ``qa.store.base.Store`` plus a line in
``_BUILDERS``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from qa.config import Settings
from qa.errors import InputError
from qa.store.base import Changes, NewArticle, Scored, Snapshot, Store, StoredPassage
from qa.store.manifest import Manifest, check_encoder

__all__ = [
    "STORES",
    "Changes",
    "Manifest",
    "NewArticle",
    "Scored",
    "Snapshot",
    "Store",
    "StoredPassage",
    "check_encoder",
    "get_store",
    "local_store",
]


def _local(settings: Settings) -> Store:
    return local_store(settings, settings.index_dir)


def local_store(settings: Settings, index_dir: Path) -> Store:
    """A folder store at ``index_dir`` with the settings' search parameters."""
    from qa.store.local import LocalStore

    return LocalStore(
        index_dir,
        settings.lock_timeout,
        exact_max=settings.exact_max,
        nprobe=settings.ivf_nprobe,
        sentence_codes=settings.sentence_codes,
    )


def _milvus(settings: Settings) -> Store:
    try:
        from qa.store.remote import RemoteStore
    except ImportError as exc:
        raise InputError(
            f"QA_STORE=milvus needs {exc.name or 'pymilvus and psycopg'}: "
            "install it with `pip install 'qa[milvus]'`"
        ) from exc
    return RemoteStore(settings)


_BUILDERS: dict[str, Callable[[Settings], Store]] = {"local": _local, "milvus": _milvus}
STORES = tuple(_BUILDERS)


def get_store(settings: Settings) -> Store:
    builder = _BUILDERS.get(settings.store)
    if builder is None:
        raise InputError(
            f"QA_STORE {settings.store!r} is not a store qa has; choose from {', '.join(STORES)}"
        )
    return builder(settings)
