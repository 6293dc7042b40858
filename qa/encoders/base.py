"""The Encoder interface and the factory that builds one from the settings.

A backend is one module with one class; adding one is that module plus a line in
``_BUILDERS``. Vectors are unit length, so an inner product is a cosine.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from qa.config import Settings
from qa.errors import InputError

Vectors = NDArray[np.float32]
Spans = Sequence[tuple[int, int]]  # character ranges [start, end) within one text
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

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, batch_size: int
    ) -> tuple[Vectors, list[Vectors]]:
        """Vectors of ``texts`` and of the spans of each: here a second pass over the
        spans' own texts; encoders that keep token vectors pool them from the first."""
        vectors = self.embed_batch(texts, batch_size=batch_size)
        pieces = [text[a:b] for text, ranges in zip(texts, spans, strict=True) for a, b in ranges]
        flat = self.embed_batch(pieces, batch_size=batch_size) if pieces else self.empty()
        bounds = np.cumsum([0, *(len(ranges) for ranges in spans)])
        return vectors, [flat[a:b] for a, b in itertools.pairwise(bounds)]

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, batch_size=64)

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: str | None = None
    ) -> Vectors:
        """Encode in chunks, so that a progress bar labelled ``progress`` can follow."""
        parts: list[Vectors] = [self.empty()]
        for a, b in _steps(len(texts), progress):
            parts.append(self._encode(texts[a:b], batch_size=batch_size))
        return np.vstack(parts)

    def encode_passages(
        self,
        texts: Sequence[str],
        spans: Sequence[Spans],
        *,
        batch_size: int = 32,
        progress: str | None = None,
    ) -> tuple[Vectors, list[Vectors]]:
        """Passage vectors and their sentences' (``spans``), in chunks as above."""
        parts: list[Vectors] = [self.empty()]
        pooled: list[Vectors] = []
        for a, b in _steps(len(texts), progress):
            self.calls += 1
            self.texts += b - a
            vectors, rows = self.embed_with_spans(texts[a:b], spans[a:b], batch_size=batch_size)
            parts.append(np.ascontiguousarray(vectors, np.float32))
            pooled.extend(rows)
        return np.vstack(parts), pooled

    def empty(self) -> Vectors:
        return np.zeros((0, self.dimension), dtype=np.float32)

    def _encode(self, texts: Sequence[str], *, batch_size: int) -> Vectors:
        if not texts:
            return self.empty()
        self.calls += 1
        self.texts += len(texts)
        return np.ascontiguousarray(self.embed_batch(texts, batch_size=batch_size), np.float32)


def _steps(total: int, progress: str | None) -> Iterator[tuple[int, int]]:
    """All of ``total`` at once, or chunks a progress bar labelled ``progress`` follows."""
    if progress is None:
        yield 0, total
        return
    from tqdm import tqdm

    with tqdm(total=total, desc=progress, unit="text") as bar:
        for a in range(0, total, _CHUNK):
            b = min(total, a + _CHUNK)
            yield a, b
            bar.update(b - a)


def _torch(settings: Settings) -> Encoder:
    from qa.encoders.torch import TorchEncoder

    if settings.encoder_threads:
        import torch

        torch.set_num_threads(settings.encoder_threads)
    return TorchEncoder.load(settings.model, settings.device)


def _hashing(settings: Settings) -> Encoder:
    from qa.encoders.hashing import HashingEncoder

    return HashingEncoder(settings.model)


def _onnx(settings: Settings) -> Encoder:
    from qa.encoders.onnx import OnnxEncoder

    return OnnxEncoder.load(
        settings.model, settings.cache_dir, quantized=False, threads=settings.encoder_threads
    )


def _onnx_int8(settings: Settings) -> Encoder:
    from qa.encoders.onnx import OnnxEncoder

    return OnnxEncoder.load(
        settings.model, settings.cache_dir, quantized=True, threads=settings.encoder_threads
    )


_BUILDERS: dict[str, Callable[[Settings], Encoder]] = {
    "onnx": _onnx,
    "onnx-int8": _onnx_int8,
    "torch": _torch,
    "hashing": _hashing,
}
BACKENDS = tuple(_BUILDERS)
# Backends that compute one model's vectors alike: ONNX fp32 gives PyTorch's to within
# float rounding, int8 within cosine 0.98 (mean 0.99; tests/test_onnx.py checks both on
# the seed passages). An index built with one of them is searched and extended with any
# other; hashing stands alone.
_SAME_VECTORS = {"torch": "transformer", "onnx": "transformer", "onnx-int8": "transformer"}


def same_vectors(built: str, running: str) -> bool:
    """May an index built by the ``built`` backend be used with the ``running`` one?"""
    return built == running or _SAME_VECTORS.get(built, built) == _SAME_VECTORS.get(running)


def query_backend(settings: Settings) -> str:
    """What embeds the questions. ``auto``: int8 questions against an fp32 ONNX index
    for hybrid retrieval on AVX-512 VNNI, where int8 runs twice as fast and hybrid lost
    at most 0.003 MRR@10 and nDCG@10 on the seeds, SQuAD 2.0 and SciFact (dense alone
    lost 0.012 on SciFact, so it keeps fp32); QA_ENCODER's own elsewhere."""
    if settings.query_encoder != "auto":
        return settings.query_encoder
    if settings.encoder == "onnx" and settings.retriever == "hybrid":
        from qa.encoders.export import instruction_set

        if instruction_set() == "avx512_vnni":
            return "onnx-int8"
    return settings.encoder


def get_query_encoder(settings: Settings) -> Encoder:
    """The encoder of the questions (``query_backend``), loaded once per process."""
    backend = query_backend(settings)
    if not same_vectors(settings.encoder, backend):
        raise InputError(
            f"QA_QUERY_ENCODER {backend!r} does not compute QA_ENCODER {settings.encoder!r}'s "
            "vectors; unset it (auto) or give one that does (torch, onnx, onnx-int8)"
        )
    return get_encoder(settings.model_copy(update={"encoder": backend}))


def get_encoder(settings: Settings) -> Encoder:
    """The encoder the settings name, loaded once per process."""
    return _cached(
        settings.encoder,
        settings.model,
        settings.device,
        settings.cache_dir,
        settings.encoder_threads,
    )


@lru_cache(maxsize=4)
def _cached(backend: str, model: str, device: str, cache_dir: Path, threads: int) -> Encoder:
    builder = _BUILDERS.get(backend)
    if builder is None:
        raise InputError(
            f"QA_ENCODER {backend!r} is not an encoder qa has; choose from {', '.join(BACKENDS)}"
        )
    return builder(
        Settings(
            encoder=backend,
            model=model,
            device=device,
            cache_dir=cache_dir,
            encoder_threads=threads,
        )
    )
