"""LLMs: the LLM Protocol and the llama-cpp-python implementation for GGUF files."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ragcli.errors import ModelError
from ragcli.records import GenerationSettings, Prompt


class LLM(Protocol):
    """A local language model that streams text."""

    spec: str
    context_tokens: int
    has_chat_template: bool

    def count_tokens(self, text: str) -> int:
        """Return how many of the model's own tokens the text takes."""
        ...

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        """Yield the answer's text piece by piece as it is generated."""
        ...

    def prepare_prefix(self, text: str) -> None:
        """Get ready for prompts that start with text (a backend may do nothing)."""
        ...


@dataclass(frozen=True)
class LlmOptions:
    """How to run a local model, or which OpenAI-compatible server to use instead."""

    context_tokens: int = 4096
    threads: int | None = None
    seed: int = 0
    server_url: str | None = None
    server_model: str | None = None
    server_api: str = "chat"
    api_key: str | None = None


class LlamaCppLLM:
    """A GGUF model run by llama.cpp through llama-cpp-python."""

    def __init__(
        self, spec: str, path: Path, options: LlmOptions, cache_dir: Path | None = None
    ) -> None:
        self.spec = spec
        self.path = path
        self.options = options
        self.cache_dir = cache_dir
        if not path.is_file():
            raise ModelError(f"model file {path} does not exist", "pass --model PATH.gguf")
        try:
            from llama_cpp import Llama

            with _quiet_stderr():
                self._llama: Any = Llama(
                    model_path=str(path),
                    n_ctx=options.context_tokens,
                    n_threads=options.threads or os.cpu_count() or 1,
                    seed=options.seed,
                    verbose=False,
                )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"cannot load model {path}: not a valid GGUF file or unsupported ({exc})",
                "check the file or pass another --model",
            ) from exc
        self.context_tokens = int(self._llama.n_ctx())
        self.has_chat_template = bool(self._llama.metadata.get("tokenizer.chat_template"))

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        common: dict[str, Any] = {
            "max_tokens": settings.max_tokens,
            "temperature": settings.temperature,
            "stop": list(prompt.stop) or None,
            "stream": True,
        }
        if prompt.is_chat:
            messages = [{"role": role, "content": content} for role, content in prompt.messages]
            stream: Any = self._llama.create_chat_completion(messages=messages, **common)
            for part in stream:
                text = part["choices"][0]["delta"].get("content")
                if text:
                    yield str(text)
        else:
            stream = self._llama.create_completion(prompt.text, **common)
            for part in stream:
                text = part["choices"][0]["text"]
                if text:
                    yield text


    def prepare_prefix(self, text: str) -> None:
        """Restore the state of a fixed prompt start from disk, or evaluate and save it.

        llama-cpp-python reuses the longest common token prefix of consecutive prompts, so
        a restored prefix spares a cold process the instructions and worked examples (about
        250 tokens, a third of a second on 2 cores). A stale or unreadable file is ignored.
        """
        tokens = self._llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        if self.cache_dir is None or len(tokens) >= self.context_tokens // 2:
            return
        state_file = self.cache_dir / "prefix-state" / f"{self._state_key(text)}.bin"
        if not self._restore(state_file, tokens):
            self._llama.reset()
            self._llama.eval(tokens)
            self._save(state_file)

    def _state_key(self, text: str) -> str:
        import hashlib

        import llama_cpp

        stat = self.path.stat()
        parts = [str(self.path.resolve()), str(stat.st_size), str(stat.st_mtime_ns),
                 str(self.context_tokens), llama_cpp.__version__, text]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]

    def _restore(self, state_file: Path, tokens: list[int]) -> bool:
        import ctypes

        import llama_cpp

        try:
            data = state_file.read_bytes()
        except OSError:
            return False
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if llama_cpp.llama_state_set_data(self._llama._ctx.ctx, buffer, len(data)) != len(data):
            return False
        self._llama.input_ids[: len(tokens)] = tokens
        self._llama.n_tokens = len(tokens)
        self._llama._requires_eval = True  # logits are refreshed by the next decode
        return True

    def _save(self, state_file: Path) -> None:
        import ctypes

        import llama_cpp

        from ragcli.files import atomic_write_bytes

        context = self._llama._ctx.ctx
        size = llama_cpp.llama_state_get_size(context)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(context, buffer, size)
        try:
            state_file.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(state_file, bytes(buffer)[:written])
        except OSError:
            pass  # a read-only cache only costs speed


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence llama.cpp's C-level loader chatter, which bypasses Python's sys.stderr."""
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
