# SPDX-License-Identifier: Apache-2.0
"""Firings + facts + ranking -> the :class:`~engine.differential.Differential`.

Shared by every backend: the backend only says which rules fired on which facts; this module turns
that into findings, alerts, candidates with their evidence and derivation chains, resolved
citations and the trace. Text rendering lives in :mod:`engine.render`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.ask import KnownFacts, ask_next
from engine.backends.base import DERIVED_PREFIX, Firing
from engine.differential import (
    DISCLAIMER,
    EVIDENCE_GROUPS,
    UNCOUNTED,
    Alert,
    AskNext,
    Candidate,
    Citation,
    Differential,
    EngineInfo,
    Evidence,
    FactRef,
    Finding,
    IgnoredInput,
    KnowledgeBaseInfo,
    Link,
    NextStep,
    RuleStatus,
    SharedList,
    TraceEntry,
)
from engine.facts import FactSet
from engine.kb.load import KnowledgeBase
from engine.kb.registry import CITATION_KINDS
from engine.kb.schema import AddEvidence, Derive, RaiseAlert, Rule
from engine.kb.schema import NextStep as KbStep
from engine.rank import Contribution, Ranked, rank
from engine.unchecked import unchecked
from engine.version import __version__
from engine.wording import fact_date

#: Candidates (by rank) for which the unknown facts that matter most are listed.
ASK_RANKS = 3
#: How old a result may be and still stand beside a next step as done (days before ``as_of``).
RESULT_DAYS = 90

#: A next step as a shared output model, with the lab tests whose results complete it.
_Step = tuple[NextStep, tuple[str, ...]]

#: Series facts shown as findings (how they were computed is in their ``how``).
SERIES_FINDINGS: tuple[str, ...] = (
    "wbc_trend", "anc_trend", "leukopenia_duration_days", "cycle_period_days",
)  # fmt: skip


class _Constants:
    """Output objects that depend only on the knowledge base, built once per knowledge base and
    shared by every differential: they are frozen models, so sharing is safe, and rebuilding and
    re-validating them for every patient was about a third of the cost of an explanation."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._citations: dict[str, Citation] = {}
        self._steps: dict[tuple[str, str], list[tuple[NextStep, str | None, tuple[str, ...]]]] = {}
        self._status: dict[str, RuleStatus] = {}
        self._trace: dict[str, tuple[int, str]] = {}
        self._kinds: dict[tuple[str, ...], str] = {}

    def source_kind(self, cites: list[str]) -> str:
        """:func:`source_kind` of a citation list, remembered (the same lists recur)."""
        key = tuple(cites)
        found = self._kinds.get(key)
        if found is None:
            found = self._kinds[key] = source_kind(self.kb, key)
        return found

    def trace_step(self, rule_id: str) -> tuple[int, str]:
        """A fired rule's stratum and the trace's words for its effect."""
        found = self._trace.get(rule_id)
        if found is None:
            rule = self.kb.rule(rule_id)
            found = self._trace[rule_id] = (rule.stratum, _effect_text(rule))
        return found

    def citation(self, cid: str) -> Citation:
        c = self._citations.get(cid)
        if c is None:
            c = self._citations[cid] = Citation.model_validate(self.kb.citations[cid].published())
        return c

    def steps(self, cause: str, which: str, classes: frozenset[str] | None) -> list[_Step]:
        """A cause's next steps or considerations (a new list of the shared models, each with the
        tests that complete it): a step kept for one drug class only when the patient's
        medications include that class, or an unread name resembles a drug of it (``classes``;
        ``None``: every step)."""
        key = (cause, which)
        if key not in self._steps:
            self._steps[key] = _steps(getattr(self.kb.causes[cause], which))
        return [
            (model, tests)
            for model, drug_class, tests in self._steps[key]
            if drug_class is None or classes is None or drug_class in classes
        ]

    def status(self, rule_id: str) -> RuleStatus:
        s = self._status.get(rule_id)
        if s is None:
            s = self._status[rule_id] = _rule_status(self.kb, rule_id)
        return s


#: One :class:`_Constants` per knowledge base content hash (a handful at most per process).
_CONSTANTS: dict[str, _Constants] = {}


