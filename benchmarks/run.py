# SPDX-License-Identifier: Apache-2.0
"""The backend benchmark suite (issue 5): one command, a table on stdout, JSON on disk.

    python -m benchmarks.run            # full: 10k patients per backend, about 7 minutes
    python -m benchmarks.run --quick    # 1k patients, one to two minutes

Patients come from :mod:`benchmarks.synthetic` (seeded). Each configuration of
:mod:`benchmarks.measure` runs in its own subprocess, so that its cold start and peak RSS are
its own; the parent also reads the child's peak RSS from ``wait4``. Reported per configuration:
throughput (cases/s, wall) at 1k and at N patients, CPU ms per case, warm single-call latency
p50/p99, cold start, peak RSS, and the time per pipeline stage. Ratios against the targets:
clips >= 20x naive experta, tuned experta >= 3x naive, clips per-patient time <= 3x the floor.
Wall-clock figures need an idle machine; CPU time per case is robust to other load, so the
ratios are computed from CPU time, and the load average is recorded with the results.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):  # run as a script: python benchmarks/run.py
    sys.path.insert(0, str(ROOT))

from benchmarks.common import cpu_ms_per_case, machine, run_measure  # noqa: E402
from benchmarks.synthetic import generate  # noqa: E402

TARGETS = {"clips_vs_naive": 20.0, "experta_vs_naive": 3.0, "clips_vs_floor_max": 3.0}


@dataclass(frozen=True)
class Plan:
    n: int  # patients for throughput (floor, clips, experta)
    checkpoint: int
    naive_n: int
    latency: int


FULL = Plan(n=10_000, checkpoint=1_000, naive_n=60, latency=300)
QUICK = Plan(n=1_000, checkpoint=200, naive_n=8, latency=100)


def write_patients(path: Path, n: int, seed: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for p in generate(n, seed):
            fh.write(json.dumps(p) + "\n")


def run_config(config: str, patients: Path, plan: Plan, kb: str | None, work: Path) -> dict[
        str, Any]:  # fmt: skip
    """One configuration in a fresh subprocess; adds the child's peak RSS from ``wait4``."""
    naive = config == "naive"
    return run_measure(config, patients, work, n=plan.naive_n if naive else plan.n,
                       checkpoint=plan.naive_n if naive else plan.checkpoint,
                       latency=0 if naive else plan.latency, kb=kb)  # fmt: skip


def ratios(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Speed-ups from CPU ms per case (robust to other load on the machine)."""
    cpu = {name: cpu_ms_per_case(r) for name, r in results.items()}
    infer = {name: r["throughput"]["stage_ms_per_case"]["infer"] for name, r in results.items()}
    out: dict[str, Any] = {}
    if "naive" in cpu and "clips" in cpu:
        out["clips_vs_naive"] = cpu["naive"] / cpu["clips"]
        out["clips_vs_naive_inference_only"] = infer["naive"] / infer["clips"]
    if "naive" in cpu and "experta" in cpu:
        out["experta_vs_naive"] = cpu["naive"] / cpu["experta"]
    if "clips" in cpu and "experta" in cpu:
        out["clips_vs_experta"] = cpu["experta"] / cpu["clips"]
        out["clips_vs_experta_inference_only"] = infer["experta"] / infer["clips"]
    if "floor" in cpu and "clips" in cpu:
        out["clips_vs_floor"] = cpu["clips"] / cpu["floor"]

    def met(key: str, ok: Callable[[float], bool]) -> bool | None:
        return ok(out[key]) if key in out else None  # None: not measured in this run

    out["targets_met"] = {
        "clips >= 20x naive": met("clips_vs_naive", lambda r: r >= TARGETS["clips_vs_naive"]),
        "experta >= 3x naive": met("experta_vs_naive", lambda r: r >= TARGETS["experta_vs_naive"]),
        "clips <= 3x floor": met("clips_vs_floor", lambda r: r <= TARGETS["clips_vs_floor_max"]),
    }
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    head = (
        f"{'config':<8} {'n':>6} {'case/s@1k':>9} {'case/s@N':>9} {'cpu ms':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'cold s':>7} {'RSS@1k':>7} {'RSS@N':>7}  "
        "stage ms: parse facts infer explain json"
    )
    lines = [head, "-" * len(head)]
    for name, r in results.items():
        marks = r["throughput"]["marks"]
        first, last = marks[min(marks, key=int)], marks[max(marks, key=int)]
        lat = r.get("latency", r["throughput"]["call"])
        st = r["throughput"]["stage_ms_per_case"]
        lines.append(
            f"{name:<8} {last['n']:>6} {first['cases_per_s']:>9.1f} {last['cases_per_s']:>9.1f} "
            f"{last['cpu_ms_per_case']:>7.2f} {lat['p50_ms']:>7.2f} {lat['p99_ms']:>7.2f} "
            f"{r['cold']['time_to_first_answer_s']:>7.2f} {first['peak_rss_mb']:>7.1f} "
            f"{r['child_max_rss_mb']:>7.1f}  " + " ".join(f"{st[s]:.2f}" for s in st)
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="1k patients (about a minute)")
    parser.add_argument("--seed", type=int, default=20251)
    parser.add_argument("--kb", default=None, help="knowledge base directory (default: bundled)")
    parser.add_argument("--configs", nargs="+", default=["floor", "clips", "experta", "naive"])
    parser.add_argument("-o", "--out", default=str(ROOT / "benchmarks" / "results.json"))
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.time()
    before = machine()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="leukodx-bench-") as tmp:
        work = Path(tmp)
        patients = work / "patients.jsonl"
        write_patients(patients, max(plan.n, plan.latency), args.seed)
        for config in args.configs:
            print(f"running {config} ...", file=sys.stderr, flush=True)
            results[config] = run_config(config, patients, plan, args.kb, work)
    report = {"plan": plan.__dict__, "seed": args.seed, "machine": before,
              "load_average_after": os.getloadavg(), "duration_s": time.time() - started,
              "results": results, "ratios": ratios(results)}  # fmt: skip
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(table(results))
    print(json.dumps(report["ratios"], indent=2))
    print(f"written {args.out} in {report['duration_s']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
