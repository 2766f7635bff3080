"""The ONNX export's checks without the real model: what is exported, checksums, damage."""

from __future__ import annotations

import json
from pathlib import Path

from ragcli.bundled import bundled_embedder_dir
from ragcli.embedding.factory import make_embedder, prepare_query_embedder
from ragcli.embedding.onnx_export import exportable, verified_export
from ragcli.llm.prefix_state import pack_state, unpack_state


def test_only_transformer_mean_pooling_folders_are_exported(tmp_path: Path) -> None:
    assert exportable(bundled_embedder_dir())
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text(
        json.dumps(
            [
                {"type": "sentence_transformers.models.Transformer"},
                {"type": "sentence_transformers.models.Pooling"},
            ]
        )
    )
    (tmp_path / "1_Pooling/config.json").write_text(
        json.dumps({"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False})
    )
    assert not exportable(tmp_path)


def test_fake_embedders_are_never_exported(tmp_path: Path) -> None:
    assert prepare_query_embedder(make_embedder("fake:64"), tmp_path, ["text"]) is None
    assert not (tmp_path / "onnx").exists()


def test_a_prefix_state_is_used_only_when_its_checksum_matches() -> None:
    state = bytes(range(256)) * 40
    packed = pack_state(state)
    assert unpack_state(packed) == state
    flipped = bytearray(packed)
    flipped[len(packed) // 2] ^= 1
    assert unpack_state(bytes(flipped)) is None
    assert unpack_state(packed[:-1]) is None
    assert unpack_state(packed + b"x") is None
    assert unpack_state(state) is None  # an unchecked state from an older ragcli
    assert unpack_state(b"") is None


def test_a_damaged_export_is_discarded_so_the_next_index_exports_again(tmp_path: Path) -> None:
    directory = tmp_path / "export"
    directory.mkdir()
    (directory / "model.onnx").write_bytes(bytes(range(256)) * 100)
    (directory / "model-int8.onnx").write_bytes(bytes(range(128)) * 100)
    record = {"ok": True, "min_cosine": 1.0, "int8": {"ok": True}}
    (directory / "verified.json").write_text(json.dumps(record))

    # A record from before checksums were kept gets them, from the files as they are.
    assert verified_export(directory) == directory / "model.onnx"
    files = json.loads((directory / "verified.json").read_text())["files"]
    assert set(files) == {"model.onnx", "model-int8.onnx"}
    assert verified_export(directory, int8=True) == directory / "model-int8.onnx"

    damaged = bytearray((directory / "model-int8.onnx").read_bytes())
    damaged[5000] ^= 0x10
    (directory / "model-int8.onnx").write_bytes(bytes(damaged))

    assert verified_export(directory, int8=True) is None
    assert not (directory / "verified.json").exists()  # the next index exports again
    assert verified_export(directory) is None
