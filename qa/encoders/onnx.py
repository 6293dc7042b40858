"""The model on ONNX Runtime, fp32 or int8: the same vectors as PyTorch, several times
faster, and without importing PyTorch at all (so `qa serve` starts in a second or two).

The ONNX files come from ``qa.encoders.export`` (made on this machine from the model's
own weights). Tokenizing, the model call and pooling happen here, once per batch; the
token vectors are kept long enough to pool a passage's sentences too, so one pass over
a passage gives its vector and its sentences' (``embed_with_spans``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from qa.encoders.base import Encoder, Spans, Vectors
from qa.encoders.export import TORCH_HINT, Export, exported
from qa.encoders.torch import model_path, unloadable
from qa.errors import ModelError

if TYPE_CHECKING:
    from tokenizers import Tokenizer

# Module classes (the last part of their dotted name: sentence-transformers moves them
# between releases) that this encoder runs.
_SUPPORTED = {"Transformer", "Pooling", "Normalize"}
_POOLING = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}


@dataclass(frozen=True, slots=True)
class Pipeline:
    """What sentence-transformers does after the transformer, as its folder says."""

    pooling: str  # "mean" or "cls"
    normalize: bool
    dimension: int
    max_length: int


@dataclass(frozen=True, slots=True)
class _Batch:
    """One model call: token vectors, which tokens are real text, and their characters."""

    states: NDArray[np.float32]  # (texts, tokens, dimension)
    mask: NDArray[np.float32]  # 1 for real tokens (special ones included), 0 for padding
    offsets: NDArray[np.int64]  # (texts, tokens, 2) character offsets; (0, 0) if special


class OnnxEncoder(Encoder):
    """A sentence-transformers model exported to ONNX; mean or CLS pooling in numpy."""

    def __init__(
        self,
        name: str,
        backend: str,
        session: Any,
        tokenizer: Tokenizer,
        pipeline: Pipeline,
        export: Export | None = None,
    ) -> None:
        super().__init__()
        self.export = export
        self.name = name
        self.backend = backend
        self.dimension = pipeline.dimension
        self.pipeline = pipeline
        self._session = session
        self._tokenizer = tokenizer
        self._inputs = {i.name for i in session.get_inputs()}

    @classmethod
    def load(cls, name: str, cache_dir: Path, *, quantized: bool, threads: int = 0) -> OnnxEncoder:
        source = Path(model_path(name))
        if not source.exists() and (source.is_absolute() or name.startswith(".")):
            raise unloadable(name, FileNotFoundError(f"no such folder: {source}"))
        if source.is_dir():
            read_pipeline(source)  # refuse a model ONNX cannot run before exporting it
        export = exported(source, name, cache_dir, quantized=quantized)
        return cls.from_export(name, export, quantized=quantized, threads=threads)

    @classmethod
    def from_export(
        cls, name: str, export: Export, *, quantized: bool, threads: int = 0
    ) -> OnnxEncoder:
        """``threads``: of one model call (0: ONNX Runtime's choice, every core)."""
        import onnxruntime as ort
        from tokenizers import Tokenizer

        pipeline = read_pipeline(export.folder)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.log_severity_level = 3  # errors only: no advice about providers in the logs
        # Idle threads sleep instead of spinning: on a shared 2-core machine spinning
        # takes the core the HTTP server and the next batch need.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(
            str(export.model_file), options, providers=["CPUExecutionProvider"]
        )
        tokenizer = Tokenizer.from_file(str(export.folder / "tokenizer.json"))
        tokenizer.enable_truncation(max_length=pipeline.max_length)
        pad = _pad_token(export.folder)
        pad_id = tokenizer.token_to_id(pad)
        tokenizer.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token=pad)
        backend = "onnx-int8" if quantized else "onnx"
        return cls(name, backend, session, tokenizer, pipeline, export)

    def encode_queries(self, texts: Sequence[str]) -> Vectors:
        """int8 questions one per model call: dynamic quantization scales each call's
        activations as a whole, so a question batched with others got another vector
        (cosine 0.99; 3 of the 119 seed questions another first answer). One int8 call
        (3.1 ms) still costs less than a question's share of a batched fp32 one."""
        if self.backend != "onnx-int8":
            return super().encode_queries(texts)
        return self._encode(texts, batch_size=1)

    def embed_batch(self, texts: Sequence[str], *, batch_size: int) -> Vectors:
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for rows, batch in self._batches(texts, batch_size):
            out[rows] = self._pool(batch.states, batch.mask)
        return out

    def embed_with_spans(
        self, texts: Sequence[str], spans: Sequence[Spans], *, batch_size: int
    ) -> tuple[Vectors, list[Vectors]]:
        """Each sentence's tokens, seen in its passage's context, pooled like a passage; a
        span whose tokens were cut off (past the model's length) gets a zero row."""
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        pooled: list[Vectors] = [self.empty()] * len(texts)
        for rows, batch in self._batches(texts, batch_size):
            vectors[rows] = self._pool(batch.states, batch.mask)
            for n, row in enumerate(rows):
                pooled[row] = self._pool_spans(batch, n, spans[row])
        return vectors, pooled

    def _batches(self, texts: Sequence[str], batch_size: int) -> list[tuple[list[int], _Batch]]:
        """Texts of similar length together, so little of each call is padding."""
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        return [
            (rows, self._run([texts[i] for i in rows]))
            for rows in (order[i : i + batch_size] for i in range(0, len(order), batch_size))
        ]

    def _run(self, texts: list[str]) -> _Batch:
        encodings = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feed["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=np.int64)
        states = self._session.run(None, feed)[0]
        offsets = np.array([e.offsets for e in encodings], dtype=np.int64)
        special = np.array([e.special_tokens_mask for e in encodings], dtype=bool)
        offsets[special] = 0
        return _Batch(np.asarray(states, np.float32), mask.astype(np.float32), offsets)

    def _pool(self, states: NDArray[np.float32], mask: NDArray[np.float32]) -> Vectors:
        if self.pipeline.pooling == "cls":
            pooled = states[:, 0]
        else:
            summed = np.einsum("btd,bt->bd", states, mask)
            pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
        return _unit(pooled) if self.pipeline.normalize else pooled.astype(np.float32)

    def _pool_spans(self, batch: _Batch, n: int, spans: Spans) -> Vectors:
        out = np.zeros((len(spans), self.dimension), dtype=np.float32)
        starts, ends = batch.offsets[n, :, 0], batch.offsets[n, :, 1]
        real = ends > starts
        for row, (start, end) in enumerate(spans):
            inside = real & (starts >= start) & (starts < end)
            if inside.any():
                out[row] = batch.states[n, inside].mean(axis=0)
        return _unit(out)


def read_pipeline(folder: Path) -> Pipeline:
    """Pooling, normalisation, dimension and length from a sentence-transformers folder
    (the layouts of 2.x to 5.x); ModelError for a layer this encoder cannot run."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
        other = [
            m["type"] for m, kind in zip(modules, kinds, strict=True) if kind not in _SUPPORTED
        ]
        pooling_dir = next(
            m["path"] for m, kind in zip(modules, kinds, strict=True) if kind == "Pooling"
        )
        pooling = _json(folder / pooling_dir / "config.json")
        dimension = int(pooling.get("embedding_dimension") or pooling["word_embedding_dimension"])
    except (OSError, ValueError, KeyError, TypeError, StopIteration) as exc:
        raise ModelError(
            f"{folder} is not a sentence-transformers model with a pooling layer "
            f"({type(exc).__name__}); {TORCH_HINT}"
        ) from exc
    modes = [mode for key, mode in _POOLING.items() if pooling.get(key)]
    if isinstance(pooling.get("pooling_mode"), str):
        modes = [pooling["pooling_mode"]]
    flags = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v is True]
    if other or len(modes) != 1 or modes[0] not in ("mean", "cls") or len(flags) > 1:
        what = ", ".join(other) or f"pooling {', '.join(flags or modes) or 'none'}"
        raise ModelError(
            f"the ONNX encoder cannot run the model in {folder} ({what}); {TORCH_HINT}"
        )
    length = _json(folder / "sentence_bert_config.json").get("max_seq_length")
    length = length or _json(folder / "tokenizer_config.json").get("model_max_length")
    return Pipeline(
        pooling=modes[0],
        normalize="Normalize" in kinds,
        dimension=dimension,
        max_length=int(length) if length and int(length) < 100_000 else 512,
    )


def _json(path: Path) -> dict[str, Any]:
    """A JSON object from a file; {} when the file is missing."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path.name} is not a JSON object")
    return data


def _pad_token(folder: Path) -> str:
    try:
        pad = _json(folder / "tokenizer_config.json").get("pad_token")
    except (OSError, ValueError):
        pad = None
    return str(pad["content"] if isinstance(pad, dict) else pad or "[PAD]")


def _unit(rows: NDArray[np.float32]) -> Vectors:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.where(norms == 0, 1.0, norms)).astype(np.float32)
