# SPDX-License-Identifier: Apache-2.0
"""The knowledge book (``leukodx kb book``) in a real browser (headless Chromium).

The page is written by the CLI from the bundled knowledge base, rendered, and checked: no console
error or blocked request, every cause and every rule on the page. Then the decision form is used
as a reviewer would, through the DevTools protocol over a pipe (``--remote-debugging-pipe``, no
network port): fill in the reviewer, approve every rule of one file, request changes on one rule
of another with a note, export. The exported YAML is applied to a copy of the knowledge base and
``leukodx lint --require-approved`` must accept the approved file and still name the other.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from engine.kb.load import load_knowledge_base
from engine.kb.review import lint
from engine.kb.yamlio import parse_bytes
from tests.conftest import ROOT, RULES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
APPROVE = "rules/findings/context.yaml"
CHANGE_FILE, CHANGE_RULE = "rules/alerts/neutropenia.yaml", "neutropenia.febrile_neutropenia"
NOTE = 'quote the IDSA "fever" wording: 38.3 C'


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    page = tmp_path_factory.mktemp("book") / "book.html"
    run = subprocess.run(
        [sys.executable, "-m", "engine", "kb", "book", "-o", str(page)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"knowledge book written to {page}")
    return page


class Cdp:
    """A minimal DevTools-protocol client over Chromium's pipe (fd 3 in, fd 4 out)."""

    def __init__(self, profile: str) -> None:
        self._to_chrome = os.pipe()
        self._from_chrome = os.pipe()

        def wire() -> None:  # in the child, before exec: its fd 3 reads, fd 4 writes
            os.dup2(self._to_chrome[0], 3)
            os.dup2(self._from_chrome[1], 4)

        self.proc = subprocess.Popen(  # noqa: S603 - a fixed browser binary
            [str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=wire, pass_fds=(3, 4),
        )  # fmt: skip
        os.close(self._to_chrome[0])
        os.close(self._from_chrome[1])
        self._buffer = b""
        self._next = 0
        self.exceptions: list[Any] = []

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome[1], json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("method") == "Runtime.exceptionThrown":
                self.exceptions.append(reply["params"])
            if reply.get("id") == self._next:
                assert "error" not in reply, reply
                return reply["result"]  # type: ignore[no-any-return]

    def _read(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome[0], 1 << 16)
            assert chunk, "chromium closed the DevTools pipe"
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)  # type: ignore[no-any-return]

    def close(self) -> None:
        try:
            self.call("Browser.close")
        finally:
            os.close(self._to_chrome[1])
            self.proc.wait(timeout=60)
            os.close(self._from_chrome[0])


def evaluate(cdp: Cdp, session: str, expression: str) -> Any:
    result = cdp.call(
        "Runtime.evaluate", session, expression=expression, returnByValue=True, awaitPromise=True
    )
    assert "exceptionDetails" not in result, result
    return result["result"].get("value")


