# SPDX-License-Identifier: Apache-2.0
"""CDS Hooks service latency: patient-view calls over loopback, sequential and 8-way concurrent.

    python -m benchmarks.cds_latency                       # 200 sequential + 400 concurrent calls
    python -m benchmarks.cds_latency --jwt                 # the same with client JWTs (ES384)
    python -m benchmarks.cds_latency --backend clips       # the CLIPS inference backend
    python -m benchmarks.cds_latency --requests 50 --concurrency 4

Starts the real service (``python -m engine serve`` on a free 127.0.0.1 port, with
``--insecure-no-auth`` unless ``--jwt``), waits for it, sends ``examples/cds/patient-view.json``
(or ``--request FILE``) a bounded number of times, stops the server and prints p50/p95/p99/max in
milliseconds, measured by the client from request sent to response read, against the CDS Hooks
guidance that services answer "on the order of 500 ms". Warm-up calls are not counted. ``--json``
prints the figures as JSON too. Needs the ``service`` extra and httpx.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
GUIDANCE_MS = 500.0
PATH = "/cds-services/leukodx-patient-view"
ISSUER = "https://bench.example"
REQUEST = ROOT / "examples/cds/patient-view.json"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Tokens:
    """Mints a fresh ES384 client JWT per call (each ``jti`` is new, so none is a replay)."""

    def __init__(self, folder: Path) -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec

        self._jwt = jwt
        self.key = ec.generate_private_key(ec.SECP384R1())
        jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid="bench", alg="ES384")
        self.jwks = folder / "jwks.json"
        self.jwks.write_text(json.dumps({"keys": [jwk]}))

    def header(self, aud: str) -> dict[str, str]:
        now = int(time.time())
        claims = {"iss": ISSUER, "aud": aud, "exp": now + 120, "iat": now, "jti": str(uuid.uuid4())}
        token = self._jwt.encode(
            claims, self.key, algorithm="ES384", headers={"kid": "bench", "typ": "JWT"}
        )
        return {"Authorization": f"Bearer {token}"}


def start(port: int, tokens: Tokens | None, options: list[str], log: Path,
          env: Mapping[str, str] | None = None) -> subprocess.Popen[bytes]:  # fmt: skip
    auth = ["--jwks", str(tokens.jwks), "--issuer", ISSUER] if tokens else ["--insecure-no-auth"]
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "engine", "serve", "--port", str(port),
                                    "--log-level", "warning", *options, *auth],
                                   cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   env=None if env is None else dict(env))  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited:\n{log.read_text()}")
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=2)
            return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not start within 120 s")


def timed_call(client: httpx.Client, url: str, body: bytes,
               auth: Callable[[], dict[str, str]]) -> float:  # fmt: skip
    headers = {"Content-Type": "application/json", **auth()}
    started = time.perf_counter()
    response = client.post(url, content=body, headers=headers)
    response.read()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise SystemExit(f"HTTP {response.status_code}: {response.text[:300]}")
    return elapsed


def run(url: str, body: bytes, total: int, concurrency: int,
        auth: Callable[[], dict[str, str]]) -> tuple[list[float], float]:  # fmt: skip
    """``total`` calls from ``concurrency`` threads (one keep-alive connection each)."""
    local = threading.local()

    def one(_: int) -> float:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=60)
        return timed_call(local.client, url, body, auth)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        times = list(pool.map(one, range(total)))
    return times, time.perf_counter() - started


def summary(times: list[float], wall: float) -> dict[str, float]:
    ordered = sorted(times)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return {
        "requests": len(times),
        "p50_ms": round(statistics.median(ordered), 1),
        "p95_ms": round(pct(95), 1),
        "p99_ms": round(pct(99), 1),
        "max_ms": round(ordered[-1], 1),
        "throughput_rps": round(len(times) / wall, 1),
    }


def measure(
    loads: Sequence[tuple[int, int]],
    *,
    backend: str | None = None,
    workers: int | None = None,
    processes: int | None = None,
    warmup: int = 20,
    request: Path = REQUEST,
    jwt: bool = False,
    env: Mapping[str, str] | None = None,
) -> dict[int, dict[str, float]]:
    """Start the real service, then for each ``(clients, calls)`` of ``loads``: ``warmup``
    uncounted calls at that concurrency and ``calls`` timed ones; the summary per concurrency.
    ``backend``, ``workers`` and ``processes`` default to the server's own defaults."""
    body = request.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        tokens = Tokens(Path(tmp)) if jwt else None
        port = free_port()
        url = f"http://127.0.0.1:{port}{PATH}"
        options = [*(["--backend", backend] if backend else []),
                   *(["--workers", str(workers)] if workers else []),
                   *(["--processes", str(processes)] if processes is not None else [])]  # fmt: skip
        process = start(port, tokens, options, Path(tmp) / "server.log", env)
        auth: Callable[[], dict[str, str]] = (lambda: tokens.header(url)) if tokens else dict
        try:
            results = {}
            for clients, calls in loads:
                run(url, body, max(warmup, clients), clients, auth)
                results[clients] = summary(*run(url, body, calls, clients, auth))
        finally:
            process.terminate()
            process.wait(timeout=30)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="sequential calls (default 200)")
    parser.add_argument(
        "--concurrent-requests",
        type=int,
        default=400,
        help="calls in the concurrent run (default 400)",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="parallel clients (default 8)")
    parser.add_argument("--warmup", type=int, default=20, help="uncounted calls first")
    parser.add_argument("--request", type=Path, default=REQUEST)
    parser.add_argument("--jwt", action="store_true", help="authenticate every call (ES384)")
    parser.add_argument("--backend", default="experta", help="inference backend of the server")
    parser.add_argument("--workers", type=int, default=1, help="diagnosis threads of the server")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args(argv)
    loads = [(1, args.requests), (args.concurrency, args.concurrent_requests)]
    by_clients = measure(loads, backend=args.backend, workers=args.workers, warmup=args.warmup,
                         request=args.request, jwt=args.jwt)  # fmt: skip
    results = {
        "sequential": by_clients[1],
        f"concurrent_{args.concurrency}": by_clients[args.concurrency],
    }
    report(results, args, len(args.request.read_bytes()))
    return 0


def report(results: dict[str, dict[str, float]], args: argparse.Namespace, size: int) -> None:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    auth = "JWT ES384" if args.jwt else "no auth"
    print(
        f"CDS Hooks patient-view latency over loopback ({args.request.name}, {size} bytes, "
        f"backend {args.backend}, {args.workers} worker thread(s), {auth}, {os.cpu_count()} "
        f"CPUs, load average {load}); CDS Hooks guidance ~{GUIDANCE_MS:.0f} ms"
    )
    print("| load | requests | p50 ms | p95 ms | p99 ms | max ms | req/s | p99 within 500 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        ok = "yes" if r["p99_ms"] <= GUIDANCE_MS else "NO"
        print(
            f"| {name.replace('_', ' ')} | {r['requests']:.0f} | {r['p50_ms']} | {r['p95_ms']} "
            f"| {r['p99_ms']} | {r['max_ms']} | {r['throughput_rps']} | {ok} |"
        )
    if args.json:
        print(json.dumps(results, indent=2))


if __name__ == "__main__":
    raise SystemExit(main())
