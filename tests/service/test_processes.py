# SPDX-License-Identifier: Apache-2.0
"""``leukodx serve --processes N`` (engine/service/pool.py): hook calls answered by worker
processes on a real server, with the same bytes as one process, report links that the server
process resolves, the server's JWT replay cache in front, and a worker that dies replaced."""

from __future__ import annotations

import copy
import os
import pickle
import re
import signal
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

pytest.importorskip("fastapi")

from engine.errors import InputError  # noqa: E402
from engine.service.hooks import PrefetchMissing  # noqa: E402
from engine.service.pool import Refusal  # noqa: E402
from tests.service.conftest import (  # noqa: E402
    ISSUER,
    Keys,
    Server,
    load_example,
    start_server,
    stop_server,
)

PATIENT_VIEW = "/cds-services/leukodx-patient-view"
ORDER_SELECT = "/cds-services/leukodx-order-select"
#: What differs between two answers to one request: card and suggestion ids, the server's
#: address and report tokens, and the minute the report link expires.
_RANDOM = re.compile(
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|http://127\.0\.0\.1:\d+/reports/[A-Za-z0-9_-]{43}"
    r"|until \d{4}-\d\d-\d\d \d\d:\d\d UTC"
)
_ANSWERED_BY = re.compile(r"card\(s\) \[[a-z,]*\] \(process (\d+)\)")