def _constants(kb: KnowledgeBase) -> _Constants:
    found = _CONSTANTS.get(kb.content_hash)
    if found is None or found.kb is not kb:
        found = _CONSTANTS[kb.content_hash] = _Constants(kb)
    return found


@dataclass
class _Context:
    kb: KnowledgeBase
    refs: dict[str, FactRef]
    firings: dict[str, Firing]
    cited: set[str]
    drugs: dict[str, str]  # medication-course fact id -> generic drug name
    constants: _Constants
    drug_classes: frozenset[str] | None  # recorded drugs, classes, what unread names resemble
    as_of: dt.date | None = None
    links: dict[str, Link] = field(default_factory=dict)  # one Link per derived fact, built once
    chains: dict[tuple[str, ...], list[Link]] = field(default_factory=dict)

    def ref(self, fid: str) -> FactRef:
        return self.refs[fid]

    def result(self, test: str) -> FactRef | None:
        """The patient's latest result of a lab test (a reticulocyte count given in % is
        ``reticulocytes_pct``) from the last ``RESULT_DAYS`` before ``as_of``, or None: a
        vitamin B12 of 2018 marked the 2025 step "done" (re-probe of probe 17)."""
        ref = self.refs.get(f"v:{test}") or self.refs.get(f"v:{test}_pct")
        if ref is None:
            return None
        day = fact_date(ref)
        if day is not None and self.as_of is not None:
            if (self.as_of - dt.date.fromisoformat(day)).days > RESULT_DAYS:
                return None
        return ref

    def link(self, fid: str) -> Link:
        """The derivation step of one derived fact (shared by every chain that reaches it)."""
        if fid not in self.links:
            rule_id = fid[len(DERIVED_PREFIX) :]
            firing = self.firings[rule_id]
            rule = self.kb.rule(rule_id)
            self.cited.update(rule.cite)
            self.links[fid] = unchecked(
                Link,
                fact=self.ref(fid),
                rule_id=rule_id,
                statement=rule.statement,
                citations=list(rule.cite),
                used=[self.ref(u) for u in firing.matched],
            )
        return self.links[fid]

    def chain(self, fids: tuple[str, ...] | list[str]) -> list[Link]:
        """Depth-first derivation chain of every derived fact among ``fids``, each link once
        (one walk per distinct ``fids``: many rules match the same derived facts; the models copy
        the list they are given, so sharing it is safe)."""
        key = tuple(fids)
        found = self.chains.get(key)
        if found is None:
            found = self.chains[key] = self._walk(key)
        return found

    def _walk(self, fids: tuple[str, ...]) -> list[Link]:
        links: list[Link] = []
        seen: set[str] = set()

        def visit(fid: str) -> None:
            if not fid.startswith(DERIVED_PREFIX) or fid in seen:
                return
            seen.add(fid)
            for used in self.firings[fid[len(DERIVED_PREFIX) :]].matched:
                visit(used)
            links.append(self.link(fid))

        for fid in fids:
            visit(fid)
        return links


