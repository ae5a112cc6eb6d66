# SPDX-License-Identifier: Apache-2.0
"""Cause profiles: every cause weighed against every known finding, compiled into ordinary rules.

A profile entry says how often a finding occurs in one cause (``frequency``); the finding
catalogue (``rules/profiles.yaml``) says how often it occurs across the leukopenia work-ups the
causes compete in (``base_frequency``). From that frequency pair come both likelihood ratios:

* finding known present:  LR+ = frequency / base_frequency
* finding known absent:   LR- = (1 - frequency) / (1 - base_frequency)
* finding unknown:        nothing.

Each side becomes one evidence rule (``<cause>.profile.<finding>`` and
``<cause>.profile.no_<finding>``) that the backends fire like any other, so every point of a
score still traces to a rule, a statement and a citation. Findings that travel together (fever,
night sweats and weight loss) form a declared group: within one cause's profile only the
strongest present member counts, and only the strongest absent member when none is present,
compiled as a chain of rules that exclude each other. A profile entry whose finding an authored
rule of the same cause already counts must say so (``present_counted_by``), and lint rejects the
entry otherwise: its present side is compiled with those rules as its ``counted_by``, and when
one of them fires too the profile side adds nothing (:meth:`KnowledgeBase.uncounted`), so the
finding counts once, through the authored rule when that fires and through the profile when it
does not (a bare pancytopenia still counts for acute leukaemia when the authored pancytopenia
rule's other conditions are not met).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.errors import Problem
from engine.kb.causes import cause_path
from engine.kb.parse import Ctx, is_number, parse_rule, str_list
from engine.kb.registry import display, read_doc
from engine.kb.schema import AddEvidence, Atom, Cause, Literal, Rule, RuleFile
from engine.kb.yamlio import YamlList, YamlMap

CATALOGUE_FILE = "profiles.yaml"
#: Frequencies are held inside this range: no finding is certain in, or impossible for, a cause.
FREQUENCY_RANGE = (0.01, 0.99)
#: A side whose likelihood ratio is this close to 1 carries no information and gets no rule.
MIN_LOG_LR = 0.05
_FINDING_KEYS = ("id", "label", "plain", "present", "absent", "base_frequency", "basis", "cite",
                 "group", "implies", "atoms", "context")  # fmt: skip
_ENTRY_KEYS = ("finding", "frequency", "origin", "basis", "cite", "present_counted_by",
               "absent_counted_by")  # fmt: skip


def is_profile_rule(rule_id: str) -> bool:
    """Whether ``rule_id`` is a side of a profile entry (``<cause>.profile.<finding>`` or
    ``<cause>.profile.no_<finding>``), compiled here rather than written by an author."""
    return ".profile." in rule_id


@dataclass(frozen=True)
class ProfileFinding:
    id: str
    label: str
    present: YamlList
    absent: YamlList
    base_frequency: float
    basis: str
    cite: tuple[str, ...]
    group: str | None = None
    implies: tuple[str, ...] = ()
    atoms: tuple[str, ...] = ()  # "kind:name" patterns that count as this finding in a rule
    #: "kind:name" of the present pattern's qualifiers, not the finding itself (a reticulocyte
    #: count is read only with an anaemia): lint does not take a rule using them as one that
    #: counts the finding.
    context: tuple[str, ...] = ()
    plain: str = ""  # the finding in everyday words, for the patient view ("an enlarged spleen")


@dataclass(frozen=True)
class Catalogue:
    findings: dict[str, ProfileFinding] = field(default_factory=dict)


@dataclass(frozen=True)
class ProfileEntry:
    finding: ProfileFinding
    frequency: float
    origin: str
    basis: str
    cite: tuple[str, ...]
    counted_by: tuple[str, ...]
    line: int
    #: authored "argues against" rules of the cause that already count the finding's absence
    absent_counted_by: tuple[str, ...] = ()

    @property
    def lr_present(self) -> float:
        return _ratio(self.frequency / self.finding.base_frequency)

    @property
    def lr_absent(self) -> float:
        return _ratio((1 - self.frequency) / (1 - self.finding.base_frequency))


def _ratio(value: float) -> float:
    """A likelihood ratio to two significant figures (authors reason in such figures)."""
    return float(f"{value:.2g}")


def parse_catalogue(ctx: Ctx, doc: Any) -> Catalogue:
    if not isinstance(doc, YamlMap) or not isinstance(doc.get("findings"), YamlList):
        ctx.error(0, "findings", "profiles.yaml needs a list 'findings'")
        return Catalogue()
    out: dict[str, ProfileFinding] = {}
    node = doc["findings"]
    for i, item in enumerate(node):
        where, line = f"findings[{i}]", node.line_of(i)
        if not isinstance(item, YamlMap):
            ctx.error(line, where, "expected a mapping")
            continue
        ctx.reject_unknown_keys(item, _FINDING_KEYS, where, "key")
        base = item.get("base_frequency")
        ok = isinstance(item.get("id"), str) and isinstance(item.get("label"), str)
        ok = ok and isinstance(item.get("plain"), str)
        ok = ok and isinstance(item.get("present"), YamlList)
        ok = ok and isinstance(item.get("absent"), YamlList)
        if not ok or not (is_number(base) and FREQUENCY_RANGE[0] <= base <= FREQUENCY_RANGE[1]):
            ctx.error(
                line, where, "expected id, label, present, absent, base_frequency (0.01-0.99)"
            )
            continue
        cite = str_list(ctx, item.get("cite"), f"{where}.cite", line)
        out[item["id"]] = ProfileFinding(
            id=item["id"], label=item["label"], present=item["present"], absent=item["absent"],
            base_frequency=float(base), basis=str(item.get("basis", "")).strip(), cite=cite,
            group=item.get("group"),
            implies=str_list(ctx, item.get("implies", []), f"{where}.implies", line),
            atoms=str_list(ctx, item.get("atoms", []), f"{where}.atoms", line),
            context=str_list(ctx, item.get("context", []), f"{where}.context", line),
            plain=item["plain"],
        )  # fmt: skip
    for f in out.values():
        for other in f.implies:
            if other not in out:
                ctx.error(0, f"findings.{f.id}.implies", f"unknown finding {other!r}")
    return Catalogue(out)


def parse_profile(ctx: Ctx, node: Any, catalogue: Catalogue) -> list[ProfileEntry]:
    if not isinstance(node, YamlList):
        ctx.error(0, "profile", "expected a list of {finding, frequency, origin, basis, cite}")
        return []
    entries: list[ProfileEntry] = []
    for i, item in enumerate(node):
        where, line = f"profile[{i}]", node.line_of(i)
        if not isinstance(item, YamlMap):
            ctx.error(line, where, "expected a mapping")
            continue
        ctx.reject_unknown_keys(item, _ENTRY_KEYS, where, "profile key")
        finding = catalogue.findings.get(str(item.get("finding")))
        freq = item.get("frequency")
        if finding is None:
            ctx.error(line, f"{where}.finding", "not a finding of rules/profiles.yaml")
            continue
        if not (is_number(freq) and FREQUENCY_RANGE[0] <= freq <= FREQUENCY_RANGE[1]):
            ctx.error(item.line_of("frequency"), f"{where}.frequency", "expected 0.01 to 0.99")
            continue
        origin = item.get("origin")
        if origin not in ("literature", "judgement"):
            ctx.error(line, f"{where}.origin", "expected literature or judgement")
            continue
        cite = str_list(ctx, item.get("cite"), f"{where}.cite", line)
        if not cite or not str(item.get("basis", "")).strip():
            ctx.error(line, where, "a profile entry needs a basis and at least one citation")
            continue
        counted = str_list(ctx, item.get("present_counted_by", []), f"{where}.counted", line)
        absent = str_list(
            ctx, item.get("absent_counted_by", []), f"{where}.absent_counted_by", line
        )
        entries.append(
            ProfileEntry(
                finding,
                float(freq),
                str(origin),
                str(item["basis"]).strip(),
                cite,
                counted,
                line,
                absent,
            )  # fmt: skip
        )
    seen: set[str] = set()
    for e in entries:
        if e.finding.id in seen:
            ctx.error(e.line, f"profile.{e.finding.id}", "finding listed twice")
        seen.add(e.finding.id)
    for e in entries:
        for implied in e.finding.implies:
            group = catalogue.findings[implied].group
            if implied in seen and (group is None or group != e.finding.group):
                ctx.error(
                    e.line,
                    f"profile.{e.finding.id}",
                    f"counts {e.finding.id} alongside {implied}, which it implies: put them in "
                    "one group or keep one",
                )
    return entries


def compile_profile(
    ctx: Ctx,
    cause: str,
    cause_label: str,
    entries: list[ProfileEntry],
    presentation: tuple[str, ...],
    status: str,
    plain_label: str | None = None,
) -> list[Rule]:
    """The evidence rules of one cause's profile (see the module docstring)."""
    rules: list[Rule] = []
    groups: dict[str, list[ProfileEntry]] = {}
    for e in entries:
        groups.setdefault(e.finding.group or f"_{e.finding.id}", []).append(e)
    for members in groups.values():
        present = sorted(members, key=lambda e: (-e.lr_present, e.finding.id))
        for k, e in enumerate(present):
            if abs(math.log(e.lr_present)) < MIN_LOG_LR:
                continue
            stronger = [_not(x.finding.present) for x in present[:k]]
            rules += _rule(ctx, cause, cause_label, e, True, presentation, stronger, status,
                           plain_label)  # fmt: skip
        absent = sorted(members, key=lambda e: (e.lr_absent, e.finding.id))
        for k, e in enumerate(absent):
            if abs(math.log(e.lr_absent)) < MIN_LOG_LR:
                continue
            others = [_not(x.finding.present) for x in members]
            others += [_not(x.finding.absent) for x in absent[:k]]
            rules += _rule(ctx, cause, cause_label, e, False, presentation, others, status,
                           plain_label)  # fmt: skip
    return rules


