# SPDX-License-Identifier: Apache-2.0
"""engine.batch.ledger: with workers reading the cases, ids are still admitted in input order.

The ledger is driven here with the messages workers send (heads, outcomes), in the orders two
workers can produce, and writes a real results file."""

from __future__ import annotations

import json
from pathlib import Path

from engine.batch.cases import CaseInput, CaseRef, ResultWriter, encode_line, ok_record
from engine.batch.ledger import BatchStats, IdGuard, Ledger
from engine.batch.metrics import iter_records, summarize
from engine.batch.worker import Heads, Outcome


def _ok(seq: int, case: CaseInput) -> Outcome:
    line = encode_line(ok_record(case, '{"candidates": []}'))
    return Outcome(seq, True, line=line, record=json.loads(line))


def _ref(name: str) -> CaseRef:
    return CaseRef(name, path=name)


def _case(case_id: str, name: str) -> CaseInput:
    return CaseInput(case_id, name, None)


def _ids(out: Path) -> list[tuple[str, bool]]:
    return [(r["id"], r["ok"]) for r in iter_records(out)]


def test_the_first_case_in_the_input_keeps_its_id_whatever_finishes_first(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    stats = BatchStats()
    written: list[bool] = []
    with ResultWriter(out, append=False) as writer:
        ledger = Ledger(writer, IdGuard(), stats, lambda line, ok: written.append(ok))
        tasks = [ledger.take(_ref(name)) for name in ("a.yaml", "b.yaml", "c.yaml")]
        assert [t[0] for t in tasks if t is not None] == [0, 1, 2]
        # a second worker read and finished c.yaml (id "x") before a.yaml was read
        c, b = _case("x", "c.yaml"), _case("y", "b.yaml")
        ledger.heads(Heads([(2, c)]))
        ledger.outcome(_ok(2, c))
        assert ledger.waiting == 1 and not out.read_bytes()  # held: a.yaml may be "x" too
        a = _case("x", "a.yaml")
        ledger.heads(Heads([(0, a), (1, b)]))  # a.yaml is "x": c.yaml is the duplicate
        assert ledger.waiting == 0
        ledger.outcome(_ok(0, a))
        ledger.outcome(_ok(1, b))
    # c.yaml, held until a.yaml was read, is written under its position as soon as it may be
    assert _ids(out) == [("c.yaml", True), ("x", True), ("y", True)]
    duplicate = list(iter_records(out))[0]
    assert duplicate["duplicate_of"] == "x" and duplicate["source_file"] == "c.yaml"
    assert (stats.written, stats.failed, written) == (3, 0, [True, True, True])
    assert stats.tally.summary.as_dict() == summarize(iter_records(out)).as_dict()
    assert stats.tally.summary.n_duplicate_ids == 1


def test_done_ids_are_skipped_and_a_case_lost_before_it_was_read_keeps_its_place(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out.jsonl"
    stats = BatchStats()
    with ResultWriter(out, append=False) as writer:
        ledger = Ledger(writer, IdGuard({"done"}), stats)
        for name in ("a.yaml", "b.yaml", "big.yaml"):
            ledger.take(_ref(name))
        b = _case("b", "b.yaml")
        ledger.heads(Heads([(0, _case("done", "a.yaml"))]))
        ledger.outcome(_ok(0, _case("done", "a.yaml")))  # evaluated, but already in the file
        crash = Outcome(2, False, field="(timeout)", message="timed out: no result after 1 s")
        ledger.outcome(crash)  # big.yaml was never read: it is recorded under its name
        assert ledger.waiting == 1
        ledger.heads(Heads([(1, b)]))  # big.yaml's turn has come: it is written
        ledger.outcome(_ok(1, b))
    assert stats.skipped == 1
    assert _ids(out) == [("big.yaml", False), ("b", True)]
    record = list(iter_records(out))[0]
    assert record["source_file"] == "big.yaml" and record["error"]["field"] == "(timeout)"


def test_cases_read_by_the_main_process_are_admitted_at_once(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    stats = BatchStats()
    with ResultWriter(out, append=False) as writer:
        ledger = Ledger(writer, IdGuard({"old"}), stats)
        first = ledger.take(CaseInput("p1", "t.csv", 2, data={"wbc": 2.0}))
        assert first is not None and isinstance(first[1], CaseInput) and first[1].data
        assert ledger.take(CaseInput("old", "t.csv", 3, data={"wbc": 2.0})) is None  # done
        again = ledger.take(CaseInput("p1", "t.csv", 4, data={"wbc": 2.0}))  # duplicate: runs
        assert again is not None and isinstance(again[1], CaseInput)
        ledger.outcome(_ok(again[0], again[1]))
    assert _ids(out) == [("t.csv:4", True)] and stats.skipped == 1
    assert next(iter_records(out))["duplicate_of"] == "p1"
