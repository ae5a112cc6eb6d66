# SPDX-License-Identifier: Apache-2.0
"""The scenarios of :mod:`benchmarks.synthetic`: one function per family of rule paths, each
adding to a :class:`Builder`, plus the work-up and background noise every patient gets."""

from __future__ import annotations

import datetime as dt
import functools
import random
from collections.abc import Callable
from typing import Any

from engine import vocab

AS_OF = dt.date(2025, 6, 30)
Patient = dict[str, Any]
Shape = Callable[[int], float]  # days before as_of -> factor on the baseline count


@functools.lru_cache(maxsize=1)
def drugs_by_class() -> dict[str, tuple[str, ...]]:
    """Generic names of the bundled lexicon by class (sorted, so the output is deterministic)."""
    from engine.kb.load import load_knowledge_base

    lexicon = load_knowledge_base().lexicon
    out: dict[str, list[str]] = {c: [] for c in sorted(lexicon.classes)}
    for name in sorted(lexicon.drugs):
        for cls in lexicon.drugs[name].classes:
            out.setdefault(cls, []).append(name)
    return {c: tuple(names) for c, names in out.items() if names}


def _date(days_before: int) -> str:
    return (AS_OF - dt.timedelta(days=days_before)).isoformat()


def _entry(rng: random.Random, name: str, since: int | None = None,
           until: int | None = None) -> Any:  # fmt: skip
    if since is None:
        return name if rng.random() < 0.5 else {"name": name, "since": _date(rng.randint(5, 900))}
    out: dict[str, Any] = {"name": name, "since": _date(since)}
    if until is not None:
        out["until"] = _date(min(until, since))
    return out


class Builder:
    """One patient under construction; scenarios add to it."""

    def __init__(self, rng: random.Random, pid: str) -> None:
        self.rng = rng
        self.p: Patient = {"schema_version": 1, "id": pid, "as_of": AS_OF.isoformat(),
                           "labs": [], "medications": [], "conditions": [], "findings": [],
                           "history": []}  # fmt: skip
        self.shape: Shape = lambda d: 1.0
        self.lines = {"wbc": 1.0, "anc": 1.0, "alc": 1.0, "platelets": 1.0, "hemoglobin": 1.0}
        self.window = rng.choice((60, 120, 240, 400))

    def lab(self, test: str, value: float | str, unit: str | None = None,
            days_before: int | None = None) -> None:  # fmt: skip
        d = self.rng.randint(0, 30) if days_before is None else days_before
        item: dict[str, Any] = {"test": test, "value": value, "date": _date(d)}
        if unit is not None:
            item["unit"] = unit
        self.p["labs"].append(item)

    def add(self, kind: str, name: str, since: int | None = None, until: int | None = None) -> None:
        """A condition, finding or history item (``kind`` singular, as in the rule language)."""
        key = {"condition": "conditions", "finding": "findings"}.get(kind, kind)
        self.p[key].append(_entry(self.rng, name, since, until))

    def drug(self, cls: str, start: int | None, stop: int | None = None,
             name: str | None = None) -> str:  # fmt: skip
        name = name or self.rng.choice(drugs_by_class().get(cls, ("notarealdrug",)))
        med: dict[str, Any] = {"name": name}
        if start is not None:
            med["start"] = _date(start)
            if stop is not None and stop < start:
                med["stop"] = _date(stop)
        self.p["medications"].append(med)
        return name

    def series(self) -> None:
        """1-12 dated results per count line, shaped by ``self.shape`` and the line factors."""
        r = self.rng
        base = {"wbc": r.gauss(6.8, 1.4), "alc": r.gauss(2.0, 0.5), "platelets": r.gauss(260, 50),
                "hemoglobin": r.gauss(13.8, 1.2)}  # fmt: skip
        n = r.randint(1, 12)
        days = sorted(
            {r.randint(0, self.window) for _ in range(n)} | {r.randint(0, 3)}, reverse=True
        )
        for d in days:
            f = self.shape(d)
            wbc = max(0.3, base["wbc"] * f * self.lines["wbc"] * r.uniform(0.92, 1.08))
            anc = max(0.0, wbc * self.lines["anc"] * r.uniform(0.45, 0.65) * f**0.5)
            anc = min(anc, wbc * 0.95)
            self._count("wbc", wbc, d)
            self._count("anc", anc, d)
            if r.random() < 0.6:
                # The lymphocytes are part of the same WBC (the engine refuses an ALC above it).
                alc = min(max(0.1, base["alc"] * self.lines["alc"]), 0.95 * max(0.05, wbc - anc))
                self._count("alc", alc, d)
                self._count("platelets", max(5.0, base["platelets"] * self.lines["platelets"]), d)
                hb = max(4.0, base["hemoglobin"] * self.lines["hemoglobin"])
                self.lab("hemoglobin", round(hb, 1), "g/dL", d)

    def _count(self, test: str, value: float, d: int) -> None:
        style = self.rng.random()
        if style < 0.15 and test != "platelets":
            self.lab(test, round(value * 1000), "/uL", d)
        elif style < 0.25:
            self.lab(test, round(value, 2), "K/uL", d)
        else:
            self.lab(test, round(value, 2), "10^9/L", d)


