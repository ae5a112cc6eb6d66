# SPDX-License-Identifier: Apache-2.0
"""Clinical corrections after probe 12 (2026-12-07), on the rule-test backends: fever soon after
chemotherapy with an ANC of 1.0-1.49 gets a warning (nothing was raised at 1.2, a critical alert
at 0.99); a recorded ancestry in which the Duffy-null genotype is rare argues against it; and
clozapine is no "other drug" exposure (probe 11)."""

from __future__ import annotations

from typing import Any

import pytest

from engine import diagnose
from tests.conftest import RULE_TEST_BACKENDS
from tests.kb.differential_reading import fired_rules

BACKENDS = RULE_TEST_BACKENDS


def _patient(anc: float, **extra: Any) -> dict[str, Any]:
    return {
        "as_of": "2025-04-11", "age": 55,
        "labs": [{"test": "wbc", "value": round(anc + 1.2, 2), "unit": "10^9/L",
                  "date": "2025-04-11"},
                 {"test": "anc", "value": anc, "unit": "10^9/L", "date": "2025-04-11"}],
        **extra,
    }  # fmt: skip


CHEMO = {"medications": [{"name": "docetaxel", "start": "2025-04-04", "stop": "2025-04-04"}]}
FEVER = {"findings": [{"name": "fever", "since": "2025-04-11"}]}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("anc", "alert"), [
    (1.2, "fever_after_chemotherapy"), (1.49, "fever_after_chemotherapy"),
    (0.9, "febrile_neutropenia"), (1.5, None),
])  # fmt: skip
def test_fever_after_chemotherapy_is_flagged_below_1_5(
    backend: str, anc: float, alert: str | None
) -> None:
    ids = {a.id for a in diagnose(_patient(anc, **CHEMO, **FEVER), backend=backend).alerts}
    if alert is None:
        assert not ids & {"fever_after_chemotherapy", "febrile_neutropenia"}
    else:
        assert alert in ids
    # without the chemotherapy, or without the fever, nothing of the kind
    no_chemo = {a.id for a in diagnose(_patient(anc, **FEVER), backend=backend).alerts}
    assert "fever_after_chemotherapy" not in no_chemo


@pytest.mark.parametrize("backend", BACKENDS)
def test_ancestry_in_which_duffy_null_is_rare_argues_against_it(backend: str) -> None:
    rule = "duffy_null.ancestry_where_genotype_rare"
    cases = ((["european"], True), (["east_asian"], True), (["european", "african"], False),
             (["african"], False), ([], False))  # fmt: skip
    for ancestry, fires in cases:
        d = diagnose(_patient(1.2, ancestry=ancestry), backend=backend)
        assert (rule in fired_rules(d)) is fires, ancestry
    typed = diagnose(_patient(1.2, ancestry=["european"], duffy_null=True), backend=backend)
    assert rule not in fired_rules(typed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_clozapine_alone_is_no_other_drug_exposure(backend: str) -> None:
    rule = "drug_induced_other.no_medication_recorded"
    alone = _patient(0.3, medications=[{"name": "clozapine", "start": "2025-01-01",
                                        "stop": "2025-03-26"}])  # fmt: skip
    assert rule in fired_rules(diagnose(alone, backend=backend))
    other = _patient(0.3, medications=[{"name": "methimazole", "start": "2025-03-01"}])
    assert rule not in fired_rules(diagnose(other, backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_methotrexate_with_two_low_lines_raises_the_marrow_toxicity_warning(backend: str) -> None:
    """Probe 12: an elderly patient on methotrexate with new trimethoprim-sulfamethoxazole and a
    pancytopenia got no alert; an isolated neutropenia on it is left to the differential."""
    courses = [{"name": "methotrexate", "start": "2019-01-01"},
               {"name": "trimethoprim-sulfamethoxazole", "start": "2025-03-29"}]  # fmt: skip
    meds = {"medications": courses}
    pancytopenia = _patient(0.7, **meds)
    pancytopenia["labs"] += [
        {"test": "hemoglobin", "value": 8.9, "unit": "g/dL", "date": "2025-04-11"},
        {"test": "platelets", "value": 35, "unit": "10^9/L", "date": "2025-04-11"},
    ]
    ids = {a.id for a in diagnose(pancytopenia, backend=backend).alerts}
    assert "methotrexate_marrow_toxicity" in ids
    isolated = _patient(0.7, **meds)
    isolated["labs"] += [
        {"test": "hemoglobin", "value": 13.5, "unit": "g/dL", "date": "2025-04-11"},
        {"test": "platelets", "value": 250, "unit": "10^9/L", "date": "2025-04-11"},
    ]
    assert "methotrexate_marrow_toxicity" not in {
        a.id for a in diagnose(isolated, backend=backend).alerts
    }
