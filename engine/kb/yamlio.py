# SPDX-License-Identifier: Apache-2.0
"""The one strict YAML reader, for rules, case files and patient files.

PyYAML's default resolvers read ``1:40`` as the integer 100 (sexagesimal), ``no`` as ``False``
and let the last of two duplicate keys win silently; none of that is acceptable for clinical
data. This loader:

* resolves only ``true``/``false`` to booleans, ``null``/``~`` to None, plain decimal numbers to
  int/float, and ``YYYY-MM-DD`` to :class:`datetime.date`; every other scalar stays a string;
* rejects duplicate keys, and non-string keys;
* keeps the line of every mapping key and sequence item (:class:`YamlMap`, :class:`YamlList`),
  so that validation errors can be reported as ``file:line``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.errors import InputError


class YamlMap(dict[str, Any]):
    """A mapping that remembers the 1-based line of itself and of each key."""

    line: int = 0
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class YamlList(list[Any]):
    """A sequence that remembers the 1-based line of itself and of each item."""

    line: int = 0
    item_lines: list[int]

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


class YamlError(ValueError):
    """A file that is not strict YAML; ``line`` is 1-based (0 when unknown)."""

    def __init__(self, path: str, line: int, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        super().__init__(f"{path}:{line}: {message}" if line else f"{path}: {message}")


_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TAG_STR = "tag:yaml.org,2002:str"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with every implicit resolver removed (all plain scalars are strings here)."""


_StrictLoader.yaml_implicit_resolvers = {}


def _scalar(node: ScalarNode, path: str) -> Any:
    text = node.value
    if node.style is not None or node.tag not in (_TAG_STR, "?"):
        if node.tag not in (_TAG_STR, "?"):
            raise YamlError(path, node.start_mark.line + 1, f"YAML tag {node.tag} is not allowed")
        return text  # quoted: always a string
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~", ""):
        return None
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    if _DATE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            raise YamlError(path, node.start_mark.line + 1, f"invalid date {text!r}") from exc
    return text


def _build(node: Node, path: str) -> Any:
    if isinstance(node, ScalarNode):
        return _scalar(node, path)
    if isinstance(node, SequenceNode):
        seq = YamlList(_build(item, path) for item in node.value)
        seq.line = node.start_mark.line + 1
        seq.item_lines = [item.start_mark.line + 1 for item in node.value]
        return seq
    if isinstance(node, MappingNode):
        mapping = YamlMap()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                key_node.value == "<<" and key_node.style is None
            ):
                raise YamlError(path, line, "YAML merge keys ('<<') are not allowed")
            if not isinstance(key_node, ScalarNode):
                raise YamlError(path, line, "mapping keys must be plain words")
            key = key_node.value
            if key in mapping:
                first = mapping.key_lines[key]
                raise YamlError(
                    path, line, f"duplicate key '{key}' (first defined on line {first})"
                )
            mapping[key] = _build(value_node, path)
            mapping.key_lines[key] = line
        return mapping
    raise YamlError(path, node.start_mark.line + 1, "unsupported YAML node")  # pragma: no cover


def parse_yaml(text: str, path: str = "<string>") -> Any:
    """Parse one YAML document strictly. Raises :class:`YamlError` with the line on failure."""
    try:
        node = yaml.compose(text, Loader=_StrictLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise YamlError(path, line, f"not valid YAML: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:  # e.g. several documents in one file
        raise YamlError(path, 0, f"not valid YAML: {exc}") from exc
    return None if node is None else _build(node, path)


def load_yaml(path: str | Path) -> Any:
    """Read and strictly parse a YAML file (``.json`` files with the strict JSON parser)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL in the path
        raise YamlError(str(p), 0, f"cannot read file: {exc}") from exc
    if p.suffix.lower() == ".json":
        return parse_json(text, str(p))
    return parse_yaml(text, str(p))


def load_patient_file(path: str | Path) -> Any:
    """Read a patient or case file (YAML or JSON); reader errors become :class:`InputError`."""
    try:
        return load_yaml(path)
    except YamlError as exc:
        raise InputError(
            f"line {exc.line}" if exc.line else "file", exc.message, source=exc.path
        ) from exc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key '{key}'")
        out[key] = value
    return out


def parse_json(text: str, path: str = "<string>") -> Any:
    """Parse JSON strictly (duplicate keys are an error, like the YAML reader)."""
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise YamlError(path, exc.lineno, f"not valid JSON: {exc.msg}") from exc
    except ValueError as exc:
        raise YamlError(path, 0, f"not valid JSON: {exc}") from exc
