# SPDX-License-Identifier: Apache-2.0
"""The patient view of a differential: plain-language words written by us, no numbers or jargon.

The clinician view is the default and is never changed by this module. For ``audience="patient"``
every text a patient reads (cause names, statements, alert messages) is replaced by the plain
text kept for that cause or rule (``plain:`` in ``rules/causes/<cause>.yaml``, or
``rules/plain/`` for finding and alert rules); items that have no plain text are left out
rather than shown in clinical language. Scores, fact values, derivation chains, next steps and
clinical considerations are clinician material and are removed. The ranking is unchanged.
"""

from __future__ import annotations

from engine.differential import Alert, Candidate, Differential, Evidence, Finding
from engine.kb.load import KnowledgeBase

PATIENT_DISCLAIMER = (
    "This summary is decision support, not a diagnosis. It lists possible explanations for a low "
    "white blood cell count from the information given. Please discuss these results with your "
    "clinician, who knows your full history."
)

#: Added to the disclaimer for a child: the plain texts speak to the patient ("your count"), and
#: a parent reading about a ten-day-old was told "you have a fever ... chills" (probe 18).
CHILD_READER_NOTE = (
    "The sentences below speak to the patient: for a baby or child, read 'you' and 'your' as "
    "your child."
)
#: Below this age (years) the reader is taken to be a parent.
CHILD_AGE = 16

OTHER_CAUSE = "Another possible cause that your clinician can explain"


def for_patient(d: Differential, kb: KnowledgeBase) -> Differential:
    """The same differential in plain language (see the module docstring)."""
    age = next((f.value for f in d.facts if f.id == "v:age"), None)
    child = isinstance(age, int | float) and not isinstance(age, bool) and age < CHILD_AGE
    disclaimer = f"{PATIENT_DISCLAIMER} {CHILD_READER_NOTE}" if child else PATIENT_DISCLAIMER
    return d.model_copy(
        update={
            "audience": "patient",
            "disclaimer": disclaimer,
            "findings": _findings(d.findings, kb),
            "alerts": [a for a in (_alert(x, kb) for x in d.alerts) if a is not None],
            "candidates": [_candidate(c, kb) for c in d.candidates],
            "facts": [],
        }
    )


def _plain(kb: KnowledgeBase, rule_id: str | None) -> str | None:
    return kb.rule(rule_id).plain if rule_id else None


def _findings(findings: list[Finding], kb: KnowledgeBase) -> list[Finding]:
    out: list[Finding] = []
    seen: set[str] = set()
    for f in findings:
        text = _plain(kb, f.rule_id)
        if text is None or text in seen:
            continue
        seen.add(text)
        out.append(f.model_copy(update={"statement": text, "used": []}))
    return out


def _alert(a: Alert, kb: KnowledgeBase) -> Alert | None:
    text = _plain(kb, a.rule_id)
    if text is None:
        return None
    return a.model_copy(update={"message": text, "statement": text, "facts": [], "chain": []})


def _evidence(items: list[Evidence], kb: KnowledgeBase) -> list[Evidence]:
    out = []
    for e in items:
        text = _plain(kb, e.rule_id)
        if text is not None:
            out.append(e.model_copy(update={"statement": text, "facts": [], "chain": []}))
    return out


def _candidate(c: Candidate, kb: KnowledgeBase) -> Candidate:
    cause = kb.causes[c.cause]
    return c.model_copy(
        update={
            "label": cause.plain_label or OTHER_CAUSE,
            "summary": cause.plain_summary,
            "evidence_for": _evidence(c.evidence_for, kb),
            "evidence_against": _evidence(c.evidence_against, kb),
            "next_steps": [],
            "considerations": [],
            "ask_next": [],
        }
    )
