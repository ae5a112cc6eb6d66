# SPDX-License-Identifier: Apache-2.0
"""engine.batch.cases: reading mixed inputs lazily, unique ids, result lines, resume repair."""

from __future__ import annotations

import io
import json
import os
import sys
import threading
from pathlib import Path

import pytest

from engine.batch.cases import (
    STDIN,
    CaseError,
    ResultWriter,
    count_cases,
    error_record,
    iter_cases,
    ok_record,
)
from engine.batch.run import DigestSet, IdGuard, read_done_ids
from engine.errors import InputError
from tests.unit.test_batch_support import patient, write_jsonl


@pytest.fixture()
def inputs(tmp_path: Path) -> Path:
    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    (root / "a.yaml").write_text("id: a\nwbc: 2.0\nexpected: [clozapine_induced]\n")
    (root / "sub" / "b.json").write_text(json.dumps({"wbc": 2.0}))  # no id
    (root / "sub" / "bad.yaml").write_text("id: x\nid: y\n")  # duplicate key
    (root / "notes.txt").write_text("not a case")
    lines = [json.dumps(patient(1)), "", "{broken", "[1, 2]", json.dumps({"wbc": 3.0})]
    (root / "c.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_mixed_inputs_are_read_lazily_in_sorted_order(inputs: Path) -> None:
    cases = list(iter_cases([inputs]))
    ids = [c.id for c in cases]
    root = str(inputs)
    assert ids == [
        "a",
        "p0001",
        f"{root}/c.jsonl:3",
        f"{root}/c.jsonl:4",
        f"{root}/c.jsonl:5",
        f"{root}/sub/b.json",
        f"{root}/sub/bad.yaml",
    ]
    by_id = {c.id: c for c in cases}
    assert by_id["a"].expected == ("clozapine_induced",) and by_id["a"].error is None
    assert by_id["p0001"].line == 1 and by_id["p0001"].source_file == f"{root}/c.jsonl"
    assert by_id[f"{root}/sub/b.json"].data == {"wbc": 2.0}
    assert by_id[f"{root}/c.jsonl:3"].error is not None
    assert by_id[f"{root}/c.jsonl:3"].error.field == "json"
    assert by_id[f"{root}/c.jsonl:4"].error.field == "(top level)"
    bad = by_id[f"{root}/sub/bad.yaml"].error
    assert bad is not None and bad.field == "line 2" and "duplicate key 'id'" in bad.message
    assert len(cases) == 7 == count_cases([inputs])
    assert not any(c.id.endswith("notes.txt") for c in cases)


def test_a_file_given_twice_is_read_once(inputs: Path) -> None:
    assert len(list(iter_cases([inputs, inputs / "a.yaml"]))) == 7


def test_missing_path_fails_fast(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        list(iter_cases([tmp_path / "nope"]))


def test_unknown_expected_cause_names_the_field(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [{**patient(1), "expected": ["clozapine"]}])
    [case] = iter_cases([path])
    assert case.error is not None and case.error.field == "expected[0]"
    assert "did you mean 'clozapine_induced'" in case.error.message


def test_duplicate_ids_run_under_their_position_and_done_ids_are_skipped(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "x.jsonl", [patient(1), patient(1), patient(2)])
    guard = IdGuard({"p0002"})
    admitted = [guard.admit(c) for c in iter_cases([path])]
    assert admitted[0] is not None and admitted[0].error is None
    assert admitted[1] is not None and admitted[1].id == f"{path}:2"
    assert admitted[1].error is None and admitted[1].duplicate_of == "p0001"
    assert admitted[1].data is not None  # evaluated like any case
    assert admitted[2] is None


def test_on_resume_a_repeated_id_is_not_skipped_with_the_first(tmp_path: Path) -> None:
    """The first case of an id was recorded under it; the second, under its position, was not:
    resuming must run the second (it used to be skipped as done, and lost)."""
    path = write_jsonl(tmp_path / "x.jsonl", [patient(1), patient(1)])
    guard = IdGuard({"p0001"})
    first, second = (guard.admit(c) for c in iter_cases([path]))
    assert first is None
    assert second is not None and second.id == f"{path}:2" and second.duplicate_of == "p0001"
    both_done = IdGuard({"p0001", f"{path}:2"})
    assert [both_done.admit(c) for c in iter_cases([path])] == [None, None]


def test_records_are_json_lines(tmp_path: Path) -> None:
    [case] = iter_cases([write_jsonl(tmp_path / "x.jsonl", [patient(1)])])
    ok = json.loads(ok_record(case, '{"candidates": []}'))
    assert ok == {
        "id": "p0001",
        "source_file": str(tmp_path / "x.jsonl"),
        "line": 1,
        "expected": ["clozapine_induced"],
        "acceptable": [],
        "ok": True,
        "differential": {"candidates": []},
    }
    bad = json.loads(error_record(case, CaseError("labs[0].unit", 'bad "unit"\n')))
    assert bad["ok"] is False and bad["error"] == {
        "field": "labs[0].unit",
        "message": 'bad "unit"\n',
    }


def test_resume_repairs_a_line_cut_by_a_kill(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a", "ok": true}\n{"id": "b", "ok": false}\n{"id": "c", "o')
    done = read_done_ids(out)
    assert len(done) == 2 and "a" in done and "b" in done and "c" not in done
    assert out.read_text().endswith('"ok": false}\n')
    with ResultWriter(out, append=True) as w:
        w.write('{"id": "c", "ok": true}')
    assert len(read_done_ids(out)) == 3 and "c" in read_done_ids(out)


def test_resume_completes_a_last_line_missing_its_newline(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a", "ok": true}')
    assert "a" in read_done_ids(out)
    assert out.read_text() == '{"id": "a", "ok": true}\n'


def test_resume_refuses_a_file_that_is_not_batch_output(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text('{"id": "a", "ok": true}\nhello\n{"id": "b", "ok": true}\n')
    with pytest.raises(InputError, match=r"out.jsonl:2"):
        read_done_ids(out)
    assert len(read_done_ids(tmp_path / "missing.jsonl")) == 0


def test_digest_set_grows_and_answers_membership() -> None:
    ids = DigestSet(f"case-{i}" for i in range(5000))
    assert len(ids) == 5000 and all(f"case-{i}" in ids for i in range(0, 5000, 7))
    assert "case-5000" not in ids and 17 not in ids
    ids.add("case-1")
    assert len(ids) == 5000


def test_a_line_longer_than_the_limit_is_one_error_record(tmp_path: Path) -> None:
    """A JSONL line above 10 MB is refused without being held in memory whole."""
    path = tmp_path / "big.jsonl"
    with path.open("w") as fh:
        fh.write(json.dumps(patient(1)) + "\n")
        fh.write('{"id": "big", "notes": "' + "x" * (11 * 1024 * 1024) + '"}\n')
        fh.write(json.dumps(patient(2)) + "\n")
    cases = list(iter_cases([path]))
    assert [(c.id, c.error is None) for c in cases] == [
        ("p0001", True), (f"{path}:2", False), ("p0002", True)
    ]  # fmt: skip
    assert cases[1].error is not None and "line too long" in cases[1].error.message
    assert count_cases([path]) == 3


def test_output_files_are_skipped_where_a_directory_holds_them(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "in.jsonl", [patient(1)])
    write_jsonl(tmp_path / "out.jsonl", [{"id": "x", "ok": True}])
    (tmp_path / "summary.json").write_text("{}")
    assert len(list(iter_cases([tmp_path]))) == 3  # without exclusions, all three are read
    (tmp_path / "sub").mkdir()
    summary = tmp_path / "sub" / ".." / "summary.json"  # the same file, spelt differently
    assert [c.id for c in iter_cases([tmp_path], [tmp_path / "out.jsonl", summary])] == ["p0001"]
    assert count_cases([tmp_path], [tmp_path / "out.jsonl", summary]) == 1
    with pytest.raises(InputError, match="is also an output of the run"):
        list(iter_cases([tmp_path / "out.jsonl"], [tmp_path / "out.jsonl"]))


class _Stdin:
    """Standard input as a batch reads it (``sys.stdin.buffer``), over bytes in memory."""

    def __init__(self, data: bytes) -> None:
        self.buffer = io.BytesIO(data)


def test_standard_input_is_read_as_jsonl_a_line_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``-`` reads JSONL (one case per line) from standard input, each case as its line comes
    and each bad line its own error record, in its place among the other inputs; it was refused
    as "no such file", and ``/dev/stdin`` was read as one YAML document."""
    first = json.dumps(patient(1))
    lines = ["\ufeff" + first, "", "{broken", json.dumps(patient(2))]
    stdin = _Stdin("\n".join(lines).encode() + b"\n")
    monkeypatch.setattr(sys, "stdin", stdin)
    before = write_jsonl(tmp_path / "a.jsonl", [patient(0)])
    cases = iter_cases([before, STDIN])
    assert next(cases).id == "p0000"
    assert next(cases).id == "p0001"
    assert stdin.buffer.tell() == len(lines[0].encode()) + 1  # no further than the first line
    rest = list(cases)
    assert [(c.id, c.source_file, c.line) for c in rest] == [
        ("<stdin>:3", "<stdin>", 3), ("p0002", "<stdin>", 4)
    ]  # fmt: skip
    assert rest[0].error is not None and rest[0].error.field == "json"
    assert "<stdin>:3" in rest[0].error.message


def test_standard_input_is_not_a_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the text ``-`` is standard input; ``Path("-")`` is a file named ``-``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "stdin", _Stdin(b""))
    assert list(iter_cases([STDIN])) == [] and count_cases([STDIN]) == 0
    with pytest.raises(InputError, match="no such file"):
        list(iter_cases([Path("-")]))


def test_a_pipe_named_as_a_path_says_to_use_standard_input(tmp_path: Path) -> None:
    """``<(zcat x.jsonl.gz)`` or ``/dev/stdin`` is read as one case file, as before, and its
    error says how a stream of JSON lines is read."""
    fifo = tmp_path / "stream"
    os.mkfifo(fifo)
    writer = threading.Thread(
        target=lambda: fifo.write_text(json.dumps(patient(1)) + "\n" + json.dumps(patient(2)))
    )
    writer.start()
    try:
        [case] = iter_cases([fifo])
    finally:
        writer.join(timeout=10)
    assert case.error is not None and "pipe them to 'leukodx batch -'" in case.error.message
    [plain] = iter_cases([write_jsonl(tmp_path / "x.yaml", [patient(1), patient(2)])])
    assert plain.error is not None and "leukodx batch -" not in plain.error.message
