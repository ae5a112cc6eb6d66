# SPDX-License-Identifier: Apache-2.0
"""A next step or consideration written for one drug class (``drug_class:``) is shown only to a
patient with a medication of that class recorded, or with one the lexicon does not know (it might
be of that class): a patient on sulfasalazine was told about antithyroid drugs and rituximab."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from engine.api import diagnose
from engine.differential import Candidate
from engine.kb.load import KnowledgeBase, lint

AS_OF = dt.date(2025, 3, 1)
RULES = Path(__file__).parents[2] / "rules"
ANTITHYROID = "Antithyroid drugs: CBC with differential at once"
RITUXIMAB = "Rituximab: consider late-onset neutropenia"
COCAINE = "Ask about cocaine use"


def drug_cause(kb: KnowledgeBase, *names: str) -> Candidate:
    meds = [{"name": n, "start": dt.date(2025, 2, 1)} for n in names]
    labs = [{"test": "anc", "value": 0.3, "unit": "10^9/L", "date": AS_OF}]
    d = diagnose({"as_of": AS_OF, "labs": labs, "medications": meds}, kb=kb, today=AS_OF)
    return next(c for c in d.candidates if c.cause == "drug_induced_other")


def texts(c: Candidate) -> str:
    return "\n".join(s.text for s in (*c.next_steps, *c.considerations))


def test_a_class_step_is_shown_only_with_a_drug_of_that_class(real_kb: KnowledgeBase) -> None:
    sulfasalazine = texts(drug_cause(real_kb, "sulfasalazine"))
    assert COCAINE in sulfasalazine
    assert ANTITHYROID not in sulfasalazine and RITUXIMAB not in sulfasalazine
    assert "rituximab" not in sulfasalazine.lower()
    methimazole = texts(drug_cause(real_kb, "methimazole"))
    assert ANTITHYROID in methimazole and RITUXIMAB not in methimazole
    assert "Antithyroid-drug agranulocytosis: broad-spectrum antibiotics" in methimazole
    rituximab = texts(drug_cause(real_kb, "rituximab"))
    assert RITUXIMAB in rituximab and ANTITHYROID not in rituximab


def test_an_unknown_drug_keeps_the_steps_of_what_it_resembles(real_kb: KnowledgeBase) -> None:
    """An unread name that resembles no lexicon drug adds no class's steps (probe 16: antithyroid
    steps for a patient on Femara and Kisqali); one that resembles an antithyroid drug keeps
    the antithyroid steps, since it may be one."""
    unknown = texts(drug_cause(real_kb, "sulfasalazine", "zorblatinex"))
    assert ANTITHYROID not in unknown and RITUXIMAB not in unknown
    resembles = texts(drug_cause(real_kb, "sulfasalazine", "methimazol"))
    assert ANTITHYROID in resembles and RITUXIMAB not in resembles


def test_a_hidden_step_does_not_cite_its_references(real_kb: KnowledgeBase) -> None:
    labs = [{"test": "anc", "value": 0.3, "unit": "10^9/L", "date": AS_OF}]
    meds = [{"name": "sulfasalazine", "start": dt.date(2025, 2, 1)}]
    d = diagnose({"as_of": AS_OF, "labs": labs, "medications": meds}, kb=real_kb, today=AS_OF)
    cited = {c.id for c in d.citations}
    assert "monaco2016" not in cited  # cited only by the rituximab step


def test_lint_refuses_a_drug_class_the_lexicon_lacks(tmp_path: Path) -> None:
    root = tmp_path / "rules"
    shutil.copytree(RULES, root)
    path = root / "causes" / "drug_induced_other.yaml"
    path.write_text(path.read_text().replace("drug_class: antithyroid", "drug_class: antithyriod"))
    errors = [f"{p.where}: {p.message}" for p in lint(root) if p.severity == "error"]
    assert any(
        "drug_class" in e and "not a drug class of the lexicon" in e and "antithyroid" in e
        for e in errors
    ), errors
