"""The hostile-input suite, resume and real processes: a refused resume changes nothing in the run
folder (hashes before and after), ``--from-scratch`` is the one way to start over, and a run that a
live process writes cannot be resumed under it (the writer lock). The in-process cases of the other
commands are in test_hostile_inputs.py."""

from __future__ import annotations

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
from hostile_common import (
    BOLTZMANN,
    INPUTS,
    MODERATION,
    ROOT,
    _refused,
    _tree,
)

from sim.cli import invoke

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
            time.sleep(0.2)  # polling interval of the condition above, bounded by the deadline
        run = next(out.iterdir())
        proc = _mesaverse("resume", str(run), cwd=tmp_path)
        status, tick = _status(run)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines() == [
            f"error: {run}: the run is being written by another process (pid {writer.pid});"
            " wait for it to finish or stop it first"
        ]
        assert status == "running"  # the refusal changed nothing...
        deadline = time.monotonic() + 60
        while _status(run)[1] <= tick and writer.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # poll until the live writer has written on past the refusal
        assert _status(run)[1] >= tick  # ...and truncated nothing under the live writer
    finally:
        os.killpg(writer.pid, signal.SIGTERM)
        writer.wait(timeout=60)
    assert _status(run)[0] == "interrupted"
    # Once the writer is gone the lock is free: resume continues the run.
    proc = _mesaverse("resume", str(run), "--ticks", str(_status(run)[1] + 3), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _status(run)[0] == "finished"
