"""Passage and sentence vectors from one encoder pass over the passages.

A sentence's vector is the mean of its own tokens' vectors, as the model saw them inside
its passage; a sentence in two overlapping passages gets the mean of both (each made
unit first). Only a sentence none of whose tokens the model saw (cut off past its
length) is encoded on its own. ``separate`` is the old way, a second pass over every
sentence; README "One pass per passage" says what each scored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from qa.encoders import Encoder, Vectors


@dataclass(frozen=True, slots=True)
class Member:
    """A sentence inside a passage: its row among the sentences, and where it stands in
    the passage's indexed text."""

    sentence: int
    start: int
    end: int


def embed(
    encoder: Encoder,
    passages: Sequence[str],
    members: Sequence[Sequence[Member]],
    sentences: Sequence[str],
    *,
    method: str,
    batch_size: int,
    progress: str | None,
) -> tuple[Vectors, Vectors]:
    """Vectors of ``passages`` and of ``sentences`` (which ``members`` places in them)."""
    if method == "separate":
        both = encoder.encode_documents(
            [*passages, *sentences], batch_size=batch_size, progress=progress
        )
        return both[: len(passages)], both[len(passages) :]
    spans = [[(m.start, m.end) for m in group] for group in members]
    vectors, pooled = encoder.encode_passages(
        passages, spans, batch_size=batch_size, progress=progress
    )
    summed = np.zeros((len(sentences), encoder.dimension), dtype=np.float32)
    for group, rows in zip(members, pooled, strict=True):
        np.add.at(summed, [m.sentence for m in group], rows)
    norms = np.linalg.norm(summed, axis=1)
    unseen = np.flatnonzero(norms == 0)
    if len(unseen):
        summed[unseen] = encoder.encode_documents(
            [sentences[int(i)] for i in unseen], batch_size=batch_size
        )
        norms[unseen] = 1.0
    return vectors, summed / norms[:, None]
