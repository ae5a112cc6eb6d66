# SPDX-License-Identifier: Apache-2.0
"""The output: a ranked differential with its complete citation chain (contract section 3).

Pydantic models, serialisable to JSON. Identical input gives byte-identical JSON
(:meth:`Differential.to_json`): every list here is in a defined order and nothing depends on the
clock except ``as_of`` when the input gives no date at all.
"""

from __future__ import annotations

from typing import NoReturn

from pydantic import BaseModel, ConfigDict

Scalar = str | int | float | bool

DISCLAIMER = (
    "Decision support for clinicians and researchers, not a diagnosis and not a medical device. "
    "Every conclusion must be checked against the patient and the cited sources."
)

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class FactRef(BaseModel):
    """A fact a rule used: its id, name, value, and how it was obtained."""

    model_config = _FROZEN
    id: str
    name: str
    value: Scalar
    how: str


class Link(BaseModel):
    """One derivation step: a derived fact, the rule that derived it, and what it used."""

    model_config = _FROZEN
    fact: FactRef
    rule_id: str
    statement: str
    citations: list[str]
    used: list[FactRef]


#: How evidence is grouped for reading, by the source type of its strongest citation.
EVIDENCE_GROUPS: tuple[str, ...] = ("guidelines", "drug_label", "research")


class Evidence(BaseModel):
    """A rule that moved a candidate's score. ``source_kind`` is the strongest type among its
    citations (guideline > drug_label > systematic_review > cohort > case_series > case_report >
    narrative_review > expert_opinion) and ``group`` the reading group it belongs to.

    ``weight`` is the natural log of the likelihood ratio ``lr``; ``origin`` says where the
    ratio comes from (literature, fitted or judgement); a fitted ratio keeps the authored one in
    ``prior_lr`` and the number of development cases it was fitted on in ``fitted_cases``."""

    model_config = _FROZEN
    rule_id: str
    statement: str
    weight: float
    facts: list[FactRef]
    citations: list[str]
    chain: list[Link]
    source_kind: str
    group: str
    review_status: str
    lr: float = 1.0
    origin: str = "judgement"
    prior_lr: float | None = None
    fitted_cases: int | None = None


class SharedList(list[str]):
    """A list that many results share: the citations of a cause's next steps and considerations
    are the knowledge base's constants, built once and shared by every differential (issue 18).
    It reads like any list; changing it raises, since the change would have reached every later
    result of the process (clearing one result's citations emptied them for every later patient,
    and appending an unknown id made every later ``diagnose()`` fail; probe 12). A copy
    (``list(x)``, :func:`copy.copy`, :func:`copy.deepcopy`, pickling) is a plain list."""

    def _shared(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(
            "this list is shared by every result of the knowledge base; copy it first (list(x))"
        )

    append = extend = insert = remove = pop = clear = sort = reverse = _shared
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _shared

    def __copy__(self) -> list[str]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, object]) -> list[str]:
        return list(self)

    def __reduce__(self) -> tuple[type[list[str]], tuple[list[str]]]:
        return list, (list(self),)


class NextStep(BaseModel):
    """A test or action for one candidate. ``resulted``: the patient's results for the tests that
    complete the step (contract addition; empty when the step names no test or none is
    resulted); a step whose every test is resulted comes after the steps still to do."""

    model_config = _FROZEN
    text: str
    citations: list[str]
    resulted: tuple[FactRef, ...] = ()


class AskNext(BaseModel):
    """An unknown fact (a lab not measured, a finding not recorded) whose rules could move this
    candidate's score by up to ``could_add`` or ``could_remove`` (see engine/ask.py)."""

    model_config = _FROZEN
    fact: str
    could_add: float
    could_remove: float
    rules: list[str]


class Candidate(BaseModel):
    model_config = _FROZEN
    cause: str
    label: str
    category: str
    rank: int
    score: float
    prior: float
    prior_probability: float
    agents: list[str]
    evidence_for: list[Evidence]
    evidence_against: list[Evidence]
    next_steps: list[NextStep]
    considerations: list[NextStep]
    ask_next: list[AskNext]
    summary: str | None = None
    #: softmax of the scores over every cause and "none of them" (engine/rank.py)
    probability: float = 0.0


class Finding(BaseModel):
    """A derived fact, from a rule (``rule_id``) or from series arithmetic (``rule_id`` None)."""

    model_config = _FROZEN
    fact: str
    value: Scalar
    rule_id: str | None
    statement: str
    citations: list[str]
    used: list[FactRef]


class Alert(BaseModel):
    model_config = _FROZEN
    id: str
    level: str
    message: str
    rule_id: str
    statement: str
    citations: list[str]
    facts: list[FactRef]
    chain: list[Link]


class Citation(BaseModel):
    """A resolved reference. The engine builds it from the knowledge base's
    :meth:`engine.kb.schema.Citation.published`, whose fields these are (a test holds the two
    together), so a field cannot be added to one and forgotten in the other."""

    model_config = _FROZEN
    id: str
    kind: str
    evidence_grade: str | None = None
    title: str
    authors: str | None = None
    source: str | None = None
    year: int | None = None
    pmid: str | None = None
    doi: str | None = None
    pmcid: str | None = None
    url: str | None = None
    label_section: str | None = None


#: What a trace entry's ``effect`` says after its words when the rule fired but added nothing,
#: because another rule that fired counts the same finding (``Rule.counted_by``):
#: ``evidence <cause> <weight> (not counted: <rule ids> counts this finding)``.
UNCOUNTED = " (not counted: "


