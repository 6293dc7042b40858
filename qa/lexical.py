"""BM25 over the passages (bm25s), stored beside the FAISS vectors in each index version.

Lexical matching finds what embeddings miss: names, numbers and rare words. The BM25
index is rebuilt whole on every write; tokenising is cheap next to embedding.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

IDS = "ids.npy"
SETTINGS = "tokenizer.json"
TOKENIZER = {"stopwords": "en", "stemmer": "english", "token_pattern": r"(?u)\b\w\w+\b"}


class Lexical:
    """BM25 scores of passages for questions; ids are passage ids."""

    def __init__(self, model: Any, ids: NDArray[np.int64]) -> None:
        self._model = model
        self.ids = ids

    @classmethod
    def build(cls, texts: Sequence[str], ids: Sequence[int]) -> Lexical:
        import bm25s

        model = bm25s.BM25()
        if texts:
            model.index(_tokenize(texts), show_progress=False)
        return cls(model, np.asarray(ids, dtype=np.int64))

    def save(self, folder: Path) -> None:
        folder.mkdir()
        if len(self.ids):
            self._model.save(str(folder), show_progress=False)
        np.save(folder / IDS, self.ids)
        (folder / SETTINGS).write_text(json.dumps(TOKENIZER), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> Lexical:
        """Raise OSError or ValueError when the files are missing or do not fit together."""
        import bm25s

        if json.loads((folder / SETTINGS).read_text(encoding="utf-8")) != TOKENIZER:
            raise ValueError("the BM25 index was built with another tokenizer")
        ids = np.load(folder / IDS)
        if not len(ids):
            return cls(bm25s.BM25(), ids)
        _quiet_bm25s()
        model = bm25s.BM25.load(str(folder), show_progress=False)
        return cls(model, ids)

    def search(
        self, questions: Sequence[str], k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and passage ids of the ``k`` best passages; id -1 pads short lists.

        ``allowed``, if given, holds the only passage ids that may be returned.
        """
        scores = np.zeros((len(questions), k), dtype=np.float32)
        found = np.full((len(questions), k), -1, dtype=np.int64)
        if not len(self.ids):
            return scores, found
        mask = None if allowed is None else np.isin(self.ids, allowed)
        for row, tokens in enumerate(_tokenize(questions, ids=False)):
            if not tokens:  # only stopwords or one-letter words: nothing to match
                continue
            all_scores = self._model.get_scores(tokens)
            if mask is not None:
                all_scores = np.where(mask, all_scores, 0.0)
            top = np.argsort(-all_scores, kind="stable")[:k]
            top = top[all_scores[top] > 0]
            scores[row, : len(top)] = all_scores[top]
            found[row, : len(top)] = self.ids[top]
        return scores, found


def _tokenize(texts: Sequence[str], *, ids: bool = True) -> Any:
    import bm25s

    return bm25s.tokenize(
        list(texts),
        stopwords=TOKENIZER["stopwords"],
        stemmer=_stemmer(),
        token_pattern=TOKENIZER["token_pattern"],
        return_ids=ids,
        show_progress=False,
    )


@cache
def _stemmer() -> Any:
    import Stemmer

    return Stemmer.Stemmer(TOKENIZER["stemmer"]).stemWords


def _quiet_bm25s() -> None:
    """bm25s warns when it finds no saved corpus; we never save one."""
    logging.getLogger("bm25s").setLevel(logging.ERROR)
