# SPDX-License-Identifier: Apache-2.0
"""The one strict YAML/JSON reader, for rules, case files and patient files.

PyYAML's default resolvers read ``1:40`` as the integer 100 (sexagesimal), ``no`` as ``False``
and let the last of two duplicate keys win silently; none of that is acceptable for clinical
data. This loader:

* resolves only ``true``/``false`` to booleans, ``null``/``~`` to None, plain decimal numbers to
  int/float, and ``YYYY-MM-DD`` to :class:`datetime.date`; every other scalar stays a string;
* rejects duplicate keys, and non-string keys;
* keeps the line of every mapping key and sequence item (:class:`YamlMap`, :class:`YamlList`),
  so that validation errors can be reported as ``file:line``.

Every file read here may come from a hostile world (a patient file, a batch input, a rule file
under review), so reading is bounded and every failure is a :class:`YamlError` naming the line,
never a RecursionError, MemoryError or OverflowError:

* a file larger than :data:`MAX_FILE_BYTES` (10 MB) is not read;
* nesting deeper than :data:`MAX_DEPTH` (64 levels) is refused (a patient or a FHIR Bundle needs
  about 10), as is an alias that refers to itself;
* YAML aliases may build at most :data:`MAX_ALIAS_NODES` (10,000) nodes in all, which stops a
  "billion laughs" document after a few kilobytes instead of gigabytes;
* a number must be finite and an integer at most :data:`MAX_INT_DIGITS` (30) digits long (a
  10,000-digit integer or ``1e400`` is refused); JSON's ``NaN`` and ``Infinity`` too;
* text must be valid Unicode: a lone surrogate (``"\\ud800"``) is refused, because it cannot be
  written back out as UTF-8.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from engine.errors import InputError

#: Reading limits (documented in docs/contract-additions.md, "Input limits").
MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000
MAX_INT_DIGITS = 30


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


class _Refused(Exception):
    """A limit was hit inside the parser; becomes a :class:`YamlError` with the file's path.
    ``literal`` is the text at fault, for finding the line in JSON (whose hooks get no position)."""

    def __init__(self, line: int, message: str, literal: str = "") -> None:
        super().__init__(message)
        self.line, self.message, self.literal = line, message, literal


_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_SURROGATE = re.compile("[\ud800-\udfff]")
_TAG_STR = "tag:yaml.org,2002:str"
_COLLECTION_TAGS = frozenset({"tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"})
_TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels (the limit for one document)"


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader with every implicit resolver removed (all plain scalars are strings here), and a
    composer that stops at :data:`MAX_DEPTH` levels before Python's recursion limit does."""

    _depth = 0

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        self._depth += 1
        try:
            event = self.peek_event()  # type: ignore[no-untyped-call]
            if self._depth > MAX_DEPTH and isinstance(event, yaml.CollectionStartEvent):
                mark = event.start_mark
                raise _Refused(mark.line + 1 if mark else 0, _TOO_DEEP)
            return yaml.composer.Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1


_StrictLoader.yaml_implicit_resolvers = {}


def _c_loader() -> type | None:
    """The same loader over libyaml's C scanner and parser, when PyYAML was built with it.

    Scanning and parsing are most of the cost of reading YAML (the knowledge base, case files):
    libyaml does them about seven times faster. The composer (with its depth limit), the resolver
    (no implicit types) and everything after them stay the Python code above, so what a document
    means is the same. Plain scalars come from libyaml with style ``''`` instead of ``None``
    (:func:`_scalar` reads both as plain). A document libyaml refuses is parsed again by the pure
    Python loader, so every error keeps the words and line it always had.
    """
    try:
        from yaml._yaml import CParser
    except ImportError:  # pragma: no cover - PyYAML without libyaml
        return None

    class _CStrictLoader(
        yaml.composer.Composer, CParser, yaml.constructor.SafeConstructor, yaml.resolver.Resolver
    ):
        _depth = 0
        compose_node = _StrictLoader.compose_node

        def __init__(self, stream: str) -> None:
            CParser.__init__(self, stream)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)

    _CStrictLoader.yaml_implicit_resolvers = {}
    return _CStrictLoader


_C_LOADER = _c_loader()