def _not(conditions: YamlList) -> YamlMap:
    child = conditions[0] if len(conditions) == 1 else _yaml({"all": list(conditions)}, 0)
    negated: YamlMap = _yaml({"not": child}, 0)
    return negated


def _rule(
    ctx: Ctx,
    cause: str,
    cause_label: str,
    e: ProfileEntry,
    present: bool,
    presentation: tuple[str, ...],
    extra: list[YamlMap],
    status: str,
    plain_label: str | None,
) -> list[Rule]:
    f = e.finding
    lr = e.lr_present if present else e.lr_absent
    counted_by = e.counted_by if present else e.absent_counted_by
    share = (
        f"in about {_pct(e.frequency)} of patients with {_in_sentence(cause_label)} against "
        + (f"about {_pct(f.base_frequency)} of leukopenia work-ups")
    )
    statement = (
        f"{f.label} is present; it is found {share}."
        if present
        else f"{f.label} is recorded absent; it is found {share}, so its absence argues "
        + ("against" if lr < 1 else "for")
        + " this cause."
    )
    when: list[Any] = []
    if presentation:
        when.append({"any": [{"fact": name, "eq": True} for name in presentation]})
    when += list(f.present if present else f.absent) + extra
    node = _yaml(
        {
            "id": f"{cause}.profile.{'' if present else 'no_'}{f.id}",
            "statement": statement,
            "when": when,
            "then": {"cause": cause, "lr": lr},
            "weight_basis": (
                f"LR{'+' if present else '-'} {lr:g} from the frequency pair "
                f"{e.frequency:g} in the cause ({e.basis}) and {f.base_frequency:g} across "
                f"leukopenia work-ups ({f.basis})."
                + (
                    f" Counted only when none of {', '.join(counted_by)} fired: those rules"
                    f" count this finding{'' if present else chr(39) + 's absence'} themselves."
                    if counted_by
                    else ""
                )
            ),
            "origin": e.origin,
            "cite": sorted({*e.cite, *f.cite}),
        },
        e.line,
    )
    rule = parse_rule(ctx, node, f"profile.{f.id}", e.line, status)
    if rule is None:
        return []
    return [
        replace(
            rule,
            plain=_plain(f.plain, present, lr, plain_label or cause_label),
            counted_by=counted_by,
        )
    ]


