# SPDX-License-Identifier: Apache-2.0
"""The rule language as data (docs/rule-language.md): conditions, effects, rules, causes, citations.

These are plain frozen dataclasses that every backend compiles from; nothing here knows experta
or CLIPS. :mod:`engine.kb.parse` builds them from YAML and :mod:`engine.kb.load` checks them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Union

#: Comparison operators of a condition, and what they mean on a value ``v``.
OPERATORS: tuple[str, ...] = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in")

Scalar = Union[str, int, float, bool]


@dataclass(frozen=True, order=True)
class Test:
    """``field <op> value``: one comparison inside an atom (``field`` is ``value`` for values)."""

    field: str
    op: str
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True)
class Atom:
    """One fact pattern. ``kind`` is ``fact``, ``medication`` or a membership kind
    (``condition``, ``finding``, ``history``, ``ancestry``); ``name`` the fact, agent or word."""

    kind: str
    name: str
    tests: tuple[Test, ...] = ()
    line: int = 0

    def describe(self) -> str:
        parts = [f"{self.kind} {self.name}"]
        parts += [f"{t.field} {t.op} {t.value!r}" for t in self.tests]
        return ", ".join(parts)


@dataclass(frozen=True)
class Not:
    child: Condition


@dataclass(frozen=True)
class AnyOf:
    children: tuple[Condition, ...]


@dataclass(frozen=True)
class AllOf:
    children: tuple[Condition, ...]


Condition = Union[Atom, Not, AnyOf, AllOf]


@dataclass(frozen=True)
class Literal:
    """An atom that must match (``negated`` False) or must not match any fact."""

    atom: Atom
    negated: bool = False


@dataclass(frozen=True)
class Derive:
    fact: str
    value: Scalar


@dataclass(frozen=True)
class RaiseAlert:
    alert: str
    level: str
    message: str


#: Where an evidence weight comes from (issue 15): a figure quoted from a cited source, a fit to
#: the development cases (``leukodx calibrate``), or a clinician's judgement, said plainly.
WEIGHT_ORIGINS: tuple[str, ...] = ("literature", "fitted", "judgement")
#: Authored likelihood ratios must lie in [1/MAX_LR, MAX_LR]: beyond that a single finding would
#: settle a diagnosis, which no finding in this domain does, and exp() stays far from overflow.
MAX_LR = 1000.0


@dataclass(frozen=True)
class AddEvidence:
    """Evidence for (``lr`` > 1) or against (``lr`` < 1) a cause. Authors write the likelihood
    ratio; ``weight`` is its natural log, what the score adds. A weight moved by calibration keeps
    the authored value in ``prior_lr`` and the number of development cases in ``fitted_cases``."""

    cause: str
    weight: float
    lr: float = 1.0
    origin: str = "judgement"
    prior_lr: float | None = None
    fitted_cases: int | None = None


Effect = Union[Derive, RaiseAlert, AddEvidence]


@dataclass(frozen=True)
class Rule:
    id: str
    statement: str
    when: AllOf
    then: Effect
    cite: tuple[str, ...]
    file: str
    line: int
    weight_basis: str | None = None
    note: str | None = None
    status: str = "active"
    review_status: str = "draft"
    plain: str | None = None  # plain-language statement for the patient audience
    branches: tuple[tuple[Literal, ...], ...] = ()  # disjunctive normal form of ``when``
    stratum: int = 0  # rules fire in ascending stratum: derivations before their users
    #: Evidence rules of the same cause that count this rule's finding themselves (a profile
    #: side's ``present_counted_by``): when one of them fired too, this one fires but adds nothing.
    counted_by: tuple[str, ...] = ()


#: What a recorded review decided about the rules in its scope.
REVIEW_DECISIONS: tuple[str, ...] = ("approved", "changes_requested")


@dataclass(frozen=True)
class Reviewer:
    """One recorded clinical review of a rule file (``reviewers:`` in its header).

    A review date means something only when someone is named with it: ``last_reviewed`` must be
    the date of a recorded review, and ``review_status: approved`` needs an approving review that
    covers every rule of the file (:mod:`engine.kb.review`). ``rules`` empty means the whole file
    (``scope: file``); otherwise the review covers only the rule ids it lists."""

    name: str
    role: str
    date: dt.date
    decision: str
    rules: tuple[str, ...] = ()
    notes: str | None = None
    line: int = 0

    @property
    def whole_file(self) -> bool:
        return not self.rules

    def covers(self, rule_id: str) -> bool:
        return self.whole_file or rule_id in self.rules


@dataclass(frozen=True)
class RuleFile:
    """Provenance header of one rule file."""

    path: str
    title: str
    version: str
    status: str
    authors: tuple[str, ...]
    reviewers: tuple[Reviewer, ...]
    last_reviewed: dt.date | None
    review_by: dt.date | None
    review_status: str = "draft"
    last_updated: dt.date | None = None

    def decision_for(self, rule_id: str) -> Reviewer | None:
        """The latest recorded review covering ``rule_id`` (the later entry wins a same-day tie),
        or None when no review covers it: that review's decision is the rule's review state."""
        covering = [(r.date, i, r) for i, r in enumerate(self.reviewers) if r.covers(rule_id)]
        return max(covering, key=lambda t: (t[0], t[1]))[2] if covering else None


@dataclass(frozen=True)
class Citation:
    """One reference of ``rules/citations/``. This is the single definition of a citation's
    fields: the output model (:class:`engine.differential.Citation`) is built from
    :meth:`published`, so a field added here is either published or named in ``UNPUBLISHED``."""

    #: Fields for the knowledge base's own reviewers, not part of a result: ``verified`` records
    #: where the rule's author saw the identifier (CONTRIBUTING.md), the authoring trail.
    UNPUBLISHED: ClassVar[frozenset[str]] = frozenset({"verified"})

    id: str
    kind: str
    title: str
    authors: str | None = None
    source: str | None = None
    year: int | None = None
    pmid: str | None = None
    doi: str | None = None
    pmcid: str | None = None
    url: str | None = None
    label_section: str | None = None
    evidence_grade: str | None = None
    verified: str | None = None

    def published(self) -> dict[str, Any]:
        """Every field a result shows (all but ``UNPUBLISHED``), by name."""
        # every field is a scalar, so a shallow read gives what ``asdict`` (a deep copy) gave
        hidden = self.UNPUBLISHED
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}


@dataclass(frozen=True)
class NextStep:
    """A next step or consideration; with ``drug_class`` it is shown only to a patient who has a
    medication of that lexicon class recorded (or one the lexicon does not know, which might be).
    ``tests`` are the lab tests (contract 1.1 names) whose results complete a next step: the
    explanation shows the patient's results beside it, and a step whose every test is resulted
    comes after the steps still to do (a note asked for "serum vitamin B12 and folate" beside a
    B12 of 384 and a folate of 3.9 already in the record)."""

    text: str
    cite: tuple[str, ...] = ()
    drug_class: str | None = None
    tests: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cause:
    id: str
    label: str
    category: str
    prior_probability: float
    prior: float  # log-odds of prior_probability, rounded to 2 decimals (or the fitted value)
    prior_basis: str
    prior_cite: tuple[str, ...] = ()
    next_steps: tuple[NextStep, ...] = ()
    names_agent: bool = False
    line: int = 0
    considerations: tuple[NextStep, ...] = ()
    plain_label: str | None = None
    plain_summary: str | None = None


@dataclass(frozen=True)
class Drug:
    """A lexicon entry. ``cite`` backs the drug's class membership when the class's own sources
    do not name it (e.g. a neutropenia signal reported only in case reports); explanations add
    these citations to every evidence item that used the drug."""

    name: str
    classes: tuple[str, ...]
    rxnorm: str | None = None
    brands: tuple[str, ...] = ()
    cite: tuple[str, ...] = ()
    file: str = ""
    line: int = 0


@dataclass(frozen=True)
class AgeBand:
    """A parameter's value for ages below ``below`` years (and above the previous band)."""

    below: float
    value: float


