# SPDX-License-Identifier: Apache-2.0
"""The registries of a knowledge base: the manifest (kb.yaml) and the references.

Each parser adds its problems to the context and returns what could be read, so that one lint run
reports everything. Citation kinds (source types) are fixed here: evidence is presented grouped by
them, strongest first. The causes each have a file of their own (:mod:`engine.kb.causes`).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from engine.errors import Problem
from engine.kb.parse import Ctx, is_number, str_list
from engine.kb.schema import AgeBand, Citation, Manifest, Parameter, ScoringModel
from engine.kb.yamlio import YamlError, YamlList, YamlMap, load_yaml

#: Source types, strongest first (the order evidence is shown in).
CITATION_KINDS: tuple[str, ...] = (
    "guideline", "drug_label", "systematic_review", "cohort", "case_series", "case_report",
    "narrative_review", "expert_opinion",
)  # fmt: skip

#: Parameters the input side needs (:mod:`engine.facts`), all read from ``kb.yaml``.
REQUIRED_PARAMETERS: tuple[str, ...] = (
    "wbc_lln", "anc_lln", "wbc_lln_duffy_null", "anc_lln_duffy_null", "chronic_days",
    "trend_window_days", "trend_stable_slope_per_30d", "cycle_min_days", "cycle_max_days",
    "concurrent_lines_days", "recent_nadir_days", "finding_current_days", "ancillary_result_days",
)  # fmt: skip


def read_doc(root: Path, path: Path, problems: list[Problem]) -> tuple[Ctx, Any]:
    """Read one YAML file of the knowledge base; a reader error becomes a problem."""
    ctx = Ctx(display(root, path), problems)
    try:
        return ctx, load_yaml(path)
    except YamlError as exc:
        ctx.error(exc.line, "", exc.message)
        return ctx, None


def display(root: Path, path: Path) -> str:
    """A path as shown in problems: the KB directory name, then the relative path."""
    try:
        return (Path(root.name) / path.relative_to(root)).as_posix()
    except ValueError:  # pragma: no cover
        return str(path)


def parse_manifest(ctx: Ctx, doc: Any) -> Manifest | None:
    if not isinstance(doc, YamlMap):
        ctx.error(0, "", "kb.yaml must be a mapping with name, version, last_updated, parameters")
        return None
    for key in ("name", "version", "parameters"):
        if key not in doc:
            ctx.error(doc.line, key, "required")
    params: dict[str, Parameter] = {}
    node = doc.get("parameters")
    if isinstance(node, YamlMap):
        for name, body in node.items():
            param = _parameter(ctx, name, body, node.line_of(name))
            if param is not None:
                params[name] = param
    for name in REQUIRED_PARAMETERS:
        if name not in params:
            ctx.error(doc.line_of("parameters"), f"parameters.{name}", "required parameter missing")
    updated = doc.get("last_updated")
    return Manifest(
        name=str(doc.get("name", "")), version=str(doc.get("version", "")),
        last_updated=updated if isinstance(updated, dt.date) else None,
        description=str(doc.get("description", "")), parameters=params,
        model=_scoring_model(ctx, doc.get("model"), doc.line_of("model") if "model" in doc else 0),
    )  # fmt: skip


def _scoring_model(ctx: Ctx, node: Any, line: int) -> ScoringModel:
    """``model: {other_log_odds, list_floor, basis}``; absent, the defaults of ScoringModel."""
    if node is None:
        return ScoringModel()
    if not isinstance(node, YamlMap):
        ctx.error(line, "model", "expected {other_log_odds, list_floor, presentation, basis}")
        return ScoringModel()
    keys = ("other_log_odds", "list_floor", "presentation", "basis")
    ctx.reject_unknown_keys(node, keys, "model", "model key")
    other, floor = node.get("other_log_odds", 0.0), node.get("list_floor", 0.01)
    if not is_number(other) or not -20 <= other <= 20:
        ctx.error(node.line_of("other_log_odds"), "model.other_log_odds", "expected -20 to 20")
        other = 0.0
    if not is_number(floor) or not 0 < floor < 1:
        ctx.error(
            node.line_of("list_floor"), "model.list_floor", "expected a probability in (0, 1)"
        )
        floor = 0.01
    presentation = str_list(ctx, node.get("presentation", []), "model.presentation", line)
    return ScoringModel(
        float(other), float(floor), presentation, str(node.get("basis", "")).strip()
    )


def _parameter(ctx: Ctx, name: str, body: Any, line: int) -> Parameter | None:
    value = body.get("value") if isinstance(body, YamlMap) else None
    if not is_number(value):
        ctx.error(line, f"parameters.{name}", "expected {value: number, unit, cite, note}")
        return None
    return Parameter(
        name,
        float(value),
        str(body.get("unit", "")),
        str_list(ctx, body.get("cite"), f"parameters.{name}.cite", line),
        body.get("note"),
        _age_bands(ctx, name, body.get("by_age"), line),
    )


def _age_bands(ctx: Ctx, name: str, node: Any, line: int) -> tuple[AgeBand, ...]:
    """``by_age: [{below: years, value: number}, ...]`` with strictly increasing ``below``."""
    if node is None:
        return ()
    where = f"parameters.{name}.by_age"
    if not isinstance(node, YamlList):
        ctx.error(line, where, "expected a list of {below: years, value: number}")
        return ()
    bands: list[AgeBand] = []
    for i, item in enumerate(node):
        below = item.get("below") if isinstance(item, YamlMap) else None
        value = item.get("value") if isinstance(item, YamlMap) else None
        if not (is_number(below) and is_number(value)):
            ctx.error(line, f"{where}[{i}]", "expected {below: years, value: number}")
            return ()
        extra = sorted(set(item) - {"below", "value"})
        if extra:
            ctx.error(line, f"{where}[{i}]", f"unknown key(s) {', '.join(extra)}")
            return ()
        previous = bands[-1].below if bands else 0.0
        if not float(below) > previous:
            ctx.error(line, f"{where}[{i}].below", f"must be greater than {previous:g}")
            return ()
        bands.append(AgeBand(float(below), float(value)))
    return tuple(bands)


def parse_citations(root: Path, files: list[Path], problems: list[Problem]) -> dict[str, Citation]:
    out: dict[str, Citation] = {}
    paths = [p for p in files if p == root / "citations.yaml" or p.parent == root / "citations"]
    if not paths:
        problems.append(
            Problem(display(root, root / "citations.yaml"), 0, "", "no citations registry")
        )
    for path in paths:
        ctx, doc = read_doc(root, path, problems)
        node = doc.get("references") if isinstance(doc, YamlMap) else None
        if not isinstance(node, YamlList):
            ctx.error(getattr(doc, "line", 0), "references", "expected a list of references")
            continue
        for i, item in enumerate(node):
            cit = _citation(ctx, item, f"references[{i}]", node.line_of(i))
            if cit is None:
                continue
            if cit.id in out:
                ctx.error(
                    node.line_of(i), f"references[{i}]", f"citation id '{cit.id}' defined twice"
                )
            out[cit.id] = cit
    return out


_CITATION_KEYS = (
    "id",
    "kind",
    "title",
    "authors",
    "source",
    "year",
    "pmid",
    "doi",
    "pmcid",
    "url",
    "label_section",
    "evidence_grade",
    "verified",
    "note",
)


def _citation(ctx: Ctx, item: Any, where: str, line: int) -> Citation | None:
    if not isinstance(item, YamlMap):
        ctx.error(line, where, "expected a reference mapping")
        return None
    ctx.reject_unknown_keys(item, _CITATION_KEYS, where)
    before = len(ctx.problems)
    for key in ("id", "kind", "title"):
        if not isinstance(item.get(key), str):
            ctx.error(item.line, f"{where}.{key}", "required text is missing")
    if item.get("kind") not in CITATION_KINDS and isinstance(item.get("kind"), str):
        ctx.error(
            item.line_of("kind"), f"{where}.kind", f"expected one of {', '.join(CITATION_KINDS)}"
        )
    ids = {k: item.get(k) for k in ("pmid", "doi", "pmcid", "url")}
    for key, value in ids.items():
        if value is not None and not isinstance(value, str):
            ctx.error(item.line_of(key), f"{where}.{key}", "identifiers are quoted strings")
    if not any(isinstance(v, str) and v for v in ids.values()):
        ctx.error(item.line, where, "a reference needs a pmid, doi, pmcid or url")
    if len(ctx.problems) > before:
        return None
    year = item.get("year")
    text = {k: (str(item[k]) if item.get(k) is not None else None) for k in _CITATION_KEYS}
    return Citation(
        id=item["id"], kind=item["kind"], title=item["title"], authors=text["authors"],
        source=text["source"], year=year if isinstance(year, int) else None, pmid=text["pmid"],
        doi=text["doi"], pmcid=text["pmcid"], url=text["url"], label_section=text["label_section"],
        evidence_grade=text["evidence_grade"], verified=text["verified"],
    )  # fmt: skip
