"""GGUF models run in this process by llama-cpp-python: the only llama_cpp import."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragcli.cpu import free_threads
from ragcli.errors import ModelError, RagWarning, UsageError, every_spelling, setting
from ragcli.llm.base import LlmOptions, complete_by_streaming
from ragcli.llm.llama_session import LlamaSession, allow_branches
from ragcli.llm.prefix_state import read_state_file, write_state_file
from ragcli.records import Completion, CopyFrom, GenerationSettings, Prompt

if TYPE_CHECKING:
    pass


# How often (seconds) the thread count may follow the free cores: often enough for a batch
# of questions, rarely enough that the few milliseconds of sampling never show.
_REFIT_S = 1.0

# Sampling above temperature 0 is reproducible from run to run.
SEED = 0

# Every GGUF model worth answering with was trained on at least this many tokens; a larger
# --context-tokens is checked against the model's own metadata before memory is taken.
_SURELY_TRAINED_TOKENS = 8192


def _check_trained_context(llama: Any, path: Path, context_tokens: int) -> None:
    """Refuse a context longer than the model was trained on (read without loading weights)."""
    with _quiet_stderr():
        header = llama(model_path=str(path), vocab_only=True, verbose=False)
    arch = header.metadata.get("general.architecture", "")
    trained = header.metadata.get(f"{arch}.context_length")
    del header
    if trained is not None and str(trained).isdigit() and context_tokens > int(trained):
        raise UsageError(
            f"context_tokens {context_tokens} ({every_spelling('context_tokens')}) is "
            f"more than {path.name} was trained on ({int(trained)} tokens)",
            f"use {int(trained)} or less",
        )


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
            raise ModelError(
                f"model file {path} does not exist", f"pass {setting('model')} PATH.gguf"
            )
        try:
            from llama_cpp import Llama

            from ragcli.llm.branching import sequences_for
            from ragcli.llm.decoding import COPY_BEAMS

            if options.context_tokens > _SURELY_TRAINED_TOKENS:
                _check_trained_context(Llama, path, options.context_tokens)
            self._threads = free_threads(options.threads)
            self._fitted_at = time.monotonic()
            with _quiet_stderr():
                self._llama: Any = Llama(
                    model_path=str(path),
                    n_ctx=options.context_tokens,
                    n_threads=self._threads,
                    n_threads_batch=self._threads,
                    seed=SEED,
                    verbose=False,
                )
                allow_branches(self._llama, sequences_for(COPY_BEAMS))
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelError(
                f"cannot load model {path}: not a valid GGUF file or unsupported ({exc})",
                f"check the file or pass another {setting('model')}",
            ) from exc
        self.context_tokens = int(self._llama.n_ctx())
        self.has_chat_template = bool(self._llama.metadata.get("tokenizer.chat_template"))

    def count_tokens(self, text: str) -> int:
        return len(self._llama.tokenize(text.encode("utf-8"), add_bos=True, special=True))

    def _fit_threads(self) -> None:
        """Follow the free cores before each piece of work, unless --threads fixed them.

        A team larger than the free cores waits at every step for a thread that is not
        running; one that is smaller leaves an idle core unused.
        """
        if self.options.threads or time.monotonic() - self._fitted_at < _REFIT_S:
            return
        self._fitted_at = time.monotonic()
        threads = free_threads()
        if threads != self._threads:
            import llama_cpp

            llama_cpp.llama_set_n_threads(self._llama._ctx.ctx, threads, threads)
            self._threads = threads

    def stream(self, prompt: Prompt, settings: GenerationSettings) -> Iterator[str]:
        self._fit_threads()
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

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        """Decode token by token, keeping each chosen token's log-probability.

        Only the newest position's logits are computed at each step, so the log-probabilities
        cost one softmax over the vocabulary a token instead of `logits_all`, which would
        hold a vocabulary-wide row for every prompt token (gigabytes for Gemma's 262k).
        """
        if prompt.is_chat:
            return complete_by_streaming(self, prompt, settings)
        from ragcli.llm.decoding import greedy_decode

        self._fit_threads()
        return greedy_decode(LlamaSession(self._llama), prompt, settings)

    def score(self, prompt: Prompt, continuation: str) -> float | None:
        if prompt.is_chat:
            return None
        from ragcli.llm.decoding import score_continuation

        self._fit_threads()
        return score_continuation(LlamaSession(self._llama), prompt.text, continuation)

    def copy(
        self,
        prompt: Prompt,
        source: CopyFrom,
        settings: GenerationSettings,
        batched: bool = True,
    ) -> Completion | None:
        """The copy search, its hypotheses evaluated in one batch a step unless not batched."""
        if prompt.is_chat:
            return None
        from ragcli.llm.decoding import copy_decode

        self._fit_threads()
        session = LlamaSession(self._llama)
        return copy_decode(session, prompt, source, settings, batched=batched)

    def prepare_prefix(self, text: str) -> None:
        """Restore the state of a fixed prompt start from disk, or evaluate and save it.

        llama-cpp-python reuses the longest common token prefix of consecutive prompts, so
        a restored prefix spares a cold process the instructions and worked examples (about
        250 tokens, a third of a second on 2 cores). A stale, unreadable or damaged
        file (its checksum is checked first) is evaluated again and replaced.
        """
        tokens = self._llama.tokenize(text.encode("utf-8"), add_bos=True, special=True)
        if self.cache_dir is None or len(tokens) >= self.context_tokens // 2:
            return
        # ".state": checksummed (pack_state); the unchecked ".bin" files of older versions are
        # left alone, never read.
        state_file = self.cache_dir / "prefix-state" / f"{self._state_key(text)}.state"
        if not self._restore(state_file, tokens):
            self._llama.reset()
            self._llama.eval(tokens)
            self._save(state_file)

    def _state_key(self, text: str) -> str:
        import hashlib

        import llama_cpp

        stat = self.path.stat()
        parts = [
            str(self.path.resolve()),
            str(stat.st_size),
            str(stat.st_mtime_ns),
            str(self.context_tokens),
            str(llama_cpp.llama_n_seq_max(self._llama._ctx.ctx)),
            llama_cpp.__version__,
            text,
        ]
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:24]

    def _restore(self, state_file: Path, tokens: list[int]) -> bool:
        import ctypes

        import llama_cpp

        data = read_state_file(state_file)
        if data is None:  # damaged or from an older ragcli: evaluated again and replaced
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

        context = self._llama._ctx.ctx
        size = llama_cpp.llama_state_get_size(context)
        buffer = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_get_data(context, buffer, size)
        try:
            write_state_file(state_file, bytes(buffer)[:written])
        except OSError as exc:  # a cache that takes no file only costs speed: say so, go on
            import warnings

            warnings.warn(
                RagWarning(
                    f"cannot save the model's prompt state in {state_file.parent} "
                    f"({exc.strerror}); each run evaluates the prompt start again"
                ),
                stacklevel=1,
            )


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
