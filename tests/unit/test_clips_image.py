# SPDX-License-Identifier: Apache-2.0
"""engine/backends/clips_image.py: the compiled CLIPS environment kept on disk (bsave/bload).

A loaded image must give byte-identical differentials to a fresh compile on every case file; a
damaged, foreign or untrusted image is never used; a folder that cannot be used only costs
speed; a changed rule, or a knowledge base not read from its files, never meets an old image.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

from engine.api import diagnose
from engine.backends import base, clips_image
from engine.errors import InputError
from engine.facts import FactSet
from engine.kb import cache
from engine.kb.load import KnowledgeBase, load_knowledge_base
from tests.conftest import CASES, MINI_KB, RULES

TODAY = dt.date(2025, 3, 1)
PATIENT = {"wbc": 2.1, "anc": 0.3, "medications": ["clozapine"], "findings": ["fever"]}


@pytest.fixture(scope="module")
def cb() -> ModuleType:
    """engine.backends.clips (skipped without clipspy)."""
    module: ModuleType = pytest.importorskip("engine.backends.clips")
    return module


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache folder of this test's own."""
    path = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(path))
    return path


def _images(folder: Path) -> list[Path]:
    return sorted(folder.glob("clips-*.bin")) if folder.is_dir() else []


def _writer(data: bytes) -> Callable[[str], None]:
    """A stand-in for ``bsave``: writes ``data`` at the path it is given."""

    def write(path: str) -> None:
        Path(path).write_bytes(data)

    return write


def _facts(kb: KnowledgeBase, patient: object = PATIENT) -> FactSet:
    from engine.facts import build_facts
    from engine.patient import parse_patient

    return build_facts(parse_patient(patient, today=TODAY), kb, today=TODAY)


