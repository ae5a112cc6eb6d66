# SPDX-License-Identifier: Apache-2.0
"""The calibration data: cases read, the evidence rules that fired for each, publication groups.

Calibration needs, per case, only the set of evidence rules that fired and the expected causes;
this module runs the pipeline (parse -> facts -> match) without building explanations, which is
what makes fitting on hundreds of cases cheap. A case that cannot be read is reported (file and
message) and skipped, never fatal. Cases resting on the same publication must be in the same
cross-validation fold, or the out-of-fold figures would flatter the fit: :func:`group_cases`
joins cases whose ``source`` strings share any identifier (DOI, PMID, PMC id or URL), and
:func:`assign_folds` spreads the groups over k folds, deterministically for a given seed.
Pure Python: numpy is not needed here.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.backends.base import get_matcher
from engine.errors import InputError, LeukodxError
from engine.facts import build_facts
from engine.kb.load import KnowledgeBase
from engine.kb.profiles import is_profile_rule
from engine.kb.schema import AddEvidence, Derive
from engine.kb.yamlio import load_patient_file
from engine.patient import PatientFacts, parse_patient

CASE_SUFFIXES: tuple[str, ...] = (".yaml", ".yml", ".json")
#: The class for "none of the causes of the knowledge base" (the softmax's last column).
OTHER = "other"
#: Listing floor and "other" log-odds used until the knowledge base carries ``model``.
DEFAULT_LIST_FLOOR = 0.01
DEFAULT_OTHER_LOG_ODDS = 0.0


@dataclass(frozen=True)
class Skipped:
    """A case file that could not be used, and why."""

    file: str
    message: str


@dataclass(frozen=True)
class Case:
    """One usable case: where it came from, what it is expected to be, which rules fired."""

    id: str
    file: str
    source: str
    expected: tuple[str, ...]
    fired: tuple[str, ...]  # evidence rule ids, sorted
    presentation: bool = True  # has a presentation finding: causes may be listed by probability
    #: everything the engine read (:func:`observations`); only --headroom uses it
    observations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Model:
    """The authored scoring model: classes (causes sorted, then "other"), rules and values."""

    classes: tuple[str, ...]
    prior: tuple[float, ...]  # log-odds per class; the last is "other"
    rules: tuple[str, ...]  # evidence rule ids, sorted
    rule_class: tuple[int, ...]  # index into ``classes`` of each rule's cause
    weight: tuple[float, ...]  # authored weight (natural-log LR) of each rule
    list_floor: float
    #: per rule, how far (natural log) the fit may move its weight from the authored one; empty:
    #: no limit but the sign and MAX_ABS_WEIGHT (engine.calibrate.fit.bounds)
    band: tuple[float, ...] = ()

    def class_index(self, cause: str) -> int:
        return self.classes.index(cause)


#: A fitted likelihood ratio stays within these factors of its authored value. A profile side's
#: statement quotes the two frequencies its LR comes from ("found in about 40% of patients with
#: sepsis against about 45% of leukopenia work-ups"), and an authored rule's weight_basis states
#: its evidence; unbounded, the fit moved 43 printed profile LRs more than twofold from the value
#: their own sentence implies (absent splenomegaly LR 4.1 for congenital neutropenia, where the
#: frequencies give 1.08: probe 14), so the explanation a clinician reads contradicted itself.
#: Held within these bands, grouped cross-validation measured no loss (evaluation/README.md,
#: session 18).
PROFILE_FIT_BAND = 2.0
RULE_FIT_BAND = 3.0


def fit_band(rule_id: str) -> float:
    """The most the fit may move ``rule_id``'s weight, as a natural log of a factor."""
    return math.log(PROFILE_FIT_BAND if is_profile_rule(rule_id) else RULE_FIT_BAND)


def scoring_settings(kb: KnowledgeBase) -> Any:
    """The knowledge base's scoring constants (``kb.manifest.model``), or None before it has any."""
    return getattr(kb, "model", None) or getattr(kb.manifest, "model", None)


