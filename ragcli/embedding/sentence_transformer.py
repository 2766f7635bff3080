"""Sentence-BERT models from a local folder: the only sentence_transformers and torch import."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragcli.errors import ModelError

if TYPE_CHECKING:
    from numpy.typing import NDArray


class SentenceTransformerEmbedder:
    """A Sentence-BERT model from a local folder; torch loads only when embedding starts."""

    def __init__(self, spec: str, folder: Path, threads: int | None = None) -> None:
        self.spec = spec
        self.folder = folder
        self.threads = threads
        self._tokenizer: Any = None
        self._model: Any = None
        dimension, self.max_seq_tokens = read_sentence_config(folder)
        self.dimension = dimension or self._load_model().get_embedding_dimension()
        self.max_text_tokens = self.max_seq_tokens - self._special_tokens()

    def _load_tokenizer(self) -> Any:
        if self._tokenizer is None:
            self._tokenizer = load_tokenizer(self.folder)
        return self._tokenizer

    def _special_tokens(self) -> int:
        return len(self._load_tokenizer().encode("", add_special_tokens=True).ids)

    def _load_model(self) -> Any:
        if self._model is None:
            # The bundled folder is complete; never let the hub client reach for the network.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            # stdout and stderr belong to ragcli: no library progress bars or load reports.
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            try:
                import torch
                import transformers
                from sentence_transformers import SentenceTransformer

                transformers.utils.logging.disable_progress_bar()

                if self.threads:
                    torch.set_num_threads(self.threads)
                self._model = SentenceTransformer(str(self.folder), device="cpu")
            except Exception as exc:  # any failure to load weights is a model problem
                raise ModelError(f"cannot load embedder from {self.folder}: {exc}") from exc
        return self._model

    def load(self) -> None:
        self._load_model()

    @property
    def model(self) -> Any:
        """The loaded SentenceTransformer (for exporting it)."""
        return self._load_model()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encodings = self._load_tokenizer().encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[np.float32]:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self._load_model().encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def load_tokenizer(folder: Path) -> Any:
    """Load a model folder's own tokenizer.json, with no truncation and no padding."""
    from tokenizers import Tokenizer

    path = folder / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"embedder folder {folder} has no tokenizer.json")
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def read_sentence_config(folder: Path) -> tuple[int, int]:
    """Return (dimension or 0 if unrecorded, max sequence tokens) of a Sentence-BERT folder."""
    config = _read_json(folder / "sentence_bert_config.json")
    pooling = _read_json(folder / "1_Pooling" / "config.json")
    return int(pooling.get("word_embedding_dimension") or 0), int(config.get("max_seq_length", 256))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot read embedder config {path}: {exc}") from exc
