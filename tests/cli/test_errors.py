"""Errors name settings, not flags: by name for the library, as flags where the CLI says them."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragcli.errors import ExitCode, ModelError, UsageError, every_spelling, setting
from ragcli.settings import as_flag
from tests.conftest import run_rag as run

Capture = pytest.CaptureFixture[str]
SAMPLE_DOCS = Path(__file__).resolve().parents[2] / "sample_docs"


def test_the_library_names_a_setting_by_its_name() -> None:
    error = UsageError(
        f"{setting('model')} 'notes.txt' is not a .gguf file",
        f"raise {setting('context_tokens')}",
    )
    assert error.message == "model 'notes.txt' is not a .gguf file"
    assert error.hint == "raise context_tokens"
    assert str(error) == "model 'notes.txt' is not a .gguf file (raise context_tokens)"


def test_the_cli_spells_a_setting_as_its_flag_or_variable() -> None:
    error = ModelError(
        f"set by {every_spelling('max_tokens')}",
        f"pass {setting('model')} PATH.gguf, {setting('search_k')} or {setting('llm_api_key')}",
    )
    assert error.spelled(as_flag) == (
        "set by --max-tokens, RAG_MAX_TOKENS or config key max_tokens "
        "(pass --model PATH.gguf, search --top-k or RAG_LLM_API_KEY)"
    )
    assert str(error) == "set by max_tokens (pass model PATH.gguf, search_k or llm_api_key)"


def test_text_that_only_looks_like_a_setting_is_left_alone() -> None:
    error = UsageError("{setting:Model} and {model} and {setting: model}")
    assert error.spelled(as_flag) == str(error) == error.message == error.template


def test_the_error_boundary_says_flags(tmp_path: Path, capsys: Capture) -> None:
    store = tmp_path / "store"
    code, _, _ = run(
        capsys, "ingest", str(SAMPLE_DOCS), "--store", str(store), "--embed-model", "fake:64"
    )
    assert code == 0
    # llm/ names the setting `model`; the one line the CLI prints names the flag.
    code, _, err = run(capsys, "ask", "q", "--store", str(store), "--model", "notes.txt")
    assert code == ExitCode.USAGE
    assert err == "rag: error: --model 'notes.txt' is not a .gguf file\n"
    code, _, err = run(capsys, "ask", "q", "--store", str(store), "--model", "/no/model.gguf")
    assert code == ExitCode.MODEL
    assert err.endswith("does not exist (pass --model PATH.gguf)\n")