def _onset_shape(start: int, stop: int | None, depth: float) -> Shape:
    """Normal before ``start``; falls to ``depth`` within weeks; recovers after ``stop``."""

    def shape(d: int) -> float:
        if d > start:
            return 1.0
        if stop is not None and d < stop - 10:
            return 0.95
        return max(depth, 1.0 - (start - d) / 30.0 * (1.0 - depth))

    return shape


def drug_scenario(b: Builder) -> None:
    r = b.rng
    cls = r.choice(sorted(drugs_by_class()))
    start = r.randint(20, b.window)
    stop = r.choice((None, None, r.randint(0, start - 1)))
    name = b.drug(cls, start, stop)
    depth = r.uniform(0.1, 0.7)
    episode = _onset_shape(start, stop, depth)
    b.shape = episode
    if r.random() < 0.2:  # rechallenge: an earlier course of the same drug, also low
        b.drug(cls, start + 200, start + 150, name)
        b.window = start + 230
        b.shape = lambda d: depth if start + 160 <= d <= start + 200 else episode(d)
    if cls == "antipsychotic" and r.random() < 0.5:
        b.drug("cyp1a2_inhibitor", r.randint(0, start))
    if cls == "tki" and r.random() < 0.5:
        b.add("condition", "cml", start + r.randint(10, 400))
        b.lines["platelets"] = r.uniform(0.2, 1.0)
    if r.random() < 0.1:
        b.p["duffy_null"] = True
    if cls == "thiopurine":
        b.lab("tpmt_activity", r.choice(("low", "intermediate", "normal")))
        b.lab("nudt15_genotype", r.choice(("normal", "heterozygous", "homozygous")))
    if cls == "chemotherapy":
        ended = r.choice((None, r.randint(0, 30), r.randint(21, 60), r.randint(90, 800)))
        b.add("history", r.choice(("chemotherapy", "radiotherapy")), start + 30, ended)
        b.add("condition", r.choice(("solid_tumor", "lymphoma")))
    if r.random() < 0.3:
        b.add("finding", "fever", r.randint(0, 5))


