"""Settings' ranges: every number is checked in one place, for flags, RAG_* and the file."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from ragcli.config import load_config
from ragcli.errors import ExitCode, UsageError
from ragcli.setting_keys import Range
from ragcli.settings import KEYS, MAX_THREADS, RANGES, ConfigFile, resolve
from tests.conftest import run_rag as run

Capture = pytest.CaptureFixture[str]
ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", [0, -1, 1001, 10**30, "ten", "1.5", True, None, "", "9" * 40])
def test_out_of_range_whole_numbers_are_refused_with_the_range(value: object) -> None:
    with pytest.raises(ValueError, match="whole number from 1 to 1,000"):
        RANGES["top_k"].check(value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, -0.1, 2.5, 1e308, "nan"])
def test_temperature_must_be_finite_and_in_range(value: object) -> None:
    with pytest.raises(ValueError, match="number from 0 to 2"):
        RANGES["temperature"].check(value)


def test_values_in_range_come_back_as_numbers() -> None:
    assert RANGES["top_k"].check("7") == 7
    with pytest.raises(ValueError):
        RANGES["top_k"].check(7.0)  # a TOML float where a count belongs
    assert RANGES["temperature"].check("0.7") == pytest.approx(0.7)
    assert RANGES["threads"].check(MAX_THREADS) == MAX_THREADS
    assert Range(0, 1, whole=False).describe() == "a number from 0 to 1"


def _no_file(tmp_path: Path) -> ConfigFile:
    return ConfigFile(tmp_path / "absent.toml", {}, exists=False)


def test_flag_only_numbers_name_the_flag(tmp_path: Path) -> None:
    assert resolve({}, {}, _no_file(tmp_path)).max_docs is None
    with pytest.raises(UsageError, match=r"--chunk-tokens must be a whole number from 16"):
        resolve({"chunk_tokens": 8}, {}, _no_file(tmp_path))


def test_flag_environment_and_file_are_checked_alike(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("top_k = 5000\n")
    with pytest.raises(UsageError, match=r"key 'top_k' must be a whole number from 1 to 1,000"):
        load_config(config, {})
    with pytest.raises(UsageError, match=r"RAG_THREADS must be a whole number from 1 to"):
        env = {"RAG_THREADS": "10000", "RAG_CONFIG": ""}
        resolve({}, env, load_config(None, env))
    empty = tmp_path / "empty.toml"
    empty.write_text("")
    with pytest.raises(UsageError, match=r"--max-tokens must be a whole number from 1"):
        resolve({"max_tokens": 0}, {}, load_config(empty, {}))


@pytest.mark.parametrize(
    "args",
    [
        ["ask", "q", "--top-k", str(10**30)],
        ["ask", "q", "--top-k", "0"],
        ["ask", "q", "--max-tokens", "0"],
        ["ask", "q", "--max-tokens", "1000000"],
        ["ask", "q", "--temperature", "inf"],
        ["ask", "q", "--temperature", "nan"],
        ["ask", "q", "--threads", "10000"],
        ["ask", "q", "--context-tokens", "256"],
        ["ask", "q", "--min-score", "2"],
        ["search", "q", "-k", str(10**30)],
        ["search", "q", "--threads", "0"],
        ["ingest", ".", "--batch-size", "0"],
        ["ingest", ".", "--chunk-tokens", "4"],
        ["ingest", ".", "--chunk-tokens", "64", "--overlap-tokens", "64"],
        ["index", "--batch-size", "100000"],
        ["eval", ".", "--max-queries", "0"],
    ],
)
def test_out_of_range_flags_exit_2_with_one_line(
    args: list[str], tmp_path: Path, capsys: Capture
) -> None:
    store = [] if args[0] == "eval" else ["--store", str(tmp_path / "none")]
    code, out, err = run(capsys, *args, *store)
    assert code == ExitCode.USAGE, err
    assert out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("rag: error: "), err
    flag = [a for a in args if a.startswith("-")][-1]
    assert flag in err and ("from" in err or "less than" in err), err


def test_out_of_range_environment_exits_2(
    tmp_path: Path, capsys: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_TEMPERATURE", "inf")
    code, _, err = run(capsys, "ask", "q", "--store", str(tmp_path / "none"))
    assert code == ExitCode.USAGE and "RAG_TEMPERATURE must be a number from 0 to 2" in err


def test_malformed_flags_are_one_line_too(capsys: Capture) -> None:
    code, _, err = run(capsys, "ask", "q", "--top-k", "many")
    assert code == ExitCode.USAGE
    assert err.count("\n") == 1 and "--top-k" in err and "rag ask --help" in err


def test_config_command_lists_every_ranged_key(capsys: Capture, tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text("max_tokens = 64\nmin_score = 0.3\nbatch_size = 8\nsearch_k = 3\n")
    code, out, _ = run(capsys, "config", "--config", str(config))
    assert code == 0
    for key in ("max_tokens", "min_score", "batch_size", "search_k"):
        assert key in out


@pytest.mark.parametrize(
    "content",
    [
        "top_k = " + "[" * 100_000 + "]" * 100_000,
        "top_k = " + "{a=" * 5000 + "1" + "}" * 5000,
        "#" * (2 * 1024 * 1024),
    ],
)
def test_hostile_config_files_are_usage_errors(content: str, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(content)
    with pytest.raises(UsageError):
        load_config(config, {})


def test_a_config_that_is_not_a_regular_file_is_refused() -> None:
    with pytest.raises(UsageError, match="not a regular file"):
        load_config(Path("/dev/zero"), {})


def configuration_page_table() -> str:
    """The settings table of docs/configuration.md, between its cog markers."""
    page = (ROOT / "docs" / "configuration.md").read_text()
    return page.split("]]] -->\n", 1)[1].split("<!-- [[[end]]] -->", 1)[0]


def test_the_configuration_page_shows_every_config_key_as_declared() -> None:
    # The docs' table is the user's copy of settings.py: a key, variable or default changed
    # in one place and not the other would mislead. cog writes it (make docs); this reads it
    # as a user would, so a generator that drops or garbles a column fails here too.
    rows = {}
    for line in configuration_page_table().splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 5:
            rows[cells[0]] = cells
    assert list(rows) == [name for name, key in KEYS.items() if key.in_file]
    for name, (_, flag, env, default, _) in rows.items():
        key = KEYS[name]
        assert env == key.env
        assert flag == key.flag
        if isinstance(key.default, int | float) and not isinstance(key.default, bool):
            assert float(default) == key.default


def test_the_configuration_page_is_what_the_settings_generate_now() -> None:
    # The same check as `make lint`'s cog --check, so `make test` alone catches a stale page.
    spec = importlib.util.spec_from_file_location("cog_helpers", ROOT / "docs" / "cog_helpers.py")
    assert spec is not None and spec.loader is not None
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    assert configuration_page_table() == helpers.settings_table(), "run make docs"


@pytest.mark.parametrize(
    "content", ['store = "/tmp/a\\u0000b"', 'store = ["ok", "x\\u0000"]', 'model = "m\\u0000.gguf"']
)
def test_a_nul_in_a_config_value_is_a_one_line_usage_error(
    content: str, tmp_path: Path, capsys: Capture
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(content + "\n")
    code, out, err = run(capsys, "status", "--config", str(config))
    assert code == ExitCode.USAGE, err
    assert out == "" and err.count("\n") == 1 and "NUL" in err and str(config) in err
