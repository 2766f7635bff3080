"""The settings record: each setting declared once, resolved once into a frozen `Settings`.

A setting's value comes from its command-line flag, else its RAG_* environment variable,
else the config file (config.py reads it), else its default. Each `Key` below declares its
name, flag, variable, default and check; `resolve` layers the sources and returns `Settings`,
which the commands turn into their steps' option records and `rag config` prints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ragcli.bundled import BUNDLED_EMBEDDER, BUNDLED_LLM
from ragcli.errors import UsageError
from ragcli.locations import APP_NAME, DEFAULT_STORE_NAME, data_dir, store_list, store_paths
from ragcli.records import ChunkingSettings, HnswSettings
from ragcli.text.ocr import FILE_TIMEOUT_S, MAX_PAGES_PER_FILE
from ragcli.vectors.base import VECTOR_FORMS
from ragcli.vectors.factory import is_vectors_uri

# Retrieval modes: dense (HNSW over embeddings), keyword (FTS5 BM25), or both fused.
RETRIEVAL_MODES = ("hybrid", "dense", "keyword")
# Answering strategies: one passage a prompt, marginalised (RAG-Sequence), or all passages
# in one prompt. sequence scored EM/F1 far above packed on squad-a (bench/qa_bench.py).
ANSWER_STRATEGIES = ("sequence", "packed")
# An OpenAI-compatible server's endpoint: /chat/completions (messages) or /completions.
LLM_APIS = ("chat", "completion")

# Every number a user can set has a range, declared here once and checked for flags,
# RAG_* variables and the config file alike (README, "Configuration").
MAX_THREADS = 4 * (os.cpu_count() or 1)


@dataclass(frozen=True)
class Range:
    """The values a numeric setting may take, both ends included."""

    low: float
    high: float
    whole: bool = True

    def describe(self) -> str:
        kind = "a whole number" if self.whole else "a number"
        return f"{kind} from {_number(self.low)} to {_number(self.high)}"

    def check(self, value: Any) -> int | float:
        """Return the value as a number within the range; ValueError naming the range."""
        number = self._number(value)
        if number is None or not (self.low <= number <= self.high):  # also false for NaN
            raise ValueError(f"must be {self.describe()}")
        return number

    def _number(self, value: Any) -> int | float | None:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            return None
        try:
            return _whole(value) if self.whole else float(value)
        except (ValueError, OverflowError):
            return None


def _whole(value: int | float | str) -> int:
    if isinstance(value, float):  # 5.0 in a TOML file: a float where a count belongs
        raise ValueError(value)
    text = str(value).strip()
    if len(text) > 30:  # int() of a huge digit string costs time and says nothing useful
        raise ValueError(value)
    return int(text)


def _number(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:g}"


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("must be a non-empty string")
    if "\0" in value:  # no path, name or URL holds one; the OS would refuse it later
        raise ValueError("must not contain a NUL character")
    return value


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return str(value)

    return check


def _url(value: Any) -> str:
    text = _text(value)
    parsed = urlparse(text)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return text


def _vectors(value: Any) -> str:
    text = _text(value)
    if not is_vectors_uri(text):
        raise ValueError(f"must be {VECTOR_FORMS}")
    return text


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off")


def _switch(value: Any) -> bool:
    """A yes/no setting: a TOML boolean, or true/false, 1/0, yes/no, on/off in a variable."""
    if isinstance(value, bool):
        return value
    word = value.strip().lower() if isinstance(value, str) else None
    if word in _TRUE or word in _FALSE:
        return word in _TRUE
    raise ValueError("must be true or false")


def _ocr_languages(value: Any) -> str:
    text = _text(value).strip()
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*(\+[A-Za-z][A-Za-z0-9_]*)*", text):
        raise ValueError("must be Tesseract language names joined by +, such as eng+spa")
    return text


def _ray_address(value: Any) -> str:
    text = _text(value).strip()
    host, sep, port = text.rpartition(":")
    if text in ("local", "auto") or (sep and host and port.isdigit()):
        return text
    raise ValueError("must be local, auto, ray://HOST:PORT or HOST:PORT")


def default_store_dir() -> Path:
    """The store used when neither --store nor RAG_STORE is given: the one named `store`."""
    return data_dir() / DEFAULT_STORE_NAME


def _default_stores() -> tuple[Path, ...]:
    return (default_store_dir(),)


def model_cache_dir() -> Path:
    """Where the bundled GGUF is assembled once."""
    from platformdirs import user_cache_dir

    return Path(user_cache_dir(APP_NAME)) / "models"


@dataclass(frozen=True)
class Key:
    """One setting: its name, flag, variable, default and check, declared once."""

    name: str
    flag: str  # "" for the API key, which only the environment holds
    env: str | None  # None: a flag only
    default: Any  # a value, or a function returning it (for paths found at run time)
    check: Callable[[Any], Any] = _text
    range: Range | None = None
    # Store locations: a list (flag given again, `:` in RAG_STORE or the file), each a path
    # or a name (locations.py); relative paths in the config file are relative to the file.
    path: bool = False
    in_file: bool = True  # may be set in the config file, and `rag config` shows it

    def default_value(self) -> Any:
        return self.default() if callable(self.default) else self.default

    def checked(self, raw: Any) -> Any:
        """Return the value as the setting takes it; ValueError naming what it must be."""
        return self.range.check(raw) if self.range is not None else self.check(raw)


def _ranged(
    name: str,
    flag: str,
    env: str | None,
    default: Any,
    low: float,
    high: float,
    whole: bool = True,
    in_file: bool = True,
) -> Key:
    return Key(name, flag, env, default, range=Range(low, high, whole), in_file=in_file)


KEYS: dict[str, Key] = {
    key.name: key
    for key in (
        Key("store", "--store", "RAG_STORE", _default_stores, store_list, path=True),
        Key("embedder", "--embed-model", "RAG_EMBEDDER", BUNDLED_EMBEDDER),
        # An OpenAI-compatible /v1/embeddings server instead of a local model; --embed-model
        # then names the model on it (default: the first it lists).
        Key("embed_url", "--embed-url", "RAG_EMBED_URL", None, _url),
        Key("model", "--model", "RAG_MODEL", BUNDLED_LLM),
        _ranged("top_k", "--top-k", "RAG_TOP_K", 5, 1, 1000),
        _ranged("search_k", "search --top-k", "RAG_SEARCH_K", 10, 1, 10_000),
        _ranged("threads", "--threads", "RAG_THREADS", None, 1, MAX_THREADS),
        # At least what the fixed prompt and one passage need (checked again against the
        # model's own prompt when it loads), at most what any bundled-size model is trained on.
        _ranged("context_tokens", "--context-tokens", "RAG_CONTEXT_TOKENS", 4096, 512, 131_072),
        # At most the context window less the prompt: checked when the model loads.
        _ranged("max_tokens", "--max-tokens", "RAG_MAX_TOKENS", 256, 1, 131_072),
        _ranged("temperature", "--temperature", "RAG_TEMPERATURE", 0.0, 0.0, 2.0, whole=False),
        # Cosine similarity below which a passage is taken as unrelated to the question.
        # Measured with all-MiniLM-L6-v2 on bench/qa_sample_docs.jsonl: off-topic questions'
        # best passage scored 0.09-0.16, answerable questions' 0.24 and up.
        _ranged("min_score", "--min-score", "RAG_MIN_SCORE", 0.2, -1.0, 1.0, whole=False),
        _ranged("batch_size", "--batch-size", "RAG_BATCH_SIZE", 64, 1, 4096),
        # Where `--ray` embeds: "local" starts a Ray runtime in the process, else a cluster.
        Key("ray_address", "--ray-address", "RAG_RAY_ADDRESS", "local", _ray_address),
        # Ray actors embedding at once; None: one per CPU of the runtime or cluster.
        _ranged("ray_workers", "--ray-workers", "RAG_RAY_WORKERS", None, 1, 100_000),
        Key("mode", "--mode", "RAG_MODE", "hybrid", _one_of(RETRIEVAL_MODES)),
        Key("strategy", "--strategy", "RAG_STRATEGY", "sequence", _one_of(ANSWER_STRATEGIES)),
        # When every passage declines, `sequence` decodes again with abstaining ruled out and
        # keeps that answer if its log-probability is at least this; above 0 it never does.
        # Off by default: on squad-a seed 1 (100 answerable + 100 unanswerable, evidence
        # windows) no threshold beat off on SQuAD 2.0's pooled F1 (36.9 off, 36.4 at -3,
        # 32.3 at -5): its answers to unanswerable questions scored as high as right ones.
        _ranged(
            "answer_threshold",
            "ask --answer-threshold",
            "RAG_ANSWER_THRESHOLD",
            1.0,
            -1000.0,
            1.0,
            whole=False,
        ),
        # `sequence` declines an answer whose probability (marginalised over the passages) is
        # below this. Off by default: the model's answers to questions the documents do not
        # answer are hardly less likely than its answers to those they do (bench/qa_bench.py
        # curve: each point declines about as many of one kind as of the other).
        _ranged(
            "min_confidence",
            "ask --min-confidence",
            "RAG_MIN_CONFIDENCE",
            0.0,
            0.0,
            1.0,
            whole=False,
        ),
        Key("llm_url", "--llm-url", "RAG_LLM_URL", None, _url),
        Key("llm_model", "--llm-model", "RAG_LLM_MODEL", None),
        # Not in the config file: a key is a secret, and the API a property of the server.
        Key("llm_api", "--llm-api", None, "chat", _one_of(LLM_APIS), in_file=False),
        Key("llm_api_key", "", "RAG_LLM_API_KEY", None, str, in_file=False),
        # Where a new store keeps its vectors; an existing store keeps where it has them.
        Key("vectors", "--vectors", "RAG_VECTORS", "faiss", _vectors),
        Key("milvus_token", "", "RAG_MILVUS_TOKEN", None, str, in_file=False),
        Key("embed_api_key", "", "RAG_EMBED_API_KEY", None, str, in_file=False),
        # The chunking of a new store; an existing store keeps the chunking it was built with.
        # Read pages without a text layer, and image files, with Tesseract (README "Scanned
        # PDFs and images"); the languages are Tesseract's, the first one its main model.
        Key("ocr", "--ocr", "RAG_OCR", True, _switch),
        Key("ocr_languages", "--ocr-languages", "RAG_OCR_LANGUAGES", "eng+spa", _ocr_languages),
        # One file's OCR at most: pages, and seconds for all of them; past either, the file
        # is skipped with the reason (a 10,000-frame TIFF would otherwise take hours).
        _ranged(
            "ocr_max_pages",
            "--ocr-max-pages",
            "RAG_OCR_MAX_PAGES",
            MAX_PAGES_PER_FILE,
            1,
            1_000_000,
        ),
        _ranged(
            "ocr_max_seconds",
            "--ocr-max-seconds",
            "RAG_OCR_MAX_SECONDS",
            FILE_TIMEOUT_S,
            1,
            604_800,
            whole=False,
        ),
        _ranged("chunk_tokens", "--chunk-tokens", None, 200, 16, 4096, in_file=False),
        _ranged("overlap_tokens", "--overlap-tokens", None, 32, 0, 2048, in_file=False),
        _ranged("max_queries", "--max-queries", None, None, 1, 1e9, in_file=False),
        _ranged("max_docs", "--max-docs", None, None, 1, 1e9, in_file=False),
    )
}

RANGES: dict[str, Range] = {k.name: k.range for k in KEYS.values() if k.range is not None}
DEFAULT_CHUNKING = ChunkingSettings(KEYS["chunk_tokens"].default, KEYS["overlap_tokens"].default)
DEFAULT_HNSW = HnswSettings()


def spellings(key: str) -> str:
    """Every way a user may have set a key, for a message about its value."""
    spec = KEYS[key]
    return f"{spec.flag}, {spec.env} or config key {spec.name}"


@dataclass(frozen=True)
class Setting:
    """An effective value and where it came from."""

    key: str
    value: Any
    source: str  # "flag --top-k", "env RAG_TOP_K", "config /path/config.toml", "default"


@dataclass(frozen=True)
class ConfigFile:
    """The config file's checked values (empty when there is no file)."""

    path: Path
    values: Mapping[str, Any]
    exists: bool


