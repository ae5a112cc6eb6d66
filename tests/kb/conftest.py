# SPDX-License-Identifier: Apache-2.0
"""Fixtures of the knowledge-base tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import MINI_KB


@pytest.fixture()
def kb_dir(tmp_path: Path) -> Path:
    """A copy of the mini knowledge base that a test may edit."""
    target = tmp_path / "kb"
    shutil.copytree(MINI_KB, target)
    return target
