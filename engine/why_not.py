# SPDX-License-Identifier: Apache-2.0
"""``--explain CAUSE``: why one cause scores what it scores, listed or not.

A listed cause gets :func:`explain_cause`: every step from the input to its score, each with its
sources. A cause the knowledge base knows but did not list gets :func:`why_not_text`: its
probability and score (every cause is scored, engine/rank.py), the evidence against it that fired,
its evidence-for rules that did not fire with the conditions each still lacks (absent, or unknown
because the input does not say), and what would make it rank: the unknown facts whose rules would
move it (engine/ask.py) against the score it would need to reach the top three. A word that is not
a cause is refused by :func:`check_cause` with what it is (a medication, a finding) or a
did-you-mean. Pure functions: only the CLI prints.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

from engine import vocab
from engine.ask import KnownFacts, Lead, ask_next
from engine.backends.base import get_matcher
from engine.differential import UNCOUNTED, Differential, Evidence, FactRef, Link
from engine.errors import InputError
from engine.facts import build_facts
from engine.kb.catalog import INPUT_VALUES
from engine.kb.load import KnowledgeBase
from engine.kb.schema import AddEvidence, Derive, Literal, Rule, Test
from engine.patient import PatientFacts
from engine.rank import probabilities, score
from engine.render import Refs, wrap
from engine.wording import asked, likelihood, lr_text, percent, quantity, unit_of, words

#: Evidence-for rules listed as "did not fire", closest to firing first.
MAX_BLOCKED = 8
_OPS = {"eq": "=", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "in": "in",
        "not_in": "not in"}  # fmt: skip


def check_cause(kb: KnowledgeBase, word: str) -> str:
    """``word`` when it is a cause id of ``kb``; otherwise an :class:`InputError` on ``--explain``
    that says what the word is (a medication, a finding) or suggests the closest cause id."""
    if word in kb.causes:
        return word
    drug = kb.lexicon.resolve(word)
    if drug.known:
        causes = _causes_naming(kb, set(drug.agents))
        raise InputError(
            "--explain",
            f"{word} is a medication ({drug.name}), not a cause",
            expected="a cause id"
            + (f"; the causes whose rules name it: {', '.join(causes)}" if causes else ""),
            suggestion=causes[0] if len(causes) == 1 else None,
        )
    kinds = {"finding": vocab.FINDINGS, "condition": vocab.CONDITIONS}
    kinds["history item"] = vocab.HISTORY
    kind = next((k for k, known in kinds.items() if word in known), None)
    if kind is None and (word in kb.derived or word in INPUT_VALUES):
        kind = "patient fact"
    if kind is not None:
        raise InputError("--explain", f"{word} is a {kind}, not a cause", expected="a cause id",
                         suggestion=vocab.suggest(word, kb.causes))  # fmt: skip
    raise InputError(
        "--explain",
        "unknown cause",
        got=word,
        expected=f"a cause id of knowledge base {kb.name}; each cause is a file "
        f"{Path(kb.root) / 'causes' / '<cause id>.yaml'}",
        suggestion=vocab.suggest(word, kb.causes),
    )


def _causes_naming(kb: KnowledgeBase, agents: set[str]) -> list[str]:
    return sorted(
        {
            r.then.cause
            for r in kb.rules
            if isinstance(r.then, AddEvidence) and r.then.weight > 0
            for branch in r.branches
            for lit in branch
            if lit.atom.kind == "medication" and lit.atom.name in agents and not lit.negated
        }
    )


@dataclass(frozen=True)
class Blocked:
    """An evidence-for rule that did not fire, and what its nearest branch still lacks."""

    rule: Rule
    weight: float
    lacking: tuple[str, ...]


@dataclass(frozen=True)
class WhyNot:
    """Why a cause the knowledge base knows is not in this patient's differential."""

    cause: str
    label: str
    score: float
    prior: float
    probability: float
    place: int  # its rank among every cause of the knowledge base, by score
    causes: int
    list_floor: float
    presentation: bool  # a finding the knowledge base explains was derived (engine/rank.py)
    against: tuple[tuple[Rule, float], ...]  # evidence against that fired
    blocked: tuple[Blocked, ...]  # evidence for that did not fire, closest first
    leads: tuple[Lead, ...]  # unknown facts that would move it most (engine/ask.py)
    third: float | None  # the score of the third listed cause (None: fewer are listed)