def number(text: str, line: int) -> int | float:
    """A decimal literal as int or float, refused when oversized or not finite."""
    digits = len(text.lstrip("+-"))
    if _INT.match(text):
        if digits > MAX_INT_DIGITS:
            message = f"number too large: a {digits}-digit integer (at most {MAX_INT_DIGITS})"
            raise _Refused(line, message, text)
        return int(text)
    value = float(text) if digits <= 100 else math.inf
    if not math.isfinite(value):
        shown = text if len(text) <= 20 else text[:20] + "..."
        raise _Refused(line, f"number out of range: {shown} (a finite number was expected)", text)
    return value


def _text(value: str, line: int) -> str:
    if _SURROGATE.search(value):
        raise _Refused(line, "text holds a lone surrogate (\\ud800-\\udfff), which is not Unicode")
    return value


def _scalar(node: ScalarNode) -> Any:
    text, line = node.value, node.start_mark.line + 1
    if node.style or node.tag not in (_TAG_STR, "?"):  # libyaml gives plain scalars style ''
        if node.tag not in (_TAG_STR, "?"):
            raise _Refused(line, f"YAML tag {node.tag} is not allowed")
        return _text(text, line)  # quoted: always a string
    if text in ("true", "false"):
        return text == "true"
    if text in ("null", "~", ""):
        return None
    if _INT.match(text) or _FLOAT.match(text):
        return number(text, line)
    if _DATE.match(text):
        try:
            return dt.date.fromisoformat(text)
        except ValueError as exc:
            raise _Refused(line, f"invalid date {text!r}") from exc
    return _text(text, line)


class _Builder:
    """Turns the node graph into Python values, counting what aliases build and watching depth
    (an alias can nest a deep subtree again, and refer to its own ancestor)."""

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.path: set[int] = set()
        self.alias_nodes = 0

    def build(self, node: Node, depth: int = 1) -> Any:
        line = node.start_mark.line + 1
        if depth > MAX_DEPTH and not isinstance(node, ScalarNode):
            raise _Refused(line, _TOO_DEEP)
        if id(node) in self.path:
            raise _Refused(line, "an alias refers to a node that contains it (endless nesting)")
        if id(node) in self.seen:
            self.alias_nodes += 1
            if self.alias_nodes > MAX_ALIAS_NODES:
                raise _Refused(line, f"aliases expand to more than {MAX_ALIAS_NODES} nodes "
                               "(a 'billion laughs' document?)")  # fmt: skip
        self.seen.add(id(node))
        if isinstance(node, ScalarNode):
            return _scalar(node)
        if node.tag not in _COLLECTION_TAGS:  # e.g. !!python/object/apply on a list or mapping
            raise _Refused(line, f"YAML tag {node.tag} is not allowed")
        self.path.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                return self._sequence(node, depth)
            if isinstance(node, MappingNode):
                return self._mapping(node, depth)
        finally:
            self.path.discard(id(node))
        raise _Refused(line, "unsupported YAML node")  # pragma: no cover

    def _sequence(self, node: SequenceNode, depth: int) -> YamlList:
        seq = YamlList(self.build(item, depth + 1) for item in node.value)
        seq.line = node.start_mark.line + 1
        seq.item_lines = [item.start_mark.line + 1 for item in node.value]
        return seq

    def _mapping(self, node: MappingNode, depth: int) -> YamlMap:
        mapping = YamlMap()
        mapping.line = node.start_mark.line + 1
        mapping.key_lines = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == "tag:yaml.org,2002:merge" or (
                key_node.value == "<<" and not key_node.style
            ):
                raise _Refused(line, "YAML merge keys ('<<') are not allowed")
            if not isinstance(key_node, ScalarNode):
                raise _Refused(line, "mapping keys must be plain words")
            key = _text(key_node.value, line)
            if key in mapping:
                first = mapping.key_lines[key]
                raise _Refused(line, f"duplicate key '{key}' (first defined on line {first})")
            mapping[key] = self.build(value_node, depth + 1)
            mapping.key_lines[key] = line
        return mapping


def _check_size(text: str, path: str) -> None:
    if len(text) > MAX_FILE_BYTES:
        raise YamlError(path, 0, f"input too large: more than {MAX_FILE_BYTES} bytes")


