# SPDX-License-Identifier: Apache-2.0
"""CDS Hooks cards from a :class:`~engine.differential.Differential` (CDS Hooks 2.0, "Card").

* every alert becomes a card whose indicator is the alert's level in the knowledge base
  (``critical`` alerts -> ``critical`` cards);
* the ranked differential becomes one ``warning`` card (when an alert of level ``warning`` or
  ``critical`` fired) or ``info`` card, whose summary names the top cause;
* a drafted medication order that the knowledge base's rules connect with the current counts
  becomes one card (:func:`order_card`).

:func:`services` builds the discovery entries: the prefetch templates take their LOINC codes from
the FHIR terminology data and the order-select description lists the drugs and classes that the
knowledge base's rules name.

Each card's ``detail`` is GitHub-flavoured Markdown in which every statement carries numbered
markers that link to its source (PubMed, DOI, PMC or the label URL), followed by the numbered
reference list and the decision-support disclaimer; facts are worded as in the consult note (a
value with its unit and date, never a Python literal). ``source`` names the knowledge base and
version and links to the card's main citation.

With a :class:`Setting` (what the service knows besides the differential), cards also carry what
a clinician can act on: alert cards offer ``overrideReasons``; every card built from a
differential links to the patient's report; a card resting on a count older than the knowledge
base's lookback says "stale" with the count's date and age; :func:`count_card` suggests a CBC with
differential (``selectionBehavior: at-most-one``) when the latest count is stale or no ANC is on
file; :func:`dropped_card` names the counts the FHIR conversion could not use, and why.
Pure functions: nothing here does I/O.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from engine.differential import (
    DISCLAIMER,
    Alert,
    Candidate,
    Citation,
    Differential,
    Evidence,
    FactRef,
)
from engine.fhir.terms import Terminology
from engine.kb.load import KnowledgeBase
from engine.kb.schema import AddEvidence, Atom, Drug, RaiseAlert, Rule
from engine.service.actions import CBC_DIFF_TEXT, OVERRIDE_REASONS, order_cbc
from engine.service.freshness import Count, Freshness, age_text
from engine.service.models import (
    INDICATOR_ORDER,
    SUMMARY_LIMIT,
    Card,
    Indicator,
    Link,
    Service,
    Source,
    Suggestion,
)
from engine.wording import (
    finding_text,
    inputs_of,
    latest_counts,
    likelihood,
    percent,
    resulted_text,
    value_text,
    words,
)

TOP_CAUSES = 3  # causes shown in the differential card
MAX_FOR, MAX_AGAINST, MAX_NEXT = 3, 2, 3  # evidence and next steps shown per cause

_INDICATORS: dict[str, Indicator] = {"info": "info", "warning": "warning", "critical": "critical"}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")
_CITE_IDS = re.compile(r" ?\[[\w-]+\]")  # "[saag2008]" in a basis text: the markers say it

PATIENT_VIEW, ORDER_SELECT = "leukodx-patient-view", "leukodx-order-select"
HOOKS = {PATIENT_VIEW: "patient-view", ORDER_SELECT: "order-select"}
#: Contract tests whose Observations are prefetched (the LOINC codes come from the terminology).
#: The differential percentages are there because the engine computes the ANC (and ALC) from
#: WBC x (neutrophil% + band%) when no count is reported; blasts, because a critical alert
#: reads them.
PREFETCH_TESTS = (
    "wbc", "anc", "neutrophil_pct", "band_pct", "alc", "lymphocyte_pct", "hemoglobin",
    "platelets", "mcv", "vitamin_b12", "blasts_pct",
)  # fmt: skip
#: FHIR R4 MedicationRequest statuses; the prefetch asks only for those the FHIR reader uses.
_REQUEST_STATUSES = (
    "active", "on-hold", "cancelled", "completed", "entered-in-error", "stopped", "draft",
    "unknown",
)  # fmt: skip
_PID = "{{context.patientId}}"


@dataclass(frozen=True)
class PrefetchKey:
    """One prefetch template; a missing ``required`` key makes the service answer 412."""

    key: str
    template: str
    required: bool
    purpose: str


@dataclass(frozen=True)
class Setting:
    """What the service adds to the cards of one hook call, besides the differential.

    ``freshness`` dates the latest counts against the lookback (None: counts are not dated);
    ``report`` is the link to the patient's report; ``patient_id`` is the patient of the hook
    (the subject of a suggested order); ``citations`` resolve the lookback's sources."""

    freshness: Freshness | None = None
    report: Link | None = None
    patient_id: str | None = None
    citations: tuple[Citation, ...] = ()