def why_not(
    kb: KnowledgeBase, patient: PatientFacts, d: Differential, cause: str, *, backend: str,
    today: dt.date,
) -> WhyNot:  # fmt: skip
    """Rerun the facts and rules of ``d``'s patient (same ``today``) to say why ``cause`` is not
    listed: its score and probability, what argued against it, and what it lacks."""
    facts = build_facts(patient, kb, today=today)
    firings = get_matcher(kb, backend).run(facts)
    known = KnownFacts(kb, facts, firings)
    uncounted = kb.uncounted(known.fired)  # as in the differential (engine/explain.py)
    firings = [f for f in firings if f.rule_id not in uncounted]
    weights: dict[str, list[float]] = {c: [] for c in kb.causes}
    for f in firings:
        then = kb.rule(f.rule_id).then
        if isinstance(then, AddEvidence):
            weights[then.cause].append(then.weight)
    scores = {c: score(kb.causes[c].prior, w) for c, w in weights.items()}
    model = kb.manifest.model
    derived = {
        then.fact
        for f in firings
        if isinstance(then := kb.rule(f.rule_id).then, Derive) and then.value is True
    }
    against = [
        (kb.rule(f.rule_id), then.weight)
        for f in firings
        if isinstance(then := kb.rule(f.rule_id).then, AddEvidence)
        and then.cause == cause and then.weight < 0
    ]  # fmt: skip
    blocked = [
        b
        for r in kb.rules
        if isinstance(r.then, AddEvidence) and r.then.cause == cause and r.then.weight > 0
        and r.id not in known.fired and (b := _blocked(r, r.then.weight, known)) is not None
    ]  # fmt: skip
    blocked.sort(key=lambda b: (len(b.lacking), -b.weight, b.rule.id))
    return WhyNot(
        cause=cause, label=kb.causes[cause].label, score=scores[cause],
        prior=kb.causes[cause].prior,
        probability=probabilities(scores, model.other_log_odds)[cause],
        place=1 + sum(1 for c, s in scores.items() if (-s, c) < (-scores[cause], cause)),
        causes=len(scores), list_floor=model.list_floor,
        presentation=bool(derived & set(model.presentation)),
        against=tuple(sorted(against, key=lambda x: (x[1], x[0].id))), blocked=tuple(blocked),
        leads=tuple(ask_next(kb, known, cause)),
        third=d.candidates[2].score if len(d.candidates) >= 3 else None,
    )  # fmt: skip


def _blocked(rule: Rule, weight: float, known: KnownFacts) -> Blocked | None:
    """The branch of ``rule`` that lacks the fewest conditions, and what it lacks."""
    best: list[str] | None = None
    for branch in rule.branches:
        lacking = [t for lit in branch if (t := _lacking(lit, known)) is not None]
        if best is None or len(lacking) < len(best):
            best = lacking
    return Blocked(rule, weight, tuple(best)) if best else None


def _lacking(lit: Literal, known: KnownFacts) -> str | None:
    """None when the literal holds for this patient, else what it asks and what the patient has."""
    state = known.atom(lit.atom)
    if state == "unknown":
        return f"{_literal(lit)} (unknown: not in the input)"
    if (state == "satisfied") != lit.negated:
        return None
    atom = lit.atom
    if lit.negated:
        return f"{_literal(lit)} (it is present)"
    if atom.kind == "fact" and atom.name in known.values:
        return f"{_literal(lit)} (here {quantity(atom.name, known.values[atom.name])})"
    if atom.kind == "fact":
        return f"{_literal(lit)} (not found: its sources are absent or not measured)"
    return (
        f"{_literal(lit)} ({'no such course' if atom.kind == 'medication' else 'not as required'})"
    )


