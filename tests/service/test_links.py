# SPDX-License-Identifier: Apache-2.0
"""The report links of the cards (engine/service/links.py and ``GET /reports/{token}``): random
tokens that carry no patient data, expiry, a bounded store, and the route on a real server."""

from __future__ import annotations

import re
import time

import httpx
import pytest

pytest.importorskip("fastapi")

from engine.service.links import ReportStore  # noqa: E402
from engine.service.models import CdsResponse  # noqa: E402
from tests.service.conftest import Server, load_example  # noqa: E402

TOKEN = re.compile(r"/reports/([A-Za-z0-9_-]{43})$")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_report_is_kept_until_it_expires() -> None:
    clock = Clock()
    store = ReportStore(ttl=60, max_entries=10, clock=clock)
    token = store.put("<p>report</p>")
    assert store.get(token) == "<p>report</p>" and len(store) == 1
    clock.now += 59
    assert store.get(token) == "<p>report</p>"
    clock.now += 2
    assert store.get(token) is None and len(store) == 0
    assert store.get("no-such-token") is None


def test_the_store_is_bounded_oldest_first() -> None:
    store = ReportStore(ttl=600, max_entries=3, clock=Clock())
    tokens = [store.put(f"<p>{i}</p>") for i in range(5)]
    assert len(store) == 3
    assert [store.get(t) for t in tokens] == [None, None, "<p>2</p>", "<p>3</p>", "<p>4</p>"]


def test_tokens_are_random_and_links_absolute() -> None:
    store = ReportStore()
    links = {store.link("<p>x</p>", "https://cds.example.org/base/").url for _ in range(50)}
    assert len(links) == 50
    for url in links:
        assert url.startswith("https://cds.example.org/base/reports/") and TOKEN.search(url)


@pytest.mark.parametrize("ttl, entries", [(0, 10), (-1, 10), (60, 0)])
def test_a_store_needs_a_positive_ttl_and_room(ttl: float, entries: int) -> None:
    with pytest.raises(ValueError):
        ReportStore(ttl=ttl, max_entries=entries)


def test_cards_link_to_the_report_on_a_real_server(insecure_server: Server) -> None:
    request = load_example("patient-view-clozapine.json")
    response = httpx.post(
        insecure_server.url("/cds-services/leukodx-patient-view"), json=request, timeout=60
    )
    assert response.status_code == 200, response.text
    cards = CdsResponse.model_validate(response.json()).cards
    urls = {link.url for c in cards for link in c.links or []}
    assert len(urls) == 1, "every card of one call links to the same report"
    url = urls.pop()
    assert url.startswith(insecure_server.base + "/reports/") and TOKEN.search(url)
    for secret in ("clozapine", request["context"]["patientId"], "2025"):
        assert secret not in url
    page = httpx.get(url, timeout=60)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<svg" in page.text and "Clozapine" in page.text
    missing = httpx.get(insecure_server.url("/reports/" + "A" * 43), timeout=60)
    assert missing.status_code == 404 and "expired" in missing.json()["message"]


def test_the_log_holds_no_report_token(insecure_server: Server) -> None:
    request = load_example("patient-view.json")
    response = httpx.post(
        insecure_server.url("/cds-services/leukodx-patient-view"), json=request, timeout=60
    )
    cards = CdsResponse.model_validate(response.json()).cards
    url = next(link.url for c in cards for link in c.links or [])
    before = insecure_server.log().count("GET /reports/")
    assert httpx.get(url, timeout=60).status_code == 200
    deadline = time.monotonic() + 30  # the log line is written after the response is sent
    while insecure_server.log().count("GET /reports/") <= before and time.monotonic() < deadline:
        time.sleep(0.05)
    token = TOKEN.search(url)
    assert token is not None and token.group(1) not in insecure_server.log()


def test_a_lazy_report_is_rendered_once_when_first_opened() -> None:
    """The hook stores the recipe, not the page: it is rendered on the first opening only."""
    calls: list[int] = []

    def render() -> str:
        calls.append(1)
        return "<html>report</html>"

    store = ReportStore(ttl=60, max_entries=10)
    token = store.put(render)
    assert calls == []  # storing costs nothing
    assert store.get(token) == "<html>report</html>"
    assert store.get(token) == "<html>report</html>"
    assert calls == [1]


def test_the_report_names_a_result_the_fhir_reader_could_not_use(insecure_server: Server) -> None:
    """Probe 9: a vitamin B12 in an unknown unit was named nowhere, neither on a card nor in the
    report's "Inputs not used", though the report advised measuring B12."""
    request = load_example("patient-view-clozapine.json")
    labs = request["prefetch"]["labs"]
    first = labs["entry"][0]["resource"]
    b12 = {
        **first,
        "id": "b12-furlong",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2132-9"}], "text": "B12"},
        "valueQuantity": {"value": 300, "unit": "furlong"},
    }
    labs["entry"].append({"resource": b12})
    response = httpx.post(
        insecure_server.url("/cds-services/leukodx-patient-view"), json=request, timeout=60
    )
    assert response.status_code == 200, response.text
    cards = CdsResponse.model_validate(response.json()).cards
    url = next(link.url for c in cards for link in c.links or [])
    page = httpx.get(url, timeout=60)
    assert page.status_code == 200
    assert "b12-furlong" in page.text and "furlong" in page.text
