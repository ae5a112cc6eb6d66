# SPDX-License-Identifier: Apache-2.0
"""``Differential.to_json()`` puts the compact JSON together from parts (each citation's JSON is
made once per citation object); it must stay ``model_dump_json()`` byte for byte."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from engine.api import diagnose
from engine.differential import Differential
from engine.kb.yamlio import load_patient_file

CASES = sorted((Path(__file__).resolve().parents[2] / "cases").glob("*.yaml"))
TODAY = dt.date(2026, 12, 7)


def test_every_bundled_case_gives_the_bytes_of_model_dump_json() -> None:
    for path in CASES:
        d = diagnose(load_patient_file(path), backend="clips", today=TODAY)
        assert d.citations
        assert d.to_json() == d.model_dump_json(), path.name
        assert d.to_json() == d.to_json()  # the second call reads the citations' stored JSON


@pytest.mark.parametrize("backend", ["clips", "experta"])
def test_parsed_and_edited_differentials_are_serialised_from_their_own_citations(
    backend: str,
) -> None:
    d = diagnose(load_patient_file(CASES[0]), backend=backend, today=TODAY)
    parsed = Differential.model_validate_json(d.to_json())  # new citation objects
    assert parsed.to_json() == d.to_json() == parsed.model_dump_json()
    first = parsed.citations[0].model_copy(update={"title": 'A "quoted" title, \u00e9'})
    edited = parsed.model_copy(update={"citations": [first]})
    assert edited.to_json() == edited.model_dump_json()
    assert '"citations":[{"id":' in edited.to_json()
    bare = parsed.model_copy(update={"citations": []})
    assert bare.to_json() == bare.model_dump_json() and '"citations":[]' in bare.to_json()


def test_indented_json_is_model_dump_json_with_its_indent() -> None:
    d = diagnose(load_patient_file(CASES[1]), backend="clips", today=TODAY)
    assert d.to_json(indent=2) == d.model_dump_json(indent=2)
