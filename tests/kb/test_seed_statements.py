# SPDX-License-Identifier: Apache-2.0
"""docs/seed-statements.md: every statement of both seed documents is listed with the rules
that encode it, and every rule id it names exists in the bundled knowledge base."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import ROOT

DOC = ROOT / "docs" / "seed-statements.md"
ROW = re.compile(r"^\| ([AB]\d+) \| (.+?) \| (.+?) \| (.+?) \|$", re.MULTILINE)


def rows() -> list[tuple[str, str, str, str]]:
    return [m.groups() for m in ROW.finditer(DOC.read_text(encoding="utf-8"))]  # type: ignore[misc]


def test_every_statement_of_both_documents_is_listed_in_order() -> None:
    ids = [r[0] for r in rows()]
    assert ids == [f"A{i}" for i in range(1, 19)] + [f"B{i}" for i in range(1, 21)]


def test_every_named_rule_exists(real_kb: Any) -> None:
    rule_ids = {r.id for r in real_kb.rules}
    missing = []
    for number, _, encoded, _ in rows():
        for token in re.findall(r"`([^`]+)`", encoded):
            if token.endswith(".*"):
                if not any(r.startswith(token[:-1]) for r in rule_ids):
                    missing.append((number, token))
            elif "." in token and token not in rule_ids:
                missing.append((number, token))
            elif "." not in token and token not in real_kb.causes:
                # an undotted id names a cause (its next steps or considerations) or a derived
                # fact, possibly with its value ("chronic_neutropenia_class = extrinsic")
                assert token.split(" = ")[0] in real_kb.derived, (number, token)
    assert missing == []


def test_each_statement_is_encoded_or_says_why_not() -> None:
    for number, _, encoded, kind in rows():
        named = re.findall(r"`[^`]+`", encoded)
        assert named or encoded.startswith("not encoded"), number
        assert kind.strip(), number
