"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_common import INPUTS


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory of a case, with the hostile inputs in ``in/``."""
    inputs = tmp_path / "in"
    inputs.mkdir()
    for name, content in INPUTS.items():
        path = inputs / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    (inputs / "x.yaml").write_text("name: x\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path