@dataclass(frozen=True)
class Dropped:
    """A blood count, body temperature or fever the FHIR conversion could not use: its
    resource, test (a count, ``temperature`` or ``fever``), date and why."""

    resource: str
    test: str
    date: str | None
    reason: str
    drug: str | None = None  # the generic name, for a medication (``test`` is MEDICATION)


def prefetch_keys(terms: Terminology) -> tuple[PrefetchKey, ...]:
    """The prefetch templates of both services (R4 search syntax, newest first)."""
    loinc = terms.systems["loinc"]
    codes = sorted(
        (c for c, t in terms.tests.items() if t in PREFETCH_TESTS),
        key=lambda c: PREFETCH_TESTS.index(terms.tests[c]),
    )  # stable: file order
    labs = ",".join(f"{loinc}|{code}" for code in codes)
    # the site codes too: a system that files oral temperatures under 8331-1 alone never sent them
    sites = sorted(terms.fever_loincs - {terms.fever_loinc})
    temperatures = ",".join(f"{loinc}|{code}" for code in (terms.fever_loinc, *sites))
    skip = terms.skip_status["MedicationRequest"]
    status = ",".join(s for s in _REQUEST_STATUSES if s not in skip)
    # _revinclude brings the DiagnosticReports that list the results: their date is the date of
    # a result that carries none of its own (engine/fhir/convert.py)
    return (
        PrefetchKey("patient", f"Patient/{_PID}", True, "age and sex"),
        PrefetchKey("labs", f"Observation?patient={_PID}&code={labs}&_sort=-date&_count=200"
                    "&_revinclude=DiagnosticReport:result", True, "blood counts"),
        PrefetchKey("temperature", f"Observation?patient={_PID}&code={temperatures}"
                    "&_sort=-date&_count=20", False, "body temperature"),
        PrefetchKey("medications", f"MedicationRequest?patient={_PID}&status={status}", True,
                    "medication orders"),
        PrefetchKey("medicationStatements", f"MedicationStatement?patient={_PID}", False,
                    "medications taken"),
        PrefetchKey("conditions", f"Condition?patient={_PID}", True, "conditions and findings"),
    )  # fmt: skip


def drug_rules(
    kb: KnowledgeBase, agents: Sequence[str], *, alerts_only: bool = False
) -> frozenset[str]:
    """Ids of the alert and evidence rules that name one of ``agents`` (a drug or its classes);
    with ``alerts_only``, the alert rules alone (a drug not yet given: its evidence rules say
    the count arose on the drug, which a draft order cannot have caused)."""
    wanted = set(agents)
    return frozenset(
        r.id for r in kb.rules
        if (isinstance(r.then, RaiseAlert) if alerts_only else _relevant(r)) and _named(r) & wanted
    )  # fmt: skip


def initiation_rules(kb: KnowledgeBase) -> frozenset[str]:
    """Alert rules about starting a drug: a medication pattern that reads the count before the
    start (``baseline_anc``). For a draft order they come first: the on-treatment rows of a
    label's table speak of a drug already taken."""
    return frozenset(
        r.id for r in kb.rules
        if isinstance(r.then, RaiseAlert)
        and any(_reads_baseline(lit.atom) for branch in r.branches for lit in branch)
    )  # fmt: skip


def _reads_baseline(atom: Atom) -> bool:
    return atom.kind == "medication" and any(t.field.startswith("baseline") for t in atom.tests)


def _relevant(rule: Rule) -> bool:
    return isinstance(rule.then, (RaiseAlert, AddEvidence))


def _named(rule: Rule) -> set[str]:
    return {
        lit.atom.name
        for branch in rule.branches
        for lit in branch
        if lit.atom.kind == "medication" and not lit.negated
    }


def services(kb: KnowledgeBase, terms: Terminology) -> list[Service]:
    """The discovery entries of the two services."""
    prefetch = {k.key: k.template for k in prefetch_keys(terms)}
    agents = sorted({a for r in kb.rules if _relevant(r) for a in _named(r)})
    return [
        Service(hook="patient-view", id=PATIENT_VIEW, prefetch=prefetch,
                title="Leukopenia and neutropenia differential (leukodx)",
                description="Ranks the causes of a low white cell or neutrophil count from the "
                "prefetched counts, medications and conditions, with urgent alerts (e.g. febrile "
                "neutropenia) as separate cards; every statement links to its published source."),
        Service(hook="order-select", id=ORDER_SELECT, prefetch=prefetch,
                title="Drug order check against the blood count (leukodx)",
                description="Checks a selected draft MedicationRequest against the patient's "
                "latest counts, for the drugs and drug classes the knowledge base's rules name: "
                + ", ".join(a.replace("_", " ") for a in agents) + "."),
    ]  # fmt: skip


