# SPDX-License-Identifier: Apache-2.0
"""Performance on the bundled cases (issue 18), every figure a ratio to a baseline of the same run.

    python -m benchmarks.cases                  # everything, a few minutes on 2 cores
    python -m benchmarks.cases --quick          # fewer repetitions: a smoke run, 1-2 minutes
    python -m benchmarks.cases --only floor-ratio cold-start

Sections (``--only``):

* ``floor-ratio``: CPU ms per case of the default backend (CLIPS) over the bundled ``cases/``,
  each case diagnosed several times, against the floor of :mod:`benchmarks.measure` (parse,
  facts, the differential with no firings, JSON), with the time per stage; the two are measured
  in alternating order three times (once with ``--quick``) and the median ratio reported.
  Target <= 2.5x.
* ``experta``: CPU ms per case of the experta reference backend over CLIPS.
* ``cold-start``: wall time of ``leukodx diagnose CASE`` and of ``leukodx --version`` in fresh
  processes, over ``python -c "import pydantic, yaml"`` (medians; the runs of the three commands
  are interleaved so that a change of load hits them alike). The on-disk knowledge-base cache is
  warmed first; the diagnosis with the cache off is reported too. Targets <= 4x and <= 2x.
* ``batch``: ``python -m engine batch`` over the cases copied to a few thousand files (distinct
  ids) with 1 and 2 workers: the speed-up, and the CPU of the main process against the workers'
  (:mod:`benchmarks.batch_bench`). Target >= 1.8x.
* ``service``: CDS Hooks patient-view latency p50/p99 on CLIPS at 1, 4 and 16 concurrent clients
  (:mod:`benchmarks.cds_latency`). Target p99 <= 150 ms at 16.

Why ratios: the machine this runs on may be shared. CPU time per case moves little with other
load, and a baseline measured in the same run moves with the machine; absolute wall times do
not compare across runs. Every subprocess gets ``LEUKODX_CACHE_DIR`` pointed at a temporary
folder, so the user's own cache is neither used nor changed. Prints a table and writes
``benchmarks/results-cases.json`` (figures, targets, machine, load average before and after,
versions).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: python benchmarks/cases.py
    sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    Timed,
    cpu_ms_per_case,
    leukodx_command,
    machine,
    run_measure,
    timed,
    versions,
)

SECTIONS = ("floor-ratio", "experta", "cold-start", "batch", "service")
BASELINE = [sys.executable, "-c", "import pydantic, yaml"]
DEFAULT_OUT = ROOT / "benchmarks" / "results-cases.json"
ENGINE_DIR = ROOT / "engine"
COLD_CASE = "clozapine_induced-01.yaml"


@dataclass(frozen=True)
class Plan:
    reps: int  # times each case is diagnosed for the floor and CLIPS
    experta_reps: int
    cold_runs: int  # timed fresh processes per command (after one warm-up each)
    batch_copies: int  # copies of every case in the batch folder
    batch_rounds: int  # 1-then-2-workers rounds (alternating order)
    service: tuple[tuple[int, int], ...]  # (concurrent clients, timed calls)
    ratio_rounds: int = 1  # floor-then-CLIPS rounds (alternating order); the median ratio


FULL = Plan(reps=20, experta_reps=3, cold_runs=9, batch_copies=30, batch_rounds=2,
            service=((1, 200), (4, 400), (16, 800)), ratio_rounds=3)  # fmt: skip
QUICK = Plan(reps=3, experta_reps=1, cold_runs=3, batch_copies=4, batch_rounds=1,
             service=((1, 40), (4, 80), (16, 160)))  # fmt: skip


@dataclass(frozen=True)
class Target:
    """One reported figure, its target (None: reported for information) and whether it is met."""

    section: str
    figure: str
    value: float
    unit: str  # "x" for a ratio, "ms" for a time
    target: str | None = None  # e.g. "<= 2.5"

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        op, bound = self.target.split()
        return self.value <= float(bound) if op == "<=" else self.value >= float(bound)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}


class Run:
    """Shared state of one benchmark run: the cases, a scratch folder, the subprocess env."""

    def __init__(self, plan: Plan, case_files: list[Path], work: Path, cold_case: Path) -> None:
        self.plan = plan
        self.case_files = case_files
        self.work = work
        self.cold_case = cold_case
        self.cache = work / "kb-cache"
        self.env = {**os.environ, "LEUKODX_CACHE_DIR": str(self.cache)}
        self._measured: dict[str, dict[str, Any]] = {}

    def patients(self, reps: int) -> Path:
        """The cases as JSONL (dates as ISO strings, as a JSON client sends them), ``reps``
        times over."""
        from engine.kb.yamlio import load_patient_file

        path = self.work / f"cases-x{reps}.jsonl"
        if not path.exists():
            lines = [json.dumps(load_patient_file(f), default=str) for f in self.case_files]
            path.write_text("".join(line + "\n" for line in lines * reps), encoding="utf-8")
        return path

    def measured(self, config: str, round_: int = 0) -> dict[str, Any]:
        """One :mod:`benchmarks.measure` configuration over the cases (once per run and round)."""
        key = f"{config}#{round_}"
        if key not in self._measured:
            reps = self.plan.experta_reps if config == "experta" else self.plan.reps
            n = reps * len(self.case_files)
            check = 20 if config == "experta" else len(self.case_files)
            print(f"  {config}: {n} diagnoses ...", file=sys.stderr, flush=True)
            self._measured[key] = run_measure(
                config, self.patients(reps), self.work, n=n, check=check,
                warmup=min(n, len(self.case_files)), env=self.env,
            )  # fmt: skip
        return self._measured[key]


def _per_case(result: dict[str, Any]) -> dict[str, Any]:
    stages = result["throughput"]["stage_ms_per_case"]
    return {
        "cpu_ms_per_case": round(cpu_ms_per_case(result), 3),
        "stage_ms_per_case": {k: round(v, 3) for k, v in stages.items()},
        "diagnoses": max(int(k) for k in result["throughput"]["marks"]),
        "rules_fired": result["rules_fired"],
        "peak_rss_mb": round(result["child_max_rss_mb"], 1),
    }  # fmt: skip


def floor_ratio(run: Run) -> tuple[dict[str, Any], list[Target]]:
    """The floor and CLIPS measured in alternating order, ``ratio_rounds`` times (a shared
    2-core machine's speed drifts by a fifth over minutes, and the two are measured in turn):
    the median round's ratio, with that round's stages."""
    rounds = []
    for r in range(run.plan.ratio_rounds):
        order = ("floor", "clips") if r % 2 == 0 else ("clips", "floor")
        measured = {config: _per_case(run.measured(config, r)) for config in order}
        ratio = measured["clips"]["cpu_ms_per_case"] / measured["floor"]["cpu_ms_per_case"]
        rounds.append((ratio, measured["floor"], measured["clips"]))
    ratio, floor, clips = sorted(rounds, key=lambda x: x[0])[len(rounds) // 2]
    figures = {"floor": floor, "clips": clips, "clips_over_floor": round(ratio, 3),
               "round_ratios": [round(x[0], 3) for x in rounds],
               "cases": len(run.case_files), "repetitions": run.plan.reps}  # fmt: skip
    return figures, [Target("floor-ratio", "CLIPS CPU per case / floor", ratio, "x", "<= 2.5")]


def experta(run: Run) -> tuple[dict[str, Any], list[Target]]:
    ref, clips = _per_case(run.measured("experta")), _per_case(run.measured("clips"))
    ratio = ref["cpu_ms_per_case"] / clips["cpu_ms_per_case"]
    figures = {"experta": ref, "clips": clips, "experta_over_clips": round(ratio, 3),
               "repetitions": run.plan.experta_reps}  # fmt: skip
    return figures, [Target("experta", "experta CPU per case / CLIPS", ratio, "x")]


def cold_start(run: Run) -> tuple[dict[str, Any], list[Target]]:
    """Fresh processes, interleaved in rotating order, after one warm-up of each command."""
    cli = leukodx_command()
    off = {**run.env, "LEUKODX_CACHE_DIR": "off"}
    commands: dict[str, tuple[list[str], Mapping[str, str]]] = {
        "baseline": (BASELINE, run.env),
        "diagnose": ([*cli, "diagnose", str(run.cold_case)], run.env),
        "version": ([*cli, "--version"], run.env),
        "diagnose_cache_off": ([*cli, "diagnose", str(run.cold_case)], off),
    }
    # An installed package has its bytecode compiled by pip; an editable checkout under
    # PYTHONDONTWRITEBYTECODE=1 never gets it and would recompile every edited module each start.
    compiled = subprocess.run([sys.executable, "-m", "compileall", "-q", str(ENGINE_DIR)],
                              capture_output=True, check=False).returncode == 0  # fmt: skip
    for cmd, env in commands.values():  # warm-up: OS file cache, and the KB cache
        if (code := timed(cmd, env=env).code) != 0:
            raise SystemExit(f"cold start: {shlex.join(cmd)} exited {code}")
    names = list(commands)
    times: dict[str, list[Timed]] = {name: [] for name in names}
    for i in range(run.plan.cold_runs):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            cmd, env = commands[name]
            times[name].append(timed(cmd, env=env))

    def med(name: str, key: Callable[[Timed], float]) -> float:
        return statistics.median(key(t) for t in times[name]) * 1e3

    figures: dict[str, Any] = {
        "commands": {name: shlex.join(cmd) for name, (cmd, _) in commands.items()},
        "runs": run.plan.cold_runs,
        "cache_entries": len(list(run.cache.glob("*"))) if run.cache.is_dir() else 0,
        "bytecode_compiled": compiled,
    }
    for name in names:
        figures[name] = {"wall_ms_median": round(med(name, lambda t: t.wall_s), 1),
                         "cpu_ms_median": round(med(name, lambda t: t.cpu_s), 1),
                         "wall_ms": [round(t.wall_s * 1e3, 1) for t in times[name]]}  # fmt: skip
    base_wall, base_cpu = med("baseline", lambda t: t.wall_s), med("baseline", lambda t: t.cpu_s)
    for name in names[1:]:
        figures[f"{name}_over_baseline"] = round(med(name, lambda t: t.wall_s) / base_wall, 3)
        figures[f"{name}_over_baseline_cpu"] = round(med(name, lambda t: t.cpu_s) / base_cpu, 3)
    case = run.cold_case.name
    return figures, [
        Target("cold-start", f"cold `leukodx diagnose {case}` / import baseline (wall)",
               figures["diagnose_over_baseline"], "x", "<= 4"),
        Target("cold-start", "`leukodx --version` / import baseline (wall)",
               figures["version_over_baseline"], "x", "<= 2"),
        Target("cold-start", "cold diagnose, KB cache off / import baseline (wall)",
               figures["diagnose_cache_off_over_baseline"], "x"),
    ]  # fmt: skip


def replicate(case_files: list[Path], copies: int, folder: Path) -> int:
    """``copies`` copies of every case file, each with a distinct ``id``; returns the count."""
    folder.mkdir(parents=True, exist_ok=True)
    for path in case_files:
        text = path.read_text(encoding="utf-8")
        match = re.search(r"^id:\s*(\S+)\s*$", text, flags=re.M)
        if match is None:
            raise SystemExit(f"{path}: no top-level 'id:' line to make distinct copies of")
        for k in range(copies):
            new = f"id: {match.group(1)}-r{k:03d}"
            copy = text[: match.start()] + new + text[match.end() :]
            (folder / f"{path.stem}-r{k:03d}{path.suffix}").write_text(copy, encoding="utf-8")
    return len(case_files) * copies


def batch(run: Run) -> tuple[dict[str, Any], list[Target]]:
    from benchmarks import batch_bench  # psutil: only this section needs it

    folder = run.work / "batch-cases"
    n = replicate(run.case_files, run.plan.batch_copies, folder)
    runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
    for r in range(run.plan.batch_rounds):
        for workers in (1, 2) if r % 2 == 0 else (2, 1):
            print(f"  batch: {n} cases, {workers} worker(s) ...", file=sys.stderr, flush=True)
            result = batch_bench.run(folder, workers, None, run.work, env=run.env)
            if result["exit"] != 0 or result["cases"] != n:
                raise SystemExit(f"batch with {workers} worker(s) failed: {result}")
            runs[workers].append(result)
    one, two = (sum(r["seconds"] for r in runs[w]) for w in (1, 2))
    speedup = one / two

    def mean(workers: int, key: str) -> float:
        return round(statistics.mean(float(r[key]) for r in runs[workers]), 2)

    work, main = mean(1, "other_cpu_ms_per_case"), mean(1, "main_cpu_ms_per_case")
    ceiling = 2 * work / (work + main) if work + main else 0.0
    figures = {
        "cases": n, "rounds": run.plan.batch_rounds, "runs": runs,
        "two_over_one_workers": round(speedup, 3),
        "cpu_ms_per_case": {f"{w}_workers": {"main": mean(w, "main_cpu_ms_per_case"),
                                             "workers": mean(w, "other_cpu_ms_per_case")}
                            for w in (1, 2)},
        "cpu_bound_ceiling_2_cores": round(ceiling, 3),
    }  # fmt: skip
    return figures, [
        Target("batch", f"2 workers / 1 worker, {n} case files (wall)", speedup, "x", ">= 1.8"),
        Target("batch", "CPU-bound ceiling 2w/(w+main) with 1 worker", ceiling, "x"),
    ]


def service(run: Run) -> tuple[dict[str, Any], list[Target]]:
    """The server's default (one worker process per core: two on the 2-core reference machine)
    and ``--processes 0`` (hook calls in the server process); the p99 target is judged on each."""
    from benchmarks import cds_latency  # httpx and the service extra: only this section
    from engine.cli.serve import default_processes

    figures: dict[str, Any] = {"request": str(cds_latency.REQUEST.relative_to(ROOT)),
                               "backend": "clips", "server_threads": "server default",
                               "default_processes": default_processes()}  # fmt: skip
    targets = []
    for label, processes in (("default", None), ("processes_0", 0)):
        print(f"  service ({label}): CLIPS, clients "
              + ", ".join(str(c) for c, _ in run.plan.service) + " ...",
              file=sys.stderr, flush=True)  # fmt: skip
        by_clients = cds_latency.measure(
            run.plan.service, backend="clips", processes=processes, env=run.env
        )
        prefix = "" if processes is None else f"{label}_"
        figures.update({f"{prefix}clients_{c}": r for c, r in by_clients.items()})
        name = (f" (default: {figures['default_processes']} processes)" if processes is None
                else f" --processes {processes}")  # fmt: skip
        for clients, r in by_clients.items():
            targets.append(
                Target("service", f"p50 ms, {clients} client(s){name}", r["p50_ms"], "ms")
            )
            goal = "<= 150" if clients == 16 else None
            targets.append(
                Target("service", f"p99 ms, {clients} client(s){name}", r["p99_ms"], "ms", goal)
            )
    return figures, targets


RUNNERS: dict[str, Callable[[Run], tuple[dict[str, Any], list[Target]]]] = {
    "floor-ratio": floor_ratio, "experta": experta, "cold-start": cold_start, "batch": batch,
    "service": service,
}  # fmt: skip


def table(targets: list[Target], figures: dict[str, Any]) -> str:
    """The figures against their targets, then the per-stage split of a case."""
    rows = [("section", "figure", "value", "target", "met")]
    for t in targets:
        value = f"{t.value:.2f}x" if t.unit == "x" else f"{t.value:.1f} ms"
        met = "-" if t.met is None else ("met" if t.met else "NOT MET")
        rows.append((t.section, t.figure, value, t.target or "-", met))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    stages = {k: v for k, v in figures.get("floor-ratio", {}).items() if k in ("floor", "clips")}
    if "experta" in figures:
        stages["experta"] = figures["experta"]["experta"]
    if stages:
        lines += ["", "CPU ms per case: total = parse + facts + infer + explain + json"]
        for name, f in stages.items():
            st = f["stage_ms_per_case"]
            lines.append(f"  {name:<8} {f['cpu_ms_per_case']:7.2f} = "
                         + " + ".join(f"{st[s]:.2f}" for s in st))  # fmt: skip
    return "\n".join(lines)


def _source() -> dict[str, Any]:
    """The commit measured, and whether the tree had local changes (read-only git)."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                 timeout=20, check=True)  # fmt: skip
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    status = git("status", "--porcelain")
    modified = None if status is None else bool(status)
    return {"commit": git("rev-parse", "HEAD"), "modified": modified}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.cases",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, metavar="NAME",
                        help=f"run only these sections: {', '.join(SECTIONS)}")  # fmt: skip
    parser.add_argument("--reps", type=int, help="times each case is diagnosed (floor, CLIPS)")
    parser.add_argument("--cases", type=Path, default=ROOT / "cases", help="folder of case files")
    parser.add_argument("--cold-case", default=COLD_CASE, help="case file for the cold start")
    parser.add_argument("-o", "--out", type=Path, default=DEFAULT_OUT, help="results JSON")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.reps is not None:
        if args.reps < 1:
            parser.error("--reps: expected a positive integer")
        plan = Plan(**{**asdict(plan), "reps": args.reps})
    case_files = sorted([*args.cases.glob("*.yaml"), *args.cases.glob("*.yml")])
    if not case_files:
        parser.error(f"--cases: no YAML case files in {args.cases}")
    cold_case = args.cases / args.cold_case
    if not cold_case.is_file():
        cold_case = case_files[0]
    sections = [s for s in SECTIONS if s in (args.only or SECTIONS)]

    started, before = time.time(), machine()
    figures: dict[str, Any] = {}
    targets: list[Target] = []
    with tempfile.TemporaryDirectory(prefix="leukodx-bench-cases-") as tmp:
        run = Run(plan, case_files, Path(tmp), cold_case)
        for section in sections:
            print(f"running {section} ...", file=sys.stderr, flush=True)
            figures[section], found = RUNNERS[section](run)
            targets += found
    report = {
        "command": shlex.join(["python", "-m", "benchmarks.cases", *(argv or sys.argv[1:])]),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "duration_s": round(time.time() - started, 1),
        "quick": args.quick, "plan": asdict(plan), "sections": sections,
        "cases": {"folder": str(args.cases), "count": len(case_files),
                  "cold_case": cold_case.name},
        "machine": before, "versions": versions(), "source": _source(),
        "load_average_before": before["load_average"], "load_average_after": os.getloadavg(),
        "figures": figures, "targets": [t.as_dict() for t in targets],
    }  # fmt: skip
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(targets, figures))
    load = ", ".join(f"{x:.2f}" for x in before["load_average"])
    after = ", ".join(f"{x:.2f}" for x in report["load_average_after"])
    print(f"\nload average before {load}, after {after} ({os.cpu_count()} CPUs); "
          f"written {args.out} in {report['duration_s']:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
