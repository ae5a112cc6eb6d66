# SPDX-License-Identifier: Apache-2.0
"""Which files a knowledge base is, in which order, and that an edit is noticed on the next call.

``load_knowledge_base`` walks the folder with ``os.scandir`` on every call (``diagnose()``
without ``kb=`` does so per patient). The walk must find the files ``Path.rglob`` found, in the
order ``Path`` sorts them, because that order is the content hash and the order lexicon files
are read in; a symlinked file counts and a symlinked folder is not entered, as with ``rglob``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from engine.kb.load import _scan, load_knowledge_base
from engine.kb.paths import default_rules_dir
from tests.conftest import MINI_KB


def _rglob_order(root: Path) -> list[str]:
    return [str(p) for p in sorted(p for p in root.rglob("*.yaml") if p.is_file())]


def test_the_walk_finds_the_bundled_files_in_path_order() -> None:
    root = default_rules_dir()
    assert [name for name, _, _ in _scan(root)] == _rglob_order(root)


def test_the_walk_orders_folders_as_paths_do_and_skips_symlinked_folders(tmp_path: Path) -> None:
    root = tmp_path / "kb"
    for name in ("a/b.yaml", "a-b.yaml", "a.b/c.yaml", "a/z/y.yaml", "b.yaml", "a/notes.txt"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x: 1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "hidden.yaml").write_text("x: 2\n")
    os.symlink(outside, root / "linked")
    os.symlink(outside / "hidden.yaml", root / "single.yaml")
    names = [name for name, _, _ in _scan(root)]
    assert names == _rglob_order(root)
    assert str(root / "single.yaml") in names
    assert not any("linked" in n for n in names)


def test_an_edited_rule_file_is_noticed_on_the_next_call(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    shutil.copytree(MINI_KB, kb_dir)
    first = load_knowledge_base(kb_dir)
    assert load_knowledge_base(kb_dir) is first
    manifest = kb_dir / "kb.yaml"
    manifest.write_text(manifest.read_text() + "\n# edited\n")
    second = load_knowledge_base(kb_dir)
    assert second is not first and second.content_hash != first.content_hash
