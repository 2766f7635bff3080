"""ragcli.text.delimited: CSV and TSV rows as self-describing lines on their own lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragcli.errors import LoadError
from ragcli.records import Page
from ragcli.text.delimited import describe_row
from ragcli.text.loaders import LoadLimits, kind_of, load_document, read_source

DEFAULT_LIMITS = LoadLimits()


def pages(path: Path, limits: LoadLimits = DEFAULT_LIMITS) -> list[Page]:
    return list(load_document(read_source(path), kind_of(path) or "csv", limits).pages)


def lines_of(path: Path) -> list[str]:
    return "".join(p.text for p in pages(path)).split("\n")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("people.csv", "name,age,city\r\nBob,3,Paris\r\nEve,,Rome\r\n"),
        ("people.tsv", "name\tage\tcity\nBob\t3\tParis\nEve\t\tRome\n"),
        ("people.csv", "name;age;city\nBob;3;Paris\nEve;;Rome"),
        ("people.csv", "\ufeffname,age,city\nBob,3,Paris\nEve,,Rome\n"),
    ],
    ids=["comma-crlf", "tab", "semicolon-no-final-newline", "utf8-bom"],
)
def test_rows_become_self_describing_lines(tmp_path: Path, name: str, data: str) -> None:
    path = tmp_path / name
    path.write_text(data, newline="")

    assert lines_of(path)[:3] == ["", "name: Bob; age: 3; city: Paris", "name: Eve; city: Rome"]


def test_rows_stay_on_their_source_lines(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text('id,note\n1,"first line\nsecond line"\n2,plain\n\n3,"a, b"\n')

    lines = lines_of(path)

    assert lines[2 - 1] == "id: 1; note: first line second line"
    assert lines[4 - 1] == "id: 2; note: plain"
    assert lines[6 - 1] == "id: 3; note: a, b"


def test_cells_beyond_the_header_are_numbered() -> None:
    assert describe_row(["a", ""], ["1", "2", "3"]) == "a: 1; column 2: 2; column 3: 3"


def test_cp1252_csv_is_decoded(tmp_path: Path) -> None:
    path = tmp_path / "menu.csv"
    path.write_bytes("dish,price\ncafé crème,2 €\n".encode("cp1252"))

    assert lines_of(path)[1] == "dish: café crème; price: 2 €"


def test_big_csv_is_streamed_in_blocks(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("n,square\n" + "".join(f"{n},{n * n}\n" for n in range(50_000)))

    loaded = pages(path, LoadLimits(block_chars=100_000))

    assert len(loaded) > 5
    text = "".join(p.text for p in loaded)
    assert text.split("\n")[50_000] == "n: 49999; square: 2499900001"
    assert all(p.text.endswith("\n") for p in loaded)


def test_csv_with_only_a_header_raises_load_error(tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("name,age\n\n")

    with pytest.raises(LoadError, match="^no data rows below the header$"):
        pages(path)


def test_csv_with_a_giant_field_raises_load_error(tmp_path: Path) -> None:
    path = tmp_path / "giant.csv"
    path.write_text('a,b\n1,"' + "x" * 200_000 + '"\n')

    with pytest.raises(LoadError, match="^not a readable CSV"):
        pages(path)


@pytest.mark.parametrize(
    "data",
    [
        "a,b\n" + "x" * 200_000 + ",y\n",
        'a,b\n"unclosed, quote\n' + "z,z\n" * 100,
        ",".join(f"c{n}" for n in range(100_000)) + "\n" + ",".join("v" * 100_000) + "\n",
        "a,b\n1,2\n" + "x" * 9000 + "\x00,3\n",
        '"' * 50_001,
    ],
    ids=["huge-cell", "unclosed-quote", "100k-columns", "late-nul", "quotes"],
)
def test_nasty_csv_gives_rows_or_one_line_load_error(tmp_path: Path, data: str) -> None:
    path = tmp_path / "nasty.csv"
    path.write_text(data, encoding="utf-8")

    try:
        pages(path)
    except LoadError as exc:
        assert "\n" not in str(exc)


def test_row_of_a_hundred_thousand_cells_stays_on_its_line(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    header = ",".join(f"c{n}" for n in range(100_000))
    path.write_text("id\nfirst\n" + header + "\n", encoding="utf-8")

    loaded = pages(path, LoadLimits(block_chars=100_000))

    assert len(loaded) > 5
    assert {p.first_line for p in loaded[1:]} == {3}
    assert "".join(p.text for p in loaded).count("\n") == 3