def _plain(finding: str, present: bool, lr: float, cause: str) -> str:
    """The patient-view sentence of a profile rule: what was found and which way it points."""
    cause = _in_sentence(cause)
    if present:
        return (
            f"You have {finding}, which is more common when the cause is {cause}."
            if lr > 1
            else f"You have {finding}, which is less common when the cause is {cause}."
        )
    return (
        f"You do not have {finding}, which makes this cause a little less likely: {cause}."
        if lr < 1
        else f"You do not have {finding}, which fits this cause: {cause}."
    )


def _in_sentence(label: str) -> str:
    """A cause label inside a sentence: 'Acute leukaemia' -> 'acute leukaemia', 'HIV' kept."""
    return label if label[1:2].isupper() else label[:1].lower() + label[1:]


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _yaml(value: Any, line: int) -> Any:
    """Plain data as the strict reader's line-aware containers, so the rule parser accepts it."""
    if isinstance(value, YamlMap | YamlList):
        return value
    if isinstance(value, dict):
        m = YamlMap({k: _yaml(v, line) for k, v in value.items()})
        m.line, m.key_lines = line, {k: line for k in value}
        return m
    if isinstance(value, list):
        seq = YamlList(_yaml(v, line) for v in value)
        seq.line, seq.item_lines = line, [line] * len(value)
        return seq
    return value