def build_differential(
    kb: KnowledgeBase, facts: FactSet, firings: list[Firing], *, patient_id: str | None,
    backend: str, ignored: list[IgnoredInput] | None = None,
) -> Differential:  # fmt: skip
    firings = sorted(firings, key=lambda f: (kb.rule(f.rule_id).stratum, f.rule_id))
    by_rule = {f.rule_id: f for f in firings}
    drugs = {c.fid: c.drug for c in facts.courses}
    # the classes a step may be kept for: the courses' and those an unread name resembles (an
    # unread name that resembles no lexicon drug gave every class's steps, antithyroid steps
    # among them, to a patient on Femara and Kisqali; probe 16)
    classes = frozenset(
        [a for c in facts.courses for a in c.agents]
        + [m.name for m in facts.members if m.kind == "suspected_drug"]
    )
    ctx = _Context(
        kb, _fact_refs(kb, facts, firings), by_rule, set(), drugs, _constants(kb), classes,
        facts.as_of,
    )  # fmt: skip
    findings = _findings(ctx, facts, firings)
    alerts = [
        _alert(ctx, f, kb.rule(f.rule_id))
        for f in firings
        if isinstance(kb.rule(f.rule_id).then, RaiseAlert)
    ]
    alerts.sort(key=lambda a: (("critical", "warning", "info").index(a.level), a.id, a.rule_id))
    uncounted = kb.uncounted(by_rule)  # profile sides whose finding an authored rule counted
    contributions = [
        Contribution(r.then.cause, r.id, r.then.weight)
        for f in firings
        if isinstance((r := kb.rule(f.rule_id)).then, AddEvidence) and r.id not in uncounted
    ]
    priors = {cid: c.prior for cid, c in kb.causes.items()}
    known = KnownFacts(kb, facts, firings)
    model = kb.manifest.model
    derived = {
        r.then.fact
        for f in firings
        if isinstance((r := kb.rule(f.rule_id)).then, Derive) and r.then.value is True
    }
    ranked = rank(
        contributions, priors, other=model.other_log_odds, list_floor=model.list_floor,
        presentation=bool(derived & set(model.presentation)),
    )  # fmt: skip
    candidates = [_candidate(ctx, r, known) for r in ranked]
    return unchecked(
        Differential, schema_version=1, patient_id=patient_id, as_of=facts.as_of.isoformat(),
        audience="clinician", disclaimer=DISCLAIMER,
        knowledge_base=unchecked(
            KnowledgeBaseInfo,
            name=kb.name, version=kb.version, content_hash=kb.content_hash,
            last_updated=kb.manifest.last_updated.isoformat() if kb.manifest.last_updated else None,
        ),
        engine=unchecked(EngineInfo, name="leukodx", version=__version__, backend=backend),
        findings=findings, alerts=alerts, candidates=candidates,
        citations=[ctx.constants.citation(c) for c in sorted(ctx.cited)],
        facts=sorted(ctx.refs.values(), key=lambda r: r.id),
        trace=_trace(ctx, firings, uncounted),
        rules_used=[ctx.constants.status(r) for r in sorted({f.rule_id for f in firings})],
        unknown_medications=list(facts.unknown_medications),
        ignored_inputs=list(ignored or []),
    )  # fmt: skip


def _fact_refs(kb: KnowledgeBase, facts: FactSet, firings: list[Firing]) -> dict[str, FactRef]:
    refs = {
        fid: unchecked(FactRef, id=fid, name=name, value=value, how=how)
        for fid, (name, value, how) in facts.describe().items()
    }
    for f in firings:
        rule = kb.rule(f.rule_id)
        if isinstance(rule.then, Derive):
            fid = f.asserted[0]
            refs[fid] = unchecked(
                FactRef,
                id=fid,
                name=rule.then.fact,
                value=rule.then.value,
                how=f"derived by rule {rule.id}: {rule.statement}{_from_facts(refs, f.matched)}",
            )
    return refs


def _from_facts(refs: dict[str, FactRef], matched: Sequence[str]) -> str:
    """ " From: ..." naming the given facts a derived fact rests on, so that a reader sees what
    the patient's record said ("fever present" derived from a finding, and the body temperature
    that finding came from), not only the rule's general statement."""
    given = [refs[m].how for m in matched if m in refs and m.startswith("m:")]
    return f" From: {'; '.join(given)}." if given else ""


def _findings(ctx: _Context, facts: FactSet, firings: list[Firing]) -> list[Finding]:
    out = []
    for v in facts.values:
        if v.name in SERIES_FINDINGS:
            out.append(
                unchecked(
                    Finding,
                    fact=v.name,
                    value=v.value,
                    rule_id=None,
                    statement=v.how,
                    citations=[],
                    used=[],
                )
            )
    for f in firings:
        rule = ctx.kb.rule(f.rule_id)
        if isinstance(rule.then, Derive):
            ctx.cited.update(rule.cite)
            out.append(
                unchecked(
                    Finding,
                    fact=rule.then.fact,
                    value=rule.then.value,
                    rule_id=rule.id,
                    statement=rule.statement,
                    citations=list(rule.cite),
                    used=[ctx.ref(u) for u in f.matched],
                )
            )
    return sorted(out, key=lambda x: (x.fact, str(x.value), x.rule_id or ""))


