# SPDX-License-Identifier: Apache-2.0
"""Clinical corrections after probe 15 (2026-12-07, session 18).

A drug begun after the low episode had begun is no candidate cause (co-trimoxazole started after
three years of an ANC near 1.0 was first at 83%); zidovudine's anaemia and macrocytosis count for
it, not against it; a thiopurine with allopurinol is named, as evidence and as an alert.

Run on the backends of tests/conftest.py's RULE_TEST_BACKENDS (CLIPS; experta too in the slow
profile)."""

from __future__ import annotations

from typing import Any

import pytest

from engine import diagnose
from tests.conftest import RULE_TEST_BACKENDS
from tests.kb.differential_reading import fired_rules
from tests.kb.patient_data import lab as _l

BACKENDS = RULE_TEST_BACKENDS


def _chronic(medications: list[dict[str, Any]]) -> dict[str, Any]:
    labs = [_l("wbc", 3.3, "10^9/L", "2022-05-01"), _l("anc", 1.0, "10^9/L", "2022-05-01"),
            _l("wbc", 3.2, "10^9/L", "2024-06-01"), _l("anc", 0.95, "10^9/L", "2024-06-01"),
            _l("wbc", 3.2, "10^9/L", "2025-06-20"), _l("anc", 0.92, "10^9/L", "2025-06-20"),
            _l("hemoglobin", 13.1, "g/dL", "2025-06-20"),
            _l("platelets", 240, "10^9/L", "2025-06-20")]  # fmt: skip
    return {"as_of": "2025-06-20", "age": 44, "sex": "female", "labs": labs,
            "medications": medications}  # fmt: skip


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_drug_begun_during_a_long_low_episode_is_not_its_cause(backend: str) -> None:
    stopped = [
        {"name": "trimethoprim-sulfamethoxazole", "start": "2025-06-05", "stop": "2025-06-12"}
    ]
    d = diagnose(_chronic(stopped), backend=backend)
    fired = fired_rules(d)
    assert "drug_induced_other.recently_stopped_signal_drug" not in fired
    assert "drug_induced_other.no_medication_recorded" in fired
    assert d.candidates[0].cause != "drug_induced_other"
    ongoing = [{"name": "trimethoprim-sulfamethoxazole", "start": "2025-06-05"}]
    assert "drug_induced_other.on_signal_drug" not in fired_rules(
        diagnose(_chronic(ongoing), backend=backend)
    )
    # a course with no start date may have begun before the episode: it still counts
    undated = [{"name": "trimethoprim-sulfamethoxazole"}]
    assert "drug_induced_other.on_signal_drug" in fired_rules(
        diagnose(_chronic(undated), backend=backend)
    )


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["zidovudine", "Combivir", "AZT"])
def test_zidovudine_anaemia_and_macrocytosis_count_for_the_drug(backend: str, name: str) -> None:
    patient = {
        "as_of": "2025-05-10", "age": 36, "sex": "female", "conditions": ["hiv"],
        "labs": [_l("wbc", 2.4, "10^9/L", "2025-05-09"), _l("anc", 0.7, "10^9/L", "2025-05-09"),
                 _l("hemoglobin", 8.1, "g/dL", "2025-05-09"), _l("mcv", 112, "fL", "2025-05-09"),
                 _l("platelets", 190, "10^9/L", "2025-05-09")],
        "medications": [{"name": name, "start": "2025-02-24"}],
    }  # fmt: skip
    d = diagnose(patient, backend=backend)
    assert "drug_induced_other.zidovudine_marrow_toxicity" in fired_rules(d)
    assert d.candidates[0].cause == "drug_induced_other"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", ["allopurinol", "Zyloric 300 mg"])
def test_a_thiopurine_with_allopurinol_is_named(backend: str, name: str) -> None:
    patient = {
        "as_of": "2025-04-15", "age": 67, "sex": "male",
        "labs": [_l("wbc", 0.9, "10^9/L", "2025-04-15"), _l("anc", 0.2, "10^9/L", "2025-04-15")],
        "medications": [{"name": "azathioprine", "start": "2023-01-10"},
                        {"name": name, "start": "2025-02-20"}],
    }  # fmt: skip
    d = diagnose(patient, backend=backend)
    assert "thiopurine_toxicity.allopurinol_interaction" in fired_rules(d)
    assert "thiopurine_with_allopurinol" in {a.id for a in d.alerts}
    assert d.candidates[0].cause == "thiopurine_toxicity"
    alone = {**patient, "medications": patient["medications"][:1]}
    assert "thiopurine_with_allopurinol" not in {a.id for a in diagnose(alone).alerts}
