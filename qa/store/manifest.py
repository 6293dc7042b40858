"""What an index says about itself, checked before anything in it is trusted."""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field
from typing import Any

from qa.encoders.base import same_vectors
from qa.errors import IndexMismatchError

FORMAT_VERSION = 2
REBUILD_HINT = "Run `qa index` to rebuild it"


@dataclass(frozen=True, slots=True)
class Manifest:
    """Model, encoder, dimension, counts and how passages were cut."""

    format: int
    model: str
    dimension: int
    articles: int
    passages: int
    sentences: int
    built_at: str
    chunking: dict[str, int]
    next_id: int  # passage and sentence ids are never reused
    versions: dict[str, str]
    encoder: str = "torch"  # indexes written before encoders had names were all torch's
    extra: dict[str, Any] = field(default_factory=dict)  # a store's own parameters

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """Raise ValueError, KeyError or TypeError for a manifest that cannot be read."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the manifest is not a JSON object")
        fields = cls.__dataclass_fields__
        required = [
            n for n, f in fields.items() if f.default is MISSING and f.default_factory is MISSING
        ]
        missing = [n for n in required if n not in data]
        if missing:
            raise KeyError(f"the manifest has no {missing[0]!r}")
        return cls(**{n: data[n] for n in fields if n in data})

    def passage_title(self) -> bool:
        return bool(self.chunking.get("passage_title", 0))


def check_encoder(
    manifest: Manifest, where: str, backend: str, model: str, dimension: int | None = None
) -> None:
    """Refuse to mix vectors of two encoders (their scores mean nothing together), unless
    they compute the same model's vectors alike (``same_vectors``)."""
    if manifest.model != model:
        raise IndexMismatchError(
            f"the index in {where} was built with the model {manifest.model!r}, but this run "
            f"uses {model!r}. Run `qa index` to rebuild it with {model!r}, or set "
            f"QA_MODEL={manifest.model!r}."
        )
    if not same_vectors(manifest.encoder, backend):
        raise IndexMismatchError(
            f"the index in {where} was built with the {manifest.encoder} encoder, but this run "
            f"uses the {backend} encoder. Run `qa index` to rebuild it, or set "
            f"QA_ENCODER={manifest.encoder!r}."
        )
    if dimension is not None and manifest.dimension != dimension:
        raise IndexMismatchError(
            f"the index in {where} holds {manifest.dimension}-dimensional vectors, but the "
            f"model {model!r} makes {dimension}-dimensional ones. {REBUILD_HINT}."
        )
