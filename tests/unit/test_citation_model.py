# SPDX-License-Identifier: Apache-2.0
"""One citation model: the output's Citation is the knowledge base's, field for field.

The knowledge base defines a reference (engine/kb/schema.py) and the result shows it
(engine/differential.py); the result is built from the knowledge base's ``published()``. These
tests hold the two definitions together, so that a field added to one cannot be forgotten in the
other (the output once dropped every ``evidence_grade`` that way).
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from engine import diagnose
from engine.differential import Citation
from engine.kb.load import KnowledgeBase
from engine.kb.registry import CITATION_KINDS
from engine.kb.schema import Citation as KbCitation
from tests.conftest import CASES


def test_the_output_has_exactly_the_published_fields() -> None:
    kb_fields = {f.name for f in dataclasses.fields(KbCitation)}
    assert KbCitation.UNPUBLISHED < kb_fields, "UNPUBLISHED names a field that does not exist"
    assert set(Citation.model_fields) == kb_fields - KbCitation.UNPUBLISHED


def test_a_field_only_the_knowledge_base_has_is_refused() -> None:
    """The output model forbids extra keys: a new knowledge-base field that is neither published
    nor declared unpublished fails at the first result, not silently."""
    grown = dataclasses.make_dataclass(
        "GrownCitation", [("new_field", str, dataclasses.field(default="x"))],
        bases=(KbCitation,), frozen=True,
    )  # fmt: skip
    record = grown(id="a", kind="cohort", title="A", pmid="1")
    with pytest.raises(ValidationError, match="new_field"):
        Citation.model_validate(record.published())


def test_every_bundled_reference_converts_unchanged(real_kb: KnowledgeBase) -> None:
    assert real_kb.citations
    for cid, ref in real_kb.citations.items():
        assert Citation.model_validate(ref.published()).model_dump() == ref.published(), cid


optional = st.none() | st.text(max_size=20)


@given(
    st.builds(
        KbCitation,
        id=st.text(min_size=1, max_size=10),
        kind=st.sampled_from(CITATION_KINDS),
        title=st.text(max_size=20),
        authors=optional,
        source=optional,
        year=st.none() | st.integers(min_value=1800, max_value=2100),
        pmid=optional,
        doi=optional,
        pmcid=optional,
        url=optional,
        label_section=optional,
        evidence_grade=optional,
        verified=optional,
    )
)
def test_conversion_keeps_every_published_value(ref: KbCitation) -> None:
    shown = Citation.model_validate(ref.published()).model_dump()
    assert shown == ref.published()
    assert "verified" not in shown  # the authoring trail stays in the knowledge base


def test_a_result_shows_the_evidence_grade_of_its_references(real_kb: KnowledgeBase) -> None:
    """End to end on a real case: every resolved citation is the knowledge base's reference, and
    the acute-leukaemia considerations' guideline carries its grade into the result."""
    result = diagnose(CASES / "acute_leukemia-01.yaml", kb=real_kb)
    assert result.citations
    for shown in result.citations:
        assert shown.model_dump() == real_kb.citations[shown.id].published(), shown.id
    graded = {c.id: c.evidence_grade for c in result.citations if c.evidence_grade}
    assert graded.get("sanz2019") == real_kb.citations["sanz2019"].evidence_grade