class TraceEntry(BaseModel):
    """One rule firing. Rules fire stratum by stratum (derivations before their users)."""

    model_config = _FROZEN
    seq: int
    stratum: int
    rule_id: str
    matched: list[str]
    asserted: list[str]
    effect: str


class KnowledgeBaseInfo(BaseModel):
    model_config = _FROZEN
    name: str
    version: str
    content_hash: str
    last_updated: str | None


class EngineInfo(BaseModel):
    model_config = _FROZEN
    name: str
    version: str
    backend: str


class RuleStatus(BaseModel):
    """Review status of a rule that contributed to this result (its file's header)."""

    model_config = _FROZEN
    rule_id: str
    file: str
    review_status: str
    last_reviewed: str | None
    review_by: str | None


class IgnoredInput(BaseModel):
    """Input that was understood but not used (e.g. a FHIR resource with an unknown code)."""

    model_config = _FROZEN
    item: str
    reason: str


class Differential(BaseModel):
    """Contract section 3."""

    model_config = _FROZEN
    schema_version: int
    patient_id: str | None
    as_of: str
    audience: str
    disclaimer: str
    knowledge_base: KnowledgeBaseInfo
    engine: EngineInfo
    findings: list[Finding]
    alerts: list[Alert]
    candidates: list[Candidate]
    citations: list[Citation]
    facts: list[FactRef]
    trace: list[TraceEntry]
    rules_used: list[RuleStatus]
    unknown_medications: list[str]
    ignored_inputs: list[IgnoredInput]

    def to_json(self, *, indent: int | None = None) -> str:
        """Deterministic JSON (same input, same bytes); compact unless ``indent`` is given (a
        differential is tens of kilobytes, and indentation was an eighth of its cost).

        The compact form is ``model_dump_json()`` byte for byte, put together from the fields
        before and after ``citations`` and each citation's own JSON, which is made once per
        citation object (they are the knowledge base's constants, shared by every
        differential): the citations are a fifth of the bytes, and serialising them again for
        every patient was about a quarter of the cost of this call."""
        if indent is not None:
            return self.model_dump_json(indent=indent)
        head = self.model_dump_json(include=_BEFORE_CITATIONS)
        tail = self.model_dump_json(include=_AFTER_CITATIONS)
        cited = ",".join([_citation_json(c) for c in self.citations])
        return "".join((head[:-1], ',"citations":[', cited, "],", tail[1:]))

    def candidate(self, cause: str) -> Candidate | None:
        return next((c for c in self.candidates if c.cause == cause), None)

    @property
    def top(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    def to_record(self, top_k: int = 3) -> dict[str, Scalar | None]:
        """One flat row for tables (CSV, Parquet, a pandas DataFrame), because the nested JSON
        needs ``json_normalize`` before it can be counted. The columns are always the same for a
        given ``top_k``, in this order (None where there is nothing to say):

        ``patient_id``, ``as_of``, ``knowledge_base`` (name and version), ``backend``;
        ``alerts`` (the alert ids, ``;``-separated), ``n_alerts``, ``alert_level`` (the most
        urgent: critical, warning, info, or None); ``findings``, every derived finding as
        ``fact=value`` (``;``-separated, booleans as true/false, in the order of ``findings``);
        ``n_candidates``; for k = 1..``top_k``:
        ``top{k}_cause``, ``top{k}_score``, ``top{k}_probability``;
        ``unknown_medications`` (``;``-separated); and ``n_ignored_inputs`` and
        ``ignored_inputs`` (``item: reason``, ``;``-separated): inputs that were not used, so
        that a row with no alert because its only ANC was unusable does not look like a normal
        count.
        """
        levels = {a.level for a in self.alerts}
        row: dict[str, Scalar | None] = {
            "patient_id": self.patient_id,
            "as_of": self.as_of,
            "knowledge_base": f"{self.knowledge_base.name} {self.knowledge_base.version}",
            "backend": self.engine.backend,
            "alerts": ";".join(a.id for a in self.alerts),
            "n_alerts": len(self.alerts),
            "alert_level": next((x for x in ("critical", "warning", "info") if x in levels), None),
        }
        row["findings"] = ";".join(
            f"{f.fact}={str(f.value).lower() if isinstance(f.value, bool) else f.value}"
            for f in self.findings
        )
        row["n_candidates"] = len(self.candidates)
        for k in range(1, top_k + 1):
            c = self.candidates[k - 1] if k <= len(self.candidates) else None
            row[f"top{k}_cause"] = c.cause if c else None
            row[f"top{k}_score"] = c.score if c else None
            row[f"top{k}_probability"] = c.probability if c else None
        row["unknown_medications"] = ";".join(self.unknown_medications)
        row["n_ignored_inputs"] = len(self.ignored_inputs)
        row["ignored_inputs"] = ";".join(f"{i.item}: {i.reason}" for i in self.ignored_inputs)
        return row


_FIELDS = tuple(Differential.model_fields)
_BEFORE_CITATIONS: set[str] = set(_FIELDS[: _FIELDS.index("citations")])
_AFTER_CITATIONS: set[str] = set(_FIELDS[_FIELDS.index("citations") + 1 :])
#: Each citation object's JSON, kept with the object (so that its id is not taken by another).
_CITATION_JSON: dict[int, tuple[Citation, str]] = {}
_CITATION_JSON_MAX = 4096  # citations parsed from JSON are new objects each time: bounded


def _citation_json(citation: Citation) -> str:
    entry = _CITATION_JSON.get(id(citation))
    if entry is None or entry[0] is not citation:
        if len(_CITATION_JSON) >= _CITATION_JSON_MAX:
            _CITATION_JSON.clear()
        entry = _CITATION_JSON[id(citation)] = (citation, citation.model_dump_json())
    return entry[1]