def _literal(lit: Literal) -> str:
    """A rule condition in words: ``ANC < 0.5``, ``finding splenomegaly``, ``no neutropenia``."""
    atom = lit.atom
    tests = list(atom.tests)
    name = words(atom.name)
    if atom.kind == "fact" and len(tests) == 1 and tests[0].field == "value":
        if isinstance(tests[0].value, bool) and tests[0].op in ("eq", "ne"):
            present = tests[0].value == (tests[0].op == "eq")
            text = name if present else f"no {name}"
            return f"not ({text})" if lit.negated else text
        unit = unit_of(atom.name)
        text = f"{name} {_test(tests[0])}" + ("" if unit in ("", "%") else f" {unit}")
    else:
        kind = "taking" if atom.kind == "medication" else words(atom.kind)
        shown = ", ".join(_test(t) for t in tests)
        text = f"{kind} {name}" + (f" ({shown})" if shown else "")
    return f"not {text}" if lit.negated else text


def _test(t: Test) -> str:
    values = t.value if isinstance(t.value, tuple) else (t.value,)
    value = ", ".join(
        f"{v:g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v).lower()
        for v in values
    )
    field = "" if t.field == "value" else f"{words(t.field)} "
    return f"{field}{_OPS.get(t.op, t.op)} {value}"


def why_not_text(w: WhyNot, d: Differential) -> str:
    """The why-not of ``w`` as text, ending with the disclaimer."""
    gap = None if w.third is None else round(w.third - w.score, 4)
    listing = (
        f"is below the listing floor of {w.list_floor:.0%} and no evidence-for rule fired"
        if w.presentation
        else "does not count: with no presenting finding the knowledge base explains (a low "
        "count), only causes with an evidence-for rule that fired are listed"
    )
    out = [
        f"{w.label} [{w.cause}] is not listed in this differential.",
        wrap(
            f"  Its probability, {100 * w.probability:.3g}% ({likelihood(w.probability)}), "
            f"{listing}. Score {w.score:+.2f} = prior {w.prior:+.2f} + evidence "
            f"{w.score - w.prior:+.2f}: {_ordinal(w.place)} of the {w.causes} causes by score.",
            "    ",
        ),
    ]
    if w.against:
        out.append("Evidence against it that fired:")
        out += [
            wrap(f"  {wt:+.4f}  {r.statement}  (rule {r.id}; {_lr(r)})", "          ")
            for r, wt in w.against
        ]
    out.append(
        "Evidence for it that did not fire (closest first), with what each lacks:"
        if w.blocked
        else "No evidence-for rule of this cause could fire for this patient."
    )
    for b in w.blocked[:MAX_BLOCKED]:
        out.append(wrap(f"  + {b.rule.statement} (rule {b.rule.id}; {_lr(b.rule)})", "      "))
        out.append(wrap(f"      lacks: {'; '.join(b.lacking)}", "        "))
    if len(w.blocked) > MAX_BLOCKED:
        out.append(f"  ... and {len(w.blocked) - MAX_BLOCKED} more such rules.")
    out.append("What would make it rank:")
    if gap is not None:
        out.append(
            f"  To reach the top 3 its score needs {gap:+.2f} (third listed: {w.third:+.2f})."
            if gap > 0
            else "  Any evidence-for rule firing would list it within the top 3."
        )
    for lead in w.leads:
        alone = " (enough alone for the top 3)" if gap is not None and lead.could_add >= gap else ""
        move = [f"up to {lead.could_add:+.2f}" if lead.could_add else "",
                f"down to {lead.could_remove:+.2f}" if lead.could_remove else ""]  # fmt: skip
        out.append(
            wrap(
                f"  - {asked(lead.fact)}: {' / '.join(m for m in move if m)}{alone} "
                f"(rules {', '.join(sorted(lead.rules))})",
                "      ",
            )  # fmt: skip
        )
    if not w.leads:
        out.append("  No unknown fact in the input would move it: it needs different findings.")
    out += ["", wrap(d.disclaimer, "")]
    return "\n".join(out)


