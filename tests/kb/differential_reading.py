# SPDX-License-Identifier: Apache-2.0
"""Reading a Differential in knowledge-base tests: which rules counted, and by how much.

Shared so that every rule test asks the same question the same way (evidence for and against
both count as "the rule fired")."""

from __future__ import annotations

from engine.differential import Differential


def rule_weights(d: Differential, cause: str) -> dict[str, float]:
    """Rule id -> weight of every rule that counted for or against ``cause`` ({} if unranked)."""
    for c in d.candidates:
        if c.cause == cause:
            return {e.rule_id: e.weight for e in c.evidence_for + c.evidence_against}
    return {}


def fired_rules(d: Differential) -> set[str]:
    """Ids of every evidence rule that counted for or against any candidate."""
    return {e.rule_id for c in d.candidates for e in c.evidence_for + c.evidence_against}
