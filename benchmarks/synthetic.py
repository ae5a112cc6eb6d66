# SPDX-License-Identifier: Apache-2.0
"""Seeded synthetic patients (contract section 1, long form) for benchmarks and batch tests.

``generate(n, seed)`` yields ``n`` patient dicts, identical for the same seed (and the same
bundled drug lexicon, which supplies the drug names). Every patient follows one scenario, drawn
with the weights of :data:`SCENARIOS`, that exercises one family of rule paths: a drug of each
lexicon class with start/stop dates (onset, dechallenge, rechallenge, baseline-low), malignancy,
marrow failure, autoimmune, splenic, nutritional, infectious, constitutional, cyclic, congenital
and idiopathic patterns, or a normal count. Counts come as dated series of 1-12 results shaped by
the scenario (falling after a start date, recovering after a stop, periodic nadirs, stable low),
in assorted accepted units; conditions, findings and history carry since/until dates. Values are
plausible, not clinical truth: this is load, not a validation set.

    python -m benchmarks.synthetic 1000 --seed 7 -o patients.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from collections.abc import Iterator

from benchmarks.scenarios import SCENARIOS, Builder, Patient, noise, workup

__all__ = ["Patient", "generate", "main", "patient"]


def patient(rng: random.Random, pid: str) -> Patient:
    """One synthetic patient from ``rng``."""
    b = Builder(rng, pid)
    scenario = rng.choices([s for s, _ in SCENARIOS], [w for _, w in SCENARIOS])[0]
    scenario(b)
    noise(b)
    workup(b)
    b.series()
    return b.p


def generate(n: int, seed: int) -> Iterator[Patient]:
    """``n`` synthetic patients, the same for the same ``seed``."""
    rng = random.Random(seed)
    for i in range(n):
        yield patient(rng, f"syn-{seed}-{i:06d}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.synthetic",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("n", type=int, help="number of patients")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--output", default="-", help="JSONL file (default: stdout)")
    args = parser.parse_args(argv)
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8")
    try:
        for p in generate(args.n, args.seed):
            out.write(json.dumps(p, sort_keys=True) + "\n")
    except BrokenPipeError:  # piped into `head`: stop quietly (recipe of the `signal` docs)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
