# SPDX-License-Identifier: Apache-2.0
"""How every output words a fact: its name, its unit, its date, how it was obtained, a
probability and a likelihood ratio.

Shared by the consult notes (:mod:`engine.render`), the "why not" of a cause
(:mod:`engine.why_not`), the CDS cards and the HTML report, so that a count reads the same
everywhere ("ANC 0.6 x 10^9/L on 2025-02-10"), and kept apart from the note layouts so each
module has one job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from engine.differential import Differential, Evidence, FactRef, Finding, NextStep, Scalar
from engine.units import fact_unit

#: The counts the notes and cards open with, in reading order.
NOTE_COUNTS = ("wbc", "anc", "alc", "hemoglobin", "platelets")

_ISO = r"\d{4}-\d{2}-\d{2}"
#: Where a value's ``how`` names the date of its result (engine/series.py, engine/facts.py): a
#: latest, lowest or earliest result, a computed count, a qualitative result, a dated record.
_DATED = re.compile(
    rf"^(?:(?:Latest|Lowest|Earliest|latest \w+) result \S+|\w+ computed as .+?) on ({_ISO})"
    rf"|^given: .*\(since ({_ISO})"
)
#: A result reported as a bound (``Latest result <0.1 on ...``, engine/series.py): its comparator.
_BOUND = re.compile(
    r"^(?:(?:Latest|Lowest|Earliest|latest \w+) result |ANC computed as an upper bound \()"
    r"(?P<cmp>[<>]=?)\d"
)
#: A count computed from a bounded factor (engine/facts.py): "... so the count is <0.6, ...".
_COMPUTED_BOUND = re.compile(r"so the count is (?P<cmp>[<>]=?)\d")
_COMPUTED = re.compile(rf"^[A-Z]+ computed as (?P<calc>.+?) on {_ISO}(?P<rest>.*)$")
#: How the words of a fact name are shown (everything else: as written, underscores as spaces).
_WORDS = {
    "wbc": "WBC", "anc": "ANC", "alc": "ALC", "amc": "AMC", "ctcae": "CTCAE", "mcv": "MCV",
    "crp": "CRP", "ldh": "LDH", "alt": "ALT", "ast": "AST", "esr": "ESR", "igg": "IgG",
    "igm": "IgM", "ana": "ANA", "hiv": "HIV", "ebv": "EBV", "cmv": "CMV", "pcr": "PCR",
    "tpmt": "TPMT", "nudt15": "NUDT15", "lgl": "LGL", "c3": "C3", "c4": "C4", "b12": "B12",
    "dsdna": "dsDNA", "ccp": "CCP", "rna": "RNA", "sars": "SARS", "cov": "CoV", "pct": "%",
    "hemoglobin": "haemoglobin", "mds": "MDS", "cll": "CLL", "cml": "CML", "sle": "SLE",
    "ibd": "IBD", "fmf": "FMF",
}  # fmt: skip
#: Words for a probability: the IPCC likelihood terms in their disjoint bands (IPCC AR4 WG II,
#: front matter F: very likely 90-99%, likely 66-90%, ... exceptionally unlikely < 1%), capped at
#: "very likely": the probability is a model's softmax over causes (engine/rank.py), whose
#: calibration the calibration report measures, never a certainty.
_LIKELIHOOD = (
    (0.90, "very likely"), (0.66, "likely"), (0.33, "about as likely as not"),
    (0.10, "unlikely"), (0.01, "very unlikely"),
)  # fmt: skip


def words(name: str) -> str:
    """A fact name in words: ``ctcae_neutrophil_grade`` -> ``CTCAE neutrophil grade``."""
    return " ".join(_WORDS.get(w, w) for w in name.split("_"))


def asked(fact: str) -> str:
    """An ask-next fact in words: ``finding hepatomegaly`` -> ``hepatomegaly``, ``absent_finding
    fever`` -> ``no fever`` (recording the finding absent is what would move the score; "absent
    finding fever" read as if an absent fever were unknown), ``history chemotherapy`` ->
    ``history of chemotherapy``, ``condition mds`` -> ``known MDS`` (a diagnosis already made, not
    the question the differential asks); a value fact as :func:`words` says it."""
    kind, _, name = fact.partition(" ")
    if not name:
        return words(fact)
    if kind == "absent_finding":
        return f"no {words(name)}"
    if kind == "history":
        return f"history of {words(name)}"
    if kind == "finding":
        return words(name)
    if kind == "condition":  # "MDS" alone read as if the note asked whether this is MDS
        return f"known {words(name)}" if name != "pregnancy" else words(name)
    return f"{words(kind)} {words(name)}"


def likelihood(p: float) -> str:
    """A probability in words ("very likely" ... "exceptionally unlikely")."""
    return next((word for floor, word in _LIKELIHOOD if p >= floor), "exceptionally unlikely")


def fact_date(ref: FactRef) -> str | None:
    """The date of the result or record a value or membership fact rests on (its ``how`` names
    it); None for medication courses, derived facts and undated values such as age."""
    if not ref.id.startswith(("v:", "m:")):
        return None
    found = _DATED.match(ref.how)
    return (found.group(1) or found.group(2)) if found else None


def unit_of(name: str) -> str:
    """The canonical unit of a numeric test or of its series summaries (``anc_nadir``); a
    reticulocyte count given as a percentage is kept as one (``reticulocytes_pct``, in %: it was
    shown as "0.8 x 10^9/L", the unit of the absolute count)."""
    return fact_unit(name) or fact_unit(name.rsplit("_", 1)[0]) or ""


def quantity(name: str, value: Scalar) -> str:
    """A value in words with its unit: ``ANC 0.108 x 10^9/L``, ``neutrophils 4%``,
    ``leukopenia duration 12 days``, ``sex male``; never a Python literal."""
    if isinstance(value, bool):
        return words(name) if value else f"no {words(name)}"
    if not isinstance(value, (int, float)):
        return f"{words(name)} {value}"
    if name.endswith("_days"):
        return f"{words(name.removesuffix('_days'))} {value:g} day{'' if value == 1 else 's'}"
    unit = unit_of(name)
    if unit == "%":
        return f"{words(name).removesuffix(' %')} {value:g}%"
    shown = f"x {unit}" if unit.startswith("10^") else unit
    return f"{words(name)} {value:g}{' ' + shown if shown else ''}"


def number_text(ref: FactRef) -> str:
    """A numeric fact's value as reported: ``0.4``, or a bound as ``<0.1`` (never the value
    the thresholds compared, which lies within 1e-9 of it)."""
    if not isinstance(ref.value, (int, float)) or isinstance(ref.value, bool):
        return str(ref.value)
    bound = _BOUND.match(ref.how) or _COMPUTED_BOUND.search(ref.how)
    return f"{bound['cmp'] if bound else ''}{ref.value:g}"


def value_text(ref: FactRef) -> str:
    """An input fact in clinical words with its date: ``ANC 0.108 x 10^9/L on 2020-01-25``,
    ``finding fever (since 2020-01-26)``, ``clozapine``."""
    if ref.id.startswith("x:"):
        return ref.name.removeprefix("medication ")
    if ref.id.startswith("m:"):
        return ref.how.removeprefix("given: ")
    date = fact_date(ref)
    text = quantity(ref.name, ref.value)
    if _BOUND.match(ref.how) and isinstance(ref.value, (int, float)):
        text = text.replace(f" {ref.value:g}", f" {number_text(ref)}", 1)  # as reported
    return text + (f" on {date}" if date else "")


def resulted_text(step: NextStep) -> str:
    """What the record already holds for a next step's tests, for after its text:
    `` (resulted: vitamin B12 384 pg/mL on 2020-03-01; folate 3.9 ng/mL on 2020-03-01)``, or ""
    when nothing is."""
    if not step.resulted:
        return ""
    return f" (resulted: {'; '.join(value_text(ref) for ref in step.resulted)})"


def finding_text(f: Finding) -> str:
    """A derived finding in words: ``agranulocytosis``, ``chronicity: transient``,
    ``CTCAE neutrophil grade: 4``, ``leukopenia duration 1 day``; never a Python literal."""
    if isinstance(f.value, bool) or f.fact.endswith("_days"):
        return quantity(f.fact, f.value)
    shown = f"{f.value:g}" if isinstance(f.value, (int, float)) else f.value
    return f"{words(f.fact)}: {shown}"


def inputs_of(d: Differential, ids: Iterable[str]) -> list[FactRef]:
    """The input facts (values, records, medication courses) behind fact ``ids``, following each
    derived fact back through the rule firing that asserted it, in order of discovery."""
    made = {fid: t.matched for t in d.trace for fid in t.asserted}
    refs = {f.id: f for f in d.facts}
    out: list[FactRef] = []
    todo, seen = list(ids), set()
    while todo:
        fid = todo.pop(0)
        if fid in seen:
            continue
        seen.add(fid)
        if fid in made:
            todo.extend(made[fid])
        elif fid in refs:
            out.append(refs[fid])
    return out


def obtained(ref: FactRef) -> str:
    """How a count was obtained: ``given``, or ``computed: WBC 2.7 x 4% neutrophils / 100 ...``."""
    if "computed" not in ref.how:
        return "given"
    found = _COMPUTED.match(ref.how)
    return f"computed: {found['calc']}{found['rest']}" if found else ref.how


@dataclass(frozen=True)
class CountRow:
    """One count of the note's table: its latest and lowest values, how many results, how the
    latest was obtained (for the ANC and ALC: given or computed)."""

    test: str
    latest: FactRef
    lowest: FactRef | None
    results: Scalar | None
    how: str


_UNUSED_TEST = re.compile(r"^(\w+):|\((\w+) on ")


def unused_tests(d: Differential) -> set[str]:
    """The tests an input that was not used was a result of (``anc: no valueQuantity``, ``labs
    (anc on 2031-03-01)``): a count given but unusable is not "not measured"."""
    found: set[str] = set()
    for item in d.ignored_inputs:
        for text in (item.reason, item.item):
            m = _UNUSED_TEST.search(text)
            if m and (m[1] or m[2]) in NOTE_COUNTS:
                found.add(m[1] or m[2])
    return found


def count_rows(d: Differential) -> tuple[list[CountRow], list[str]]:
    """The counts that matter (:data:`NOTE_COUNTS`) as rows, and the words of those not measured:
    the terminal note and the HTML report print the same table from this."""
    refs = {f.id: f for f in d.facts}
    rows: list[CountRow] = []
    missing: list[str] = []
    unused = unused_tests(d)
    for test in NOTE_COUNTS:
        latest = refs.get(f"v:{test}")
        if latest is None:
            missing.append(words(test) + (" (given, but not used: see below)" if test in unused
                                          else ""))  # fmt: skip
            continue
        n = refs.get(f"v:{test}_results")
        how = obtained(latest) if test in ("anc", "alc") else ""
        rows.append(
            CountRow(test, latest, refs.get(f"v:{test}_nadir"), n.value if n else None, how)
        )
    return rows, missing


def dated_number(ref: FactRef) -> tuple[str, str | None]:
    """A count's value as reported (a bound keeps its ``<``) and the date it rests on."""
    return number_text(ref), fact_date(ref)


