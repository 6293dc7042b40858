"""The Encoder interface and the factory that builds one from the settings.

A backend is one module with one class; adding one is that module plus a line in
``_BUILDERS``. Vectors are unit length, so an inner product is a cosine.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

from qa.config import Settings
from qa.errors import InputError

Vectors = NDArray[np.float32]
_CHUNK = 256  # texts per progress-bar step


class Encoder(ABC):
    """Encodes questions and documents; subclasses implement one batch method."""

    backend: str  # what computes the vectors: "torch", "hashing", ...
    name: str  # the model, as QA_MODEL names it
    dimension: int

    def __init__(self) -> None:
        self.calls = 0  # model calls made, for metrics and for tests
        self.texts = 0  # texts encoded

    @abstractmethod
    def embed_batch(self, texts: Sequence[str], *, batch_size: int) -> Vectors:
        """Unit vectors of ``texts`` (never empty), one row each, float32."""

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, batch_size=64)

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: str | None = None
    ) -> Vectors:
        """Encode in chunks, so that a progress bar labelled ``progress`` can follow."""
        if progress is None:
            return self._encode(texts, batch_size=batch_size)
        from tqdm import tqdm

        parts: list[Vectors] = [self.empty()]
        with tqdm(total=len(texts), desc=progress, unit="text") as bar:
            for i in range(0, len(texts), _CHUNK):
                chunk = texts[i : i + _CHUNK]
                parts.append(self._encode(chunk, batch_size=batch_size))
                bar.update(len(chunk))
        return np.vstack(parts)

    def empty(self) -> Vectors:
        return np.zeros((0, self.dimension), dtype=np.float32)

    def _encode(self, texts: Sequence[str], *, batch_size: int) -> Vectors:
        if not texts:
            return self.empty()
        self.calls += 1
        self.texts += len(texts)
        return np.ascontiguousarray(self.embed_batch(texts, batch_size=batch_size), np.float32)


def _torch(settings: Settings) -> Encoder:
    from qa.encoders.torch import TorchEncoder

    return TorchEncoder.load(settings.model, settings.device)


def _hashing(settings: Settings) -> Encoder:
    from qa.encoders.hashing import HashingEncoder

    return HashingEncoder(settings.model)


_BUILDERS: dict[str, Callable[[Settings], Encoder]] = {
    "torch": _torch,
    "hashing": _hashing,
}
BACKENDS = tuple(_BUILDERS)


def get_encoder(settings: Settings) -> Encoder:
    """The encoder the settings name, loaded once per process."""
    return _cached(settings.encoder, settings.model, settings.device)


@lru_cache(maxsize=4)
def _cached(backend: str, model: str, device: str) -> Encoder:
    builder = _BUILDERS.get(backend)
    if builder is None:
        raise InputError(
            f"QA_ENCODER {backend!r} is not an encoder qa has; choose from {', '.join(BACKENDS)}"
        )
    return builder(Settings(encoder=backend, model=model, device=device))