def authored_model(kb: KnowledgeBase) -> Model:
    """The model as authored: where a fitted overlay replaced a value, its authored value
    (a weight's ``prior_lr``, a cause's ``prior_probability``), so that the fit always shrinks
    toward what the authors wrote, never toward an earlier fit."""
    settings = scoring_settings(kb)
    other: Any = getattr(settings, "prior_other_log_odds", None)
    if other is None:
        other = getattr(settings, "other_log_odds", DEFAULT_OTHER_LOG_ODDS)
    floor = getattr(settings, "list_floor", DEFAULT_LIST_FLOOR)
    causes = sorted(kb.causes)
    classes = (*causes, OTHER)
    evidence = sorted((r.id, r.then) for r in kb.rules if isinstance(r.then, AddEvidence))
    return Model(
        classes=classes,
        prior=(*(_authored_prior(kb, c) for c in causes), float(other)),
        rules=tuple(rid for rid, _ in evidence),
        rule_class=tuple(classes.index(e.cause) for _, e in evidence),
        weight=tuple(_authored_weight(e) for _, e in evidence),
        list_floor=float(floor),
        band=tuple(fit_band(rid) for rid, _ in evidence),
    )


def _authored_weight(effect: AddEvidence) -> float:
    prior_lr = getattr(effect, "prior_lr", None)
    if getattr(effect, "origin", "") == "fitted" and prior_lr:
        return round(math.log(prior_lr), 6)
    return effect.weight


def _authored_prior(kb: KnowledgeBase, cause: str) -> float:
    """A cause's authored log-odds: that of its ``prior_probability`` (which an overlay keeps),
    rounded to 2 decimals as the loader does."""
    c = kb.causes[cause]
    p = c.prior_probability
    return round(math.log(p / (1 - p)), 2) if 0 < p < 1 else c.prior


def case_files(paths: Iterable[str | Path]) -> list[Path]:
    """Every case file under ``paths`` once (directories recursively), in sorted order.

    Raises :class:`InputError` for a path that does not exist.
    """
    given = [Path(p) for p in paths]
    for p in given:
        if not p.exists():
            raise InputError(str(p), "no such file or directory", expected="case files or folders")
    seen: set[Path] = set()
    out: list[Path] = []
    for p in given:
        found = (
            sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() in CASE_SUFFIXES)
            if p.is_dir()
            else [p]
        )
        for f in found:
            if f.resolve() not in seen:
                seen.add(f.resolve())
                out.append(f)
    return out


def load_cases(
    paths: Iterable[str | Path],
    kb: KnowledgeBase,
    backend: str,
    *,
    today: dt.date,
    on_case: Callable[[int, int], None] | None = None,
) -> tuple[list[Case], list[Skipped]]:
    """Read and run every case under ``paths``: the usable cases and the skipped files."""
    files = case_files(paths)
    matcher = get_matcher(kb, backend)
    evidence = {r.id for r in kb.rules if isinstance(r.then, AddEvidence)}
    shown = tuple(getattr(scoring_settings(kb), "presentation", ()) or ())
    cases: list[Case] = []
    skipped: list[Skipped] = []
    for n, path in enumerate(files, start=1):
        try:
            data = load_patient_file(path)
            expected = _expected(data, kb)
            patient = parse_patient(data, today=today)
            firings = matcher.run(build_facts(patient, kb, today=today))
        except (LeukodxError, ValueError, TypeError) as exc:
            skipped.append(Skipped(str(path), str(exc)))
            continue
        ids = {f.rule_id for f in firings}
        fired = tuple(sorted(ids & evidence - kb.uncounted(ids).keys()))  # as the differential
        source = data.get("source")
        cases.append(
            Case(
                id=str(data.get("id") or path.stem),
                file=str(path),
                source=source if isinstance(source, str) else "",
                expected=expected,
                fired=fired,
                presentation=_presentation(kb, [f.rule_id for f in firings], shown),
                observations=observations(patient, sorted(ids)),
            )
        )
        if on_case:
            on_case(n, len(files))
    return cases, skipped


#: Age bands of the observations (upper bounds in years, exclusive).
_AGE_BANDS: tuple[tuple[float, str], ...] = (
    (1 / 12, "under 1 month"),
    (1.0, "under 1 year"),
    (18.0, "under 18"),
    (60.0, "18 to 59"),
    (math.inf, "60 or over"),
)


def observations(patient: PatientFacts, fired_rules: Sequence[str]) -> tuple[str, ...]:
    """Everything the engine read about a patient, as sorted labels: every fired rule, every
    finding, condition and history entry (present or recorded absent), every lab test
    recorded, the age band and the sex."""
    seen = {f"rule:{rid}" for rid in fired_rules}
    for kind, entries in (
        ("finding", patient.findings),
        ("condition", patient.conditions),
        ("history", patient.history),
    ):
        seen |= {f"{kind}:{e.name}" + ("" if e.present else ":absent") for e in entries}
    seen |= {f"lab:{lab.test}" for lab in patient.labs}
    if patient.age is not None:
        seen.add("age:" + next(label for top, label in _AGE_BANDS if patient.age < top))
    if patient.sex:
        seen.add(f"sex:{patient.sex}")
    return tuple(sorted(seen))