def malignancy_scenario(b: Builder) -> None:
    r = b.rng
    kind = r.choice(("cll", "acute_leukemia", "lymphoma", "mds", "lgl_leukemia", "solid_tumor"))
    b.lines.update(hemoglobin=0.7, platelets=r.uniform(0.2, 0.8), wbc=r.uniform(0.3, 0.8))
    if r.random() < 0.6:
        b.add("condition", kind, r.randint(30, 900))
    if kind == "cll":
        b.lines["alc"] = r.uniform(3, 12)
        if r.random() < 0.4:
            b.add("history", "chemotherapy", r.randint(100, 900), r.randint(0, 200))
        if r.random() < 0.3:
            b.add("finding", "splenomegaly")
    elif kind == "acute_leukemia":
        b.lab("blasts_pct", round(r.uniform(5, 80), 1), "%")
        b.add("finding", "smear_blasts")
    elif kind == "lymphoma":
        for f in ("lymphadenopathy", "night_sweats", "weight_loss"):
            if r.random() < 0.6:
                b.add("finding", f)
        b.lab("ldh", round(r.uniform(200, 900)), "U/L")
    elif kind == "mds":
        b.lab("mcv", round(r.uniform(98, 115), 1), "fL")
        b.add("finding", "smear_dysplasia")
        b.p["age"] = round(r.uniform(65, 90))
    elif kind == "lgl_leukemia":
        b.lab("lgl_count", round(r.uniform(0.5, 3), 2), "10^9/L")
        b.add("finding", "smear_large_granular_lymphocytes")
        if r.random() < 0.5:
            b.add("condition", "rheumatoid_arthritis")
    else:
        b.add("finding", r.choice(("weight_loss", "bleeding")))


def marrow_failure_scenario(b: Builder) -> None:
    b.lines.update(wbc=0.35, anc=0.6, platelets=0.15, hemoglobin=0.6)
    b.lab("reticulocytes", round(b.rng.uniform(5, 30), 1), "10^9/L")
    b.add("finding", b.rng.choice(("petechiae", "bleeding", "fatigue")))


def autoimmune_scenario(b: Builder) -> None:
    r = b.rng
    kind = r.choice(("sle", "felty", "autoimmune"))
    b.lines.update(wbc=r.uniform(0.4, 0.8))
    if kind == "sle":
        b.add("condition", "sle", r.randint(60, 2000))
        b.lab("ana", r.choice(("1:80", "1:160", "1:640", "positive", "negative")))
        b.lab("anti_dsdna", r.choice(("positive", "negative")))
        b.lab("c3", round(r.uniform(40, 140)), "mg/dL")
        b.add("finding", r.choice(("malar_rash", "arthritis", "oral_ulcers")))
        b.lines["alc"] = 0.4
    elif kind == "felty":
        b.add("condition", "rheumatoid_arthritis", r.randint(365, 5000))
        b.add("finding", "splenomegaly")
        b.lab("rheumatoid_factor", r.choice(("positive", "positive", "negative")))
        b.lab("anti_ccp", r.choice(("positive", "negative")))
    else:
        b.lab("anti_neutrophil_ab", r.choice(("positive", "negative")))
        b.p["age"] = round(r.uniform(0.5, 3), 1)


def splenic_scenario(b: Builder) -> None:
    for name in ("cirrhosis", "portal_hypertension"):
        if b.rng.random() < 0.7:
            b.add("condition", name, b.rng.randint(200, 3000))
    b.add("finding", "splenomegaly")
    b.lines.update(platelets=0.35, wbc=0.6)


def nutritional_scenario(b: Builder) -> None:
    r = b.rng
    kind = r.choice(("b12", "copper", "malnutrition", "alcohol"))
    if kind == "b12":
        b.lab("vitamin_b12", round(r.uniform(60, 250)), "pg/mL")
        b.lab("mcv", round(r.uniform(100, 125), 1), "fL")
        b.lab("folate", round(r.uniform(1, 12), 1), "ng/mL")
        b.add("finding", r.choice(("glossitis", "neuropathy", "smear_hypersegmented_neutrophils")))
    elif kind == "copper":
        b.lab("copper", round(r.uniform(10, 70)), "ug/dL")
        b.lab("zinc", round(r.uniform(90, 250)), "ug/dL")
        b.add("history", r.choice(("gastrectomy", "bariatric_surgery", "zinc_supplementation")))
    elif kind == "malnutrition":
        b.p["bmi"] = round(r.uniform(12, 17.5), 1)
        b.add("condition", "anorexia_nervosa")
    else:
        b.add("condition", "alcohol_use_disorder", r.randint(300, 5000))
        b.lab("mcv", round(r.uniform(98, 110), 1), "fL")
    b.lines.update(wbc=r.uniform(0.5, 0.85), hemoglobin=0.8)