ProfileDoc = tuple[Path, Ctx, YamlMap, RuleFile]


def load_profiles(
    root: Path,
    docs: list[ProfileDoc],
    causes: dict[str, Cause],
    presentation: tuple[str, ...],
    problems: list[Problem],
) -> dict[str, tuple[list[ProfileEntry], list[Rule]]]:
    """Each cause's profile entries and the rules compiled from them (see engine.kb.profiles).

    ``docs`` are cause files (``causes/<cause>.yaml``) with a ``profile:``; one whose cause did
    not parse has already been reported and is skipped."""
    if not docs:
        return {}
    catalogue = parse_catalogue(*read_doc(root, root / CATALOGUE_FILE, problems))
    out: dict[str, tuple[list[ProfileEntry], list[Rule]]] = {}
    for path, ctx, doc, header in docs:
        cause = causes.get(path.stem)
        if cause is None:
            continue
        entries = parse_profile(ctx, doc["profile"], catalogue)
        compiled = compile_profile(
            ctx, cause.id, cause.label, entries, presentation, header.status, cause.plain_label
        )
        out[cause.id] = (
            entries,
            [replace(r, review_status=header.review_status) for r in compiled],
        )
    return out


def check_counted_once(
    root: Path,
    profiles: dict[str, tuple[list[ProfileEntry], list[Rule]]],
    rules: list[Rule],
    problems: list[Problem],
) -> None:
    """A finding an authored rule of the same cause already counts, for or against it, must be
    declared in the profile entry (``present_counted_by``), so that its present side is not
    counted twice (a profile's present side argues against a cause when the finding is rarer in
    it than across work-ups, as an authored "argues against" rule does). Likewise an authored
    "argues against" rule that reads the finding's absence (a normal result, an isolated
    lineage, a differential with no blasts) while the profile's absent side argues against the
    cause too must be declared in ``absent_counted_by``."""
    for cause, (entries, compiled) in profiles.items():
        generated = {r.id for r in compiled}
        authored = {
            r.id: (r, r.then) for r in rules
            if isinstance(r.then, AddEvidence) and r.then.cause == cause and r.id not in generated
        }  # fmt: skip
        file = display(root, cause_path(root, cause))
        for e in entries:
            for rule_id in e.counted_by:
                if rule_id not in authored:
                    problems.append(Problem(file, e.line, f"profile.{e.finding.id}",
                                            f"present_counted_by names {rule_id!r}, not an "
                                            f"evidence rule of {cause}"))  # fmt: skip
            for rule_id in e.absent_counted_by:
                if rule_id not in authored or authored[rule_id][1].weight >= 0:
                    problems.append(Problem(file, e.line, f"profile.{e.finding.id}",
                                            f"absent_counted_by names {rule_id!r}, not an "
                                            f"'argues against' rule of {cause}"))  # fmt: skip
            readers = sorted(rid for rid, (rule, effect) in authored.items()
                             if _counts_absent(rule, effect, e))  # fmt: skip
            unlisted = [rid for rid in readers if rid not in e.absent_counted_by]
            if unlisted:
                problems.append(Problem(file, e.line, f"profile.{e.finding.id}",
                                        f"the absence of {e.finding.id} is already counted by "
                                        f"{', '.join(unlisted)}: list them in "
                                        "absent_counted_by so it counts once"))  # fmt: skip
            users = sorted(rid for rid, (rule, effect) in authored.items()
                           if _counts_present(rule, effect, e))  # fmt: skip
            missing = [rid for rid in users if rid not in e.counted_by]
            if missing:
                message = (
                    f"{e.finding.id} is already counted by {', '.join(missing)}: "
                    "list them in present_counted_by so it counts once"
                )
                problems.append(Problem(file, e.line, f"profile.{e.finding.id}", message))


