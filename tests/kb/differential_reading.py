# SPDX-License-Identifier: Apache-2.0
"""Reading a Differential in knowledge-base tests: which rules counted, and by how much.

Shared so that every rule test asks the same question the same way (evidence for and against
both count as "the rule fired"). Rules are read from the trace, so a rule that fired for a cause
that is not listed (its probability below the listing floor) still counts as fired.
"""

from __future__ import annotations

from engine import load_knowledge_base
from engine.differential import UNCOUNTED, Differential
from engine.kb.schema import AddEvidence


def rule_weights(d: Differential, cause: str) -> dict[str, float]:
    """Rule id -> weight of every evidence rule that fired for ``cause`` ({} if none). A profile
    side that fired but was not counted (its finding counted by an authored rule) is left out:
    it moved nothing."""
    out: dict[str, float] = {}
    for entry in d.trace:
        kind, _, rest = entry.effect.partition(" ")
        target, _, weight = rest.partition(" ")
        if kind == "evidence" and target == cause and UNCOUNTED.strip() not in weight:
            out[entry.rule_id] = float(weight)
    return out


def fired_rules(d: Differential) -> set[str]:
    """Ids of every evidence rule that fired, for any cause, listed or not."""
    return {e.rule_id for e in d.trace if e.effect.startswith("evidence ")}


def kb_weight(rule_id: str) -> float:
    """The weight the bundled knowledge base gives a rule now (fitted, or as authored)."""
    effect = load_knowledge_base(None).rule(rule_id).then
    assert isinstance(effect, AddEvidence), rule_id
    return effect.weight
