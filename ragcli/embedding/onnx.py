"""Query embedding without torch: a Sentence-BERT model exported once to ONNX.

`rag ask` and `rag search` embed one short text; importing torch for that costs seconds.
At index time (torch already loaded) the store's model is exported, checked against
sentence-transformers on a few hundred texts, and cached; queries then run on onnxruntime
with the model's own tokenizer. Only the common layout is exported (Transformer, mean
pooling, Normalize); anything else keeps using sentence-transformers. The export and its
check are onnx_export.py's; this module runs what it made.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ragcli.cpu import free_threads
from ragcli.errors import ModelError

if TYPE_CHECKING:
    from numpy.typing import NDArray


class OnnxEmbedder:
    """Embeds with an exported model on onnxruntime: mean pooling, L2 normalisation."""

    def __init__(
        self, spec: str, folder: Path, model_path: Path, threads: int | None, queries: bool = False
    ) -> None:
        from ragcli.embedding.sentence_transformer import read_sentence_config

        self.spec = spec
        self.folder = folder
        self.model_path = model_path
        self.threads = threads
        self.queries = queries
        self.dimension, self.max_seq_tokens = read_sentence_config(folder)
        self._tokenizer: Any = None
        self._session: Any = None
        self.max_text_tokens = self.max_seq_tokens - len(self._tokens().encode("").ids)

    def _tokens(self) -> Any:
        if self._tokenizer is None:
            from ragcli.embedding.sentence_transformer import load_tokenizer

            self._tokenizer = load_tokenizer(self.folder)
        return self._tokenizer

    def load(self) -> None:
        if self._session is None:
            try:
                import onnxruntime

                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = self._session_threads()
                # Waiting threads sleep instead of spinning: no measurable loss on batches of
                # chunks, and a busy machine keeps the cycles (issue 12).
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                options.log_severity_level = 3
                self._session = onnxruntime.InferenceSession(
                    str(self.model_path), options, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # any failure to load is a model problem
                raise ModelError(f"cannot load query model {self.model_path}: {exc}") from exc

    def _session_threads(self) -> int:
        """One thread for questions (a few dozen tokens: a team costs more than it saves),
        else --threads or the cores free when the session starts."""
        if self.threads:
            return self.threads
        return 1 if self.queries else free_threads()

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        encodings = self._tokens().encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    def embed(self, texts: Sequence[str], batch_size: int = 32) -> NDArray[np.float32]:
        self.load()
        vectors = [
            self._embed_batch(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)
        ]
        if not vectors:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.concatenate(vectors).astype(np.float32)

    def _embed_batch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        ids, mask = self.encode(texts)
        hidden = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )[0]
        # Mean pooling as one batched product: (batch, 1, tokens) @ (batch, tokens, dim).
        weights = mask.astype(np.float32)[:, None, :]
        pooled = np.matmul(weights, hidden)[:, 0, :] / np.maximum(weights.sum(axis=2), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def encode(self, texts: Sequence[str]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Return the model's input ids and attention mask, padded to the longest text."""
        encodings = self._tokens().encode_batch(list(texts))
        longest = min(self.max_seq_tokens, max(len(e.ids) for e in encodings))
        ids = np.zeros((len(texts), longest), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, encoding in enumerate(encodings):
            # Truncate as sentence-transformers does: keep the start, end with [SEP].
            pieces = (
                encoding.ids
                if len(encoding.ids) <= longest
                else [*encoding.ids[: longest - 1], encoding.ids[-1]]
            )
            ids[row, : len(pieces)] = pieces
            mask[row, : len(pieces)] = 1
        return ids, mask
