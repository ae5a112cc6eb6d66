# SPDX-License-Identifier: Apache-2.0
"""One benchmark configuration, measured in this (fresh) process; ``benchmarks.run`` starts one
subprocess per configuration so that cold start and peak RSS are those of that configuration.

Configurations (each one patient = parse + validate, build facts, infer, explain, JSON):

* ``clips``, ``experta``: the compiled backends, as ``diagnose`` runs them (one compile per KB,
  one engine per thread, reset between patients);
* ``naive``: experta used naively, a new KnowledgeEngine class *and* instance per patient
  (``engine.backends.experta.compile(kb)`` per patient);
* ``floor``: everything but inference (no firings): the cost no backend can remove.

The pipeline is ``engine.api.diagnose`` taken apart into its stages, so each stage is timed;
a check at start-up asserts it gives the same JSON as ``diagnose`` itself.
"""

from __future__ import annotations

import time

_T0 = time.perf_counter()  # before any engine import: cold start includes imports

import argparse  # noqa: E402
import datetime as dt  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

from engine.api import diagnose  # noqa: E402
from engine.backends import experta as experta_backend  # noqa: E402
from engine.backends.base import Firing, Matcher, get_matcher  # noqa: E402
from engine.differential import IgnoredInput  # noqa: E402
from engine.explain import build_differential  # noqa: E402
from engine.facts import FactSet, build_facts  # noqa: E402
from engine.kb.load import KnowledgeBase, load_knowledge_base  # noqa: E402
from engine.patient import parse_patient  # noqa: E402

CONFIGS: tuple[str, ...] = ("floor", "clips", "experta", "naive")
STAGES: tuple[str, ...] = ("parse", "facts", "infer", "explain", "json")
TODAY = dt.date(2025, 6, 30)


class NaiveExperta:
    """experta without reuse: a new engine class and instance for every patient."""

    backend = "experta"

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb

    def run(self, facts: FactSet) -> list[Firing]:
        return experta_backend.compile(self.kb).run(facts)


class Pipeline:
    """``diagnose(patient).to_json()`` in stages, with a CPU-time total per stage."""

    def __init__(self, kb: KnowledgeBase, config: str) -> None:
        self.kb = kb
        self.matcher: Matcher | None = None
        if config == "naive":
            self.matcher = NaiveExperta(kb)
        elif config != "floor":
            self.matcher = get_matcher(kb, config)
        self.backend = self.matcher.backend if self.matcher else "none"
        self.stages = dict.fromkeys(STAGES, 0.0)
        self.fired: set[str] = set()

    def __call__(self, data: dict[str, Any]) -> str:
        t0 = time.process_time()
        patient = parse_patient(data, today=TODAY)
        t1 = time.process_time()
        facts = build_facts(patient, self.kb, today=TODAY)
        t2 = time.process_time()
        firings = self.matcher.run(facts) if self.matcher else []
        t3 = time.process_time()
        ignored = [IgnoredInput(item=item, reason=reason) for item, reason in facts.ignored]
        diff = build_differential(
            self.kb, facts, firings, patient_id=patient.id, backend=self.backend, ignored=ignored
        )
        t4 = time.process_time()
        text = diff.to_json()
        t5 = time.process_time()
        for stage, (a, b) in zip(
            STAGES, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5)), strict=True
        ):
            self.stages[stage] += b - a
        self.fired.update(f.rule_id for f in firings)
        return text


def cold_start(config: str, kb_path: str | None, first: dict[str, Any]) -> tuple[
        KnowledgeBase, Pipeline, dict[str, float]]:  # fmt: skip
    """Load the KB, compile it, answer one patient: the time to a first answer."""
    t_import = time.perf_counter() - _T0
    t0 = time.perf_counter()
    kb = load_knowledge_base(kb_path)
    t1 = time.perf_counter()
    pipeline = Pipeline(kb, config)
    t2 = time.perf_counter()
    pipeline(first)
    t3 = time.perf_counter()
    return kb, pipeline, {
        "import_s": t_import, "load_s": t1 - t0, "compile_s": t2 - t1, "first_call_s": t3 - t2,
        "load_compile_s": t2 - t0, "time_to_first_answer_s": t3 - t0,
    }  # fmt: skip


def check_faithful(kb: KnowledgeBase, pipeline: Pipeline, patients: list[dict[str, Any]]) -> None:
    """The staged pipeline is ``diagnose``: same JSON on a few patients."""
    if pipeline.matcher is None or isinstance(pipeline.matcher, NaiveExperta):
        return
    for data in patients:
        expected = diagnose(data, kb=kb, backend=pipeline.backend, today=TODAY).to_json()
        if pipeline(data) != expected:
            raise SystemExit(f"staged pipeline differs from diagnose() on {data.get('id')}")


