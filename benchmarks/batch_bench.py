# SPDX-License-Identifier: Apache-2.0
"""Batch throughput and memory: cases/s at 1 and 2 workers, peak RSS at 1k, 10k and 100k cases.

    python -m benchmarks.batch_bench                 # 1k and 10k (minutes)
    python -m benchmarks.batch_bench --sizes 1000 10000 100000   # adds 100k (about an hour)

Patients come from ``benchmarks.synthetic`` (``python -m benchmarks.synthetic N --seed S -o F``)
when it is there, otherwise from the simple seeded generator below. Each run is the real command
(``python -m engine batch F --out ... --quiet``) in a subprocess; the process tree is sampled
every 0.2 s for resident memory (the batch's main process, and the whole tree with its workers).
Targets (issue 4): 2 workers >= 1.7x one worker; peak RSS at 100k within 1.3x of that at 1k.
Wall-clock figures need an otherwise idle machine. The CPU seconds of the main process (which
reads inputs and writes results) and of the rest of the tree (workers, fork server) per case are
reported too: on 2 cores, 2 workers cannot beat 2 x worker / (worker + main), whatever the load.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import psutil  # comes with the 'distributed' extra; used here only

ROOT = Path(__file__).resolve().parent.parent


def fallback_patients(n: int, seed: int) -> Iterator[dict[str, Any]]:
    """Seeded patients for when benchmarks.synthetic is not available (not clinically varied)."""
    rng = random.Random(seed)
    for i in range(n):
        anc = round(rng.uniform(0.1, 2.0), 2)
        yield {
            "id": f"bench-{i:06d}",
            "as_of": "2025-03-01",
            "labs": [
                {
                    "test": "wbc",
                    "value": round(anc + rng.uniform(0.5, 3), 2),
                    "unit": "10^9/L",
                    "date": "2025-02-20",
                },
                {"test": "anc", "value": anc, "unit": "10^9/L", "date": "2025-02-20"},
            ],
            "medications": [
                {
                    "name": rng.choice(["clozapine", "imatinib", "methimazole"]),
                    "start": "2025-01-10",
                }
            ],
        }


def make_input(n: int, seed: int, folder: Path) -> tuple[Path, str]:
    target = folder / f"synthetic-{n}.jsonl"
    try:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.synthetic",
                str(n),
                "--seed",
                str(seed),
                "-o",
                str(target),
            ],
            cwd=ROOT,
            check=True,
            capture_output=True,
        )
        return target, "benchmarks.synthetic"
    except subprocess.CalledProcessError:
        with target.open("w") as fh:
            for p in fallback_patients(n, seed):
                fh.write(json.dumps(p) + "\n")
        return target, "fallback generator"


def sample(proc: psutil.Process, cpu: dict[int, float]) -> tuple[int, int]:
    """(main process RSS, whole tree RSS) in bytes; ``cpu`` gets each process's CPU seconds."""
    try:
        main = proc.memory_info().rss
        children = proc.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, 0
    total = main
    for p in (proc, *children):
        try:
            times = p.cpu_times()
            cpu[p.pid] = times.user + times.system
            total += p.memory_info().rss if p is not proc else 0
        except psutil.NoSuchProcess:
            pass
    return main, total


def run(inputs: Path, workers: int, rules: str | None, folder: Path, *,
        env: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """``python -m engine batch`` over ``inputs`` with ``workers`` processes, sampled for memory
    and CPU; ``env`` (default: this process's) is the batch's environment."""
    out = folder / f"out-{workers}.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "engine",
        "batch",
        str(inputs),
        "--out",
        str(out),
        "--quiet",
        "--workers",
        str(workers),
        *(["--rules", rules] if rules else []),
    ]
    start = time.perf_counter()
    popen = subprocess.Popen(cmd, cwd=ROOT, env=None if env is None else dict(env))
    proc = psutil.Process(popen.pid)
    peak_main = peak_tree = 0
    cpu: dict[int, float] = {}
    while popen.poll() is None:
        main, tree = sample(proc, cpu)
        peak_main, peak_tree = max(peak_main, main), max(peak_tree, tree)
        time.sleep(0.2)
    seconds = time.perf_counter() - start
    cases = sum(1 for _ in out.open("rb"))
    out.unlink()
    return {
        "workers": workers,
        "cases": cases,
        "exit": popen.returncode,
        "seconds": round(seconds, 2),
        "cases_per_s": round(cases / seconds, 2),
        "main_cpu_ms_per_case": round(1000 * cpu.get(popen.pid, 0.0) / max(cases, 1), 2),
        "other_cpu_ms_per_case": round(
            1000 * (sum(cpu.values()) - cpu.get(popen.pid, 0.0)) / max(cases, 1), 2
        ),
        "peak_rss_main_mb": round(peak_main / 2**20, 1),
        "peak_rss_tree_mb": round(peak_tree / 2**20, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--speed-size", type=int, default=1000, help="cases for the 1 vs 2 workers run")
    ap.add_argument("--rules", help="knowledge base (default: bundled)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="leukodx-bench-") as tmp:
        folder = Path(tmp)
        inputs, source = make_input(args.speed_size, args.seed, folder)
        print(f"patients from {source}", flush=True)
        one = run(inputs, 1, args.rules, folder)
        two = run(inputs, 2, args.rules, folder)
        print(json.dumps(one), json.dumps(two), sep="\n", flush=True)
        print(
            f"speed-up 2 workers / 1 worker: {two['cases_per_s'] / one['cases_per_s']:.2f}x "
            "(target >= 1.7x)",
            flush=True,
        )
        work, main_cpu = one["other_cpu_ms_per_case"], one["main_cpu_ms_per_case"]
        print(
            f"CPU bound on 2 idle cores: 2 x {work} / ({work} + {main_cpu}) = "
            f"{2 * work / (work + main_cpu):.2f}x (workers' CPU per case vs the main process's)",
            flush=True,
        )
        memory = []
        for n in args.sizes:
            inputs, _ = make_input(n, args.seed, folder)
            memory.append({"n": n, **run(inputs, 2, args.rules, folder)})
            print(json.dumps(memory[-1]), flush=True)
        first, last = memory[0], memory[-1]
        for key in ("peak_rss_main_mb", "peak_rss_tree_mb"):
            print(
                f"{key} at {last['n']} / at {first['n']}: {last[key] / first[key]:.2f}x "
                "(target <= 1.3x)"
            )


if __name__ == "__main__":
    main()