def _counts_present(rule: Rule, effect: AddEvidence, entry: ProfileEntry) -> bool:
    """Whether an authored rule of the cause already counts the entry's finding as present: an
    evidence-for rule that uses any of the finding's atoms, or an "argues against" rule that asks
    for the finding itself when the profile's present side argues against the cause too (the
    finding rarer in it than across work-ups)."""
    if effect.weight >= 0:
        return bool(atom_keys(rule) & finding_keys(entry.finding))
    asked = atom_keys(rule, asked_true=True) & present_keys(entry.finding)
    return bool(asked) and entry.lr_present < 1


def _counts_absent(rule: Rule, effect: AddEvidence, entry: ProfileEntry) -> bool:
    """Whether an authored rule of the cause already counts the entry's finding as absent: an
    "argues against" rule that reads a measurement or derived fact of the finding without asking
    for the finding itself, beside a compiled absent side that argues against the cause too."""
    if effect.weight >= 0 or entry.lr_absent >= 1 or abs(math.log(entry.lr_absent)) < MIN_LOG_LR:
        return False
    if atom_keys(rule, asked_true=True) & present_keys(entry.finding):
        return False  # it reads the finding present: the present-side check covers it
    # An absence is read from a measurement or a derived fact (a normal platelet count, an
    # isolated lineage); a finding word the rule asks for says something else is present.
    shared = atom_keys(rule) & finding_keys(entry.finding)
    return any(key.startswith("fact:") for key in shared)


def atom_keys(rule: Rule, *, asked_true: bool = False) -> set[str]:
    """``kind:name`` of every atom a rule asks to be present (negated atoms excluded); with
    ``asked_true``, also without the atoms it asks to be false (``{fact: anemia, eq: false}``)."""
    keys: set[str] = set()
    for branch in rule.branches:
        for literal in branch:
            if isinstance(literal, Literal) and not literal.negated:
                atom: Atom = literal.atom
                if asked_true and any(t.op == "eq" and t.value is False for t in atom.tests):
                    continue
                keys.add(f"{atom.kind}:{atom.name}")
    return keys


def present_keys(finding: ProfileFinding) -> set[str]:
    """The atom keys that say the finding itself is present: its ``present`` patterns and the
    finding word of the same name (an "argues against" rule asks for exactly these, whereas
    :func:`finding_keys` also holds the measurements a finding is derived from)."""
    return ({f"finding:{finding.id}"} | _pattern_keys(finding.present)) - set(finding.context)


def finding_keys(finding: ProfileFinding) -> set[str]:
    """The atom keys that count as this finding: its declared ``atoms`` and present atoms."""
    return (set(finding.atoms) | _pattern_keys(finding.present)) - set(finding.context)


def _pattern_keys(patterns: YamlList) -> set[str]:
    keys: set[str] = set()
    for cond in patterns:
        if isinstance(cond, YamlMap):
            for kind in ("fact", "finding", "condition", "history", "medication"):
                if kind in cond:
                    keys.add(f"{kind}:{cond[kind]}")
    return keys