@dataclass(frozen=True)
class Parameter:
    """A number the input side needs (a reference limit, a window), with its source.

    ``by_age`` holds bands for children, in increasing ``below`` order: the first band whose
    ``below`` exceeds the patient's age gives the value; past the last band, or when the age is
    unknown, ``value`` applies. Reference limits that change with age must agree with the rules
    that derive the same finding, or a child's count could be low by the rule and normal by the
    series (tests/kb/test_paediatric_ranges.py checks that they agree).
    """

    name: str
    value: float
    unit: str
    cite: tuple[str, ...] = ()
    note: str | None = None
    by_age: tuple[AgeBand, ...] = ()

    def at(self, age: float | None) -> float:
        if age is not None:
            for band in self.by_age:
                if age < band.below:
                    return band.value
        return self.value


@dataclass(frozen=True)
class Manifest:
    name: str
    version: str
    last_updated: dt.date | None
    description: str
    parameters: dict[str, Parameter] = field(default_factory=dict)
    model: ScoringModel = field(default_factory=lambda: ScoringModel())


@dataclass(frozen=True)
class ScoringModel:
    """The knowledge base's scoring constants (``model:`` in kb.yaml, or ``rules/fitted.yaml``).

    ``other_log_odds`` is the log-odds of "none of the known causes", the extra class of the
    softmax that gives each cause its probability; ``list_floor`` is the probability at or above
    which a cause is listed even when no evidence-for rule fired for it, provided the patient
    has one of the ``presentation`` findings (derived facts, e.g. a low white count): a patient
    without the presentation the knowledge base explains gets no such list.
    """

    other_log_odds: float = 0.0
    list_floor: float = 0.01
    presentation: tuple[str, ...] = ()
    basis: str = ""
    origin: str = "judgement"
    prior_other_log_odds: float | None = None  # the authored value, once a fit replaced it
    fitted_on: dt.date | None = None
    fitted_cases: int | None = None