def _lr(rule: Rule) -> str:
    then = rule.then
    return f"LR {then.lr:.3g}, {then.origin}" if isinstance(then, AddEvidence) else ""


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def explain_cause(d: Differential, cause: str) -> str:
    """Every step from input to this candidate's score, each with its sources."""
    c = d.candidate(cause)
    if c is None:
        return (
            f"{cause} is not in this differential: no evidence-for rule fired for it.\n"
            f"Candidates: {', '.join(x.cause for x in d.candidates) or 'none'}\n\n"
            + wrap(d.disclaimer, "")
        )
    refs = Refs(d.citations)
    out = [
        f"{c.label}: rank {c.rank}, score {c.score:+.4f}, probability {percent(c.probability)}",
        wrap(_prior_line(c.prior, c.prior_probability), "    "),
    ]
    for title, items in (
        ("Evidence for", c.evidence_for),
        ("Evidence against", c.evidence_against),
    ):
        if items:
            out.append(f"{title}:")
            for e in items:
                out.extend(_evidence_lines(e, refs))
    uncounted = [
        (t.rule_id, t.effect.split(UNCOUNTED, 1)[1].removesuffix(")"))
        for t in d.trace
        if t.effect.startswith(f"evidence {cause} ") and UNCOUNTED in t.effect
    ]
    if uncounted:
        out.append("Fired but not counted (a rule above counts the same finding):")
        out.extend(wrap(f"  {rule_id}: {why}", "    ") for rule_id, why in uncounted)
    total = c.prior + sum(e.weight for e in (*c.evidence_for, *c.evidence_against))
    out.append(
        f"Score = {c.prior:+.2f} "
        + " ".join(f"{e.weight:+.4f}" for e in (*c.evidence_for, *c.evidence_against))
        + f" = {total:+.4f}"
    )
    out.append(
        wrap(
            f"Probability {percent(c.probability)}: this score against every other cause's and an "
            "unnamed other cause's (each e^score over their sum), so it is a share of this "
            "differential, not a diagnosis.",
            "  ",
        )
    )
    out += ["", "REFERENCES", *refs.lines(), "", wrap(d.disclaimer, "")]
    return "\n".join(out)


def _prior_line(prior: float, authored_probability: float) -> str:
    """The prior as scored, and the authors' prior probability when the fit replaced it: "prior
    log-odds -0.78 (prior probability 0.08)" read as a contradiction (-0.78 is 31%; probe 16)."""
    authored = round(math.log(authored_probability / (1 - authored_probability)), 2)
    if abs(authored - prior) < 0.006:
        return f"  prior log-odds {prior:+.2f} (prior probability {authored_probability:g})"
    fitted = 1 / (1 + math.exp(-prior))
    return (
        f"  prior log-odds {prior:+.2f} (probability {fitted:.2g}, fitted to the published cases; "
        f"the authors' prior probability {authored_probability:g} is log-odds {authored:+.2f})"
    )


def _value(ref: FactRef) -> str:
    return f"{ref.name} = {ref.value}"


def _evidence_lines(e: Evidence, refs: Refs) -> list[str]:
    out = [
        wrap(
            f"  {e.weight:+.4f}  {e.statement}  (rule {e.rule_id}; {lr_text(e)})"
            f"{refs.mark(e.citations)}",
            "         ",
        )
    ]
    for f in e.facts:
        out.append(wrap(f"         uses {_value(f)}: {f.how}", "           "))
    for link in reversed(e.chain):
        out.extend(_link_lines(link, refs))
    return out


def _link_lines(link: Link, refs: Refs) -> list[str]:
    used = "; ".join(f"{_value(u)} ({u.how})" for u in link.used)
    return [
        wrap(
            f"         <- {_value(link.fact)} by rule {link.rule_id}: {link.statement}"
            f"{refs.mark(link.citations)} <- {used}",
            "            ",
        )
    ]
