"""Export a Sentence-BERT model to ONNX once, check it against sentence-transformers, cache it.

At index time (torch already loaded) the store's model is exported, checked on a few hundred
texts, quantized to an int8 copy checked the same way, and kept with a record of the check
and the files' sums; a damaged or unchecked export is never used (onnx.py runs it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragcli.embedding.onnx import OnnxEmbedder
from ragcli.files import atomic_write_bytes, make_folders

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from ragcli.embedding.sentence_transformer import SentenceTransformerEmbedder

MODEL_FILE = "model.onnx"
INT8_FILE = "model-int8.onnx"
CHECK_FILE = "verified.json"
# Export is accepted only if every checked text's vector is this close to the original.
MIN_COSINE = 0.9999
# The int8 model embeds documents about twice as fast. Its vectors are close, not equal:
# on SciFact it measured mean cosine 0.995 and moved nDCG@10 by -0.002 (dense) and
# +0.002 (hybrid), so it is accepted only when it stays at least this close.
INT8_MEAN_COSINE = 0.99
INT8_MIN_COSINE = 0.95
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def export_dir(cache_dir: Path, spec: str, folder: Path) -> Path:
    """Where the export of one model lives: keyed by its spec and its weights' size/mtime."""
    stamp = ["export v2: fp32 + int8", spec, str(folder)]
    for name in ("model.safetensors", "pytorch_model.bin", "config.json"):
        path = folder / name
        if path.is_file():
            stat = path.stat()
            stamp.append(f"{name}:{stat.st_size}:{stat.st_mtime_ns}")
    key = hashlib.sha256("\n".join(stamp).encode()).hexdigest()[:16]
    return cache_dir / "onnx" / key


def verified_export(directory: Path, int8: bool = False) -> Path | None:
    """Return the exported (or int8) model if it exists, passed its check and is intact.

    Intact: the file's size and sha256 are those recorded at export. A damaged file would
    embed every query (or document) wrongly without a word, so the export is discarded
    instead (its check record removed): queries fall back to sentence-transformers and
    the next `rag index` exports again. Records from before checksums were kept get them
    now, from the files as they are.
    """
    try:
        check = json.loads((directory / CHECK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(check, dict):
        return None
    if int8:
        int8_check = check.get("int8")
        model = directory / INT8_FILE
        ok = isinstance(int8_check, dict) and int8_check.get("ok")
    else:
        model, ok = directory / MODEL_FILE, check.get("ok")
    if not ok or not model.is_file():
        return None
    files = check.get("files")
    if not isinstance(files, dict):
        _record_files(directory, check)
        return model
    if files.get(model.name) != _file_sum(model):
        with contextlib.suppress(OSError):
            (directory / CHECK_FILE).unlink()
        return None
    return model


def _file_sum(path: Path) -> dict[str, Any] | None:
    """Size and sha256 of a file, or None if it cannot be read."""
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
                size += len(block)
    except OSError:
        return None
    return {"bytes": size, "sha256": digest.hexdigest()}


def _record_files(directory: Path, check: dict[str, Any]) -> None:
    """Write the check record with the size and sha256 of the model files beside it."""
    check["files"] = {
        name: _file_sum(directory / name)
        for name in (MODEL_FILE, INT8_FILE)
        if (directory / name).is_file()
    }
    with contextlib.suppress(OSError):  # a read-only cache only costs the check next time
        atomic_write_bytes(directory / CHECK_FILE, json.dumps(check).encode("utf-8"))


def exportable(folder: Path) -> bool:
    """Whether the folder is Transformer + mean pooling (+ Normalize), what we can export."""
    try:
        modules = json.loads((folder / "modules.json").read_text(encoding="utf-8"))
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    mean_only = pooling.get("pooling_mode_mean_tokens") and not any(
        v
        for k, v in pooling.items()
        if k.startswith("pooling_mode_") and k != ("pooling_mode_mean_tokens")
    )
    return (
        kinds[:2] == ["Transformer", "Pooling"]
        and set(kinds[2:]) <= {"Normalize"}
        and bool(mean_only)
    )


def export_query_model(
    embedder: SentenceTransformerEmbedder, directory: Path, texts: Sequence[str]
) -> float:
    """Export the embedder to ONNX in directory and check it; return the lowest cosine.

    The check is recorded either way, so a model that does not export cleanly is tried once.
    """
    import torch

    model: Any = embedder.model
    transformer = model[0].auto_model.eval()
    make_folders(directory)
    partial = directory / f".{MODEL_FILE}.{os.getpid()}.part"
    sample = model.tokenizer(
        ["a short text", "and a second, longer one"], padding=True, return_tensors="pt"
    )
    try:
        # The tracer warns about Python branches in the attention code; they are fixed for
        # encoders, and the check below compares real outputs anyway. stderr stays quiet.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _last_hidden_state(transformer),
                tuple(sample[n] for n in _INPUTS),
                str(partial),
                input_names=list(_INPUTS),
                output_names=["last_hidden_state"],
                dynamic_axes={
                    n: {0: "batch", 1: "tokens"} for n in (*_INPUTS, "last_hidden_state")
                },
                opset_version=17,
                dynamo=False,
            )
        os.replace(partial, directory / MODEL_FILE)
    finally:
        partial.unlink(missing_ok=True)
    reference = embedder.embed(texts)
    exported = OnnxEmbedder(
        embedder.spec, embedder.folder, directory / MODEL_FILE, embedder.threads
    )
    lowest = float(np.min(np.sum(exported.embed(texts) * reference, axis=1)))
    check: dict[str, Any] = {
        "ok": lowest >= MIN_COSINE,
        "min_cosine": lowest,
        "texts": len(texts),
        "spec": embedder.spec,
    }
    if check["ok"]:
        check["int8"] = _quantize(directory, embedder, texts, reference)
    _record_files(directory, check)
    return lowest


def _quantize(
    directory: Path,
    embedder: SentenceTransformerEmbedder,
    texts: Sequence[str],
    reference: NDArray[np.float32],
) -> dict[str, Any]:
    """Write an int8 copy (per-channel weights of the matrix products) and check it."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    partial = directory / f".{INT8_FILE}.{os.getpid()}.part"
    try:
        with warnings.catch_warnings(), _quiet_logging():
            warnings.simplefilter("ignore")
            quantize_dynamic(
                str(directory / MODEL_FILE),
                str(partial),
                per_channel=True,
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
            )
        os.replace(partial, directory / INT8_FILE)
    finally:
        partial.unlink(missing_ok=True)
    quantized = OnnxEmbedder(
        embedder.spec, embedder.folder, directory / INT8_FILE, embedder.threads
    )
    cosines = np.sum(quantized.embed(texts) * reference, axis=1)
    mean, lowest = float(cosines.mean()), float(cosines.min())
    return {
        "ok": mean >= INT8_MEAN_COSINE and lowest >= INT8_MIN_COSINE,
        "mean_cosine": mean,
        "min_cosine": lowest,
    }


@contextlib.contextmanager
def _quiet_logging() -> Iterator[None]:
    """Silence onnxruntime.quantization's advice, logged on the root logger."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _last_hidden_state(transformer: Any) -> Any:
    """Wrap a Hugging Face encoder so its export takes positional inputs, returns one tensor."""
    import torch

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    return LastHiddenState()
