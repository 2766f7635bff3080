"""Each component's options, filled from the resolved settings: the one place that does it.

The library (library.py), the commands, bench/ and tests call these rather than copy
settings field by field;
the option records themselves carry no defaults of the settings. Imports are lazy: a
command pays only for the components it builds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ragcli.errors import UsageError, setting
from ragcli.settings import KEYS, Settings, checked

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ragcli.build import BuildSettings
    from ragcli.discovery import DiscoveryOptions
    from ragcli.embedding.server import EmbedServerOptions
    from ragcli.llm.base import LlmOptions
    from ragcli.records import ChunkingSettings, RaySettings
    from ragcli.retrieval.searcher import RetrievalSettings
    from ragcli.steps.ask import AskOptions
    from ragcli.text.loaders import LoadLimits


def llm_options(settings: Settings) -> LlmOptions:
    """How to run the local model, or which OpenAI-compatible server answers instead."""
    from ragcli.llm.base import LlmOptions

    return LlmOptions(
        context_tokens=settings.context_tokens,
        threads=settings.threads,
        server_url=settings.llm_url,
        server_model=settings.llm_model,
        server_api=settings.llm_api,
        api_key=settings.llm_api_key or None,
    )


def embed_server_options(settings: Settings) -> EmbedServerOptions | None:
    """The embedding server the settings name, or None to embed locally."""
    from ragcli.embedding.server import EmbedServerOptions

    if not settings.embed_url:
        return None
    return EmbedServerOptions(settings.embed_url, settings.embed_api_key or None)


def retrieval_settings(settings: Settings) -> RetrievalSettings:
    """How chunks are found: the mode, and where queries are embedded."""
    from ragcli.retrieval.searcher import RetrievalSettings

    return RetrievalSettings(
        settings.mode,
        embed_server=embed_server_options(settings),
        vectors_token=settings.milvus_token,
    )


def ask_options(
    settings: Settings, strict: bool = False, cache_dir: Path | None = None
) -> AskOptions:
    """How `ask` answers: the stores, the LLM, retrieval and the answering strategy.

    `cache_dir` is where the bundled model is assembled (default: the user cache dir).
    """
    from ragcli.locations import model_cache_dir
    from ragcli.records import GenerationSettings
    from ragcli.steps.ask import AskOptions

    return AskOptions(
        stores=settings.stores,
        llm_spec=settings.model,
        llm=llm_options(settings),
        cache_dir=cache_dir or model_cache_dir(),
        generation=GenerationSettings(settings.max_tokens, settings.temperature),
        strategy=settings.strategy,
        strict=strict,
        answer_threshold=settings.answer_threshold,
        min_confidence=settings.min_confidence,
        top_k=settings.top_k,
        min_score=settings.min_score,
        retrieval=retrieval_settings(settings),
    )


def build_settings(
    settings: Settings, int8: bool, ray: bool = False, new_store: bool = True
) -> BuildSettings:
    """What a store is built with: the embedder asked for, and its chunking and vectors.

    Chunking and vectors only for a `new_store` (a command that may create one: ingest,
    eval); `ray` (--ray) embeds on Ray.
    """

    from ragcli.build import BuildSettings

    return BuildSettings(
        settings.chosen("embedder"),
        chunking(settings) if new_store else None,
        None,
        settings.threads,
        int8=int8,
        vectors=settings.chosen("vectors") if new_store else None,
        embed_server=embed_server_options(settings),
        ray=ray_settings(settings, ray),
        vectors_token=settings.milvus_token,
    )


def ray_settings(settings: Settings, ray: bool) -> RaySettings | None:
    """Where to embed on Ray, or None to embed in this process: --ray or --ray-address."""
    from ragcli.records import RaySettings

    source = settings.sources["ray_address"]
    if not ray and not source.startswith("flag"):
        return None
    address = settings.ray_address
    if source.startswith("flag"):  # variables and the file were checked when read
        address = checked(KEYS["ray_address"], address, KEYS["ray_address"].flag)
    return RaySettings(address, settings.ray_workers)


def discovery_options(
    settings: Settings,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    links_outside: bool = False,
) -> DiscoveryOptions:
    """Which files a walk takes: the globs and links given, images when OCR is on."""
    from ragcli.discovery import DiscoveryOptions

    return DiscoveryOptions(
        tuple(include), tuple(exclude), links_outside=links_outside, images=settings.ocr
    )


def load_limits(settings: Settings) -> LoadLimits:
    """How ingest reads files: the default bounds, and OCR as the settings ask."""
    from ragcli.text.loaders import LoadLimits
    from ragcli.text.ocr import OcrOptions

    languages = settings.ocr_languages
    if settings.sources["ocr_languages"].startswith("flag"):  # the others were checked
        languages = checked(KEYS["ocr_languages"], languages, KEYS["ocr_languages"].flag)
    ocr = None
    if settings.ocr:
        ocr = OcrOptions(
            languages=languages,
            max_pages=settings.ocr_max_pages,
            file_timeout_s=settings.ocr_max_seconds,
        )
    return LoadLimits(ocr=ocr)


def chunking(settings: Settings) -> ChunkingSettings | None:
    """The chunking asked for a new store, or None to keep the store's (or the default)."""
    from ragcli.records import ChunkingSettings

    if settings.chosen("chunk_tokens") is None and settings.chosen("overlap_tokens") is None:
        return None
    chosen = ChunkingSettings(settings.chunk_tokens, settings.overlap_tokens)
    if chosen.overlap_tokens >= chosen.chunk_tokens:
        raise UsageError(_overlap_problem(chosen, settings))
    return chosen


def _overlap_problem(chosen: ChunkingSettings, settings: Settings) -> str:
    """Blame the setting the user set, and say when the value it clashes with is a default."""
    chunk, overlap = chosen.chunk_tokens, chosen.overlap_tokens
    chunk_tokens, overlap_tokens = setting("chunk_tokens"), setting("overlap_tokens")
    if settings.chosen("overlap_tokens") is None:
        return (
            f"{chunk_tokens} must be more than the overlap ({overlap}, the default "
            f"{overlap_tokens}), not {chunk}"
        )
    if settings.chosen("chunk_tokens") is None:
        return (
            f"{overlap_tokens} must be less than the chunk size ({chunk}, the default "
            f"{chunk_tokens}), not {overlap}"
        )
    return f"{overlap_tokens} must be less than {chunk_tokens} ({chunk}), not {overlap}"
