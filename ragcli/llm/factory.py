"""Pick the LLM a spec and the options name: a server, the bundled model, a .gguf file.

Or a constructor added with `register` for `PREFIX:...` (the tests' `fake:`; see
`ragcli.plugins`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.bundled import BUNDLED_LLM
from ragcli.errors import UsageError, setting
from ragcli.plugins import load_plugins, split_spec

if TYPE_CHECKING:
    from ragcli.llm.base import LLM, LlmOptions

# An OpenAI-compatible server's endpoint: /chat/completions (messages) or /completions.
LLM_APIS = ("chat", "completion")

# Builds an LLM from its whole spec (`fake:loop`) and the options.
LlmConstructor = Callable[[str, "LlmOptions"], "LLM"]
_registered: dict[str, LlmConstructor] = {}


def register(prefix: str, constructor: LlmConstructor) -> None:
    """Build the specs `PREFIX:...` with `constructor` (test doubles; see ragcli.plugins)."""
    _registered[prefix] = constructor


def make_llm(spec: str, options: LlmOptions, cache_dir: Path) -> LLM:
    """Build the LLM: a server when options name one, else the bundled model, a .gguf, or a
    registered `PREFIX:...`."""
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
    load_plugins()
    scheme, rest = split_spec(spec, ("gguf", *_registered), "gguf")
    if scheme in _registered:
        return _registered[scheme](spec, options)
    from ragcli.bundled import bundled_llm_path
    from ragcli.llm.llama_cpp import LlamaCppLLM

    if rest in (BUNDLED_LLM, "default"):
        return LlamaCppLLM(BUNDLED_LLM, bundled_llm_path(cache_dir), options, cache_dir)
    path = Path(rest).expanduser()
    if path.suffix.lower() != ".gguf":
        raise UsageError(f"{setting('model')} {rest!r} is not a .gguf file")
    return LlamaCppLLM(str(path), path, options, cache_dir)
