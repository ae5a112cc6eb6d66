# SPDX-License-Identifier: Apache-2.0
"""Structural rules of the code base (style.md): layers, engine seams, public surface, no medicine
in Python, only the CLI prints."""

from __future__ import annotations

import ast
import subprocess
import sys
import types
from pathlib import Path

import engine
from tests.conftest import ROOT

ENGINE = ROOT / "engine"

#: Every module's layer and group. A module may import a module of a lower layer, or one of its
#: own layer in its own group; nothing else. A module missing from this table fails the test, so a
#: new module must be placed deliberately. The core is ``group "core"``; each wing is a folder.
#: ``fhir`` is the one wing below the api, because ``diagnose()`` accepts FHIR data directly.
LAYERS: dict[str, tuple[int, str]] = {
    "errors": (0, "core"), "version": (0, "core"), "cores": (0, "core"), "heap": (0, "core"),
    "vocab": (1, "core"), "units": (1, "core"), "differential": (1, "core"),
    "unchecked": (0, "core"), "instants": (1, "core"),
    "patient": (2, "core"), "kb": (2, "core"), "kb.yamlio": (2, "core"),
    "kb.schema": (2, "core"), "kb.paths": (2, "core"), "kb.parse": (2, "core"),
    "kb.reviewers": (2, "core"),
    "kb.catalog": (2, "core"), "kb.staleness": (2, "core"),
    "series": (3, "core"), "kb.drugnames": (3, "core"), "kb.lexicon": (3, "core"),
    "kb.check": (3, "core"),
    "kb.registry": (3, "core"), "kb.texts": (3, "core"), "kb.load": (3, "core"),
    "kb.cache": (2, "core"),
    "kb.fitted": (3, "core"), "kb.profiles": (3, "core"), "kb.causes": (3, "core"),
    "kb.review": (3, "core"),
    "facts": (3, "core"), "courses": (3, "core"),
    "fhir": (3, "fhir"), "fhir.terms": (3, "fhir"), "fhir.read": (3, "fhir"),
    "fhir.convert": (3, "fhir"), "fhir.medication": (3, "fhir"), "fhir.snomed": (3, "fhir"),
    "backends": (4, "core"), "backends.base": (4, "core"), "backends.predicates": (4, "core"),
    "backends.experta_compat": (4, "core"), "backends.experta": (4, "core"),
    "backends.clips": (4, "core"), "backends.clips_compile": (4, "core"),
    "backends.clips_image": (4, "core"), "kb.build": (3, "core"),
    "rank": (5, "core"), "explain": (5, "core"), "render": (5, "core"), "ask": (5, "core"),
    "why_not": (5, "core"), "wording": (5, "core"),
    "audience": (5, "core"),
    "api": (6, "core"),
    "__init__": (7, "core"),
    "batch": (7, "batch"), "batch.cases": (7, "batch"), "batch.worker": (7, "batch"),
    "batch.pool": (7, "batch"), "batch.cluster": (7, "batch"), "batch.run": (7, "batch"),
    "batch.metrics": (7, "batch"),
    "batch.tables": (7, "batch"), "batch.spill": (7, "batch"), "batch.digests": (7, "batch"),
    "batch.grouping": (7, "batch"), "batch.exposure": (7, "batch"), "batch.flat": (7, "batch"),
    "batch.frame": (7, "batch"), "batch.ledger": (7, "batch"), "batch.slim": (7, "batch"),
    "batch.messages": (7, "batch"), "batch.handoff": (7, "batch"),
    "batch.forkserver": (7, "batch"),
    "calibrate": (8, "calibrate"), "calibrate.features": (8, "calibrate"),
    "calibrate.fit": (8, "calibrate"), "calibrate.evaluate": (8, "calibrate"),
    "calibrate.report": (8, "calibrate"), "calibrate.headroom": (8, "calibrate"),
    "report": (8, "report"), "report.html": (8, "report"), "report.charts": (8, "report"),
    "report.patient": (8, "report"), "report.batch": (8, "report"),
    "report.book": (8, "report"), "report.book_script": (8, "report"),
    "report.axes": (8, "report"), "report.limits": (8, "report"),
    "report.timeline": (8, "report"), "report.summary": (8, "report"),
    "service": (9, "service"), "service.models": (9, "service"), "service.auth": (9, "service"),
    "service.cards": (9, "service"), "service.hooks": (9, "service"),
    "service.app": (9, "service"), "service.fhir_fetch": (9, "service"),
    "service.page": (9, "service"), "service.docs": (9, "service"),
    "service.links": (9, "service"), "service.actions": (9, "service"),
    "service.freshness": (9, "service"), "service.logs": (9, "service"),
    "service.pool": (9, "service"),
    "cli": (10, "cli"), "cli.progress": (10, "cli"), "cli.batch": (10, "cli"),
    "cli.calibrate": (10, "cli"), "cli.kb": (10, "cli"),
    "cli.serve": (10, "cli"), "cli.main": (10, "cli"),
    "cli.entry": (10, "cli"), "cli.tables": (10, "cli"), "__main__": (10, "cli"),
}  # fmt: skip

