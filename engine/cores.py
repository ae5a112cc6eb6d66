# SPDX-License-Identifier: Apache-2.0
"""How many cores this process may use, for the defaults of ``leukodx batch`` (workers) and
``leukodx serve`` (worker processes).

``os.cpu_count()`` reports the machine's cores, which in a container or under ``taskset`` can be
many more than the process is allowed: a batch or a service sized by it would start dozens of
processes (each about 70 MB) to share two cores. So the count is the CPU affinity mask where the
platform has one, lowered to a cgroup CPU quota when one is set (cgroup v2 ``cpu.max``, or v1
``cpu.cfs_quota_us`` over ``cpu.cfs_period_us``, rounded up), and never below 1. An unreadable or
malformed cgroup file means no quota, never an error.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def usable_cores(cgroup_root: Path = CGROUP_ROOT) -> int:
    """The cores this process may run on (at least 1)."""
    affinity = getattr(os, "sched_getaffinity", None)
    cores = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    quota = cgroup_quota(cgroup_root)
    if quota is not None:
        cores = min(cores, quota)
    return max(1, cores)


def cgroup_quota(root: Path = CGROUP_ROOT) -> int | None:
    """The CPU quota of the cgroup mounted at ``root`` in whole cores (rounded up), or None when
    there is none or it cannot be read."""
    v2 = _read(root / "cpu.max")
    if v2 is not None:
        parts = v2.split()
        if len(parts) == 2 and parts[0] != "max":
            return _cores(parts[0], parts[1])
        return None
    for folder in ("cpu", "cpu,cpuacct", "cpuacct,cpu"):
        quota, period = (
            _read(root / folder / "cpu.cfs_quota_us"),
            _read(root / folder / "cpu.cfs_period_us"),
        )
        if quota is not None and period is not None:
            return _cores(quota, period)
    return None


def _cores(quota: str, period: str) -> int | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    if q <= 0 or p <= 0:  # v1 writes -1 for "no quota"
        return None
    return max(1, math.ceil(q / p))


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
