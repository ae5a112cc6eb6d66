# SPDX-License-Identifier: Apache-2.0
"""The part of a result line that the batch figures read, built by the worker that made it.

A result line is about 100 KB of JSON; the summary (:class:`engine.batch.metrics.Tally`) reads a
handful of its fields. Parsing every line again in the process that writes them cost that
process more than everything else it does per case, and with two workers on two cores that
process competes with them. So the worker, which holds the :class:`~engine.differential.
Differential` as objects, also builds this small record: the fields before ``"ok"``, and of the
differential only what :mod:`engine.batch.metrics` reads (the rank-1 candidate, the candidates
among ``expected``, the knowledge base, every alert's id and level, and with drug courses the
rank-1 evidence's facts and the alerts' facts). The figures computed from it are those computed
from the full line (a test holds the two together on the bundled cases).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.differential import Differential


def ok_metrics(
    head: dict[str, Any], d: Differential, drugs: list[dict[str, Any]]
) -> dict[str, Any]:
    """The metric record of a successful case: ``head`` (:func:`engine.batch.cases.head_fields`),
    its differential and its drug courses (:func:`engine.batch.exposure.drug_courses`)."""
    expected = set(head.get("expected") or ())
    candidates: list[dict[str, Any]] = []
    for i, c in enumerate(d.candidates):
        if i == 0 and drugs:  # the per-drug view reads the rank-1 evidence
            candidates.append({
                "cause": c.cause, "rank": c.rank, "agents": list(c.agents),
                "evidence_for": [{"facts": [{"id": f.id} for f in e.facts]}
                                 for e in c.evidence_for],
            })  # fmt: skip
        elif i == 0 or c.cause in expected:
            candidates.append({"cause": c.cause, "rank": c.rank})
    differential: dict[str, Any] = {
        "knowledge_base": d.knowledge_base.model_dump(mode="json"),
        "candidates": candidates,
    }
    record = {**head, "ok": True, "differential": differential}
    differential["alerts"] = [{"id": a.id, "level": a.level} for a in d.alerts]
    if drugs:
        differential["alerts"] = [
            {"id": a.id, "level": a.level, "facts": [{"id": f.id} for f in a.facts],
             "chain": [{"used": [{"id": u.id} for u in link.used]} for link in a.chain]}
            for a in d.alerts
        ]  # fmt: skip
        record["drugs"] = drugs
    return record


def error_metrics(head: dict[str, Any], error: dict[str, Any]) -> dict[str, Any]:
    """The metric record of a failed case (``error`` as in its result line)."""
    return {**head, "ok": False, "error": error}
