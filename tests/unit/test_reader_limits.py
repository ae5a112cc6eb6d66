# SPDX-License-Identifier: Apache-2.0
"""engine/kb/yamlio.py limits, at their edges: nesting depth, alias expansion, number size, file
size and Unicode, for YAML and JSON alike; and the same limits for values handed in directly
(:func:`check_tree`). Whatever the text, the reader raises :class:`YamlError` and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import InputError
from engine.kb.yamlio import (
    MAX_ALIAS_NODES,
    MAX_DEPTH,
    MAX_INT_DIGITS,
    YamlError,
    check_tree,
    load_yaml,
    parse_bytes,
    parse_json,
    parse_yaml,
)


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


@pytest.mark.parametrize("parse", [parse_yaml, parse_json])
def test_depth_limit_is_exact(parse: object) -> None:
    assert parse(nested(MAX_DEPTH)) == _list(MAX_DEPTH)  # type: ignore[operator]
    with pytest.raises(YamlError, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse(nested(MAX_DEPTH + 1))  # type: ignore[operator]


def _list(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def test_deep_yaml_names_the_line() -> None:
    text = "a: 1\nb:\n" + "".join("  " * i + "-\n" for i in range(1, 80))
    with pytest.raises(YamlError) as err:
        parse_yaml(text, "deep.yaml")
    assert str(err.value).startswith(f"deep.yaml:{MAX_DEPTH + 2}: nested deeper")


def test_ordinary_aliases_are_still_read() -> None:
    doc = parse_yaml("base: &b {unit: K/uL}\nlabs:\n- *b\n- *b\n")
    assert doc["labs"] == [{"unit": "K/uL"}, {"unit": "K/uL"}]


def test_alias_expansion_is_bounded() -> None:
    width = 101  # each alias below re-builds a list of 101 nodes
    text = "a: &a [" + ", ".join(["x"] * (width - 1)) + "]\nb: [" + ", ".join(["*a"] * 99) + "]\n"
    assert len(parse_yaml(text)["b"]) == 99  # 99 * 101 = 9,999 nodes built through aliases
    with pytest.raises(YamlError, match=f"aliases expand to more than {MAX_ALIAS_NODES} nodes"):
        parse_yaml(text.replace("]\n", ", *a]\n", 2).replace("x, *a]", "x]", 1))


def test_self_referencing_alias() -> None:
    with pytest.raises(YamlError, match="refers to a node that contains it"):
        parse_yaml("a: &a {b: *a}\n")


@pytest.mark.parametrize("parse", [parse_yaml, parse_json])
def test_number_limits(parse: object) -> None:
    ok = "9" * MAX_INT_DIGITS
    assert parse(f"[{ok}, 1e308, -1.5e-300]") == [int(ok), 1e308, -1.5e-300]  # type: ignore[operator]
    for text, message in (
        ("9" * (MAX_INT_DIGITS + 1), f"a {MAX_INT_DIGITS + 1}-digit integer"),
        ("-1e309", "number out of range: -1e309"),
        ("1" + "0" * 400 + ".5", "number out of range"),
    ):
        with pytest.raises(YamlError, match=message):
            parse(f"[1,\n {text}]")  # type: ignore[operator]


def test_json_numbers_and_constants_name_their_line() -> None:
    for text in ('{"a": 1,\n"b": NaN}', '{"a": 1,\n"b": -Infinity}', '{"a": 1,\n"b": 1e999}'):
        with pytest.raises(YamlError) as err:
            parse_json(text, "p.json")
        assert str(err.value).startswith("p.json:2: "), err.value


@pytest.mark.parametrize(
    "text", ['{"id": "\\ud800"}', '{"\\udfff": 1}', '["ok", "\\uDC80x"]', 'id: "\\ud800"\n']
)
def test_lone_surrogates_are_refused(text: str) -> None:
    parse = parse_yaml if text.startswith("id:") else parse_json
    with pytest.raises(YamlError, match="lone surrogate"):
        parse(text)


def test_surrogate_pairs_are_text() -> None:
    assert parse_json('{"a": "\\ud83d\\ude00"}') == {"a": "\U0001f600"}
    assert parse_yaml('a: "\\U0001F600"\n') == {"a": "\U0001f600"}


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_text("a: 1\n" + "#" * 100)
    assert load_yaml(path) == {"a": 1}
    with pytest.raises(YamlError, match="file too large: more than 50 bytes"):
        load_yaml(path, max_bytes=50)


def test_undecodable_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"a: 1\nb: \xff\n")
    with pytest.raises(YamlError) as err:
        load_yaml(path)
    assert str(err.value) == f"{path}:2: not UTF-8 text (byte 9)"


def test_check_tree_names_the_field() -> None:
    with pytest.raises(InputError) as err:
        check_tree({"medications": [{"name": "cloz\ud800"}]})
    assert str(err.value).startswith("medications[0].name: text holds a lone surrogate")
    with pytest.raises(InputError, match=r"^labs\[0\]\.value: number too large \(about 41 digits"):
        check_tree({"labs": [{"value": 10**40}]})
    with pytest.raises(InputError, match="nested deeper than 64"):
        check_tree({"labs": _list(70)})
    check_tree({"labs": [{"value": 10**29, "name": "\U0001f600"}], "x": _list(60)})


@given(st.text(max_size=200))
def test_any_text_gives_a_value_or_a_yaml_error(text: str) -> None:
    for parse in (parse_yaml, parse_json):
        try:
            parse(text)
        except YamlError:
            pass


def test_a_control_character_names_its_line() -> None:
    with pytest.raises(YamlError) as err:
        parse_yaml("a: 1\nb: x\x1fy\n", "p.yaml")
    assert str(err.value) == "p.yaml:2: not valid YAML: character #x001f is not allowed"


def test_parse_bytes_reads_standard_input_with_the_same_limits() -> None:
    """What ``leukodx diagnose -`` should read: bytes, at most the limit plus one."""
    assert parse_bytes(b'{"wbc": 3}', "<stdin>") == {"wbc": 3}
    assert parse_bytes(b"wbc: 3\n", "<stdin>") == {"wbc": 3}
    with pytest.raises(YamlError, match=r"^<stdin>:2: not UTF-8 text \(byte 15\)$"):
        parse_bytes(b"wbc: 3\nid: caf\xe9\n", "<stdin>")
    with pytest.raises(YamlError, match="file too large: more than 8 bytes"):
        parse_bytes(b"wbc: 3\n# padding\n", "<stdin>", max_bytes=8)