#: Arrows forbidden even where the layers would allow them.
FORBIDDEN: set[tuple[str, str]] = {("service", "batch"), ("batch", "service")}


def modules() -> dict[str, Path]:
    out = {}
    for path in ENGINE.rglob("*.py"):
        if "rules" in path.relative_to(ENGINE).parts:
            continue
        rel = path.relative_to(ENGINE).with_suffix("").as_posix().replace("/", ".")
        out[rel.removesuffix(".__init__") if rel.endswith(".__init__") else rel] = path
    return out


def imports_of(path: Path) -> set[str]:
    """Every ``engine...`` module a file imports, at top level or inside a function."""
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # "from engine import vocab" names engine.vocab, not the package's __init__
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def engine_targets(path: Path, mods: dict[str, Path]) -> set[str]:
    """The engine modules (most specific known name) that a file imports."""
    targets: set[str] = set()
    for imported in imports_of(path):
        if imported != "engine" and not imported.startswith("engine."):
            continue
        target = imported.removeprefix("engine").removeprefix(".")
        while target and target not in mods:
            target = target.rpartition(".")[0]
        targets.add(target or "__init__")
    return targets


def arrow_problem(source: str, target: str) -> str | None:
    """Why ``source`` may not import ``target`` (None when it may)."""
    if source == target:
        return None
    (s_layer, s_group), (t_layer, t_group) = LAYERS[source], LAYERS[target]
    if (s_group, t_group) in FORBIDDEN:
        return f"{source} ({s_group}) imports {target} ({t_group}): these wings stay apart"
    if t_layer < s_layer or (t_layer == s_layer and t_group == s_group):
        return None
    return f"{source} (L{s_layer} {s_group}) imports {target} (L{t_layer} {t_group})"


def test_every_module_has_a_layer() -> None:
    unknown = sorted(set(modules()) - set(LAYERS))
    assert not unknown, f"modules missing from LAYERS (place them deliberately): {unknown}"
    stale = sorted(set(LAYERS) - set(modules()))
    assert not stale, f"LAYERS names modules that no longer exist: {stale}"


def test_layers_are_respected() -> None:
    mods = modules()
    problems = [
        problem
        for name, path in sorted(mods.items())
        for target in sorted(engine_targets(path, mods))
        if (problem := arrow_problem(name, target))
    ]
    assert not problems, "\n".join(problems)


def test_the_layer_check_catches_broken_arrows() -> None:
    """The check itself: a leaf importing the CLI, the core importing a wing, wings crossing."""
    assert arrow_problem("report.charts", "cli.serve")
    assert arrow_problem("batch.metrics", "service.app")
    assert arrow_problem("service.hooks", "batch.run")
    assert arrow_problem("api", "batch.run")
    assert arrow_problem("facts", "report.patient")
    assert arrow_problem("report.batch", "service.cards")
    assert arrow_problem("cli.main", "api") is None
    assert arrow_problem("report.batch", "batch.metrics") is None
    assert arrow_problem("api", "fhir.convert") is None