@pytest.fixture(scope="module")
def pooled(jwks_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose hook calls run in two worker processes (JWT required, as by default)."""
    server = start_server(
        tmp_path_factory.mktemp("serve") / "pooled.log", "--processes", "2",
        "--jwks", str(jwks_file), "--issuer", ISSUER,
    )  # fmt: skip
    yield server
    stop_server(server)


def call(server: Server, keys: Keys, path: str, body: Any) -> httpx.Response:
    token = keys.token(server.aud(path))
    return server.request("POST", path, json=body, headers={"Authorization": f"Bearer {token}"})


def normalised(text: str) -> str:
    return _RANDOM.sub("<random>", text)


def workers_in_log(server: Server) -> set[int]:
    return {int(pid) for pid in _ANSWERED_BY.findall(server.log())}


@pytest.mark.parametrize(
    "path, example",
    [
        (PATIENT_VIEW, "patient-view.json"),
        (PATIENT_VIEW, "patient-view-clozapine.json"),
        (ORDER_SELECT, "order-select-clozapine.json"),
    ],
)
def test_answers_are_the_bytes_of_one_process(
    pooled: Server, insecure_server: Server, keys: Keys, path: str, example: str
) -> None:
    body = load_example(example)
    one = insecure_server.request("POST", path, json=body)
    many = call(pooled, keys, path, body)
    assert one.status_code == many.status_code == 200, many.text
    assert many.headers["content-type"] == one.headers["content-type"]
    assert many.json()["cards"], "the example has cards"
    assert normalised(many.text) == normalised(one.text)


@pytest.mark.parametrize(
    "change, status",
    [
        (lambda b: b.update(hook="order-select"), 422),  # an InputError raised in a worker
        (lambda b: b["prefetch"].pop("labs"), 412),  # PrefetchMissing raised in a worker
        (lambda b: b["prefetch"].update(labs={"resourceType": "Patient"}), 422),
    ],
)
def test_refusals_are_the_answers_of_one_process(
    pooled: Server, insecure_server: Server, keys: Keys, change: Any, status: int
) -> None:
    body = copy.deepcopy(load_example("patient-view.json"))
    change(body)
    one = insecure_server.request("POST", PATIENT_VIEW, json=body)
    many = call(pooled, keys, PATIENT_VIEW, body)
    assert one.status_code == many.status_code == status
    assert many.content == one.content


def test_concurrent_calls_are_shared_by_both_workers(pooled: Server, keys: Keys) -> None:
    body = load_example("patient-view.json")
    with ThreadPoolExecutor(8) as clients:
        answers = list(clients.map(lambda _: call(pooled, keys, PATIENT_VIEW, body), range(24)))
    assert [a.status_code for a in answers] == [200] * 24
    assert len({normalised(a.text) for a in answers}) == 1
    deadline = time.monotonic() + 30  # log lines are written as the answers leave
    while len(workers_in_log(pooled)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = workers_in_log(pooled)
    assert len(workers) == 2 and pooled.process.pid not in workers


def test_a_link_made_in_a_worker_opens_on_the_server(pooled: Server, keys: Keys) -> None:
    answer = call(pooled, keys, PATIENT_VIEW, load_example("patient-view-clozapine.json"))
    urls = {link["url"] for card in answer.json()["cards"] for link in card.get("links", [])}
    assert len(urls) == 1
    page = httpx.get(urls.pop(), timeout=60)  # the link is the credential: no JWT
    assert page.status_code == 200 and "<svg" in page.text and "Clozapine" in page.text
    assert page.headers["cache-control"] == "no-store"


def test_a_replayed_token_is_refused_whichever_worker_would_answer(
    pooled: Server, keys: Keys
) -> None:
    token = keys.token(pooled.aud(PATIENT_VIEW))
    headers = {"Authorization": f"Bearer {token}"}
    body = load_example("patient-view.json")
    first = pooled.request("POST", PATIENT_VIEW, json=body, headers=headers)
    again = pooled.request("POST", PATIENT_VIEW, json=body, headers=headers)
    assert first.status_code == 200 and again.status_code == 401
    assert "replayed" in again.json()["message"]


def test_a_worker_that_dies_is_replaced(pooled: Server, keys: Keys) -> None:
    body = load_example("patient-view.json")
    for _ in range(4):
        assert call(pooled, keys, PATIENT_VIEW, body).status_code == 200
    before = workers_in_log(pooled)
    os.kill(min(before), signal.SIGKILL)
    deadline = time.monotonic() + 60
    while "a diagnosis process stopped" not in pooled.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "a diagnosis process stopped" in pooled.log()
    with ThreadPoolExecutor(4) as clients:  # the survivor answers while the new one starts
        while workers_in_log(pooled) <= before and time.monotonic() < deadline:
            answers = list(clients.map(lambda _: call(pooled, keys, PATIENT_VIEW, body), range(8)))
            assert [a.status_code for a in answers] == [200] * 8
    assert workers_in_log(pooled) - before, "the new worker answers calls"
    assert "Traceback" not in pooled.log()


def test_a_worker_that_dies_holding_a_call_fails_that_call_and_is_replaced(
    jwks_file: Path, tmp_path: Path, keys: Keys
) -> None:
    """The only worker is frozen (SIGSTOP) so that it holds the next call without answering,
    then killed: that call is answered 503 with Retry-After and a message saying it was not
    answered (never a hang, a 500 or a traceback), and the next call is answered 200 by the
    worker started in its place."""
    server = start_server(
        tmp_path / "one.log", "--processes", "1", "--jwks", str(jwks_file), "--issuer", ISSUER
    )
    try:
        body = load_example("patient-view.json")
        assert call(server, keys, PATIENT_VIEW, body).status_code == 200
        (worker,) = workers_in_log(server)
        os.kill(worker, signal.SIGSTOP)
        with ThreadPoolExecutor(1) as client:
            held = client.submit(call, server, keys, PATIENT_VIEW, body)
            time.sleep(1.0)  # the call reaches the frozen worker's pipe and waits there
            assert not held.done(), "a frozen worker cannot have answered"
            os.kill(worker, signal.SIGKILL)
            answer = held.result(timeout=60)
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "1"
        assert "stopped while answering" in answer.json()["message"]
        deadline = time.monotonic() + 120
        again = call(server, keys, PATIENT_VIEW, body)
        while again.status_code == 503 and time.monotonic() < deadline:  # still starting
            time.sleep(0.2)
            again = call(server, keys, PATIENT_VIEW, body)
        assert again.status_code == 200
        assert workers_in_log(server) - {worker}, "a new worker answered"
        assert "a diagnosis process stopped" in server.log()
        assert "Traceback" not in server.log()
    finally:
        stop_server(server)


def test_a_workers_log_lines_reach_the_servers_log(pooled: Server, keys: Keys) -> None:
    """A line logged in a worker (an optional prefetch key that could not be fetched) is written
    by the server's handler, and the FHIR token stays out of it."""
    body = copy.deepcopy(load_example("patient-view.json"))
    for key in [k for k in body["prefetch"] if k not in ("patient", "labs")]:
        del body["prefetch"][key]
    secret = "never-logged-token-4711"
    body["fhirServer"] = "http://127.0.0.1:1/fhir"  # loopback, nothing listens: refused at once
    body["fhirAuthorization"] = {
        "access_token": secret,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "cds",
        "patient": body["context"]["patientId"],
    }
    answer = call(pooled, keys, PATIENT_VIEW, body)
    assert answer.status_code == 412  # the required medications could not be fetched either
    deadline = time.monotonic() + 30
    while "not fetched (optional)" not in pooled.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "fetch temperature: not fetched (optional)" in pooled.log()
    assert secret not in pooled.log()


def test_refusals_survive_the_trip_between_processes() -> None:
    error = InputError("labs[0].unit", "unknown unit", got="10^9/dL", expected="10^9/L",
                       suggestion="10^9/L", source="prefetch")  # fmt: skip
    back = pickle.loads(pickle.dumps(Refusal.of(error))).error()
    assert isinstance(back, InputError) and str(back) == str(error) and back.field == error.field
    missing = PrefetchMissing(["labs", "patient"])
    again = pickle.loads(pickle.dumps(Refusal.of(missing))).error()
    assert isinstance(again, PrefetchMissing)
    assert str(again) == str(missing) and again.missing == ["labs", "patient"]


def test_processes_must_not_be_negative() -> None:
    from engine.cli import main as cli

    assert cli.main(["serve", "--insecure-no-auth", "--processes", "-1"]) == 2


def test_the_cli_default_is_one_worker_process_per_core(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without --processes a machine with two or more usable cores answers hook calls in one
    worker process per core, up to four (as batch uses one worker per core); a one-core machine
    keeps them in the server process, where a worker would only add a hop."""
    from engine.cli import serve

    for cores, expected in ((1, 0), (2, 2), (4, 4), (64, serve.MAX_DEFAULT_PROCESSES)):
        monkeypatch.setattr(serve, "usable_cores", lambda cores=cores: cores)
        assert serve.default_processes() == expected
    monkeypatch.undo()

    server = start_server(tmp_path / "default.log", "--insecure-no-auth", in_process=False)
    try:
        body = load_example("patient-view.json")
        with ThreadPoolExecutor(8) as clients:
            answers = list(clients.map(
                lambda _: server.request("POST", PATIENT_VIEW, json=body), range(16)
            ))  # fmt: skip
        assert [a.status_code for a in answers] == [200] * 16
        processes = serve.default_processes()
        deadline = time.monotonic() + 30  # log lines are written as the answers leave
        while processes > 1 and len(workers_in_log(server)) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        workers = workers_in_log(server)
        if processes > 1:
            assert 1 <= len(workers) <= processes and server.process.pid not in workers
        else:
            assert workers == set()
    finally:
        stop_server(server)