def _json(kb: KnowledgeBase, matcher: object, case: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The whole differential of ``case`` computed with ``matcher``."""
    monkeypatch.setitem(base._MATCHERS, (kb.content_hash, "clips"), matcher)
    return diagnose(case, kb=kb, backend="clips", today=TODAY).to_json()


def test_a_loaded_image_gives_byte_identical_differentials_on_every_case(
    cb: ModuleType, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kb = load_knowledge_base(RULES)
    fresh = cb.ClipsMatcher(kb, image=False)
    saving = cb.ClipsMatcher(kb)
    (image,) = _images(folder)
    assert "constructs" in saving.__dict__  # compiled, then saved
    loaded = cb.ClipsMatcher(kb)
    assert "constructs" not in loaded.__dict__  # bloaded: no construct was generated
    assert _images(folder) == [image] and image.stat().st_mode & 0o077 == 0
    cases = sorted(p for ext in ("yaml", "yml", "json") for p in CASES.glob(f"*.{ext}"))
    compared = 0
    for case in cases:
        try:
            expected = _json(kb, fresh, case, monkeypatch)
        except InputError:
            continue  # not a valid case file (the equivalence tests skip these too)
        assert _json(kb, loaded, case, monkeypatch) == expected, case.name
        compared += 1
    assert compared >= 50


def test_a_second_process_uses_the_image_and_answers_the_same(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    case = str(CASES / "clozapine_induced-01.yaml")

    def run(cache_dir: str, *extra: str) -> str:
        env = {**os.environ, cache.CACHE_ENV: cache_dir}
        done = subprocess.run(
            [sys.executable, "-m", "engine", "diagnose", case, *extra],
            capture_output=True, text=True, env=env, check=False, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0 and done.stderr == "", done.stderr
        return done.stdout

    without = run("off", "--json")
    first = run(str(folder), "--json")
    (image,) = _images(folder)
    made = image.stat().st_mtime_ns
    second = run(str(folder), "--json")
    assert without == first == second
    assert _images(folder) == [image] and image.stat().st_mtime_ns == made  # read, not rebuilt
    assert run(str(folder), "--full") == run("off", "--full")


def test_a_damaged_image_is_never_loaded_and_is_rebuilt(cb: ModuleType, folder: Path) -> None:
    kb = load_knowledge_base(MINI_KB)
    expected = cb.ClipsMatcher(kb, image=False).run(_facts(kb))
    cb.ClipsMatcher(kb)
    (image,) = _images(folder)
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0xFF
    image.write_bytes(bytes(data))  # same name, so its checksum no longer matches
    assert clips_image.find(image.name.split("-")[1]) is None
    matcher = cb.ClipsMatcher(kb)
    assert "constructs" in matcher.__dict__
    assert matcher.run(_facts(kb)) == expected
    (rebuilt,) = _images(folder)
    assert rebuilt.read_bytes() != bytes(data)
    assert "constructs" not in cb.ClipsMatcher(kb).__dict__  # the rebuilt one loads


def test_a_foreign_image_under_this_key_is_recompiled(
    cb: ModuleType, folder: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """An image with a valid checksum that belongs to another knowledge base (copied or renamed
    by hand), or that is not a CLIPS image at all, is compiled over, never run."""
    mini, real = load_knowledge_base(MINI_KB), load_knowledge_base(RULES)
    cb.ClipsMatcher(mini)
    (mini_image,) = _images(folder)
    key = clips_image.image_key(real.content_hash, cb._LIBRARY)
    assert key is not None
    expected = cb.ClipsMatcher(real, image=False).run(_facts(real))
    for payload in (mini_image.read_bytes(), b"not a CLIPS image"):
        for old in _images(folder):
            old.unlink()
        clips_image.save(key, _writer(payload))
        matcher = cb.ClipsMatcher(real)
        assert "constructs" in matcher.__dict__  # recompiled
        assert matcher.run(_facts(real)) == expected
    assert capfd.readouterr() == ("", "")  # CLIPS's complaints never reach the terminal


@pytest.mark.parametrize("how", ["under a file", "shared folder", "off"])
def test_a_cache_that_cannot_be_used_costs_only_speed(
    cb: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    kb = load_knowledge_base(MINI_KB)
    expected = cb.ClipsMatcher(kb, image=False).run(_facts(kb))
    if how == "under a file":
        blocker = tmp_path / "file"
        blocker.write_text("x", encoding="utf-8")
        monkeypatch.setenv(cache.CACHE_ENV, str(blocker / "cache"))
    elif how == "shared folder":  # writable by others: neither read nor written
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o777)
        monkeypatch.setenv(cache.CACHE_ENV, str(shared))
    else:
        monkeypatch.setenv(cache.CACHE_ENV, "off")
    for _ in range(2):
        matcher = cb.ClipsMatcher(kb)
        assert "constructs" in matcher.__dict__
        assert matcher.run(_facts(kb)) == expected
    assert (matcher.image is None) == (how == "off")
    if how == "shared folder":
        assert list((tmp_path / "shared").iterdir()) == []


def test_a_changed_rule_misses_the_image(cb: ModuleType, folder: Path, tmp_path: Path) -> None:
    root = tmp_path / "kb"
    shutil.copytree(MINI_KB, root)
    before = load_knowledge_base(root)
    cb.ClipsMatcher(before)
    assert "constructs" not in cb.ClipsMatcher(before).__dict__
    rules = root / "rules" / "findings.yaml"
    text = rules.read_text(encoding="utf-8")
    rules.write_text(text.replace("{fact: anc, lt: 0.5}", "{fact: anc, lt: 0.25}", 1), "utf-8")
    after = load_knowledge_base(root)
    assert after.content_hash != before.content_hash
    matcher = cb.ClipsMatcher(after)
    assert matcher.image != cb.ClipsMatcher(before).image
    assert "constructs" in matcher.__dict__  # compiled, not loaded from the old image
    assert len(_images(folder)) == 2
    fired = {f.rule_id for f in matcher.run(_facts(after, {"wbc": 2.0, "anc": 0.4}))}
    assert "find.severe" not in fired and "find.neutropenia" in fired


def test_a_knowledge_base_not_read_from_its_files_uses_no_image(
    cb: ModuleType, folder: Path
) -> None:
    kb = load_knowledge_base(MINI_KB)
    altered = dataclasses.replace(kb, rules=kb.rules[:-1])  # same content hash, other rules
    matcher = cb.ClipsMatcher(altered)
    assert matcher.image is None and _images(folder) == []
    assert cb.ClipsMatcher(kb).image is not None


def test_the_key_names_the_knowledge_base_and_the_library(folder: Path, tmp_path: Path) -> None:
    library = tmp_path / "lib.so"
    library.write_bytes(b"one")
    key = clips_image.image_key("a" * 64, library)
    assert key is not None and key == clips_image.image_key("a" * 64, library)
    assert clips_image.image_key("b" * 64, library) != key
    library.write_bytes(b"other build")
    assert clips_image.image_key("a" * 64, library) != key
    assert clips_image.image_key("a" * 64, tmp_path / "missing.so") is None


def test_old_images_are_pruned(folder: Path) -> None:
    saved = [
        clips_image.save(f"{n:064x}", _writer(b"%d" % n)) for n in range(clips_image.MAX_IMAGES + 2)
    ]
    assert all(path is not None for path in saved)
    kept = _images(folder)
    assert len(kept) == clips_image.MAX_IMAGES and saved[-1] in kept
    assert not list(folder.glob(".clips-*"))  # no temporary file left behind