@dataclass(frozen=True)
class Settings:
    """Every setting's effective value, resolved once per command.

    `stores` are all the stores given (`ask` and `search` take several); `store` is the
    first, the one every other command works on (they refuse several: commands/common.py).
    """

    store: Path
    stores: tuple[Path, ...]
    embedder: str
    embed_url: str | None
    model: str
    top_k: int
    search_k: int
    threads: int | None
    context_tokens: int
    max_tokens: int
    temperature: float
    min_score: float
    batch_size: int
    ray_address: str
    ray_workers: int | None
    mode: str
    strategy: str
    answer_threshold: float
    min_confidence: float
    llm_url: str | None
    llm_model: str | None
    llm_api: str
    llm_api_key: str | None
    vectors: str
    milvus_token: str | None
    embed_api_key: str | None
    ocr: bool
    ocr_languages: str
    ocr_max_pages: int
    ocr_max_seconds: float
    chunk_tokens: int
    overlap_tokens: int
    max_queries: int | None
    max_docs: int | None
    sources: Mapping[str, str]
    config: ConfigFile

    def chosen(self, key: str) -> Any:
        """The value when the user set it (flag, environment or file), else None."""
        return None if self.sources[key] == "default" else getattr(self, key)

    def shown(self) -> list[Setting]:
        """The settings `rag config` prints, in declaration order."""
        return [
            Setting(k.name, self._shown(k.name), self.sources[k.name])
            for k in KEYS.values()
            if k.in_file
        ]

    def _shown(self, key: str) -> Any:
        if key == "store" and len(self.stores) > 1:  # as RAG_STORE would list them
            return os.pathsep.join(str(path) for path in self.stores)
        return getattr(self, key)