def latest_counts(d: Differential) -> list[str]:
    """The latest value of each :data:`NOTE_COUNTS` count in words, with its date, and for a
    computed ANC or ALC how it was computed."""
    refs = {f.id: f for f in d.facts}
    out = []
    for test in NOTE_COUNTS:
        if (ref := refs.get(f"v:{test}")) is not None:
            how = obtained(ref)
            out.append(value_text(ref) + ("" if how == "given" else f" ({how})"))
    return out


def lr_text(e: Evidence) -> str:
    """The likelihood ratio with where it comes from: 'LR 3 (judgement)', 'LR 4.1 (fitted on 12
    cases; authored 3)'."""
    text = f"LR {e.lr:.3g} ({e.origin}"
    if e.origin == "fitted" and e.prior_lr is not None:
        text += f" on {e.fitted_cases} cases; authored {e.prior_lr:.3g}"
    return text + ")"


def lr_brief(e: Evidence) -> str:
    """The note's short form: 'LR 3, judgement', or with a fitted value its authored one beside
    it, 'LR 1.93, fitted; authored 1.08': the sentence quotes the authored frequencies, and a
    fitted number beside them alone read as a contradiction (probe 16)."""
    text = f"LR {e.lr:.3g}, {e.origin}"
    if e.origin == "fitted" and e.prior_lr is not None and f"{e.prior_lr:.3g}" != f"{e.lr:.3g}":
        text += f"; authored {e.prior_lr:.3g}"
    return text


def percent(p: float) -> str:
    return "<0.1%" if p < 0.001 else f"{100 * p:.1f}%" if p < 0.1 else f"{100 * p:.0f}%"