def _cites(ctx: _Context, rule: Rule, firing: Firing) -> list[str]:
    """The rule's citations, then those of any lexicon drug the firing matched (the sources for
    that drug's class membership), each once."""
    out = list(rule.cite)
    for fid in firing.matched:
        drug = ctx.kb.lexicon.drugs.get(ctx.drugs.get(fid, ""))
        out.extend(c for c in (drug.cite if drug else ()) if c not in out)
    ctx.cited.update(out)
    return out


def _alert(ctx: _Context, firing: Firing, rule: Rule) -> Alert:
    assert isinstance(rule.then, RaiseAlert)
    return unchecked(
        Alert,
        id=rule.then.alert,
        level=rule.then.level,
        message=rule.then.message,
        rule_id=rule.id,
        statement=rule.statement,
        citations=_cites(ctx, rule, firing),
        facts=[ctx.ref(u) for u in firing.matched],
        chain=list(ctx.chain(firing.matched)),
    )


def _evidence(ctx: _Context, c: Contribution) -> Evidence:
    rule = ctx.kb.rule(c.rule_id)
    firing = ctx.firings[c.rule_id]
    cites = _cites(ctx, rule, firing)
    kind = ctx.constants.source_kind(cites)
    effect = rule.then
    assert isinstance(effect, AddEvidence)
    return unchecked(
        Evidence,
        rule_id=rule.id,
        statement=rule.statement,
        weight=c.weight,
        facts=[ctx.ref(u) for u in firing.matched],
        citations=cites,
        chain=list(ctx.chain(firing.matched)),
        source_kind=kind,
        group=evidence_group(kind),
        review_status=rule.review_status,
        lr=effect.lr,
        origin=effect.origin,
        prior_lr=effect.prior_lr,
        fitted_cases=effect.fitted_cases,
    )


def source_kind(kb: KnowledgeBase, cite: tuple[str, ...]) -> str:
    """The strongest source type among a rule's citations."""
    return min((kb.citations[c].kind for c in cite), key=CITATION_KINDS.index)


def evidence_group(kind: str) -> str:
    """Guidelines, the drug label, or the research (every other source type)."""
    return {"guideline": "guidelines", "drug_label": "drug_label"}.get(kind, "research")


def _reading_order(items: list[Evidence]) -> list[Evidence]:
    """Grouped (guidelines, drug label, research), strongest source first, then by weight."""
    return sorted(
        items,
        key=lambda e: (
            EVIDENCE_GROUPS.index(e.group),
            CITATION_KINDS.index(e.source_kind),
            -abs(e.weight),
            e.rule_id,
        ),
    )


def _candidate(ctx: _Context, r: Ranked, known: KnownFacts) -> Candidate:
    cause = ctx.kb.causes[r.cause]
    pro = _reading_order([_evidence(ctx, c) for c in r.evidence_for])
    con = _reading_order([_evidence(ctx, c) for c in r.evidence_against])
    agents: list[str] = []
    if cause.names_agent:
        agents = sorted({ctx.drugs[ref.id] for e in pro for ref in e.facts if ref.id in ctx.drugs})
    label = (
        f"{cause.label} ({', '.join(_agent(ctx, a) for a in agents)})" if agents else cause.label
    )
    steps = _relevant_first(ctx.constants.steps(r.cause, "next_steps", ctx.drug_classes), pro)
    next_steps = _resulted_last(ctx, steps)
    considerations = [
        m for m, _ in ctx.constants.steps(r.cause, "considerations", ctx.drug_classes)
    ]
    ctx.cited.update(cause.prior_cite)
    ctx.cited.update(cid for s in (*next_steps, *considerations) for cid in s.citations)
    return unchecked(
        Candidate, cause=r.cause, label=label, category=cause.category, rank=r.rank, score=r.score,
        prior=cause.prior,
        prior_probability=cause.prior_probability, agents=agents,
        evidence_for=pro, evidence_against=con,
        next_steps=next_steps, considerations=considerations,
        ask_next=[
            unchecked(AskNext, fact=x.fact, could_add=x.could_add, could_remove=x.could_remove,
                    rules=sorted(x.rules))
            for x in (ask_next(ctx.kb, known, r.cause) if r.rank <= ASK_RANKS else [])
        ],
        summary=None, probability=r.probability,
    )  # fmt: skip


