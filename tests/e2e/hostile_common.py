"""Shared by the hostile-input suites (test_hostile_inputs.py, test_hostile_resume.py): the hostile
files every case may use, a sandbox working directory holding them, and the one-line-refusal check."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from sim.cli import invoke

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"


def _bomb(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs" YAML mapping: a few hundred bytes that expand to width**levels nodes."""
    lines = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def _flow_bomb(levels: int = 9, width: int = 9) -> str:
    """The same bomb as one flow-style YAML value (fits in a ``--set`` argument)."""
    parts = [f"&l0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels):
        parts.append(f"&l{i} [{', '.join([f'*l{i - 1}'] * width)}]")
    return "[" + ", ".join(parts) + "]"


#: Hostile and careless input files, written into the sandbox's ``in/`` folder.
INPUTS: dict[str, bytes | str] = {
    "binary.yaml": b"\xff\xfe\x00\x01garbage\x00",
    "latin1.yaml": "name: caf\xe9\n".encode("latin-1"),
    "empty.yaml": "",
    "comments.yaml": "# nothing but a comment\n",
    "dup.yaml": "name: a\nname: b\n",
    "dup_nested.yaml": "run:\n  ticks: 1\n  ticks: 2\n",
    "bomb.yaml": "x:\n" + "".join(f"  {line}\n" for line in _bomb().splitlines()) + "description: *l8\n",
    "recursive.yaml": "description: &a [*a]\n",
    "huge.yaml": "# padding\n" * 120_000,
    "list.yaml": "- a\n- b\n",
    "syntax.yaml": "run: [1\n",
    "two_docs.yaml": "name: a\n---\nname: b\n",
    "slash_name.yaml": "name: a/b\n",
    "escape_name.yaml": 'name: "../../escape"\nrun: {ticks: 1}\n',
    "long_name.yaml": f"name: {'x' * 300}\n",
    "newline_name.yaml": 'name: "a\\nb"\n',
    "inf.yaml": "economy:\n  endowment: {coin: .inf}\n",
    "nan.yaml": "economy:\n  endowment: {coin: {kind: normal, value: 5, std: .nan}}\n",
    "wide.yaml": "world: {width: 100000, height: 100000}\n",
    "cells.yaml": "world: {width: 1000, height: 1000}\n",
    "crowd.yaml": "population: {count: 1000000000}\n",
    "seed.yaml": "run: {seed: -1}\n",
    "big_seed.yaml": f"run: {{seed: {2**64}}}\n",
    "ticks.yaml": "run: {ticks: 100000000}\n",
    "unknown.yaml": "economy: {taxrate: 0.1}\n",
    "tax.yaml": "economy: {tax_rate: 1.5}\n",
    "description.yaml": f"description: {'y' * 10_000}\n",
    "place.yaml": f"world:\n  places:\n    {'p' * 500}: {{x: 0, y: 0}}\n",
    "roles.yaml": "population:\n  count: 50\n  roles: [{name: a, count: 3}, {name: b, count: 4}]\n",
    "messages_ok.jsonl": '{"text": "hi", "sender": "a"}\n',
    "messages_bad.jsonl": '{"text": "hi", "sender": "a"}\nnot json\n',
    "messages_binary.jsonl": b'{"text": "hi", "sender": "a"}\n\xff\xfe\x00\n',
    "messages_deep.jsonl": "[" * 100_000 + "]" * 100_000 + "\n",
    "messages_text.jsonl": '{"text": 5, "sender": "a"}\n',
    "messages_sender.jsonl": '{"text": "hi"}\n',
    "messages_tick.jsonl": '{"text": "hi", "sender": "a", "tick": -3}\n',
    "messages_target.jsonl": '{"text": "hi", "sender": "a", "target": {"x": 1}}\n',
    "messages_long.jsonl": '{"text": "' + "z" * (1 << 20) + '", "sender": "a"}\n',
    "sweep_escape.yaml": "name: ../../x\nscenarios: [x.yaml]\nseeds: 1\nticks: 1\nmetrics: [trade.volume]\n",
    "sweep_binary_scenario.yaml": (
        "name: ok\nscenarios: [binary.yaml]\nseeds: 1\nticks: 1\nmetrics: [trade.volume]\n"
    ),
    "sweep_seed.yaml": "name: ok\nscenarios: [x.yaml]\nseeds: [-1]\nticks: 1\nmetrics: [trade.volume]\n",
    "sweep_metric.yaml": "name: ok\nscenarios: [x.yaml]\nseeds: 1\nticks: 1\nmetrics: [nope]\n",
    "sweep_ticks.yaml": "name: ok\nscenarios: [x.yaml]\nseeds: 1\nticks: 0\nmetrics: [trade.volume]\n",
    "sweep_dup.yaml": "name: ok\nname: ok2\nscenarios: [x.yaml]\nseeds: 1\nticks: 1\nmetrics: [trade.volume]\n",
    "a_file": "not a folder\n",
}

BOLTZMANN = str(CONFIGS / "boltzmann.yaml")
TOWN = str(CONFIGS / "town.yaml")
MODERATION = str(CONFIGS / "moderation.yaml")


def _tree(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a hash of its bytes (folders: 'dir')."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """Run the CLI; assert exit 2 and exactly one ``error:`` line on stderr; return that line."""
    code = invoke(args)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, (code, captured.err[-2000:])
    assert len(lines) == 1, captured.err[-2000:]
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in captured.err and "Traceback" not in captured.out
    assert len(lines[0]) <= 420
    return lines[0]
