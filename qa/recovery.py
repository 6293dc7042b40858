"""Serving and building on what is left when the store's current state is damaged.

A local store keeps the version before the current one. When CURRENT names a version
that is not there, or a file of the current version is damaged (a checksum differs, a
file is cut short), readers answer from the last good version with a warning, and the
next write rebuilds from what can be saved: the damaged version's articles when its
SQLite file is intact (embedded again), else the last good version's.
"""

from __future__ import annotations

from dataclasses import dataclass

from qa.errors import IndexCorruptError
from qa.store import Snapshot, Store
from qa.types import Article


@dataclass(frozen=True, slots=True)
class Recovered:
    """The articles a write after damage goes on holding, and what to tell the user."""

    articles: dict[str, Article]
    note: str


def open_served(store: Store) -> tuple[Snapshot, str | None]:
    """The current state, or else the last good one with a warning saying why."""
    try:
        return store.open(), None
    except IndexCorruptError as exc:
        good = store.last_good()
        if good is None:
            raise
        return good, (
            f"{exc} Meanwhile answering from the last good version, {good.version} "
            f"({good.manifest.articles} articles, built {good.manifest.built_at})."
        )


def recover(store: Store, damage: IndexCorruptError) -> Recovered | None:
    """What to rebuild instead of the damaged current state; None if nothing is left."""
    saved = store.saved_articles()
    if saved is not None:
        return Recovered(
            saved,
            f"{damage} Its {len(saved)} articles were read from its intact SQLite file "
            "and embedded again; nothing is lost.",
        )
    good = store.last_good()
    if good is None:
        return None
    return Recovered(
        dict(good.documents.articles),
        f"{damage} Rebuilt from the last good version, {good.version}, with its "
        f"{good.manifest.articles} articles; an article written after "
        f"{good.manifest.built_at} may need adding again.",
    )