def _percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else values
    return {"p50_ms": statistics.median(values) * 1e3, "p99_ms": cuts[min(98, len(cuts) - 1)] * 1e3}


def latency(pipeline: Pipeline, patients: list[dict[str, Any]]) -> dict[str, Any]:
    """Warm single-call latency (wall and CPU) over ``patients``, after ten warm-up calls."""
    for data in patients[:10]:
        pipeline(data)
    wall, cpu = [], []
    for data in patients:
        w, c = time.perf_counter(), time.process_time()
        pipeline(data)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    cpu_p = _percentiles(cpu)
    return {
        **_percentiles(wall),
        "cpu_p50_ms": cpu_p["p50_ms"],
        "cpu_p99_ms": cpu_p["p99_ms"],
        "calls": len(patients),
    }


def default_kb_latency(backend: str, patients: list[dict[str, Any]]) -> float:
    """Median wall ms of ``diagnose(p, backend=...)`` without passing ``kb`` (the API default)."""
    times = []
    for data in patients:
        t = time.perf_counter()
        diagnose(data, backend=backend, today=TODAY).to_json()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def stream(path: str, n: int) -> Iterator[dict[str, Any]]:
    """The first ``n`` patients of a JSONL file, read as they are used (so that peak RSS is the
    engine's, not the input's)."""
    with open(path, encoding="utf-8") as fh:
        for _, line in zip(range(n), fh, strict=False):
            yield json.loads(line)


def throughput(pipeline: Pipeline, patients: Iterable[dict[str, Any]], checkpoint: int,
               n: int) -> dict[str, Any]:  # fmt: skip
    """Cases/s over ``n`` patients, with figures at ``checkpoint`` patients too."""
    pipeline.stages = dict.fromkeys(STAGES, 0.0)
    marks: dict[str, Any] = {}
    calls: list[float] = []
    w0, c0 = time.perf_counter(), time.process_time()
    for i, data in enumerate(patients, start=1):
        t = time.perf_counter()
        pipeline(data)
        calls.append(time.perf_counter() - t)
        if i in (checkpoint, n):
            wall, cpu = time.perf_counter() - w0, time.process_time() - c0
            marks[str(i)] = {"n": i, "cases_per_s": i / wall, "cpu_ms_per_case": cpu / i * 1e3,
                             "wall_s": wall, "peak_rss_mb": _rss_mb()}  # fmt: skip
    return {
        "marks": marks,
        "call": _percentiles(calls),
        "stage_ms_per_case": {s: t / n * 1e3 for s, t in pipeline.stages.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.measure", description=__doc__)
    parser.add_argument("config", choices=CONFIGS)
    parser.add_argument("--patients", required=True, help="JSONL of patients")
    parser.add_argument("--n", type=int, required=True, help="patients for throughput")
    parser.add_argument("--checkpoint", type=int, default=1000)
    parser.add_argument("--latency", type=int, default=200, help="single calls timed")
    parser.add_argument("--kb", default=None, help="knowledge base directory (default: bundled)")
    parser.add_argument(
        "--check",
        type=int,
        default=20,
        help="patients on which the staged pipeline must equal diagnose()",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=0,
        help="patients run once, untimed, before the throughput run (fills lazy caches)",
    )
    parser.add_argument("--out", required=True, help="where to write the JSON result")
    args = parser.parse_args(argv)
    patients = list(stream(args.patients, max(args.latency, args.check, 20)))
    kb, pipeline, cold = cold_start(args.config, args.kb, patients[0])
    check_faithful(kb, pipeline, patients[: args.check])
    result: dict[str, Any] = {"config": args.config, "cold": cold, "rules": len(kb.rules)}
    if args.latency:  # naive: every call is a cold call, see throughput["call"] instead
        result["latency"] = latency(pipeline, patients[: args.latency])
    if args.config in ("clips", "experta"):
        result["default_kb_p50_ms"] = default_kb_latency(args.config, patients[:20])
    for data in stream(args.patients, args.warmup):
        pipeline(data)
    result["throughput"] = throughput(
        pipeline, stream(args.patients, args.n), args.checkpoint, args.n
    )
    result["rules_fired"] = len(pipeline.fired)
    result["peak_rss_mb"] = _rss_mb()
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