def test_only_backend_modules_import_their_engine() -> None:
    for name, path in modules().items():
        roots = {i.split(".")[0] for i in imports_of(path)}
        if "experta" in roots:
            assert name.startswith("backends.experta"), name
        if "clips" in roots:
            assert name.startswith("backends.clips"), name


def test_public_surface_is_exactly_all() -> None:
    """``engine.__all__`` is what the package exposes: a new public name must be listed (and so
    documented), and every listed name must exist (as httpx's tests/test_exported_members.py).
    The names load on first use (PEP 562), so they are resolved here before being compared."""
    for name in engine.__all__:
        getattr(engine, name)
    exposed = sorted(
        name
        for name, value in vars(engine).items()
        if (not name.startswith("_") or name == "__version__")
        and not isinstance(value, types.ModuleType)
        and name not in ("annotations", "TYPE_CHECKING", "Any")
    )
    assert engine.__all__ == sorted(engine.__all__)
    assert engine.__all__ == exposed
    assert sorted(engine._HOMES) == sorted(n for n in engine.__all__ if n != "__version__")


def test_importing_the_package_does_not_load_the_pipeline() -> None:
    """``import engine`` (and so ``leukodx --version``) stays cheap: the pipeline loads on use."""
    code = "import sys, engine; print(' '.join(sorted(sys.modules)))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert "engine" in loaded
    assert "engine.api" not in loaded and "pydantic" not in loaded


ENDS_OR_CONFIGURES = {("sys", "exit"), ("os", "_exit"), ("logging", "basicConfig")}


def prints_or_exits(tree: ast.AST) -> list[str]:
    """Calls that write to the terminal or end the process, found on the syntax tree."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("print", "exit", "quit"):
                found.append(f"{func.id}() on line {node.lineno}")
            elif isinstance(func, ast.Attribute):
                owner = ast.unparse(func.value)
                if (owner, func.attr) in ENDS_OR_CONFIGURES:
                    found.append(f"{owner}.{func.attr}() on line {node.lineno}")
                elif owner in ("sys.stdout", "sys.stderr") and func.attr == "write":
                    found.append(f"{owner}.write() on line {node.lineno}")
        elif isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "SystemExit":
                found.append(f"raise SystemExit on line {node.lineno}")
    return found


def test_only_the_cli_prints_or_exits() -> None:
    for name, path in modules().items():
        if LAYERS[name][1] == "cli":
            continue
        found = prints_or_exits(ast.parse(path.read_text()))
        if name == "backends.experta_compat":  # silences experta's own logging setup
            found = [f for f in found if not f.startswith("logging.basicConfig")]
        assert not found, f"{name}: {found}"


def test_the_print_check_sees_every_form() -> None:
    code = "print(1)\nsys.exit(2)\nos._exit(3)\nsys.stderr.write('x')\nraise SystemExit(1)\n"
    assert len(prints_or_exits(ast.parse(code))) == 5


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


def test_a_cold_diagnose_does_not_load_the_other_commands() -> None:
    """``leukodx diagnose`` imports the pipeline, not the batch runner, service or calibration."""
    code = (
        "import sys, io, contextlib\n"
        "from engine.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['diagnose', sys.argv[1]])\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('engine.'))))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "cases" / "clozapine_induced-01.yaml")],
        capture_output=True, text=True, check=True, cwd=ROOT, timeout=120,
    ).stdout.split()  # fmt: skip
    assert "engine.api" in loaded
    others = ("engine.batch.run", "engine.cli.batch", "engine.cli.serve", "engine.service.app",
              "engine.cli.calibrate", "engine.calibrate.fit", "engine.report.book")  # fmt: skip
    for other in others:
        assert other not in loaded, other
