# SPDX-License-Identifier: Apache-2.0
"""neutropenia.blasts_with_low_count: a blood count suggesting acute leukaemia calls for an
immediate referral in the referral guidelines, so it is a critical alert, not only a rank."""

from __future__ import annotations

import datetime as dt

from engine.api import diagnose
from engine.kb.load import KnowledgeBase

AS_OF = dt.date(2025, 2, 11)


def test_blasts_with_a_low_count_raise_a_same_day_referral_alert(real_kb: KnowledgeBase) -> None:
    """A blood count suggesting acute leukaemia (blasts with a low count) is an immediate
    referral in the guidelines: a critical alert, not only a high rank. Blasts with a normal
    count do not raise it."""
    labs = [
        {"test": "wbc", "value": 1.9, "unit": "10^9/L", "date": dt.date(2025, 2, 10)},
        {"test": "blasts_pct", "value": 30, "unit": "%", "date": dt.date(2025, 2, 10)},
    ]
    d = diagnose({"as_of": AS_OF, "labs": labs}, kb=real_kb, today=AS_OF)
    alert = next(a for a in d.alerts if a.id == "blasts_with_low_count")
    assert alert.level == "critical"
    normal = [{**labs[0], "value": 6.0}, labs[1]]
    d = diagnose({"as_of": AS_OF, "labs": normal}, kb=real_kb, today=AS_OF)
    assert "blasts_with_low_count" not in {a.id for a in d.alerts}


def test_blasts_reported_below_1_percent_raise_no_referral_alert(real_kb: KnowledgeBase) -> None:
    """ "<1%" is a film on which no blast was counted: it raised the critical leukaemia alert."""
    day = "2025-02-10"
    bound = {"test": "blasts_pct", "value": 1, "unit": "%", "date": day, "comparator": "<"}
    labs = [{"test": "wbc", "value": 1.5, "unit": "10^9/L", "date": day}, bound]
    assert "blasts_with_low_count" not in {
        a.id for a in diagnose({"labs": labs}, kb=real_kb).alerts
    }
    labs[1] = {"test": "blasts_pct", "value": 2, "unit": "%", "date": day}
    assert "blasts_with_low_count" in {a.id for a in diagnose({"labs": labs}, kb=real_kb).alerts}