def test_the_book_renders_every_cause_and_rule_without_errors(book: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="leukodx-chromium-") as profile:
        dumped = subprocess.run(
            [str(CHROMIUM), *FLAGS, "--enable-logging=stderr", "--v=0",
             f"--user-data-dir={profile}", "--dump-dom", book.resolve().as_uri()],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert dumped.returncode == 0, dumped.stderr[-2000:]
    problems = [
        x for x in dumped.stderr.splitlines() if "CONSOLE" in x or "Refused" in x or "Uncaught" in x
    ]
    assert problems == []
    kb = load_knowledge_base(RULES)
    dom = dumped.stdout
    for cause in kb.causes.values():
        assert f'data-cause="{cause.id}"' in dom, cause.id
    assert dom.count('class="rule" data-rule=') == len(kb.rules)
    assert dom.count("<select data-decision=") == len(kb.rules)
    assert 'data-origin="fitted"' in dom and 'data-origin="judgement"' in dom
    assert 'href="https://pubmed.ncbi.nlm.nih.gov/' in dom


def test_decisions_export_as_reviewers_yaml_that_lint_accepts(book: Path, tmp_path: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="leukodx-chromium-") as profile:
        cdp = Cdp(profile)
        try:
            target = cdp.call("Target.createTarget", url=book.resolve().as_uri())["targetId"]
            session = cdp.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
            cdp.call("Runtime.enable", session)
            ready = "document.readyState === 'complete' && !!window.leukodxExportDecisions"
            for _ in range(1200):  # the first document is about:blank, until the book commits
                try:
                    if evaluate(cdp, session, ready):
                        break
                except AssertionError:  # the context can be replaced while the page commits
                    pass
                time.sleep(0.05)
            empty = evaluate(cdp, session, "window.leukodxExportDecisions()")
            assert empty == ""
            assert "name, role and date" in evaluate(
                cdp, session, "document.getElementById('export-error').textContent"
            )
            exported = evaluate(cdp, session, _USE_THE_FORM)
            download = evaluate(cdp, session, "document.getElementById('download').href")
        finally:
            cdp.close()
    assert cdp.exceptions == []
    assert download.startswith("data:text/yaml")
    decisions = parse_bytes(exported.encode(), "export.yaml")
    assert set(decisions) == {APPROVE, CHANGE_FILE}
    assert decisions[APPROVE][0]["scope"] == "file"
    assert decisions[CHANGE_FILE][0]["scope"] == [CHANGE_RULE]
    assert decisions[CHANGE_FILE][0]["notes"] == f"{CHANGE_RULE}: {NOTE}"

    kb_dir = tmp_path / "rules"
    shutil.copytree(RULES, kb_dir)
    entries = _entries_by_file(exported)
    for rel, lines in entries.items():
        path = tmp_path / rel
        text = path.read_text().replace("reviewers: []\n", "reviewers:\n" + lines)
        if rel == APPROVE:
            text = text.replace("review_status: under_review", "review_status: approved")
        path.write_text(text)
    problems = [p for p in lint(kb_dir, require_approved=True) if p.severity == "error"]
    assert {p.code for p in problems} == {"not-approved"}
    not_approved = {p.file for p in problems}
    assert APPROVE not in not_approved and CHANGE_FILE in not_approved
    header = next(h for h in load_knowledge_base(kb_dir).files if h.path == CHANGE_FILE)
    review = header.decision_for(CHANGE_RULE)
    assert review is not None and review.decision == "changes_requested"
    assert review.name == 'Dr A. "Test" Reviewer' and review.notes == f"{CHANGE_RULE}: {NOTE}"


_USE_THE_FORM = f"""
(function () {{
  document.getElementById('rev-name').value = 'Dr A. "Test" Reviewer';
  document.getElementById('rev-role').value = 'consultant haematologist';
  document.getElementById('rev-date').value = '2026-12-10';
  document.querySelectorAll('.rule[data-file="{APPROVE}"] select').forEach(function (s) {{
    s.value = 'approved';
  }});
  var rule = document.querySelector('.rule[data-rule="{CHANGE_RULE}"]');
  rule.querySelector('select').value = 'changes_requested';
  rule.querySelector('textarea').value = {json.dumps(NOTE)};
  document.getElementById('export-button').click();
  return document.getElementById('export').value;
}}())
"""


def _entries_by_file(exported: str) -> dict[str, str]:
    """The exported entry lines of each file, as they are pasted under its ``reviewers:``."""
    out: dict[str, str] = {}
    current = ""
    for line in exported.splitlines():
        if line.startswith('"'):
            current = json.loads(line.rstrip(":"))
            out[current] = ""
        elif line.startswith("  - "):
            out[current] += line + "\n"
    return out


def test_the_book_is_self_contained(book: Path) -> None:
    text = book.read_text(encoding="utf-8")
    assert "default-src 'none'" in text
    for pattern in ('src="http', "src='http", "@import", "fetch(", "XMLHttpRequest"):
        assert pattern not in text, pattern
    assert str(ROOT) not in text  # no local paths leak into a page meant to be shared
