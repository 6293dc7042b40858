"""A deterministic bag-of-words encoder: instant, offline, and similar texts get similar
vectors. For tests of logic that must not depend on a model, and for trying qa out where
no model can be installed; its answers are word matches, not meaning."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from qa.encoders.base import Encoder, Vectors

DIMENSION = 64


class HashingEncoder(Encoder):
    """Each word adds one to a hashed coordinate; rows are then made unit length."""

    backend = "hashing"

    def __init__(self, name: str = "hashing", dimension: int = DIMENSION) -> None:
        super().__init__()
        self.name = name
        self.dimension = dimension
        self.encoded: list[str] = []  # every text, so callers can tell what was (not) encoded

    def embed_batch(self, texts: Sequence[str], *, batch_size: int) -> Vectors:
        self.encoded.extend(texts)
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                digest = hashlib.blake2b(word.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self.dimension] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.where(norms == 0, 1.0, norms)).astype(np.float32)