def _relevant_first(steps: list[_Step], pro: list[Evidence]) -> list[_Step]:
    """A cause's next steps ordered by the strongest supporting evidence they share a source
    with, steps sharing none last, ties in the order written: a tick-borne infection's "start
    doxycycline" was the fifth of five steps, hidden behind malaria films, Brucella serology and
    Leishmania tests, for a patient whose evidence was the tick bite (probe 16)."""
    strongest: dict[str, float] = {}
    for e in pro:
        for cid in e.citations:
            strongest[cid] = max(strongest.get(cid, 0.0), e.weight)
    if not strongest:
        return steps

    def shared(step: _Step) -> float:
        return max((strongest.get(c, 0.0) for c in step[0].citations), default=0.0)

    return sorted(steps, key=lambda s: -shared(s))


def _resulted_last(ctx: _Context, steps: list[_Step]) -> list[NextStep]:
    """The steps with the patient's results for their tests beside them; a step whose every
    test is resulted moves after those still to do (in their order): the note's first steps
    asked for a vitamin B12 and folate that the record already held (session 19's open list)."""
    todo: list[NextStep] = []
    done: list[NextStep] = []
    for model, tests in steps:
        results = tuple(ref for t in tests if (ref := ctx.result(t)) is not None)
        if not results:
            todo.append(model)
            continue
        step = unchecked(NextStep, text=model.text, citations=model.citations, resulted=results)
        (done if len(results) == len(tests) else todo).append(step)
    return todo + done


def _agent(ctx: _Context, name: str) -> str:
    """A drug named in a cause's label. A name the lexicon does not know is weighed only as an
    unlisted drug by its timing, and says so: "Other drug-induced neutropenia (clozapin 25 mg)"
    at 70% read as a finding about a drug that the same note listed as "not used"."""
    known = all(part in ctx.kb.lexicon.drugs for part in name.split(" + "))
    return name if known else f"unrecognised name '{name}'"


def _steps(steps: tuple[KbStep, ...]) -> list[tuple[NextStep, str | None, tuple[str, ...]]]:
    """A cause's steps as output models, made once per knowledge base and shared: their citation
    lists are :class:`SharedList`, which no caller can change under the later results."""
    return [
        (unchecked(NextStep, text=s.text, citations=SharedList(s.cite), resulted=()),
         s.drug_class, s.tests)
        for s in steps
    ]  # fmt: skip


def _trace(
    ctx: _Context, firings: list[Firing], uncounted: dict[str, tuple[str, ...]]
) -> list[TraceEntry]:
    """Firings in stratum order. Within a stratum the engines' agenda order is arbitrary (experta's
    varies with the hash seed) and carries no meaning, so rules are listed by id there: the trace
    is the same for every run and every backend. ``firings`` is already in that order. A firing
    that adds nothing because another rule counts its finding says so (``uncounted``)."""
    step = ctx.constants.trace_step
    out = []
    for seq, f in enumerate(firings, start=1):
        stratum, text = step(f.rule_id)
        if f.rule_id in uncounted:
            text += f"{UNCOUNTED}{', '.join(uncounted[f.rule_id])} counts this finding)"
        out.append(
            unchecked(
                TraceEntry,
                seq=seq,
                stratum=stratum,
                rule_id=f.rule_id,
                matched=list(f.matched),
                asserted=list(f.asserted),
                effect=text,
            )
        )
    return out


def _effect_text(rule: Rule) -> str:
    effect = rule.then
    if isinstance(effect, Derive):
        return f"derive {effect.fact} = {effect.value}"
    if isinstance(effect, RaiseAlert):
        return f"alert {effect.alert} ({effect.level})"
    return f"evidence {effect.cause} {effect.weight:+g}"


def _rule_status(kb: KnowledgeBase, rule_id: str) -> RuleStatus:
    """A fired rule's review state, from its file's header."""
    rule = kb.rule(rule_id)
    header = next((f for f in kb.files if f.path == rule.file), None)
    reviewed = header.last_reviewed.isoformat() if header and header.last_reviewed else None
    due = header.review_by.isoformat() if header and header.review_by else None
    return RuleStatus(
        rule_id=rule_id,
        file=rule.file,
        review_status=rule.review_status,
        last_reviewed=reviewed,
        review_by=due,
    )