def parse_yaml(text: str, path: str = "<string>") -> Any:
    """Parse one YAML document strictly. Raises :class:`YamlError` with the line on failure."""
    _check_size(text, path)
    loader: _StrictLoader | None = None
    try:
        node = _fast_node(text)
        if node is _UNPARSED:
            loader = _StrictLoader(text)  # the reader checks the characters here already
            node = loader.get_single_node()
        return None if node is None else _Builder().build(node)
    except _Refused as exc:
        raise YamlError(path, exc.line, exc.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise YamlError(path, line, f"not valid YAML: {exc.problem or exc.context}") from exc
    except yaml.reader.ReaderError as exc:  # a control character
        line = text.count("\n", 0, exc.position) + 1
        message = f"not valid YAML: character #x{exc.character:04x} is not allowed"
        raise YamlError(path, line, message) from exc
    except yaml.YAMLError as exc:  # e.g. several documents in one file
        raise YamlError(path, 0, f"not valid YAML: {exc}") from exc
    except (RecursionError, MemoryError) as exc:  # pragma: no cover - the limits come first
        message = f"input too large or too deeply nested ({type(exc).__name__})"
        raise YamlError(path, 0, message) from None
    finally:
        if loader is not None:
            loader.dispose()


_UNPARSED = object()


def _fast_node(text: str) -> Any:
    """The document's node graph from the libyaml loader, or :data:`_UNPARSED` when there is
    none or it refused the text (the pure-Python loader then parses it and words the error)."""
    if _C_LOADER is None:
        return _UNPARSED
    try:
        loader = _C_LOADER(text)
    except Exception:  # noqa: BLE001 - e.g. a lone surrogate cannot be encoded for libyaml
        return _UNPARSED
    try:
        return loader.get_single_node()
    except _Refused:
        raise
    except Exception:  # noqa: BLE001 - refused by libyaml: the Python loader says why
        return _UNPARSED
    finally:
        loader.dispose()


#: The UTF-8 byte order mark: dropped at the start of every JSON, NDJSON, JSONL and YAML input
#: (the strict JSON parser refused it: "Unexpected UTF-8 BOM").
UTF8_BOM = b"\xef\xbb\xbf"


def load_yaml(path: str | Path, *, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """Read and strictly parse a YAML file (``.json`` files with the strict JSON parser).

    A file larger than ``max_bytes`` is refused before it is read into memory (at most
    ``max_bytes + 1`` bytes are ever read, so a device or a growing file cannot exhaust memory).
    """
    p = Path(path)
    try:
        with p.open("rb") as fh:
            raw = fh.read(max_bytes + 1)
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        raise YamlError(str(p), 0, f"cannot read file: {exc}") from exc
    return parse_bytes(raw, str(p), as_json=p.suffix.lower() == ".json", max_bytes=max_bytes)


def parse_bytes(
    raw: bytes, path: str, *, as_json: bool | None = None, max_bytes: int = MAX_FILE_BYTES
) -> Any:
    """Parse a document read as bytes (a file, or standard input read with ``max_bytes + 1``):
    the size is checked, the text must be UTF-8 (an error names the line; a leading UTF-8 byte
    order mark, which Windows editors and exporters write, is dropped, for JSON as for YAML), and
    ``as_json=None`` takes text that starts with ``{`` or ``[`` for JSON and anything else for
    YAML."""
    if len(raw) > max_bytes:
        raise YamlError(path, 0, f"file too large: more than {max_bytes} bytes")
    raw = raw.removeprefix(UTF8_BOM)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        packed = next((kind for magic, kind in _PACKED if raw.startswith(magic)), None)
        hint = f"; it is a {packed} file, which is not read: unpack it first" if packed else ""
        raise YamlError(path, line, f"not UTF-8 text (byte {exc.start + 1}){hint}") from None
    if as_json is None:
        as_json = text.lstrip().startswith(("{", "["))
    data = parse_json(text, path) if as_json else parse_yaml(text, path)
    if isinstance(data, str) and not path.startswith("<") and _TABULAR.match(text):
        raise YamlError(
            path, 1, "reads as one line of text, not a case: it looks like a results table, and "
            "a table is read only from a file named .csv, .tsv or .parquet",
        )  # fmt: skip
    return data


#: Compressed files by their first bytes: named, since "not UTF-8 text (byte 2)" told nothing.
_PACKED = ((b"\x1f\x8b", "gzip"), (b"PK\x03\x04", "zip"), (b"BZh", "bzip2"),
           (b"\xfd7zXZ", "xz"))  # fmt: skip
#: A header line of at least three fields separated by commas, semicolons or tabs, and a row.
_TABULAR = re.compile(r"[^\n]*[,;\t][^\n]*[,;\t][^\n]*\n[^\n]*\S")


def describe_shape(data: Any) -> str:
    """What a document that is not a mapping is, in words (not a Python type name), for the
    errors of the readers of case files (batch, the patient report)."""
    if data is None:
        return "an empty document"
    if isinstance(data, list):
        return f"a list of {len(data)} item{'s' if len(data) != 1 else ''}"
    if isinstance(data, str):
        return "a single text value"
    if isinstance(data, bool):
        return "a single true/false value"
    if isinstance(data, (int, float)):
        return "a single number"
    return "a single value"


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


def _line_of(text: str, literal: str) -> int:
    at = text.lower().find(literal.lower()) if literal else -1
    return text.count("\n", 0, at) + 1 if at >= 0 else 0


def _json_constant(name: str) -> Any:
    raise _Refused(0, f"{name} is not a number (a finite number was expected)", name)


_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _deep_json_line(text: str) -> int:
    """The line where JSON text first nests deeper than :data:`MAX_DEPTH` (0 if it does not)."""
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > MAX_DEPTH:
                return text.count("\n", 0, match.start()) + 1
        elif token in ("]", "}"):
            depth -= 1
    return 0


def check_tree(data: object) -> None:
    """The reader's limits for values that did not come through it (a dict handed to
    ``diagnose``): nesting depth, integers too large for a float, and text that is not Unicode.
    Walked without recursion; raises :class:`InputError` naming the field path."""
    stack: list[tuple[object, str, int]] = [(data, "", 1)]
    while stack:
        value, where, depth = stack.pop()
        field = where or "(top level)"
        if isinstance(value, str):
            if bad := _SURROGATE.search(value):
                literal = f"\\u{ord(bad.group()):04x}"
                raise InputError(field, f"text holds a lone surrogate ({literal}), which is not "
                                 "Unicode", expected="valid Unicode text")  # fmt: skip
        elif isinstance(value, int) and not isinstance(value, bool):
            if abs(value) >= 10**MAX_INT_DIGITS:
                digits = int(value.bit_length() * 0.30103) + 1  # str() itself refuses 4300+
                raise InputError(field, f"number too large (about {digits} digits)",
                                 expected=f"at most {MAX_INT_DIGITS} digits")  # fmt: skip
        elif isinstance(value, (dict, list, tuple)):
            if depth > MAX_DEPTH:
                raise InputError(field, _TOO_DEEP)
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                stack.append((key, field, depth))
                part = f"[{key}]" if isinstance(key, int) else f".{key}" if where else str(key)
                stack.append((item, where + part, depth + 1))


def parse_json(text: str, path: str = "<string>") -> Any:
    """Parse JSON strictly (duplicate keys are an error, like the YAML reader), within the same
    limits as YAML: size, depth, finite numbers of bounded length, valid Unicode."""
    _check_size(text, path)
    try:
        data = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_int=lambda s: number(s, 0),
            parse_float=lambda s: number(s, 0),
            parse_constant=_json_constant,
        )
        check_tree(data)
    except InputError as exc:
        literal = re.search(r"\\u[0-9a-f]{4}", exc.problem)
        line = _line_of(text, literal.group()) if literal else _deep_json_line(text)
        raise YamlError(path, line, f"{exc.field}: {exc.problem}") from None
    except _Refused as exc:
        line = _deep_json_line(text) if exc.line < 0 else _line_of(text, exc.literal)
        raise YamlError(path, line, exc.message) from None
    except RecursionError:
        raise YamlError(path, _deep_json_line(text), _TOO_DEEP) from None
    except MemoryError:
        raise YamlError(path, 0, "input too large to read in memory") from None
    except json.JSONDecodeError as exc:
        raise YamlError(path, exc.lineno, f"not valid JSON: {exc.msg}") from exc
    except ValueError as exc:
        raise YamlError(path, 0, f"not valid JSON: {exc}") from exc
    return data
