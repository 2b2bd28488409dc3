"""The hostile-input suite: careless and hostile use of every command ends in ONE line and exit 2.

Each case runs the real CLI (``sim.cli.invoke``, the function ``mesaverse`` calls, in-process for speed)
inside a sandbox folder that is the working directory, and asserts:

- exit status 2, and stderr is exactly one line ``error: ...`` naming the file, field or flag;
- no traceback, nothing on stdout that claims success;
- the sandbox is byte-for-byte what it was: no folder left behind, no file written (so none outside
  ``--out`` either), and for ``resume`` the run's files hash the same (data and status unchanged).

A few cases run as real subprocesses (exit codes as a shell sees them), and one resumes a run that a
live process is still writing (the writer lock).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
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

# (id, arguments, text the error line must contain). {in} is the inputs folder, {out} an output
# folder that does not exist yet; every other path is relative to the sandbox.
CASES: list[tuple[str, list[str], str]] = [
    # -- validate: files --------------------------------------------------------------------------
    ("validate-binary", ["validate", "{in}/binary.yaml"], "binary.yaml: binary data"),
    ("validate-latin1", ["validate", "{in}/latin1.yaml"], "latin1.yaml: not UTF-8 text (byte 0xe9"),
    ("validate-empty", ["validate", "{in}/empty.yaml"], "empty.yaml: empty scenario file"),
    ("validate-comments", ["validate", "{in}/comments.yaml"], "comments.yaml: empty scenario file"),
    ("validate-dup", ["validate", "{in}/dup.yaml"], "dup.yaml: line 2, column 1: duplicate key 'name'"),
    ("validate-dup-nested", ["validate", "{in}/dup_nested.yaml"], "duplicate key 'ticks'"),
    ("validate-bomb", ["validate", "{in}/bomb.yaml"], "bomb.yaml: YAML aliases expand to more than"),
    ("validate-recursive", ["validate", "{in}/recursive.yaml"], "recursive.yaml: an alias refers"),
    ("validate-huge", ["validate", "{in}/huge.yaml"], "huge.yaml: larger than 1,048,576 bytes"),
    ("validate-list", ["validate", "{in}/list.yaml"], "list.yaml: (root): must be a mapping"),
    ("validate-syntax", ["validate", "{in}/syntax.yaml"], "syntax.yaml: line 2, column 1: YAML syntax error"),
    ("validate-two-docs", ["validate", "{in}/two_docs.yaml"], "two_docs.yaml: line 2, column 1: YAML syntax"),
    ("validate-missing", ["validate", "{in}/nope.yaml"], "nope.yaml: file not found"),
    ("validate-folder", ["validate", "{in}"], "is a folder, not a scenario file"),
    # -- validate: fields ----------------------------------------------------------------------------
    (
        "validate-slash-name",
        ["validate", "{in}/slash_name.yaml"],
        "slash_name.yaml: name: must be a short slug",
    ),
    ("validate-escape-name", ["validate", "{in}/escape_name.yaml"], "name: must be a short slug"),
    ("validate-long-name", ["validate", "{in}/long_name.yaml"], "long_name.yaml: name: must be a short slug"),
    ("validate-newline-name", ["validate", "{in}/newline_name.yaml"], "name: must be a short slug"),
    ("validate-inf", ["validate", "{in}/inf.yaml"], "economy.endowment.coin.value: must be a finite number"),
    ("validate-nan", ["validate", "{in}/nan.yaml"], "economy.endowment.coin.std: must be a finite number"),
    ("validate-wide", ["validate", "{in}/wide.yaml"], "world.width: must be at most 10,000"),
    ("validate-cells", ["validate", "{in}/cells.yaml"], "world.width: a 1000x1000 grid has 1,000,000 cells"),
    ("validate-crowd", ["validate", "{in}/crowd.yaml"], "population.count: must be at most 100,000"),
    ("validate-seed", ["validate", "{in}/seed.yaml"], "run.seed: must be at least 0"),
    (
        "validate-big-seed",
        ["validate", "{in}/big_seed.yaml"],
        "run.seed: must be at most 9,223,372,036,854,775,807",
    ),
    ("validate-ticks", ["validate", "{in}/ticks.yaml"], "run.ticks: must be at most 1,000,000"),
    ("validate-unknown", ["validate", "{in}/unknown.yaml"], "economy.taxrate: unknown field"),
    ("validate-tax", ["validate", "{in}/tax.yaml"], "economy.tax_rate: must be between 0 and 1"),
    (
        "validate-description",
        ["validate", "{in}/description.yaml"],
        "description: is too long (at most 4,000",
    ),
    ("validate-place-name", ["validate", "{in}/place.yaml"], "is too long (at most 100 characters)"),
    (
        "validate-roles",
        ["validate", "{in}/roles.yaml"],
        "population.count: 50 disagrees with the roles' fixed counts",
    ),
    (
        "validate-town-4000",
        ["validate", TOWN, "--set", "population.count=4000"],
        "population.count: 4000 disagrees with the roles' fixed counts, which add up to 12",
    ),
    (
        "validate-set-syntax",
        ["validate", BOLTZMANN, "--set", "run.ticks"],
        "--set run.ticks: expected key.path=value",
    ),
    (
        "validate-set-yaml",
        ["validate", BOLTZMANN, "--set", "run.ticks=[1"],
        "--set run.ticks=[1: value is not valid",
    ),
    (
        "validate-set-bomb",
        ["validate", BOLTZMANN, "--set", f"description={_flow_bomb()}"],
        "--set description=",
    ),
    (
        "validate-set-seed",
        ["validate", BOLTZMANN, "--set", "run.seed=1.5"],
        "run.seed: must be a whole number",
    ),
    (
        "validate-set-inf",
        ["validate", BOLTZMANN, "--set", "economy.tax_rate=.nan"],
        "economy.tax_rate: must be a finite",
    ),
    # -- run ---------------------------------------------------------------------------------------
    ("run-binary", ["run", "{in}/binary.yaml", "--out", "{out}"], "binary.yaml: binary data"),
    ("run-bomb", ["run", "{in}/bomb.yaml", "--out", "{out}"], "bomb.yaml: YAML aliases expand"),
    ("run-escape-name", ["run", "{in}/escape_name.yaml", "--out", "{out}"], "name: must be a short slug"),
    (
        "run-seed-negative",
        ["run", BOLTZMANN, "--seed", "-1", "--out", "{out}"],
        "--seed: run.seed: must be at least 0",
    ),
    (
        "run-seed-64bit",
        ["run", BOLTZMANN, "--seed", str(2**64), "--out", "{out}"],
        "--seed: run.seed: must be at most",
    ),
    ("run-seed-text", ["run", BOLTZMANN, "--seed", "abc", "--out", "{out}"], "'--seed'"),
    (
        "run-ticks-negative",
        ["run", BOLTZMANN, "--ticks", "-1", "--out", "{out}"],
        "--ticks: run.ticks: must be at least 0",
    ),
    (
        "run-ticks-huge",
        ["run", BOLTZMANN, "--ticks", "10000000", "--out", "{out}"],
        "--ticks: run.ticks: must be at most",
    ),
    (
        "run-replicas-zero",
        ["run", BOLTZMANN, "--replicas", "0", "--out", "{out}"],
        "--replicas: llm.replicas: must be at least 1",
    ),
    ("run-device", ["run", BOLTZMANN, "--device", "tpu", "--out", "{out}"], "--device: llm.device: must be"),
    (
        "run-crowd",
        ["run", BOLTZMANN, "--set", "population.count=1000000000", "--out", "{out}"],
        "population.count: must be at most 100,000",
    ),
    (
        "run-wide",
        ["run", BOLTZMANN, "--set", "world.width=100000", "--set", "world.height=100000", "--out", "{out}"],
        "world.width: must be at most",
    ),
    (
        "run-inf",
        ["run", BOLTZMANN, "--set", "economy.endowment.coin=.inf", "--out", "{out}"],
        "must be a finite number",
    ),
    (
        "run-town-4000",
        ["run", TOWN, "--set", "population.count=4000", "--out", "{out}"],
        "population.count: 4000 disagrees",
    ),
    ("run-out-file", ["run", BOLTZMANN, "--out", "{in}/a_file"], "--out: "),
    ("run-out-under-file", ["run", BOLTZMANN, "--out", "{in}/a_file/sub"], "a_file is not a folder"),
    (
        "run-out-proc",
        ["run", BOLTZMANN, "--out", "/proc/mesaverse-nope"],
        "--out: cannot create /proc/mesaverse-nope",
    ),
    ("run-missing", ["run", "{in}/nope.yaml", "--out", "{out}"], "nope.yaml: file not found"),
    # -- moderate ------------------------------------------------------------------------------------
    (
        "moderate-binary",
        ["moderate", "{in}/messages_binary.jsonl", "--config", MODERATION],
        "messages_binary.jsonl: line 2: binary data",
    ),
    (
        "moderate-latin1",
        ["moderate", "{in}/latin1.yaml", "--config", MODERATION],
        "latin1.yaml: line 1: not UTF-8",
    ),
    (
        "moderate-missing",
        ["moderate", "{in}/nope.jsonl", "--config", MODERATION],
        "nope.jsonl: file not found",
    ),
    ("moderate-folder", ["moderate", "{in}", "--config", MODERATION], "is a folder, not a file"),
    (
        "moderate-bad-json",
        ["moderate", "{in}/messages_bad.jsonl", "--config", MODERATION],
        "messages_bad.jsonl: line 2: not valid JSON",
    ),
    (
        "moderate-deep",
        ["moderate", "{in}/messages_deep.jsonl", "--config", MODERATION],
        "line 1: JSON nested too deeply",
    ),
    (
        "moderate-text",
        ["moderate", "{in}/messages_text.jsonl", "--config", MODERATION],
        "line 1: text: must be a string",
    ),
    (
        "moderate-sender",
        ["moderate", "{in}/messages_sender.jsonl", "--config", MODERATION],
        "line 1: sender: required",
    ),
    (
        "moderate-tick",
        ["moderate", "{in}/messages_tick.jsonl", "--config", MODERATION],
        "line 1: tick: must be a whole number",
    ),
    (
        "moderate-target",
        ["moderate", "{in}/messages_target.jsonl", "--config", MODERATION],
        "line 1: target: must be",
    ),
    (
        "moderate-long-line",
        ["moderate", "{in}/messages_long.jsonl", "--config", MODERATION],
        "line 1: longer than 1,048,576 bytes",
    ),
    (
        "moderate-config-binary",
        ["moderate", "{in}/messages_ok.jsonl", "--config", "{in}/binary.yaml"],
        "binary.yaml: binary data",
    ),
    (
        "moderate-config-bomb",
        ["moderate", "{in}/messages_ok.jsonl", "--config", "{in}/bomb.yaml"],
        "bomb.yaml: YAML aliases",
    ),
    # -- eval --------------------------------------------------------------------------------------
    ("eval-binary", ["eval", "{in}/binary.yaml"], "binary.yaml: binary data"),
    ("eval-empty", ["eval", "{in}/empty.yaml"], "empty.yaml: empty sweep file"),
    ("eval-bomb", ["eval", "{in}/bomb.yaml"], "bomb.yaml: YAML aliases expand"),
    ("eval-missing", ["eval", "{in}/nope.yaml"], "nope.yaml: no such sweep file"),
    ("eval-dup", ["eval", "{in}/sweep_dup.yaml"], "sweep_dup.yaml: line 2, column 1: duplicate key 'name'"),
    ("eval-escape-name", ["eval", "{in}/sweep_escape.yaml"], "sweep_escape.yaml: name: String should match"),
    ("eval-seed", ["eval", "{in}/sweep_seed.yaml"], "sweep_seed.yaml: seeds: seeds must be between 0"),
    ("eval-metric", ["eval", "{in}/sweep_metric.yaml"], "sweep_metric.yaml: metrics: unknown metric 'nope'"),
    ("eval-ticks", ["eval", "{in}/sweep_ticks.yaml"], "sweep_ticks.yaml: ticks:"),
    ("eval-binary-scenario", ["eval", "{in}/sweep_binary_scenario.yaml"], "binary.yaml: binary data"),
    ("eval-out-file", ["eval", "{in}/sweep_binary_scenario.yaml", "--out", "{in}/a_file"], "--out: "),
    # -- dashboard flags (all refused before Streamlit starts) ------------------------------------------------
    ("dashboard-port-zero", ["dashboard", "--runs", "{in}", "--port", "0"], "--port: 0 is not a port number"),
    (
        "dashboard-port-big",
        ["dashboard", "--runs", "{in}", "--port", "70000"],
        "--port: 70000 is not a port number",
    ),
    ("dashboard-port-text", ["dashboard", "--runs", "{in}", "--port", "http"], "'--port'"),
    ("dashboard-runs-file", ["dashboard", "--runs", "{in}/a_file", "--port", "1"], "--runs: "),
    ("dashboard-runs-missing", ["dashboard", "--runs", "{in}/nope", "--port", "1"], "--runs: "),
    (
        "dashboard-host-unknown",
        ["dashboard", "--runs", "{in}", "--host", "no-such-host.invalid", "--port", "8599"],
        "--host: cannot serve on no-such-host.invalid",
    ),
]


def _tree(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` with a hash of its bytes (folders: 'dir')."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


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


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_one_line_exit_2_and_writes_nothing(
    sandbox: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(**{"in": sandbox / "in", "out": sandbox / "out"}) for a in args]
    before = _tree(sandbox)
    line = _refused(argv, capsys)
    assert expected in line, line
    assert _tree(sandbox) == before  # no folder left behind, nothing written anywhere in the sandbox
    assert not (sandbox / "out").exists() and not (sandbox / "runs").exists()


# -- resume -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small finished rule-only run (checkpoints at ticks 10 and 12), made once and copied per case."""
    out = tmp_path_factory.mktemp("finished")
    code = invoke(
        [
            "run",
            BOLTZMANN,
            "--ticks",
            "12",
            "--set",
            "population.count=20",
            "--set",
            "run.checkpoint_every=10",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    (run,) = out.iterdir()
    return run


@pytest.fixture
def run_copy(finished_run: Path, sandbox: Path) -> Path:
    dest = sandbox / "runs" / finished_run.name
    shutil.copytree(finished_run, dest)
    return dest


def _status(run: Path) -> tuple[str, int]:
    conn = sqlite3.connect(f"{(run / 'events.db').as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT status, last_tick FROM runs").fetchone()
    finally:
        conn.close()


def _edit_config(run: Path, old: str, new: str) -> None:
    path = run / "config.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _edit_checkpoint(run: Path, tick: int, change) -> None:  # type: ignore[no-untyped-def]
    path = run / "checkpoints" / f"tick-{tick:08d}.json"
    state = json.loads(path.read_text())
    change(state)
    path.write_text(json.dumps(state))


def _tamper_coins(state: dict) -> None:
    state["world"]["ledger"]["holdings"]["coin"][0][1] += 1000  # coins from nowhere


def _drop_ledger(state: dict) -> None:
    del state["world"]["ledger"]


RESUME_CASES = [
    (
        "edited-seed",
        lambda r: _edit_config(r, "seed: ", "seed: 1"),
        [],
        "config.yaml: run.seed: differs from the config",
    ),
    (
        "edited-population",
        lambda r: _edit_config(r, "count: 20", "count: 21"),
        [],
        "config.yaml: population.count: differs",
    ),
    ("binary-config", lambda r: (r / "config.yaml").write_bytes(b"\x00\xff"), [], "config.yaml: binary data"),
    ("bomb-config", lambda r: (r / "config.yaml").write_text(INPUTS["bomb.yaml"]), [], "YAML aliases expand"),
    (
        "no-checkpoints",
        lambda r: shutil.rmtree(r / "checkpoints"),
        ["--ticks", "20"],
        "no checkpoint to resume from, and the store holds ticks 0..11: pass --from-scratch",
    ),
    (
        "corrupt-checkpoint",
        lambda r: (r / "checkpoints" / "tick-00000012.json").write_text('{"tick": 12, "wor'),
        ["--ticks", "20"],
        "tick-00000012.json: not a valid checkpoint (damaged JSON)",
    ),
    (
        "tampered-coins",
        lambda r: _edit_checkpoint(r, 12, _tamper_coins),
        ["--ticks", "20"],
        "tick-00000012.json: not a valid checkpoint of this run (InvariantError",
    ),
    (
        "tampered-shape",
        lambda r: _edit_checkpoint(r, 12, _drop_ledger),
        ["--ticks", "20"],
        "tick-00000012.json: not a valid checkpoint of this run (KeyError",
    ),
    (
        "renamed-checkpoint",
        lambda r: (r / "checkpoints" / "tick-00000012.json").rename(r / "checkpoints" / "tick-00000011.json"),
        ["--ticks", "20"],
        "tick-00000011.json: not a valid checkpoint (it holds tick 12",
    ),
    (
        "checkpoint-ahead",
        lambda r: _edit_checkpoint_ahead(r),
        ["--ticks", "200"],
        "tick-00000099.json: checkpoint of tick 99 is ahead of the store",
    ),
    ("ticks-shrink", lambda r: None, ["--ticks", "5"], "--ticks: 5 is before the checkpoint's tick 12"),
    ("ticks-negative", lambda r: None, ["--ticks", "-1"], "--ticks: run.ticks: must be at least 0"),
    ("ticks-huge", lambda r: None, ["--ticks", "100000000"], "--ticks: run.ticks: must be at most 1,000,000"),
    (
        "garbage-store",
        lambda r: (r / "events.db").write_bytes(b"not sqlite" * 500),
        [],
        "not a mesaverse event store",
    ),
    ("missing-store", lambda r: (r / "events.db").unlink(), [], "not a run folder"),
]


def _edit_checkpoint_ahead(run: Path) -> None:
    src = run / "checkpoints" / "tick-00000012.json"
    state = json.loads(src.read_text())
    state["tick"] = 99
    (run / "checkpoints" / "tick-00000099.json").write_text(json.dumps(state))


@pytest.mark.parametrize(
    ("damage", "extra", "expected"), [c[1:] for c in RESUME_CASES], ids=[c[0] for c in RESUME_CASES]
)
def test_resume_refuses_without_touching_the_run(
    run_copy: Path, damage, extra: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    damage(run_copy)
    before = _tree(run_copy.parent.parent)
    line = _refused(["resume", str(run_copy), *extra], capsys)
    assert expected in line, line
    assert _tree(run_copy.parent.parent) == before  # data, checkpoints and status: unchanged, byte for byte


def test_resume_of_a_missing_folder_is_one_line(sandbox: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not a run folder" in _refused(["resume", "runs/nope"], capsys)


def test_resume_of_a_finished_run_changes_nothing(run_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _tree(run_copy)
    assert invoke(["resume", str(run_copy)]) == 0
    out = capsys.readouterr()
    assert out.out.splitlines()[-1] == str(run_copy)
    assert "nothing to resume" in out.err
    assert _tree(run_copy) == before


def test_from_scratch_is_the_one_way_to_rerun_from_tick_0(
    run_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _events(run_copy)
    shutil.rmtree(run_copy / "checkpoints")
    assert invoke(["resume", str(run_copy), "--from-scratch"]) == 0
    assert _status(run_copy) == ("finished", 11)
    assert _events(run_copy) == events  # rule-only and seeded: the same run again


def test_resume_extends_a_finished_run_from_its_checkpoint(run_copy: Path) -> None:
    first = _events(run_copy)
    assert invoke(["resume", str(run_copy), "--ticks", "15"]) == 0
    assert _status(run_copy) == ("finished", 14)
    assert _events(run_copy)[: len(first)] == first


def _events(run: Path) -> list[tuple]:
    conn = sqlite3.connect(f"{(run / 'events.db').as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT tick, kind, actor, target, place, text, data_json FROM events ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


# -- real processes ----------------------------------------------------------------------------------------


def _mesaverse(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "sim.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["validate", "in/binary.yaml"], "error: in/binary.yaml: binary data"),
        (["run", BOLTZMANN, "--seed", "-1", "--out", "out"], "error: --seed: run.seed: must be at least 0"),
        (
            ["run", "in/escape_name.yaml", "--out", "out"],
            "error: in/escape_name.yaml: name: must be a short slug",
        ),
        (
            ["moderate", "in/messages_binary.jsonl", "--config", MODERATION],
            "error: in/messages_binary.jsonl: line 2",
        ),
        (["eval", "in/bomb.yaml"], "error: in/bomb.yaml: YAML aliases expand"),
    ],
    ids=["validate", "run", "run-escape", "moderate", "eval"],
)
def test_as_a_shell_sees_it(sandbox: Path, args: list[str], expected: str) -> None:
    before = _tree(sandbox)
    proc = _mesaverse(*args, cwd=sandbox)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith(expected), proc.stderr
    assert _tree(sandbox) == before


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_resuming_a_run_that_a_live_process_writes_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    writer = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim.cli",
            "run",
            BOLTZMANN,
            "--ticks",
            "1000000",
            "--set",
            "population.count=50",
            "--out",
            str(out),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.glob("*/events.db")) or _status(next(out.iterdir()))[1] is None:
            assert writer.poll() is None, writer.stderr.read() if writer.stderr else ""
            assert time.monotonic() < deadline, "the writer never wrote a tick"
            time.sleep(0.2)
        run = next(out.iterdir())
        proc = _mesaverse("resume", str(run), cwd=tmp_path)
        status, tick = _status(run)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [
            f"error: {run}: the run is being written by another process (pid {writer.pid});"
            " wait for it to finish or stop it first"
        ]
        assert status == "running"  # the refusal changed nothing...
        time.sleep(1.0)
        assert _status(run)[1] >= tick  # ...and truncated nothing under the live writer
    finally:
        os.killpg(writer.pid, signal.SIGTERM)
        writer.wait(timeout=60)
    assert _status(run)[0] == "interrupted"
    # Once the writer is gone the lock is free: resume continues the run.
    proc = _mesaverse("resume", str(run), "--ticks", str(_status(run)[1] + 3), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _status(run)[0] == "finished"