def infection_scenario(b: Builder) -> None:
    r = b.rng
    kind = r.choice(("viral", "hiv", "sepsis", "other"))
    onset = r.randint(3, 40)
    b.shape = _onset_shape(onset, 0 if r.random() < 0.3 else None, r.uniform(0.3, 0.7))
    if kind == "viral":
        b.add("finding", "recent_viral_illness", onset)
        if r.random() < 0.4:
            for name in ("fever", "lymphadenopathy", r.choice(("pharyngitis", "rash"))):
                b.add("finding", name, onset)
        test = r.choice(("ebv_igm", "cmv_igm", "parvovirus_igm"))
        b.lab(test, r.choice(("positive", "negative")))
        b.lab("atypical_lymphocytes_pct", round(r.uniform(0, 20), 1), "%")
    elif kind == "hiv":
        b.lab("hiv", "positive")
        b.add("condition", "hiv", r.randint(100, 3000))
        if r.random() < 0.3:
            b.add("finding", "fever", onset)
            b.add("finding", "splenomegaly")
    elif kind == "sepsis":
        b.add("finding", "sepsis", onset)
        b.add("finding", "fever", onset)
        b.lab("crp", round(r.uniform(50, 300)), "mg/L")
        b.lab("band_pct", round(r.uniform(5, 25), 1), "%")
        b.lab("blood_culture", r.choice(("positive", "negative")))
    else:
        b.add("condition", r.choice(("tuberculosis", "brucellosis", "leishmaniasis", "malaria")))
        b.add("history", r.choice(("recent_travel", "animal_exposure")), onset + 10)
        if r.random() < 0.5:
            b.add("finding", "fever", onset)
            b.add("finding", "splenomegaly")


def duffy_scenario(b: Builder) -> None:
    b.p["ancestry"] = [b.rng.choice(("african", "african_american", "afro_caribbean", "arab"))]
    if b.rng.random() < 0.4:
        b.p["duffy_null"] = b.rng.random() < 0.8
    b.lines.update(anc=0.55, wbc=0.65)
    b.window = 400


def cyclic_scenario(b: Builder) -> None:
    period = b.rng.randint(18, 24)
    b.shape = lambda d: 0.15 if d % period < 4 else 1.0
    b.window = 120
    b.add("finding", b.rng.choice(("periodic_fevers", "oral_ulcers")))


def congenital_scenario(b: Builder) -> None:
    b.p["age"] = round(b.rng.uniform(0.1, 6), 1)
    b.lines.update(anc=0.1)
    b.add("history", b.rng.choice(("childhood_onset", "family_history_neutropenia")))
    b.add("finding", "recurrent_infections")
    b.window = 400


def idiopathic_scenario(b: Builder) -> None:
    b.lines.update(anc=b.rng.uniform(0.45, 0.7), wbc=0.75)
    b.window = 400


def fmf_scenario(b: Builder) -> None:
    b.add("condition", "fmf", b.rng.randint(300, 3000))
    b.add("finding", "periodic_fevers")
    b.p["ancestry"] = [b.rng.choice(("middle_eastern", "yemenite_jewish", "arab"))]


def normal_scenario(b: Builder) -> None:
    b.lines.update(wbc=b.rng.uniform(0.9, 1.2))


#: Scenario, weight. Drug-related patterns dominate real leukopenia work-ups, so they do here.
SCENARIOS: tuple[tuple[Callable[[Builder], None], int], ...] = (
    (drug_scenario, 30), (malignancy_scenario, 12), (marrow_failure_scenario, 3),
    (autoimmune_scenario, 8), (splenic_scenario, 4), (nutritional_scenario, 8),
    (infection_scenario, 12), (duffy_scenario, 6), (cyclic_scenario, 3),
    (congenital_scenario, 3), (idiopathic_scenario, 5), (fmf_scenario, 2), (normal_scenario, 4),
)  # fmt: skip