def resolve(flags: Mapping[str, Any], env: Mapping[str, str], file: ConfigFile) -> Settings:
    """Layer flag > environment > config file > default for every key; UsageError if bad."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key in KEYS.values():
        values[key.name], sources[key.name] = _effective(key, flags.get(key.name), env, file)
    stores = values.pop("store")
    return Settings(**values, store=stores[0], stores=stores, sources=sources, config=file)


def _effective(key: Key, flag: Any, env: Mapping[str, str], file: ConfigFile) -> tuple[Any, str]:
    if flag is not None:
        # Typer has parsed and typed a flag already; a range or a location is left to check.
        value = checked(key, flag, key.flag) if key.range is not None or key.path else flag
        return value, f"flag {key.flag}"
    raw = env.get(key.env) if key.env is not None else None
    if raw is not None and raw != "":
        return checked(key, raw, key.env or key.name), f"env {key.env}"
    if key.name in file.values:
        return file.values[key.name], f"config {file.path}"
    return key.default_value(), "default"


def checked(key: Key, raw: Any, where: str, relative_to: Path | None = None) -> Any:
    """Check one raw value of a key; UsageError saying where it came from and what is wrong."""
    try:
        value = key.checked(raw)
    except ValueError as exc:
        raise UsageError(f"{where} {exc}, not {_shown(raw)}") from None
    if key.path:
        # A relative path in the file means relative to the file, not to where rag runs.
        value = store_paths(value, relative_to)
    return value


def _shown(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def defaults() -> Settings:
    """Every setting at its default: what a command sees with no flags, variables or file."""
    return resolve({}, {}, ConfigFile(Path(os.devnull), {}, exists=False))
