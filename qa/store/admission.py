"""Which passages a question's filters admit, as a mask over an array of passage ids.

Computed per article (there are far fewer articles than passages) and cached per
filter, so a filtered search costs one vectorised lookup, not a Python loop over ids.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from qa.types import Filters, Source

_CACHED = 64  # filters remembered


class Admission:
    """Maps passage ids to their article's admission under a filter."""

    def __init__(
        self, sources: Sequence[Source], ids: NDArray[np.int64], codes: NDArray[np.int64]
    ) -> None:
        """``ids`` ascending; ``codes[i]`` is the index in ``sources`` of ``ids[i]``'s article."""
        self._sources = sources
        self._ids = ids
        self._codes = codes
        self._cache: dict[Filters, NDArray[np.bool_]] = {}
        self._filling = threading.Lock()  # hybrid search asks from two threads at once

    def count(self, filters: Filters) -> int:
        """How many passages the filters admit."""
        if not filters:
            return len(self._ids)
        return int(np.count_nonzero(self._articles_admitted(filters)[self._codes]))

    def mask(self, ids: NDArray[np.int64], filters: Filters) -> NDArray[np.bool_] | None:
        """True where ``ids`` are admitted; None when nothing is filtered."""
        if not filters:
            return None
        out = np.zeros(len(ids), dtype=bool)
        if not len(self._ids):
            return out
        rows = np.minimum(np.searchsorted(self._ids, ids), len(self._ids) - 1)
        known = self._ids[rows] == ids
        out[known] = self._articles_admitted(filters)[self._codes[rows[known]]]
        return out

    def admitted_ids(self, filters: Filters) -> NDArray[np.int64] | None:
        """Every admitted passage id; None when nothing is filtered."""
        if not filters:
            return None
        return self._ids[self._articles_admitted(filters)[self._codes]]

    def _articles_admitted(self, filters: Filters) -> NDArray[np.bool_]:
        found = self._cache.get(filters)
        if found is None:
            found = np.fromiter(
                (filters.admits(s) for s in self._sources), bool, len(self._sources)
            )
            with self._filling:
                if len(self._cache) >= _CACHED:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[filters] = found
        return found
