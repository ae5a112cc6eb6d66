# SPDX-License-Identifier: Apache-2.0
"""``--resume``'s progress total counts the result lines already written without parsing them
(each can be 100 KB or more); ``read_done_ids`` parses them once, when the run starts."""

from __future__ import annotations

import json
from pathlib import Path

from engine.batch.run import count_recorded, read_done_ids


def _line(case_id: str) -> bytes:
    return (
        json.dumps({"id": case_id, "ok": True, "differential": {"pad": "x" * 5000}}) + "\n"
    ).encode()


def test_complete_lines_are_counted_and_a_cut_last_line_is_not(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    out.write_bytes(_line("a") + b"\n" + _line("b") + b"   \n" + _line("c") + _line("d")[:80])
    assert count_recorded(out) == 3
    assert len(read_done_ids(out)) == 3  # and the cut line is repaired away
    assert count_recorded(out) == 3


def test_a_missing_output_has_nothing_recorded(tmp_path: Path) -> None:
    assert count_recorded(tmp_path / "none.jsonl") == 0
