# SPDX-License-Identifier: Apache-2.0
"""engine.unchecked: output models filled without re-validation must be the models validation
would have built (same fields, order, defaults, JSON), and refuse a field set that is wrong."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import BaseModel

import engine.unchecked as unchecked_module
from engine.api import diagnose
from engine.differential import Candidate, Differential, Evidence, FactRef
from engine.kb.yamlio import load_patient_file
from engine.unchecked import unchecked

CASES = sorted((Path(__file__).resolve().parents[2] / "cases").glob("*.yaml"))


class Sample(BaseModel):
    name: str
    values: list[int]
    note: str | None = None
    weight: float = 1.0


def test_the_fast_path_is_in_use_with_the_installed_pydantic() -> None:
    assert unchecked_module._FAST


def test_filled_model_equals_the_validated_one() -> None:
    built = unchecked(Sample, values=[1, 2], name="a")  # keywords out of declaration order
    checked = Sample(name="a", values=[1, 2])
    assert built == checked
    assert (
        built.model_dump_json()
        == checked.model_dump_json()
        == ('{"name":"a","values":[1,2],"note":null,"weight":1.0}')
    )
    assert built.model_fields_set == checked.model_fields_set == {"name", "values"}
    assert built.model_copy(update={"note": "b"}).note == "b"


def test_an_unknown_or_missing_field_is_refused() -> None:
    with pytest.raises(TypeError, match=r"\['colour'\] unknown"):
        unchecked(Sample, name="a", values=[], colour="red")
    with pytest.raises(TypeError, match=r"\['values'\] missing"):
        unchecked(Sample, name="a")


def test_frozen_output_models_stay_frozen() -> None:
    ref = unchecked(FactRef, id="v:anc", name="anc", value=0.4, how="lab")
    with pytest.raises(Exception, match="frozen"):
        ref.name = "wbc"  # type: ignore[misc]


def test_without_the_fast_path_every_call_validates(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unchecked_module, "_FAST", False)
    with pytest.raises(Exception, match="validation error"):
        unchecked(Sample, name="a", values=["not a number"])


@pytest.mark.parametrize("backend", ["clips", "experta"])
def test_every_differential_of_the_cases_survives_validation_unchanged(backend: str) -> None:
    """The explanation fills its models unchecked: validating each differential again from its
    own JSON must give the same models (a wrong type or a missing default would differ)."""
    paths = CASES if backend == "clips" else CASES[::10]
    for path in paths:
        result = diagnose(load_patient_file(path), backend=backend, today=dt.date(2025, 6, 30))
        again = Differential.model_validate_json(result.to_json())
        assert again == result, path.name
        assert again.to_json() == result.to_json(), path.name
        for candidate in result.candidates:
            assert type(candidate) is Candidate
            assert all(type(e) is Evidence for e in candidate.evidence_for)