#: Work-up tests with a plausible range (canonical units): low, normal and high values all occur.
WORKUP: dict[str, tuple[float, float, str]] = {
    "vitamin_b12": (80, 900, "pg/mL"), "folate": (1, 25, "ng/mL"), "copper": (10, 160, "ug/dL"),
    "ceruloplasmin": (5, 50, "mg/dL"), "igg": (200, 1600, "mg/dL"), "ldh": (100, 1200, "U/L"),
    "methylmalonic_acid": (100, 2000, "nmol/L"), "mcv": (70, 125, "fL"),
    "reticulocytes": (5, 200, "10^9/L"), "blasts_pct": (0, 40, "%"), "lgl_count": (0, 3, "10^9/L"),
    "zinc": (50, 250, "ug/dL"), "ferritin": (5, 1500, "ng/mL"), "esr": (2, 120, "mm/h"),
    "c3": (40, 180, "mg/dL"), "c4": (5, 50, "mg/dL"), "homocysteine": (5, 60, "umol/L"),
}  # fmt: skip


def workup(b: Builder) -> None:
    """A random slice of everything the contract can say, so that rarely combined facts (the
    negative-evidence rules, normal results, timing windows) also occur."""
    r = b.rng
    for test in r.sample(sorted(WORKUP), r.choice((0, 1, 2, 4))):
        low, high, unit = WORKUP[test]
        b.lab(test, round(r.uniform(low, high), 1), unit)
    for test in r.sample(sorted(vocab.QUALITATIVE_TESTS), r.choice((0, 0, 1, 2))):
        b.lab(test, r.choice(vocab.QUALITATIVE_TESTS[test]))
    for kind, words in (
        ("finding", vocab.FINDINGS),
        ("condition", vocab.CONDITIONS),
        ("history", vocab.HISTORY),
    ):
        if r.random() < 0.25:
            since = r.randint(10, 1500)
            until = r.choice((None, r.randint(0, since)))
            b.add(kind, r.choice(words), since, until)
    if r.random() < 0.15:
        b.lines.update(
            wbc=r.uniform(0.2, 0.6),
            platelets=r.uniform(0.05, 0.5),
            hemoglobin=r.uniform(0.5, 0.8),
            alc=r.uniform(0.05, 0.5),
        )
    if r.random() < 0.05:
        b.p["bmi"] = round(r.uniform(16, 35), 1)


def noise(b: Builder) -> None:
    """What real charts also contain: demographics, unrelated drugs, comorbidities, extra labs."""
    r = b.rng
    b.p.setdefault("age", round(r.uniform(18, 90)) if r.random() < 0.9 else round(r.uniform(1, 17)))
    if r.random() < 0.9:
        b.p["sex"] = r.choice(("female", "male", "female", "male", "other", "unknown"))
    if "ancestry" not in b.p and r.random() < 0.4:
        b.p["ancestry"] = [r.choice(("european", "east_asian", "south_asian", "hispanic", "mixed"))]
    for _ in range(r.choice((0, 0, 1, 2))):
        b.drug(r.choice(sorted(drugs_by_class())), r.choice((None, r.randint(5, 700))))
    if r.random() < 0.05:
        b.p["medications"].append({"name": "notarealdrug", "start": _date(r.randint(5, 90))})
    if r.random() < 0.3:
        b.add("condition", r.choice(("hypothyroidism", "hyperthyroidism", "pregnancy", "ibd")))
    if r.random() < 0.3:
        b.add("finding", r.choice(("fatigue", "fever", "rash", "diarrhea")), r.randint(0, 20))
    if r.random() < 0.3:
        b.lab("crp", round(r.uniform(0, 40), 1), "mg/L")
