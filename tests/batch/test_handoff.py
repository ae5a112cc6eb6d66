# SPDX-License-Identifier: Apache-2.0
"""engine.batch.handoff: result lines go from workers to the results file through segment files.

Real files throughout: a worker's segments, the results file, a pipe, ``/dev/full``; and a real
batch with two worker processes, whose results must not change with the way lines travel."""

from __future__ import annotations

import errno
import json
import os
import random
import tempfile
from pathlib import Path

import pytest

from engine.batch.cases import CaseInput, OutputError, ResultWriter, encode_line, ok_record
from engine.batch.handoff import HandoffFolder, SegmentWriter
from engine.batch.ledger import BatchStats, IdGuard, Ledger
from engine.batch.messages import Outcome, Spilled
from engine.batch.metrics import iter_records
from engine.batch.run import BatchOptions, run_batch
from engine.batch.worker import _handed_off

ROOT = Path(__file__).resolve().parents[2]


def _lines(n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [
        encode_line(json.dumps({"id": f"c{i}", "ok": True, "pad": "x" * rng.randint(10, 5000)}))
        for i in range(n)
    ]


def test_lines_come_back_byte_for_byte_and_finished_segments_are_removed(tmp_path: Path) -> None:
    lines = _lines(60)
    out = tmp_path / "out.jsonl"
    with HandoffFolder() as handoff, ResultWriter(out, append=False) as writer:
        segments = SegmentWriter(handoff.path, limit=20_000)  # many segments
        taken: list[bytes] = []
        for i, line in enumerate(lines):
            spilled = segments.put(line)
            assert spilled is not None and spilled.length == len(line)
            handoff.arrived(spilled)
            if i % 3 == 0:
                taken.append(handoff.take(spilled))
            else:
                writer.write_spilled(handoff, spilled)
        segments.close()
        assert taken == lines[::3]
        left = list(handoff.path.iterdir())
        assert len(left) == 1  # only the segment the worker still writes
        folder = handoff.path
    assert out.read_bytes() == b"".join(line for i, line in enumerate(lines) if i % 3)
    assert not folder.exists()


def test_a_segment_stays_while_one_of_its_lines_waits(tmp_path: Path) -> None:
    with HandoffFolder() as handoff:
        segments = SegmentWriter(handoff.path, limit=1)  # a new segment for every line
        first, second, third = (segments.put(line) for line in _lines(3))
        assert first and second and third and first.segment != second.segment
        for spilled in (first, second, third):
            handoff.arrived(spilled)
        handoff.release(second)
        assert not (handoff.path / second.segment).exists()  # done, and the worker moved on
        assert (handoff.path / first.segment).exists()  # its line still waits (an earlier case)
        assert handoff.take(first) == _lines(3)[0]
        assert not (handoff.path / first.segment).exists()
        handoff.release(third)
        assert (handoff.path / third.segment).exists()  # the worker may still write to it
        segments.close()


def test_a_worker_that_cannot_write_its_segment_sends_the_line_itself(tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    segments = SegmentWriter(gone)
    line = _lines(1)[0]
    outcome = _handed_off(Outcome(0, True, line=line, record={"id": "c0"}), segments)
    assert outcome.line == line and outcome.spilled is None and segments.broken
    failed = Outcome(1, False, field="labs", message="bad")
    assert _handed_off(failed, segments) is failed
    assert _handed_off(outcome, None) is outcome


def test_lines_reach_a_pipe_and_a_file_system_without_sendfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = _lines(5, seed=1)
    with HandoffFolder() as handoff:
        segments = SegmentWriter(handoff.path)
        places = [segments.put(line) for line in lines]
        read, write = os.pipe()
        try:
            for spilled in places[:2]:
                assert spilled is not None
                handoff.arrived(spilled)
                handoff.copy_to(write, spilled)  # sendfile into a pipe
            os.close(write)
            with os.fdopen(read, "rb") as pipe:
                assert pipe.read() == lines[0] + lines[1]
        finally:
            for fd in (read, write):
                try:
                    os.close(fd)
                except OSError:
                    pass

        def unsupported(*args: object) -> int:
            raise OSError(errno.EINVAL, "not here")

        monkeypatch.setattr("engine.batch.handoff.os.sendfile", unsupported)
        out = tmp_path / "out.jsonl"
        with ResultWriter(out, append=False) as writer:
            for spilled in places[2:]:
                assert spilled is not None
                handoff.arrived(spilled)
                writer.write_spilled(handoff, spilled)
        assert out.read_bytes() == b"".join(lines[2:])
        segments.close()


def test_a_failed_copy_leaves_no_partial_line_and_no_hole(tmp_path: Path) -> None:
    lines = _lines(3, seed=2)
    out = tmp_path / "out.jsonl"
    with HandoffFolder() as handoff, ResultWriter(out, append=False) as writer:
        segments = SegmentWriter(handoff.path)
        good = segments.put(lines[0])
        assert good is not None
        handoff.arrived(good)
        writer.write_spilled(handoff, good)
        # a place past the segment's end: part of it is copied, then the copy fails
        short = Spilled(good.segment, good.offset, good.length + 100)
        handoff.arrived(short)
        with pytest.raises(OutputError, match="cannot write to"):
            writer.write_spilled(handoff, short)
        writer.write_bytes(lines[2])
        segments.close()
    assert out.read_bytes() == lines[0] + lines[2]


def test_a_full_disk_is_an_output_error(tmp_path: Path) -> None:
    with HandoffFolder() as handoff, ResultWriter("/dev/full", append=False) as writer:
        segments = SegmentWriter(handoff.path)
        spilled = segments.put(_lines(1)[0])
        assert spilled is not None
        handoff.arrived(spilled)
        with pytest.raises(OutputError, match="No space left"):
            writer.write_spilled(handoff, spilled)
        segments.close()


def test_a_resumed_file_is_appended_to_at_its_end(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_bytes(b'{"id": "old", "ok": true}\n')
    with HandoffFolder() as handoff, ResultWriter(out, append=True) as writer:
        segments = SegmentWriter(handoff.path)
        spilled = segments.put(_lines(1)[0])
        assert spilled is not None
        handoff.arrived(spilled)
        writer.write_spilled(handoff, spilled)
        segments.close()
    assert out.read_bytes() == b'{"id": "old", "ok": true}\n' + _lines(1)[0]


def test_the_ledger_reads_a_left_line_to_rehead_a_duplicate(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    stats = BatchStats()
    done: list[bool] = []
    cases = [CaseInput("same", "a.yaml", None), CaseInput("same", "b.yaml", None)]
    with HandoffFolder() as handoff, ResultWriter(out, append=False) as writer:
        segments = SegmentWriter(handoff.path)
        ledger = Ledger(writer, IdGuard(), stats, on_done=done.append, handoff=handoff)
        for case in cases:
            ledger.take(case)
        for seq, case in enumerate(cases):
            line = encode_line(ok_record(case, '{"candidates": []}'))
            outcome = _handed_off(Outcome(seq, True, line=line, record=json.loads(line)), segments)
            assert outcome.spilled is not None
            ledger.outcome(outcome)
        segments.close()
    records = list(iter_records(out))
    assert [(r["id"], r.get("duplicate_of")) for r in records] == [
        ("same", None),
        ("b.yaml", "same"),
    ]
    assert done == [True, True] and stats.written == 2


def test_a_two_worker_batch_writes_what_one_worker_writes_and_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    cases = sorted((ROOT / "cases").glob("*.yaml"))[:40]
    results = {}
    for workers in (1, 2):
        out = tmp_path / f"out{workers}.jsonl"
        stats = run_batch(cases, out, BatchOptions(workers=workers, backend="clips"))
        assert stats.written == len(cases) and stats.failed == 0
        lines = out.read_bytes().splitlines()
        results[workers] = sorted(lines)
        assert all(json.loads(line)["ok"] for line in lines)
    assert results[1] == results[2]
    assert list((tmp_path / "tmp").glob("leukodx-handoff-*")) == []  # removed at the end


def test_without_a_usable_temporary_folder_lines_travel_over_the_pipes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def unwritable() -> HandoffFolder:
        raise PermissionError(13, "Permission denied", "/tmp/leukodx-handoff-x")

    monkeypatch.setattr("engine.batch.run.HandoffFolder", unwritable)  # a read-only /tmp
    cases = sorted((ROOT / "cases").glob("*.yaml"))[:6]
    out = tmp_path / "out.jsonl"
    stats = run_batch(cases, out, BatchOptions(workers=2, backend="clips"))
    assert stats.written == len(cases) and stats.failed == 0
    assert len(out.read_bytes().splitlines()) == len(cases)
