"""Bounded dictionaries of things made once and looked up again on the question path.

A full one is emptied, not trimmed: ``dict.clear`` is atomic, so a thread reading
beside it never meets a dictionary changing size under an iteration.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


def keep(kept: dict[K, V], key: K, value: V, limit: int) -> V:
    """``value``, kept under ``key`` in ``kept``, which holds at most ``limit``."""
    if len(kept) >= limit:
        kept.clear()
    kept[key] = value
    return value
