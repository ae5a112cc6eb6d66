# SPDX-License-Identifier: Apache-2.0
"""engine/kb/yamlio.py: the strict reader never turns titers or 'no' into numbers or booleans."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.errors import InputError
from engine.kb.yamlio import YamlError, load_patient_file, load_yaml, parse_json, parse_yaml


def test_no_implicit_typing() -> None:
    doc = parse_yaml("a: 1:40\nb: no\nc: yes\nd: on\ne: 0x1F\nf: 1_000\ng: 0o17\nh: .inf\n")
    assert doc == {
        "a": "1:40",
        "b": "no",
        "c": "yes",
        "d": "on",
        "e": "0x1F",
        "f": "1_000",
        "g": "0o17",
        "h": ".inf",
    }


def test_plain_scalars() -> None:
    doc = parse_yaml("a: 12\nb: -3.5\nc: 1e-3\nd: true\ne: null\nf: 2025-01-02\ng: '12'\n")
    assert doc == {
        "a": 12,
        "b": -3.5,
        "c": 0.001,
        "d": True,
        "e": None,
        "f": dt.date(2025, 1, 2),
        "g": "12",
    }


def test_duplicate_key_is_an_error_with_line() -> None:
    with pytest.raises(YamlError) as err:
        parse_yaml("a: 1\nb:\n  c: 2\n  c: 3\n", "x.yaml")
    assert str(err.value) == "x.yaml:4: duplicate key 'c' (first defined on line 3)"


def test_lines_are_kept() -> None:
    doc = parse_yaml("top: 1\nlist:\n  - a\n  - {k: v}\n")
    assert doc.line_of("list") == 2
    assert doc["list"].line_of(1) == 4
    assert doc["list"][1].line == 4


def test_invalid_date_and_tags_rejected() -> None:
    with pytest.raises(YamlError, match="invalid date"):
        parse_yaml("d: 2025-13-01\n")
    with pytest.raises(YamlError, match="tag"):
        parse_yaml("d: !!python/object:os.system x\n")
    with pytest.raises(YamlError, match="tag"):  # a tag on a list or mapping, not only a scalar
        parse_yaml("d: !!python/object/apply:os.system [ls]\n")
    with pytest.raises(YamlError, match="tag"):
        parse_yaml("d: !!omap [{a: 1}]\n")
    assert parse_yaml("d: !!map {a: 1}\n") == {"d": {"a": 1}}  # the standard tags are fine
    with pytest.raises(YamlError, match="merge keys"):
        parse_yaml("a: &x {b: 1}\nc:\n  <<: *x\n")


def test_json_duplicate_keys_rejected() -> None:
    with pytest.raises(YamlError, match="duplicate key 'a'"):
        parse_json('{"a": 1, "a": 2}')


def test_patient_file_errors_are_input_errors(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("labs: [\n")
    with pytest.raises(InputError) as err:
        load_patient_file(bad)
    assert str(err.value).startswith(f"{bad}: line 2: not valid YAML")
    with pytest.raises(InputError, match="cannot read file"):
        load_patient_file(tmp_path / "missing.yaml")


def test_json_file_is_read_as_json(tmp_path: Path) -> None:
    p = tmp_path / "p.json"
    p.write_text('{"ana": "1:40", "d": "2025-01-02"}')
    assert load_yaml(p) == {"ana": "1:40", "d": "2025-01-02"}
