"""Pick the LLM a spec and the options name: a server, the bundled model, a .gguf file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.backends.models import BUNDLED_LLM
from ragcli.errors import UsageError

if TYPE_CHECKING:
    from ragcli.llm.base import LLM, LlmOptions


def _split(spec: str, schemes: tuple[str, ...], default: str) -> tuple[str, str]:
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in schemes:
        return scheme, rest
    return default, spec


def make_llm(spec: str, options: LlmOptions, cache_dir: Path) -> LLM:
    """Build the LLM: a server when options name one, else the bundled model, a .gguf, `fake:`."""
    if options.server_url:
        from ragcli.llm.server import OpenAICompatibleLLM, ServerOptions

        return OpenAICompatibleLLM(
            ServerOptions(
                url=options.server_url,
                model=options.server_model,
                api_key=options.api_key,
                api=options.server_api,
                context_tokens=options.context_tokens,
            )
        )
    scheme, rest = _split(spec, ("gguf", "fake"), "gguf")
    if scheme == "fake":
        from ragcli.backends.fakes import CrashingLLM, ExtractiveLLM, LoopingLLM, WarningLLM

        fakes = {"loop": LoopingLLM, "crash": CrashingLLM, "warn": WarningLLM}
        return fakes.get(rest, ExtractiveLLM)(spec, options.context_tokens)
    from ragcli.backends.models import bundled_llm_path
    from ragcli.llm.llama_cpp import LlamaCppLLM

    if rest in (BUNDLED_LLM, "default"):
        return LlamaCppLLM(BUNDLED_LLM, bundled_llm_path(cache_dir), options, cache_dir)
    path = Path(rest).expanduser()
    if path.suffix.lower() != ".gguf":
        raise UsageError(f"--model {rest!r} is not a .gguf file")
    return LlamaCppLLM(str(path), path, options, cache_dir)
