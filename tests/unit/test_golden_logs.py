"""Seeded rule-only runs give the same event and ledger log as recorded (tests/unit/golden_logs.py).

A refactor must keep these digests; only a commit that fixes behaviour on purpose regenerates
them (``python tests/unit/golden_logs.py --update``) and says why in its message.
"""

from __future__ import annotations

import json

import pytest
from golden_logs import GOLDEN_FILE, OVERRIDES, digest

GOLDEN = json.loads(GOLDEN_FILE.read_text())


def test_every_config_has_a_golden_log():
    from pathlib import Path

    configs = {p.stem for p in (Path(__file__).resolve().parents[2] / "configs").glob("*.yaml")}
    assert configs == set(OVERRIDES) == set(GOLDEN)


@pytest.mark.parametrize("scenario", sorted(OVERRIDES))
def test_rule_only_event_log_matches_golden(scenario):
    assert digest(scenario) == GOLDEN[scenario]