def citation_url(c: Citation) -> str | None:
    """The web address of a reference: PubMed, else DOI, else PMC, else its URL."""
    if c.pmid:
        return f"https://pubmed.ncbi.nlm.nih.gov/{c.pmid}/"
    if c.doi:
        return _safe(f"https://doi.org/{c.doi}")
    if c.pmcid:
        return f"https://www.ncbi.nlm.nih.gov/pmc/articles/{c.pmcid}/"
    return _safe(c.url) if c.url else None


def _safe(url: str) -> str:
    """A URL that cannot end a Markdown link or autolink early."""
    for char, code in ((" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E")):
        url = url.replace(char, code)
    return url


def md(text: str) -> str:
    """Plain text made safe for Markdown (special characters escaped, whitespace collapsed)."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def fit(text: str, limit: int = SUMMARY_LIMIT - 1) -> str:
    """``text`` on one line, cut at a word boundary with an ellipsis when longer than ``limit``."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0].rstrip(" ,;:-(")
    return cut + "…"


class References:
    """Numbers citations in order of first use; markers link straight to the source."""

    def __init__(self, citations: Sequence[Citation], extra: Sequence[Citation] = ()) -> None:
        self._by_id = {c.id: c for c in (*extra, *citations)}
        self.order: list[str] = []

    def mark(self, ids: Sequence[str]) -> str:
        marks = []
        for cid in ids:
            if cid not in self._by_id:
                continue
            if cid not in self.order:
                self.order.append(cid)
            number = self.order.index(cid) + 1
            url = citation_url(self._by_id[cid])
            marks.append(f"[[{number}]]({url})" if url else f"\\[{number}\\]")
        return (" " + "".join(marks)) if marks else ""

    def main_url(self, ids: Sequence[str]) -> str | None:
        """The link of the first resolvable citation in ``ids``."""
        for cid in ids:
            if cid in self._by_id:
                return citation_url(self._by_id[cid])
        return None

    def markdown(self) -> str:
        lines = ["**References**", ""]
        for number, cid in enumerate(self.order, start=1):
            lines.append(f"{number}. {_reference(self._by_id[cid])}")
        return "\n".join(lines)


@functools.lru_cache(maxsize=2048)
def _reference(c: Citation) -> str:
    """A numbered reference's text. Remembered per citation (a frozen model, equal when its
    fields are): every card of every call lists the same few dozen sources."""
    parts = [md(p).rstrip(".") for p in (c.authors, c.title) if p]
    year = c.year if c.year and str(c.year) not in (c.source or "") else None
    where = ", ".join(md(str(p)) for p in (c.source, year) if p)
    if c.label_section:
        where += f"{', ' if where else ''}section {md(c.label_section)}"
    links = []
    if c.pmid:
        links.append(f"[PMID {md(c.pmid)}](https://pubmed.ncbi.nlm.nih.gov/{c.pmid}/)")
    if c.doi:
        links.append(f"[doi:{md(c.doi)}]({_safe('https://doi.org/' + c.doi)})")
    if c.pmcid:
        links.append(f"[{md(c.pmcid)}](https://www.ncbi.nlm.nih.gov/pmc/articles/{c.pmcid}/)")
    if c.url and not (c.pmid or c.doi or c.pmcid):
        links.append(f"<{_safe(c.url)}>")
    text = ". ".join([*parts, *([where.rstrip(".")] if where else [])])
    return f"{text}. {' · '.join(links)} ({md(c.kind.replace('_', ' '))})"


@dataclass(frozen=True)
class DrugFindings:
    """What the knowledge base says about one drafted drug, given the current counts."""

    drug: str  # the generic name (or the name as ordered when unknown)
    alerts: tuple[Alert, ...]  # alerts whose rules name the drug or one of its classes
    evidence: tuple[tuple[Candidate, Evidence], ...]  # evidence items whose rules name it
    other_alerts: tuple[Alert, ...]  # every other alert that fired
    lowers_counts: bool = False  # the knowledge base names the drug as one that lowers counts
    low_count: bool = False  # the patient has a neutropenia or leukopenia now

    @classmethod
    def of(
        cls, d: Differential, drug: str, rules: frozenset[str], *, lowers_counts: bool = False
    ) -> DrugFindings:
        """Split ``d`` into what the rules in ``rules`` (the drug's rules) found and the rest."""
        return cls(
            drug=drug,
            alerts=tuple(a for a in d.alerts if a.rule_id in rules),
            evidence=tuple((c, e) for c in d.candidates
                           for e in (*c.evidence_for, *c.evidence_against) if e.rule_id in rules),
            other_alerts=tuple(a for a in d.alerts if a.rule_id not in rules),
            lowers_counts=lowers_counts,
            low_count=any(f.fact in ("neutropenia", "leukopenia") and f.value is True
                          for f in d.findings),
        )  # fmt: skip

    @property
    def risky(self) -> bool:
        """The drug's own alerts fired, its evidence counts for a cause, or a drug that lowers
        counts is ordered while the count is low or raises alerts (severe neutropenia, fever)."""
        into_low = self.lowers_counts and (bool(self.other_alerts) or self.low_count)
        return bool(self.alerts) or any(e.weight > 0 for _, e in self.evidence) or into_low


def alert_card(d: Differential, alert: Alert, setting: Setting | None = None) -> Card:
    """One alert: indicator = the alert's level; summary = the head of its message with the dated
    values it rests on. A stale value is named as such, first, and the card says to repeat the
    count before acting; the override reasons are offered."""
    setting = setting or Setting()
    refs = References(d.citations, setting.citations)
    stale = _stale_inputs(d, [f.id for f in alert.facts], setting)
    body = [
        _stale_note("this alert rests on", stale, setting, refs),
        f"**{md(alert.level.capitalize())} alert** (rule `{alert.rule_id}`): "
        f"{md(alert.statement)}{refs.mark(alert.citations)}",
        f"{md(alert.message)}{refs.mark(alert.citations)}",
        _facts_block("Patient facts used", alert.facts),
    ]
    summary = _alert_summary(d, alert)
    if stale:
        summary = f"Stale ({age_text(stale[0].age_days).removesuffix(' ago')} old): {summary}"
    card = _card(d, summary, indicator(alert.level), body, refs, alert.citations, setting)
    return card.model_copy(update={"overrideReasons": list(OVERRIDE_REASONS)})


def count_card(d: Differential, setting: Setting, *, urgent: bool = False) -> Card | None:
    """The latest count is stale, or no ANC is on file: say which, with its date and age, and
    suggest a CBC with differential (one recommended suggestion; ``at-most-one``). None when the
    counts are current and the ANC known, or without a freshness or a patient id."""
    fresh, pid = setting.freshness, setting.patient_id
    if fresh is None or pid is None or not fresh.needs_cbc or fresh.headline is None:
        return None
    refs = References(d.citations, setting.citations)
    stale = fresh.stale
    if stale:
        first = stale[0]
        summary = f"Latest {first.text} — stale; order a {CBC_DIFF_TEXT}"
    else:
        summary = f"No ANC on file (latest {fresh.headline.text}); order a {CBC_DIFF_TEXT}"
    body = [
        f"As of {fresh.as_of.isoformat()} (the day this service answered)."
        + (" An ANC is needed for every neutropenia threshold." if fresh.anc_missing else ""),
        _counts_block(fresh),
        _lookback_text(fresh, refs),
        "The cards and the ranking rest on these counts; a new count may change them.",
    ]
    suggestion = order_cbc(pid, fit(summary, 200), urgent=urgent)
    cites = fresh.lookback.cite if fresh.lookback else ()
    card = _card(d, summary, "warning" if urgent else "info", body, refs, cites, setting)
    return _with_suggestion(card, suggestion)


def dropped_card(
    d: Differential, dropped: Sequence[Dropped], setting: Setting | None = None
) -> Card:
    """Blood counts the FHIR data held but the conversion could not use: which, when and why.
    A ``warning``: an alert may have rested on one of them."""
    setting = setting or Setting()
    refs = References(d.citations, setting.citations)
    tests = sorted({x.drug or _test_words(x.test) for x in dropped})
    n = len(dropped)
    fever = [x for x in dropped if x.test in FEVER_INPUTS]
    drugs = [x for x in dropped if x.test == MEDICATION]
    unknown = any(x.test == UNIDENTIFIED for x in dropped)
    kind = ("medication" if len(drugs) == n else "input" if drugs
            else "result" if fever or unknown else "blood count result")  # fmt: skip
    consequence = (
        f"fever could not be assessed from {'it' if n == 1 else 'them'}" if len(fever) == n
        else f"its drug alerts and causes were checked without {'it' if n == 1 else 'them'}"
        if len(drugs) == n
        else "alerts and ranking may rest on older values"
    )  # fmt: skip
    summary = f"{n} {kind}{'s' if n != 1 else ''} not used ({', '.join(tests)}): {consequence}"
    body = [*_not_used(dropped), "Check these results in the record: the cards of this patient "
            "were made without them."]  # fmt: skip
    if fever:
        body.append(_FEVER_NOT_USED)
    return _card(d, summary, "warning", body, refs, (), setting)


_FEVER_NOT_USED = (
    "A body temperature or fever that could not be used: the febrile-neutropenia alert cannot "
    "rest on it, so fever is not excluded. Check the patient's temperature."
)


def _not_used(dropped: Sequence[Dropped]) -> list[str]:
    lines = ["**Results not used**"]
    for x in dropped:
        when = f" dated {x.date}" if x.date else " (no usable date)"
        lines.append(
            f"- {md(x.drug or _test_words(x.test))}{when} ({md(x.resource)}): {md(x.reason)}"
        )
    return ["\n".join(lines)]


def partial_card(d: Differential, keys: Sequence[str], setting: Setting | None = None) -> Card:
    """A ``warning``: the search results of ``keys`` were read in part (more pages were left),
    so the cards rest only on what was read and the latest result may be among the rest."""
    setting = setting or Setting()
    refs = References(d.citations, setting.citations)
    named = ", ".join(keys)
    summary = f"Results read in part ({named}): later pages not read; recent results may be missing"
    body = [
        f"The {md(named)} search returned more pages than were read (a `next` link: a prefetched "
        "first page, or this service's fetch stopped at its page and resource limits), or the "
        "server's own error among its results (an OperationOutcome). The cards "
        "rest only on the results read; a server that does not return the newest first may have "
        "left today's results among the rest. Check the latest counts in the record.",
    ]
    return _card(d, summary, "warning", body, refs, (), setting)


def no_count_card(kb: KnowledgeBase, dropped: Sequence[Dropped], patient_id: str) -> Card:
    """The FHIR data held blood counts, but none could be used: a ``warning`` that says which
    and why, with a CBC to order. An empty answer here hid a febrile patient's ANC of 300 sent in
    a unit the reader does not know."""
    n = sum(x.test not in FEVER_INPUTS for x in dropped)
    kind = "result" if any(x.test == UNIDENTIFIED for x in dropped) else "blood count result"
    summary = f"{n} {kind}{'s' if n != 1 else ''} on file, none usable: no alert could be checked"
    body = [
        *_not_used(dropped),
        "No white cell or neutrophil count could be used, so no neutropenia alert (febrile, "
        "severe, drug-specific) was checked. Check these results in the record, or repeat the "
        "count.",
    ]
    if any(x.test in FEVER_INPUTS for x in dropped):
        body.append(_FEVER_NOT_USED)
    suggestion = order_cbc(patient_id, "Blood counts on file could not be used")
    return _bare_card(kb, summary, "warning", body, suggestion)


def differential_card(
    d: Differential, not_prefetched: Sequence[str] = (), setting: Setting | None = None
) -> Card | None:
    """The ranked differential as one card naming the top cause; None without candidates."""
    top = d.top
    if top is None:
        return None
    setting = setting or Setting()
    refs = References(d.citations, setting.citations)
    n = len(d.candidates)
    others = f" ({n - 1} other cause{'s' if n > 2 else ''} ranked below)" if n > 1 else ""
    summary = fit(f"Top-ranked cause of the low count: {top.label}{others}")
    counts = latest_counts(d)
    body = [
        f"**Latest counts**: {md('; '.join(counts))}." if counts else "",
        _stale_note("the ranking rests on", _stale_inputs(d, _COUNT_IDS, setting), setting, refs),
        f"leukodx ranked {n} candidate cause{'s' if n != 1 else ''} as of {d.as_of}; "
        f"the top {min(n, TOP_CAUSES)} with their key evidence:",
    ]
    for cand in d.candidates[:TOP_CAUSES]:
        body.append(_candidate_block(cand, refs, next_steps=cand is top))
    body.append(_findings_block(d, refs))
    if not_prefetched:
        absent = md(", ".join(not_prefetched))
        body.append(f"Not prefetched by the EHR, so not considered: {absent}.")
    urgent = any(a.level in ("warning", "critical") for a in d.alerts)
    level: Indicator = "warning" if urgent else "info"
    best = max(top.evidence_for, key=lambda e: e.weight, default=None)  # else the first reference
    return _card(d, summary, level, body, refs, best.citations if best else refs.order, setting)


def order_card(
    d: Differential, found: DrugFindings, setting: Setting | None = None,
    first: frozenset[str] = frozenset(),
) -> Card:  # fmt: skip
    """A drafted order the knowledge base flags, given the current counts (order-select). When
    the counts are stale or no ANC is on file, it also suggests a CBC with differential. The
    alerts of rules in ``first`` (about starting the drug) lead, then by level."""
    setting = setting or Setting()
    refs = References(d.citations, setting.citations)
    alerts = sorted(found.alerts, key=lambda a: (a.rule_id not in first, -_rank(a.level)))
    level: Indicator = (
        indicator(max(alerts, key=lambda a: _rank(a.level)).level) if alerts else "warning"
    )
    during = sorted(found.other_alerts, key=lambda a: -_rank(a.level))
    if not alerts and found.lowers_counts and during:  # a drug that lowers counts, into a low one
        level = indicator(during[0].level)
    if not found.risky:  # only the count is in question: stale, or no ANC on file
        level = "info"
    head = (
        _alert_summary(d, alerts[0])
        if alerts
        else f"a drug that can lower blood counts, ordered during: {_alert_summary(d, during[0])}"
        if found.lowers_counts and during
        else "a drug that can lower blood counts, ordered during a low white cell count"
        if found.lowers_counts and found.low_count
        else (
            f"the current counts match {len(found.evidence)} knowledge-base rule(s) for this drug"
        )
    )
    summary = fit(f"Order for {found.drug}: {head[0].lower()}{head[1:]}")
    lines = [
        f"- **{md(a.level.capitalize())}**: {md(a.message)}{refs.mark(a.citations)}" for a in alerts
    ]
    lines += [
        f"- Evidence {'for' if e.weight > 0 else 'against'} *{md(c.label)}* "
        f"({e.weight:+g}): {md(e.statement)}{refs.mark(e.citations)}"
        for c, e in found.evidence
    ]
    fresh = setting.freshness
    stale = fresh.stale if fresh else ()
    if stale:
        then = head if found.risky else f"order a {CBC_DIFF_TEXT} first"
        summary = fit(f"Order for {found.drug}: latest {stale[0].text} — stale; {then}")
    elif fresh and fresh.anc_missing and not found.risky:
        summary = fit(f"Order for {found.drug}: no ANC on file; order a {CBC_DIFF_TEXT} first")
    body = [
        f"The draft order for **{md(found.drug)}** was added as an active medication "
        f"starting {d.as_of} and checked against the patient's latest counts"
        + (
            ": the drug is not given yet, so where an alert says to stop or interrupt it, read "
            "do not start it."
            if alerts
            else "."
        ),
        _stale_note("this check rests on", stale, setting, refs),
        "\n".join(lines),
    ]
    if found.other_alerts:
        body.append(
            "**Other alerts for this patient**\n"
            + "\n".join(
                f"- **{md(a.level.capitalize())}**: {md(a.statement)}{refs.mark(a.citations)}"
                for a in found.other_alerts
            )
        )
    facts = {f.id: f for a in found.alerts for f in a.facts}
    facts.update({f.id: f for _, e in found.evidence for f in e.facts})
    body.append(_facts_block("Patient facts used", list(facts.values())))
    cites = [c for a in alerts for c in a.citations]
    cites += [c for _, e in found.evidence for c in e.citations]
    if fresh and fresh.needs_cbc:
        body += [_counts_block(fresh), _lookback_text(fresh, refs)]
    card = _card(d, summary, level, body, refs, cites or refs.order, setting)
    card = card.model_copy(update={"overrideReasons": list(OVERRIDE_REASONS)})
    if fresh and fresh.needs_cbc and setting.patient_id:
        reason = f"Before {found.drug}: " + (
            f"latest {stale[0].text} is stale" if stale else "no ANC on file"
        )
        card = _with_suggestion(card, order_cbc(setting.patient_id, reason))
    return card


def unread_order_card(
    kb: KnowledgeBase, given: str, near: Sequence[Drug], d: Differential | None
) -> Card:
    """A drafted drug whose name the lexicon does not read but that looks like ``near`` (one of
    its drugs): the order was not checked. A ``warning``, since the drug it looks like has
    rules; it names the patient's critical alerts, if any (a febrile neutropenia the drug might
    be the wrong thing to start into)."""
    critical = [a for a in (d.alerts if d else []) if a.level == "critical"]
    guess = " or ".join(f"`{md(x.name)}`" for x in near)
    body = [
        f"leukodx does not know the drug name `{md(given)}`"
        + (f" (did you mean {guess}?)" if guess else "")
        + ", so this order was not checked against the patient's blood counts, and no "
        "drug-specific rule (a label's ANC table, a drug to stop at a low count) was applied. "
        "Check the drug by hand, or order it under its generic name."
    ]
    if critical:
        body.append(
            "The patient has critical alerts now: "
            + "; ".join(md(_alert_summary(d, a)) for a in critical if d is not None)
            + "."
        )
    return _bare_card(kb, f"Order for {given}: drug name not recognised, not checked",
                      "warning", body, None)  # fmt: skip


def unidentified_order_card(kb: KnowledgeBase, why: str) -> Card:
    """A draft order whose drug the FHIR reader could not identify (an NDC code alone, a
    reference to a Medication that is not there): a ``warning`` that it was not checked, since
    it may be a drug with a label's ANC table."""
    body = [
        f"The drug of this order could not be identified ({md(why)}), so the order was not "
        "checked against the patient's blood counts, and no drug-specific rule (a label's ANC "
        "table, a drug to stop at a low count) was applied. Check the drug by hand, or order it "
        "with an RxNorm code or its generic name."
    ]
    return _bare_card(kb, "Order for an unidentified drug: not checked", "warning", body, None)


def notice_card(
    kb: KnowledgeBase, summary: str, text: str, suggestion: Suggestion | None = None
) -> Card:
    """An ``info`` card without a differential (e.g. an order that cannot be checked), with a
    suggestion when there is something to do (order the missing count)."""
    return _bare_card(kb, summary, "info", [md(text)], suggestion)


def _bare_card(
    kb: KnowledgeBase, summary: str, level: Indicator, body: list[str],
    suggestion: Suggestion | None,
) -> Card:  # fmt: skip
    """A card with no differential behind it: its markdown ``body``, the disclaimer, the
    knowledge base as source, and a suggestion when there is something to do."""
    card = Card(
        uuid=str(uuid.uuid4()),
        summary=fit(summary),
        indicator=level,
        detail="\n\n".join([*body, f"*{md(DISCLAIMER)}*"]),
        source=Source(label=f"{kb.name} {kb.version}"),
    )
    return _with_suggestion(card, suggestion) if suggestion else card


def _card(d: Differential, summary: str, level: Indicator, body: list[str], refs: References,
          main: Sequence[str], setting: Setting | None = None) -> Card:  # fmt: skip
    parts = [p for p in body if p]
    if refs.order:
        parts.append(refs.markdown())
    parts.append(f"*{md(d.disclaimer)}*")
    kb = d.knowledge_base
    source = Source(label=f"{kb.name} {kb.version}", url=refs.main_url(main))
    report = setting.report if setting else None
    return Card(
        uuid=str(uuid.uuid4()),
        summary=fit(summary),
        detail="\n\n".join(parts),
        indicator=level,
        source=source,
        links=[report] if report else None,
    )


def _with_suggestion(card: Card, suggestion: Suggestion) -> Card:
    """``card`` with one suggestion; CDS Hooks requires a ``selectionBehavior`` with it."""
    return card.model_copy(update={"suggestions": [suggestion], "selectionBehavior": "at-most-one"})


#: The latest-count facts whose age makes a differential card stale.
_COUNT_IDS = ("v:anc", "v:wbc")


def _stale_inputs(d: Differential, ids: Sequence[str], setting: Setting) -> list[Count]:
    """The stale latest counts among the input facts behind ``ids``."""
    if setting.freshness is None:
        return []
    return setting.freshness.stale_dates(inputs_of(d, ids))


def _stale_note(what: str, stale: Sequence[Count], setting: Setting, refs: References) -> str:
    """``**Stale**: this alert rests on ANC 0.6 x 10^9/L on 2025-02-10, 22 months ago ...``."""
    fresh = setting.freshness
    if not stale or fresh is None or fresh.lookback is None:
        return ""
    counts = "; ".join(c.text for c in stale)
    return (
        f"**Stale**: {what} {md(counts)}, older than the {fresh.lookback.days}-day lookback "
        f"as of {fresh.as_of.isoformat()}{refs.mark(fresh.lookback.cite)}. It describes the "
        f"patient then, not now: repeat the count (a {CBC_DIFF_TEXT}) before acting on it."
    )


def _counts_block(fresh: Freshness) -> str:
    """The latest WBC and ANC with their dates and ages, each called current or stale."""
    lines = ["**Latest counts on file**"]
    for count in fresh.counts.values():
        state = "stale" if fresh.is_stale(count) else "current"
        lines.append(f"- {md(count.text)} ({state})")
    if fresh.anc_missing:
        lines.append("- ANC: none that could be read, and no differential to compute it from")
    return "\n".join(lines)


def _lookback_text(fresh: Freshness, refs: References) -> str:
    """Which lookback applies and why, with its sources."""
    lb = fresh.lookback
    if lb is None:
        return ""
    who = f"while taking {md(lb.drug)}" if lb.drug else "for any patient"
    return (
        f"A count older than {lb.days} days is called stale {who}{refs.mark(lb.cite)}: "
        f"{md(_CITE_IDS.sub('', lb.basis))}"
    )


#: Dropped inputs that are not blood counts: what febrile neutropenia rests on.
FEVER_INPUTS = {"temperature": "body temperature", "fever": "fever"}
#: The ``test`` of a medication the FHIR conversion did not use (a :class:`Dropped`).
MEDICATION = "medication"
#: The ``test`` of an Observation with no code leukodx knows (a local code or text alone).
UNIDENTIFIED = "unidentified"


def _test_words(test: str) -> str:
    if test in FEVER_INPUTS:
        return FEVER_INPUTS[test]
    if test == UNIDENTIFIED:
        return "result with no code leukodx knows"
    return words(test) if test else "blood count"


def _rank(level: str) -> int:
    return INDICATOR_ORDER.index(level) if level in INDICATOR_ORDER else 1


def indicator(level: str) -> Indicator:
    """A knowledge-base alert level as a card indicator (an unknown level counts as warning)."""
    return _INDICATORS.get(level, "warning")


_CLAUSE_END = re.compile(r", |; |\. ")


def _alert_summary(d: Differential, alert: Alert) -> str:
    """The head of the alert's message (up to its first colon), plus the dated values it rests on
    (``ANC 0.108 x 10^9/L on 2020-01-25``)."""
    message = " ".join(alert.message.split())
    head = message.split(": ", 1)[0] if ": " in message else message.split(". ", 1)[0]
    if ": " in message and len(head.split()) <= 2:  # "Clozapine: no ANC on file, so ...": the
        clause = _CLAUSE_END.split(message.split(": ", 1)[1], maxsplit=1)[0]  # drug's name alone
        head = f"{head}: {clause}"  # said nothing
    values = [
        value_text(f)
        for f in inputs_of(d, [f.id for f in alert.facts])
        if isinstance(f.value, (int, float)) and not isinstance(f.value, bool)
    ]
    text = f"{fit(head, 80)} ({'; '.join(values)})" if values else head
    return fit(text.rstrip(". "))


def _candidate_block(cand: Candidate, refs: References, *, next_steps: bool) -> str:
    chance = f"{likelihood(cand.probability)}, {percent(cand.probability)}"
    lines = [f"**{cand.rank}. {md(cand.label)}** ({chance}; score {cand.score:+.2f})"]
    strongest = sorted(cand.evidence_for, key=lambda e: -e.weight)[:MAX_FOR]
    against = sorted(cand.evidence_against, key=lambda e: e.weight)[:MAX_AGAINST]
    for label, items in (("For", strongest), ("Against", against)):
        lines += [
            f"- {label} ({e.weight:+g}): {md(e.statement)}{refs.mark(e.citations)}" for e in items
        ]
    if next_steps:
        lines += [
            f"- Next step: {md(s.text)}{refs.mark(s.citations)}{md(resulted_text(s))}"
            for s in cand.next_steps[:MAX_NEXT]
        ]
    return "\n".join(lines)


def _findings_block(d: Differential, refs: References) -> str:
    """Each finding in words, with the dated values it rests on, then the rule's statement."""
    lines = ["**Derived findings**"]
    for f in d.findings:
        on = "; ".join(value_text(r) for r in inputs_of(d, [u.id for u in f.used]))
        text = finding_text(f) + (f" ({on})" if on else "")
        lines.append(f"- {md(text)} — {md(f.statement)}{refs.mark(f.citations)}")
    return "\n".join(lines) if len(lines) > 1 else ""


def _facts_block(title: str, facts: Sequence[FactRef]) -> str:
    if not facts:
        return ""
    lines = [f"**{title}**"]
    for f in facts:  # a course's and a record's own sentence names them; a value's does not
        said = f.how if f.id.startswith(("x:", "m:")) else f"{value_text(f)}: {f.how}"
        lines.append(f"- {md(said)}")
    return "\n".join(lines)