def _presentation(kb: KnowledgeBase, fired: list[str], shown: tuple[str, ...]) -> bool:
    """Whether a presentation finding (e.g. a low count) was derived. A knowledge base that names
    none lists causes only by their evidence, as engine/explain.py does."""
    if not shown:
        return False
    effects = (kb.rule(rid).then for rid in fired)
    return any(isinstance(e, Derive) and e.fact in shown and e.value is True for e in effects)


def _expected(data: Any, kb: KnowledgeBase) -> tuple[str, ...]:
    if not isinstance(data, dict):
        raise InputError("(top level)", "a case must be a mapping", got=type(data).__name__)
    value = data.get("expected")
    items = [value] if isinstance(value, str) else value
    if not items or not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise InputError("expected", "a case needs a list of expected cause ids", got=value)
    for i, cause in enumerate(items):
        if cause not in kb.causes:
            raise InputError(f"expected[{i}]", "not a cause of the knowledge base", got=cause)
    return tuple(sorted(set(items)))


_DOI = re.compile(r"10\.\d{4,9}/[^\s\"'<>,;]+")
_PMID = re.compile(r"(?:PMID:?\s*|pubmed(?:\.ncbi\.nlm\.nih\.gov)?/)(\d+)", re.IGNORECASE)
_PMC = re.compile(r"\bPMC\s?(\d+)", re.IGNORECASE)
_URL = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)


def identifiers(source: str) -> set[str]:
    """The publication identifiers in a ``source`` string, normalised and prefixed by kind."""
    found: set[str] = set()
    for m in _DOI.finditer(source):
        found.add("doi:" + _trim(m.group(0)).lower())
    found |= {"pmid:" + m.group(1) for m in _PMID.finditer(source)}
    found |= {"pmc:PMC" + m.group(1) for m in _PMC.finditer(source)}
    for m in _URL.finditer(source):
        url = _trim(m.group(0)).split("#", 1)[0].split("?", 1)[0].rstrip("/")
        host, _, path = url.split("://", 1)[1].partition("/")
        found.add("url:" + host.lower().removeprefix("www.") + ("/" + path if path else ""))
    return found


def _trim(text: str) -> str:
    """Drop sentence punctuation after an identifier, and a closing bracket it did not open."""
    text = text.rstrip(".,;:'\"")
    while text.endswith((")", "]")) and text.count(text[-1]) > text.count(
        "(" if text[-1] == ")" else "["
    ):
        text = text[:-1].rstrip(".,;:")
    return text


def group_cases(cases: list[Case]) -> list[int]:
    """A group number per case: cases sharing any source identifier share a group.

    Groups are numbered in order of their first case; a case without identifiers is its own group.
    """
    parent = list(range(len(cases)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, case in enumerate(cases):
        for key in sorted(identifiers(case.source)):
            if key in owner:
                a, b = find(owner[key]), find(i)
                parent[max(a, b)] = min(a, b)
            else:
                owner[key] = i
    numbers: dict[int, int] = {}
    return [numbers.setdefault(find(i), len(numbers)) for i in range(len(cases))]


def assign_folds(groups: list[int], k: int, seed: int) -> list[int]:
    """A fold (0..k-1) per case; every group in one fold, folds about equal in cases.

    Groups are shuffled with ``seed``, then placed largest first into the emptiest fold.
    """
    sizes: dict[int, int] = {}
    for g in groups:
        sizes[g] = sizes.get(g, 0) + 1
    if k < 2 or len(sizes) < k:
        raise InputError(
            "--folds", f"needs 2 <= folds <= publications ({len(sizes)})", got=k, expected=None
        )
    order = sorted(sizes)
    random.Random(seed).shuffle(order)
    order.sort(key=lambda g: -sizes[g])  # stable: the shuffle breaks ties between sizes
    load = [0] * k
    fold_of: dict[int, int] = {}
    for g in order:
        fold = min(range(k), key=lambda f: (load[f], f))
        fold_of[g] = fold
        load[fold] += sizes[g]
    return [fold_of[g] for g in groups]


def fold_indices(folds: list[int], k: int) -> Iterator[tuple[list[int], list[int]]]:
    """(training, held-out) case indices for each fold in turn."""
    for f in range(k):
        yield (
            [i for i, x in enumerate(folds) if x != f],
            [i for i, x in enumerate(folds) if x == f],
        )
