"""``mesaverse validate`` and ``mesaverse moderate`` as a user runs them (real subprocesses)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))


def mesaverse(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_validate_accepts_every_shipped_scenario(path):
    r = mesaverse("validate", str(path.relative_to(ROOT)))
    assert (r.returncode, r.stdout) == (0, f"ok: {path.relative_to(ROOT)}\n"), r.stderr


def test_validate_names_file_and_field_and_exits_2(tmp_path):
    bad = tmp_path / "x.yaml"
    bad.write_text("economy:\n  tax_rate: 1.5\n")
    r = mesaverse("validate", str(bad))
    assert r.returncode == 2
    assert r.stderr == f"error: {bad}: economy.tax_rate: must be between 0 and 1\n"
    assert r.stdout == ""


def test_validate_with_set_and_dump_prints_the_resolved_config():
    r = mesaverse(
        "validate", "configs/town.yaml", "--set", "economy.tax_rate=0.2", "--set", "run.ticks=5", "--dump"
    )
    assert r.returncode == 0, r.stderr
    cfg = yaml.safe_load(r.stdout)
    assert (cfg["economy"]["tax_rate"], cfg["run"]["ticks"], cfg["llm"]["model"]) == (0.2, 5, "smollm2-135m")


def test_validate_bad_set_exits_2_with_one_line():
    r = mesaverse("validate", "configs/town.yaml", "--set", "economy.tax_rate")
    assert (r.returncode, r.stderr) == (2, "error: --set economy.tax_rate: expected key.path=value\n")


def test_moderate_prints_one_verdict_per_message(tmp_path):
    msgs = [
        {"text": "good morning", "sender": "ann", "target": "bob"},
        {"text": "cheap bread at bakery dot shop", "sender": "spam", "target": None},
        {"text": "you are worthless", "sender": "eve", "target": "bob"},
        {"text": "worthless idiot", "sender": "eve", "target": "bob"},
    ]
    f = tmp_path / "m.jsonl"
    f.write_text("".join(json.dumps(m) + "\n" for m in msgs))
    r = mesaverse("moderate", str(f))
    assert r.returncode == 0, r.stderr
    verdicts = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(v["flagged"], v["rule"], v["action"]) for v in verdicts] == [
        (False, None, "deliver"),
        (True, "spam", "warn"),
        (True, "abuse", "warn"),  # one insult aimed at someone is enough now
        (True, "abuse", "mute"),  # eve's second strike
    ]
    assert verdicts[1]["evidence"]["link"] == "bakery dot shop" and verdicts[1]["severity"] == "low"


def test_moderate_eval_scores_the_labelled_town_messages():
    r = mesaverse("moderate", "tests/data/moderation/dev.jsonl", "--eval")
    assert r.returncode == 0, r.stderr
    figures = json.loads(r.stdout.splitlines()[-1])["eval"]
    assert {"overall", "threat", "offensive", "scam", "spam", "benign"} <= set(figures)
    assert r.stdout.splitlines()[0].split()[:2] == ["category", "tp"]


def test_bench_moderation_writes_its_figures(tmp_path):
    out = tmp_path / "mod.json"
    r = mesaverse("bench", "moderation", "--messages", "300", "--json", str(out))
    assert r.returncode == 0, r.stderr
    figures = json.loads(out.read_text())
    assert figures["messages"] == 300 and figures["messages_per_s"] > 0 and "threats" in figures["rules"]


def test_moderate_bad_line_exits_2_keeping_earlier_verdicts(tmp_path):
    f = tmp_path / "m.jsonl"
    f.write_text('{"text": "hi", "sender": "a"}\nnot json\n')
    r = mesaverse("moderate", str(f), "--config", "configs/town.yaml")
    assert r.returncode == 2
    assert r.stdout.splitlines() == [
        '{"flagged": false, "rule": null, "action": "deliver", "delivered": true, "moderated": false}'
    ]
    assert r.stderr.startswith(f"error: {f}: line 2: not valid JSON")
