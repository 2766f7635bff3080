"""LLMs: the LLM Protocol and the llama-cpp-python implementation for GGUF files."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ragcli.backends.cpu import free_threads
from ragcli.backends.llama_session import LlamaSession, allow_branches
from ragcli.errors import ModelError, RagWarning, UsageError
from ragcli.records import Completion, CopyFrom, GenerationSettings, Prompt

if TYPE_CHECKING:
    from ragcli.settings import Settings


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

    def complete(self, prompt: Prompt, settings: GenerationSettings) -> Completion:
        """Generate a whole answer with the log-probability the model gave its tokens."""
        ...

    def score(self, prompt: Prompt, continuation: str) -> float | None:
        """Return log p(continuation | prompt), or None when the backend cannot tell."""
        ...

    def copy(
        self, prompt: Prompt, source: CopyFrom, settings: GenerationSettings
    ) -> Completion | None:
        """The most likely answer that copies source's texts; None if the backend cannot."""
        ...


@dataclass(frozen=True)
class LlmOptions:
    """How to run a local model, or which OpenAI-compatible server to use instead."""

    context_tokens: int
    threads: int | None
    server_url: str | None
    server_model: str | None
    server_api: str
    api_key: str | None

    @classmethod
    def from_settings(cls, settings: Settings) -> LlmOptions:
        """The options the resolved settings ask for."""
        return cls(
            context_tokens=settings.context_tokens,
            threads=settings.threads,
            server_url=settings.llm_url,
            server_model=settings.llm_model,
            server_api=settings.llm_api,
            api_key=settings.llm_api_key or None,
        )


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
        from ragcli.settings import spellings

        raise UsageError(
            f"context_tokens {context_tokens} ({spellings('context_tokens')}) is "
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
            raise ModelError(f"model file {path} does not exist", "pass --model PATH.gguf")
        try:
            from llama_cpp import Llama

            from ragcli.backends.branching import sequences_for
            from ragcli.backends.decoding import COPY_BEAMS

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
                "check the file or pass another --model",
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
        from ragcli.backends.decoding import greedy_decode

        self._fit_threads()
        return greedy_decode(LlamaSession(self._llama), prompt, settings)

    def score(self, prompt: Prompt, continuation: str) -> float | None:
        if prompt.is_chat:
            return None
        from ragcli.backends.decoding import score_continuation

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
        from ragcli.backends.decoding import copy_decode

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


# A saved prefix state: this magic, the state's length (8 bytes, little-endian) and sha256,
# then the state. llama.cpp takes any bytes of the right shape, so a flipped bit would
# otherwise poison every later answer of every process.
_STATE_MAGIC = b"ragcli prefix state 1\n"
_STATE_HEADER = len(_STATE_MAGIC) + 8 + 32


def pack_state(data: bytes) -> bytes:
    """Prefix a model state with its length and checksum, as saved to the cache."""
    import hashlib

    return _STATE_MAGIC + len(data).to_bytes(8, "little") + hashlib.sha256(data).digest() + data


def unpack_state(blob: bytes) -> bytes | None:
    """Return the state saved by pack_state, or None if the file is damaged or foreign."""
    import hashlib

    if len(blob) < _STATE_HEADER or not blob.startswith(_STATE_MAGIC):
        return None
    start = len(_STATE_MAGIC)
    size = int.from_bytes(blob[start : start + 8], "little")
    data = blob[_STATE_HEADER:]
    if len(data) != size or hashlib.sha256(data).digest() != blob[start + 8 : _STATE_HEADER]:
        return None
    return data


def write_state_file(state_file: Path, state: bytes) -> None:
    """Save a model state to the cache, writable by its owner alone whatever the umask.

    OSError when the cache takes no file."""
    from ragcli.files import atomic_write_bytes, make_folders

    make_folders(state_file.parent)
    atomic_write_bytes(state_file, pack_state(state))


def read_state_file(state_file: Path) -> bytes | None:
    """Return a saved model state, or None: missing, damaged, not a regular file, or one
    that another user could have written (the cache is trusted input, as ssh trusts keys)."""
    import stat

    from ragcli.files import open_regular

    try:
        descriptor = open_regular(state_file)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        status = os.fstat(handle.fileno())
        if status.st_uid != os.getuid() or status.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        return unpack_state(handle.read())


def complete_by_streaming(llm: LLM, prompt: Prompt, settings: GenerationSettings) -> Completion:
    """A completion with no log-probability, for backends that only stream text."""
    from ragcli.backends.repetition import find_loop

    pieces: list[str] = []
    for piece in llm.stream(prompt, settings):
        pieces.append(piece)
        loop = find_loop("".join(pieces))
        if loop is not None:
            return Completion(loop.kept if loop.usable else "", None, len(pieces), looped=True)
    return Completion("".join(pieces).strip(), None, len(pieces))


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
