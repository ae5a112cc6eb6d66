# SPDX-License-Identifier: Apache-2.0
"""The fact catalogue: every fact the input side provides, with its type.

Rules may only use these names, the fields below, or facts that other rules derive; the loader
rejects anything else. :mod:`engine.facts` provides exactly these facts (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

from engine import vocab


@dataclass(frozen=True)
class FactType:
    """``kind`` is ``number``, ``bool`` or ``word``; ``words`` lists allowed words when known."""

    kind: str
    words: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "word" and self.words:
            return "one of " + ", ".join(self.words)
        return {"number": "a number", "bool": "true or false"}.get(self.kind, "a word")


NUMBER = FactType("number")
BOOL = FactType("bool")

#: Suffixes of series summaries, for the count tests.
SERIES_SUFFIXES: tuple[str, ...] = ("_nadir", "_first", "_results")
#: Tests whose series gives a trend fact ``<test>_trend``.
TREND_TESTS: tuple[str, ...] = ("wbc", "anc")


def _input_values() -> dict[str, FactType]:
    facts: dict[str, FactType] = {
        "age": NUMBER,
        "sex": FactType("word", vocab.SEXES),
        "duffy_null": BOOL,
        "bmi": NUMBER,
        "leukopenia_duration_days": NUMBER,
        "cycle_period_days": NUMBER,
        "reticulocytes_pct": NUMBER,
        "ana_titer": NUMBER,
        "anc_recent_nadir": NUMBER,
        "anc_age_days": NUMBER,
        "anc_is_upper_bound": BOOL,
        "anc_fall_from_normal_pct": NUMBER,
    }
    for test in vocab.NUMERIC_TESTS:
        facts[test] = NUMBER
    for test, words in vocab.QUALITATIVE_TESTS.items():
        open_ended = test in ("tpmt_genotype", "nudt15_genotype")
        facts[test] = FactType("word", () if open_ended else words)
    for test in vocab.COUNT_TESTS:
        for suffix in SERIES_SUFFIXES:
            facts[test + suffix] = NUMBER
    for test in TREND_TESTS:
        facts[f"{test}_trend"] = FactType("word", vocab.TRENDS)
    return facts


#: Value facts the input provides (``fact:`` atoms).
INPUT_VALUES: dict[str, FactType] = _input_values()

#: Timing fields of membership facts (``condition:``, ``finding:``, ``history:``, ``ancestry:``).
MEMBERSHIP_FIELDS: dict[str, FactType] = {
    "days_since": NUMBER,
    "days_since_end": NUMBER,
    # how long it lasted (to its end, or to as_of while it goes on): "fever for more than three
    # weeks" read days_since, and a fever of three days that ended three weeks ago passed
    "duration_days": NUMBER,
    "active": BOOL,
}

#: Fields of medication-course facts (``medication:`` atoms).
MEDICATION_FIELDS: dict[str, FactType] = {
    "active": BOOL,
    "start_known": BOOL,
    "days_since_start": NUMBER,
    "days_on_drug": NUMBER,
    "days_on_treatment": NUMBER,
    "days_since_stop": NUMBER,
    "onset_days": NUMBER,
    "on_drug_at_onset": BOOL,
    "baseline_low": BOOL,
    "started_in_low_episode": BOOL,
    "baseline_anc": NUMBER,
    "recent_anc_nadir": NUMBER,
    "anc_after_start": BOOL,
    "recovered_after_stop": BOOL,
    "low_on_rechallenge": BOOL,
}
