# SPDX-License-Identifier: Apache-2.0
"""What the benchmark scripts share: the machine description, one measured configuration of
:mod:`benchmarks.measure` in its own process, and timing a whole command.

Kept apart so that ``benchmarks.run`` (synthetic patients) and ``benchmarks.cases`` (the bundled
cases) measure the same way and their figures can be compared.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: Distributions whose version changes the figures.
DISTRIBUTIONS = ("leukodx", "clipspy", "experta", "pydantic", "pydantic-core", "PyYAML")


def versions() -> dict[str, str | None]:
    """Installed versions of the distributions that shape the figures (None: not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in DISTRIBUTIONS:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def machine() -> dict[str, Any]:
    """The machine and the load on it now (figures from a loaded machine are not comparable)."""
    return {"python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "load_average": os.getloadavg(), "versions": versions()}  # fmt: skip


def run_measure(config: str, patients: Path, work: Path, *, n: int, checkpoint: int | None = None,
                latency: int = 0, check: int = 20, warmup: int = 0, kb: str | None = None,
                env: Mapping[str, str] | None = None) -> dict[str, Any]:  # fmt: skip
    """One configuration of :mod:`benchmarks.measure` in a fresh subprocess (so its cold start
    and peak RSS are its own); adds the child's peak RSS from ``wait4``."""
    out = work / f"{config}.json"
    cmd = [sys.executable, "-m", "benchmarks.measure", config, "--patients", str(patients),
           "--n", str(n), "--out", str(out), "--checkpoint", str(checkpoint or n),
           "--latency", str(latency), "--check", str(check), "--warmup", str(warmup)]  # fmt: skip
    if kb:
        cmd += ["--kb", kb]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=None if env is None else dict(env))
    _, status, usage = os.wait4(proc.pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"benchmark configuration '{config}' failed ({code})")
    result: dict[str, Any] = json.loads(out.read_text())
    result["child_max_rss_mb"] = usage.ru_maxrss / 1024
    return result


def cpu_ms_per_case(result: dict[str, Any]) -> float:
    """CPU ms per case over the longest throughput run of a :func:`run_measure` result."""
    marks = result["throughput"]["marks"]
    return float(marks[max(marks, key=int)]["cpu_ms_per_case"])


@dataclass(frozen=True)
class Timed:
    """One finished command: wall seconds, CPU seconds (user + system, its reaped children
    included) and exit code."""

    wall_s: float
    cpu_s: float
    code: int


def timed(cmd: Sequence[str], *, env: Mapping[str, str] | None = None,
          cwd: Path = ROOT) -> Timed:  # fmt: skip
    """Run ``cmd`` to completion with its output discarded; wall time from start to reaped."""
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), cwd=cwd, env=None if env is None else dict(env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Timed(wall, usage.ru_utime + usage.ru_stime, proc.returncode)


def leukodx_command() -> list[str]:
    """The installed ``leukodx`` script next to this Python, else ``python -m engine``."""
    script = Path(sys.executable).with_name("leukodx")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "engine"]
