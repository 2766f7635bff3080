"""Torch-free query embedding: the ONNX export matches sentence-transformers (real model)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ragcli.bundled import BUNDLED_EMBEDDER, bundled_embedder_dir
from ragcli.embedding.onnx import OnnxEmbedder
from ragcli.embedding.onnx_export import (
    MIN_COSINE,
    export_query_model,
    verified_export,
)
from ragcli.embedding.sentence_transformer import SentenceTransformerEmbedder
from ragcli.llm.prefix_state import unpack_state

ROOT = Path(__file__).resolve().parents[2]


def scifact_texts() -> list[str]:
    lines = (ROOT / "tests/data/scifact-subset/corpus.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    return [r["title"] for r in records] + [r["text"][:400] for r in records]


@pytest.mark.e2e
def test_onnx_vectors_match_sentence_transformers_on_hundreds_of_texts(tmp_path: Path) -> None:
    texts = scifact_texts()
    check, held_out = texts[:300], texts[300:600]
    original = SentenceTransformerEmbedder(BUNDLED_EMBEDDER, bundled_embedder_dir())
    lowest = export_query_model(original, tmp_path, check)
    model = verified_export(tmp_path)
    assert lowest >= MIN_COSINE and model is not None
    exported = OnnxEmbedder(BUNDLED_EMBEDDER, bundled_embedder_dir(), model, None)
    assert exported.dimension == original.dimension == 384
    assert exported.max_text_tokens == original.max_text_tokens
    cosines = np.sum(exported.embed(held_out) * original.embed(held_out), axis=1)
    assert len(held_out) == 300 and float(cosines.min()) >= MIN_COSINE
    long_text = ["word " * 600]  # truncated the same way (256 word pieces) on both sides
    assert float(exported.embed(long_text)[0] @ original.embed(long_text)[0]) >= MIN_COSINE


@pytest.mark.e2e
def test_a_cold_ask_never_imports_torch(tmp_path: Path) -> None:
    store = tmp_path / "store"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "ragcli", "ingest", "sample_docs", "--store", str(store), "-q"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    probe = (
        "import sys\nfrom ragcli.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as exit:\n"
        "    print('TORCH' if 'torch' in sys.modules else 'NO-TORCH', exit.code)\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            "ask",
            "How many parameters does Grok-0 have?",
            "--store",
            str(store),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.stdout.strip().endswith("NO-TORCH 0"), done.stdout + done.stderr
    assert "33 billion" in done.stdout


@pytest.mark.e2e
def test_a_damaged_prefix_state_is_ignored(tmp_path: Path) -> None:
    from ragcli.locations import model_cache_dir

    store = tmp_path / "store"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    rag = [sys.executable, "-m", "ragcli"]
    subprocess.run(
        [*rag, "ingest", "sample_docs", "--store", str(store), "-q"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    ask = [*rag, "ask", "How many parameters does Grok-0 have?", "--store", str(store), "--json"]
    # The shared cache also holds other prompts' and other context sizes' states, which this
    # question never reads back: set aside, so the states left are the ones it uses.
    folder = model_cache_dir() / "prefix-state"
    others = {path: path.read_bytes() for path in folder.glob("*.state")}
    for path in others:
        path.unlink()
    saved: dict[Path, bytes] = {}
    answers = []
    try:
        first = subprocess.run(ask, cwd=ROOT, env=env, capture_output=True, text=True)
        states = list(folder.glob("*.state"))
        assert first.returncode == 0 and states
        saved = {path: path.read_bytes() for path in states}
        for damage in ("garbage", "flipped"):
            for path, data in saved.items():
                if damage == "garbage":
                    path.write_bytes(b"garbage")
                else:  # same size, a few bits of the model state flipped: llama.cpp takes it
                    flipped = bytearray(data)
                    for position in range(len(data) // 3, len(data), len(data) // 7):
                        flipped[position] ^= 0x55
                    path.write_bytes(bytes(flipped))
            damaged = subprocess.run(ask, cwd=ROOT, env=env, capture_output=True, text=True)
            assert damaged.returncode == 0, damaged.stderr
            answers.append(json.loads(damaged.stdout)["answer"])
            # The damaged file was replaced by a sound one.
            assert all(unpack_state(path.read_bytes()) for path in saved), damage
    finally:
        for path, data in {**others, **saved}.items():
            path.write_bytes(data)
    assert answers == [json.loads(first.stdout)["answer"]] * 2


@pytest.mark.e2e
def test_ingest_exports_once_and_embeds_documents_with_int8_unless_fp32(tmp_path: Path) -> None:
    from ragcli.store import Store

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CACHE_HOME": str(tmp_path / "cache")}

    def ingest(store: Path, *flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "ragcli",
                "ingest",
                "sample_docs",
                "--store",
                str(store),
                *flags,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )

    first = ingest(tmp_path / "int8")
    assert first.returncode == 0, first.stderr
    assert "exported the embedder to ONNX" in first.stderr
    checks = list((tmp_path / "cache").rglob("verified.json"))
    assert len(checks) == 1 and json.loads(checks[0].read_text())["int8"]["ok"] is True
    second = ingest(tmp_path / "fp32", "--fp32")
    assert second.returncode == 0 and "exported" not in second.stderr

    def vectors(store: Path) -> np.ndarray:
        with Store.open(store) as opened:
            return opened.embedded_vectors(384)[1]

    int8, fp32 = vectors(tmp_path / "int8"), vectors(tmp_path / "fp32")
    cosines = np.sum(int8 * fp32, axis=1)
    assert float(cosines.mean()) >= 0.99  # the same model ...
    assert not np.allclose(int8, fp32, atol=1e-4)  # ... through two different paths
