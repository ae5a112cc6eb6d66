# SPDX-License-Identifier: Apache-2.0
"""The on-disk knowledge-base cache: a hit gives the same knowledge base, any change to a rule
misses it, and a folder that cannot be used only costs speed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from engine.kb import cache
from engine.kb.load import load_knowledge_base
from tests.conftest import CASES, RULES


@pytest.fixture
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv(cache.CACHE_ENV, str(folder))
    return folder


def _kb_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "rules"
    shutil.copytree(RULES, copy)
    return copy


def _diagnose(env: dict[str, str], rules: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "engine", "diagnose", str(CASES / "mds-01.yaml"), "--json",
         "--rules", str(rules)],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip


def test_a_second_process_reads_the_cache_and_answers_the_same(
    tmp_path: Path, cache_folder: Path
) -> None:
    rules = _kb_copy(tmp_path)
    env = {**os.environ, cache.CACHE_ENV: str(cache_folder)}
    first = _diagnose(env, rules)
    entries = list(cache_folder.glob("kb-*.pickle"))
    assert first.returncode == 0, first.stderr
    assert len(entries) == 1
    assert entries[0].stat().st_mode & 0o077 == 0  # private to the user
    second = _diagnose(env, rules)
    assert second.returncode == 0 and second.stdout == first.stdout


def test_a_changed_rule_misses_the_cache(tmp_path: Path, cache_folder: Path) -> None:
    rules = _kb_copy(tmp_path)
    before = load_knowledge_base(rules)
    kb_yaml = rules / "kb.yaml"
    kb_yaml.write_text(kb_yaml.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
    after = load_knowledge_base(rules)
    assert after.content_hash != before.content_hash
    assert len(list(cache_folder.glob("kb-*.pickle"))) == 2


def test_a_corrupt_entry_is_rebuilt(tmp_path: Path, cache_folder: Path) -> None:
    rules = _kb_copy(tmp_path)
    env = {**os.environ, cache.CACHE_ENV: str(cache_folder)}
    good = _diagnose(env, rules)
    for entry in cache_folder.glob("kb-*.pickle"):
        entry.write_bytes(b"not a pickle")
    again = _diagnose(env, rules)
    assert again.returncode == 0 and again.stdout == good.stdout


def test_an_entry_others_can_write_is_not_trusted(tmp_path: Path, cache_folder: Path) -> None:
    rules = _kb_copy(tmp_path)
    load_knowledge_base(rules)
    (entry,) = cache_folder.glob("kb-*.pickle")
    entry.chmod(0o666)
    key = entry.name.removeprefix("kb-").removesuffix(".pickle")
    assert cache.read(key) is None
    entry.chmod(0o600)
    assert cache.read(key) is not None


@pytest.mark.skipif(os.geteuid() == 0 if hasattr(os, "geteuid") else True,
                    reason="root can write a read-only folder")  # fmt: skip
def test_a_read_only_folder_costs_only_speed(tmp_path: Path, cache_folder: Path) -> None:
    cache_folder.mkdir(mode=0o500)
    env = {**os.environ, cache.CACHE_ENV: str(cache_folder)}
    done = _diagnose(env, _kb_copy(tmp_path))
    assert done.returncode == 0 and done.stderr == ""
    assert list(cache_folder.iterdir()) == []


def test_a_cache_path_that_is_a_file_costs_only_speed(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x", encoding="utf-8")
    env = {**os.environ, cache.CACHE_ENV: str(blocker / "cache")}
    done = _diagnose(env, _kb_copy(tmp_path))
    assert done.returncode == 0 and done.stderr == "", done.stderr


def test_the_cache_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(cache.CACHE_ENV, "off")
    assert cache.cache_dir() is None
    assert cache.read("anything") is None
    cache.write("anything", object())  # nothing to write to, and no error


def test_the_default_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(cache.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache.cache_dir() == tmp_path / "leukodx"
