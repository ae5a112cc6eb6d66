# SPDX-License-Identifier: Apache-2.0
"""Building patient facts in knowledge-base tests: one dated laboratory result, as contract
section 1 writes it, shared so that every rule test spells a result the same way."""

from __future__ import annotations

from typing import Any


def lab(test: str, value: float, unit: str, date: str) -> dict[str, Any]:
    """One result of ``test`` on ``date`` (an ISO date)."""
    return {"test": test, "value": value, "unit": unit, "date": date}
