# SPDX-License-Identifier: Apache-2.0
"""Structural rules of the code base (style.md): layers, engine seams, public surface, no medicine
in Python, only the CLI prints."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import engine
from tests.conftest import ROOT

ENGINE = ROOT / "engine"

#: Layer of each module (a module may import only from its own layer or lower ones).
LAYERS: dict[str, int] = {
    "errors": 0, "version": 0,
    "vocab": 1, "units": 1, "differential": 1,
    "patient": 2, "kb.yamlio": 2, "kb.schema": 2, "kb.paths": 2, "kb.parse": 2, "kb.catalog": 2,
    "series": 3, "kb.lexicon": 3, "kb.check": 3, "kb.registry": 3, "kb.texts": 3,
    "kb.load": 3, "facts": 3,
    "backends.base": 4, "backends.predicates": 4, "backends.experta_compat": 4,
    "backends.experta": 4, "backends.clips": 4, "backends.clips_compile": 4,
    "rank": 5, "explain": 5, "render": 5, "ask": 5, "audience": 5,
    "api": 6,
}  # fmt: skip
TOP_LAYER = 7  # batch, reports, service, cli, __main__, __init__


def modules() -> dict[str, Path]:
    out = {}
    for path in ENGINE.rglob("*.py"):
        rel = path.relative_to(ENGINE).with_suffix("").as_posix().replace("/", ".")
        out[rel.removesuffix(".__init__") if rel.endswith("__init__") else rel] = path
    return out


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def layer(name: str) -> int:
    if name.startswith("fhir"):
        return 3  # FHIR -> contract facts: below the api, beside the other input modules
    return LAYERS.get(name, TOP_LAYER)


def test_layers_are_respected() -> None:
    mods = modules()
    for name, path in mods.items():
        for imported in imports_of(path):
            if not imported.startswith("engine."):
                continue
            target = imported.removeprefix("engine.")
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if not target or target in ("", "__init__"):
                continue
            assert layer(target) <= layer(name), f"{name} (L{layer(name)}) imports {target}"


def test_only_backend_modules_import_their_engine() -> None:
    for name, path in modules().items():
        roots = {i.split(".")[0] for i in imports_of(path)}
        if "experta" in roots:
            assert name == "backends.experta_compat", name
        if "clips" in roots:
            assert name.startswith("backends.clips"), name


def test_public_surface_is_pinned() -> None:
    assert sorted(engine.__all__) == engine.__all__
    assert engine.__all__ == [
        "BackendUnavailableError",
        "Candidate",
        "Differential",
        "Evidence",
        "InputError",
        "KnowledgeBase",
        "KnowledgeBaseError",
        "LeukodxError",
        "PatientFacts",
        "__version__",
        "diagnose",
        "load_knowledge_base",
        "parse_patient",
    ]
    for name in engine.__all__:
        assert hasattr(engine, name)


def test_only_the_cli_prints_or_exits() -> None:
    allowed = {"cli", "__main__", "batch_cli", "service_cli"}
    for name, path in modules().items():
        if name in allowed:
            continue
        text = path.read_text()
        assert not re.search(r"^\s*print\(", text, re.M), f"print in {name}"
        assert "sys.exit(" not in text, f"sys.exit in {name}"
        assert "logging.basicConfig(" not in text or name == "backends.experta_compat", name


def test_no_medicine_in_python() -> None:
    """Cause ids, drug names and thresholds live in rules/ (vocab.py and units.py excepted)."""
    words = {
        "clozapine",
        "imatinib",
        "azathioprine",
        "fluvoxamine",
        "neutropenia_severity",
        "clozapine_induced",
        "febrile_neutropenia",
        "duffy_null_possible",
    }
    for name, path in modules().items():
        if name in ("vocab", "units") or name.startswith("fhir"):
            continue
        code = "\n".join(
            line for line in path.read_text().splitlines() if not line.strip().startswith("#")
        )
        tree = ast.parse(code)
        strings = {
            n.value
            for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
        }
        for s in strings:
            for w in words:
                assert w not in s.lower().split(), f"{name} names {w!r}"


def test_every_module_has_spdx_header_and_docstring() -> None:
    for name, path in modules().items():
        text = path.read_text()
        assert text.startswith("# SPDX-License-Identifier: "), name
        assert ast.get_docstring(ast.parse(text)), f"{name} has no module docstring"
