"""ONNX files exported from a sentence-transformers model on this machine, cached.

Nothing is downloaded: sentence-transformers exports the model's own weights (ONNX
fp32), then quantizes them for this CPU's instruction set (int8). An export lives in
``QA_CACHE_DIR/onnx/<model>-<key>``, the key naming the model's files, the library
versions and the instruction set; ``export.json`` beside the files holds their
checksums, so a damaged or half-written export is noticed and made again.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import hashlib
import json
import logging
import platform
import re
import shutil
import tempfile
import traceback
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from qa.encoders.torch import first_line, quiet_huggingface
from qa.errors import ModelError

log = logging.getLogger(__name__)

MANIFEST = "export.json"
FP32 = "onnx/model.onnx"
FORMAT = 1
# What shapes the exported files; a new version of any of them exports again.
_LIBRARIES = ("sentence-transformers", "transformers", "optimum-onnx", "onnxruntime", "torch")
_RUNTIME_FILES = ("tokenizer.json", "modules.json", "sentence_bert_config.json")
TORCH_HINT = "or set QA_ENCODER=torch to run the model on PyTorch instead"


@cache
def instruction_set() -> str:
    """The int8 kernels this CPU runs best: avx512_vnni, avx512, avx2 or arm64 (read
    once: every load and every choice of the questions' encoder asks)."""
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return "arm64"
    flags: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="ascii", errors="replace").split("\n"):
            if line.startswith("flags"):
                flags = set(line.partition(":")[2].split())
                break
    if "avx512_vnni" in flags or "avx512vnni" in flags:
        return "avx512_vnni"
    if "avx512f" in flags:
        return "avx512"
    return "avx2"  # ONNX Runtime falls back to plain kernels where AVX2 is missing


@dataclass(frozen=True, slots=True)
class Export:
    """A verified export: the folder and the model file to run."""

    folder: Path
    model_file: Path


def exported(source: Path, name: str, cache_dir: Path, *, quantized: bool) -> Export:
    """The export of ``source`` (a sentence-transformers folder), made now if missing or
    damaged. ModelError, naming QA_ENCODER=torch, when it cannot be made."""
    isa = instruction_set()
    folder = cache_dir / "onnx" / f"{_slug(name)}-{cache_key(source, isa)}"
    kind = "int8" if quantized else "fp32"
    if verified(folder, kind):
        return Export(folder, folder / model_file(folder, kind))
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with _locked(cache_dir / "onnx.lock"):
            if not verified(folder, kind):  # another process may have made it meanwhile
                if folder.exists():
                    log.warning("the ONNX export in %s is damaged or partial: redoing it", folder)
                _export(source, folder, isa)
    except ModelError:
        raise
    except Exception as exc:  # the exporters raise anything: OSError, ValueError, torch's
        raise ModelError(
            f"cannot export {name!r} to ONNX in {cache_dir} ({type(exc).__name__}: "
            f"{first_line(exc)}); install qa with its ONNX libraries (`make install`), "
            f"{TORCH_HINT}"
        ) from exc
    if not verified(folder, kind):
        raise ModelError(f"the ONNX export in {folder} failed its checksums; {TORCH_HINT}")
    return Export(folder, folder / model_file(folder, kind))


def cache_key(source: Path, isa: str) -> str:
    """Names what the export is made from: the model's files, the libraries, the CPU."""
    parts = [f"format={FORMAT}", f"isa={isa}"]
    for library in _LIBRARIES:
        try:
            parts.append(f"{library}={metadata.version(library)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{library}=none")
    if source.is_dir():
        for path in sorted(p for p in source.rglob("*") if p.is_file()):
            stat = path.stat()
            parts.append(f"{path.relative_to(source)}:{stat.st_size}:{stat.st_mtime_ns}")
    else:
        parts.append(str(source))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def model_file(folder: Path, kind: str) -> str:
    """The ``kind`` ("fp32" or "int8") model's file in an export, as its manifest says;
    "" when the manifest cannot say."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return str(manifest["models"][kind])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def verified(folder: Path, kind: str) -> bool:
    """True when the manifest names the ``kind`` model and the files it needs match
    their checksums."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files: dict[str, str] = manifest["files"]
        needed = {str(manifest["models"][kind]), *_RUNTIME_FILES}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not needed <= set(files):
        return False
    try:
        return all(_sha256(folder / relative) == files[relative] for relative in needed)
    except OSError:
        return False


def _export(source: Path, folder: Path, isa: str) -> None:
    """Export into a temporary folder beside ``folder``, then rename it into place."""
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    quiet_huggingface()
    # It warns that it exports (we asked it to) and advises saving (we do).
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    scratch = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent.parent))
    try:
        log.info("exporting %s to ONNX (once; cached in %s)", source, folder)
        with warnings.catch_warnings():  # the tracer's advice is about its own internals
            warnings.simplefilter("ignore")
            try:
                model = SentenceTransformer(str(source), backend="onnx", device="cpu")
                model.save(str(scratch))
                export_dynamic_quantized_onnx_model(
                    model,
                    quantization_config=_quantization(isa),
                    model_name_or_path=str(scratch),
                    push_to_hub=False,
                    file_suffix=f"qint8_{isa}",
                )
                del model
            except BaseException as exc:
                # A failed export's frames hold its temporary folders: free them here,
                # where warnings are off, not when the error is collected later.
                traceback.clear_frames(exc.__traceback__)
                raise
            finally:
                # The exporters leave temporary folders to their finalizers, which warn;
                # collect them here, where warnings are off.
                gc.collect()
        quantized = scratch / "onnx" / f"model_qint8_{isa}.onnx"
        files = {
            str(p.relative_to(scratch)): _sha256(p)
            for p in sorted(scratch.rglob("*"))
            if p.is_file()
        }
        models = {"fp32": FP32, "int8": str(quantized.relative_to(scratch))}
        record: dict[str, object] = {"format": FORMAT, "source": str(source), "isa": isa}
        record.update(models=models, files=files)
        (scratch / MANIFEST).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        scratch.rename(folder)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _quantization(isa: str) -> Any:
    """sentence-transformers' dynamic int8 settings for ``isa``, the matrix products
    only: quantizing the embedding lookup as well gains no speed and, measured on the
    seed passages, costs cosine (AVX2: lowest 0.981 against 0.987 to PyTorch)."""
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    make = getattr(AutoQuantizationConfig, isa)
    return make(is_static=False, operators_to_quantize=["MatMul"])


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One exporting process at a time; the others wait and then use its export."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")[-60:] or "model"
