"""``mesaverse run`` / ``resume`` through the CLI: run folders, checkpoints, kill and resume.

Rule-only scenarios (no Ray, no model) so the event logs are deterministic and comparable.
Killing uses real signals on a real child process; waiting polls the event store (read-only)
with a deadline instead of sleeping a fixed time.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "sim.cli"]
# 400 traders, gatherers and crafters: slow enough (~0.1 s a tick) to kill mid-run.
MARKET = [
    "configs/market.yaml",
    "--ticks",
    "30",
    "--set",
    "population.count=400",
    "--set",
    "run.checkpoint_every=5",
]


def _run(args: list[str], out: Path) -> Path:
    proc = subprocess.run([*CLI, "run", *args, "--out", str(out)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return Path(proc.stdout.strip().splitlines()[-1])


def _resume(run_dir: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([*CLI, "resume", str(run_dir)], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc


def _db(run_dir: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"{(run_dir / 'events.db').resolve().as_uri()}?mode=ro", uri=True)


def _log(run_dir: Path) -> list[tuple]:
    with _db(run_dir) as db:
        events = db.execute(
            "SELECT tick, kind, actor, target, place, text, data_json FROM events ORDER BY id"
        ).fetchall()
        ledger = db.execute("SELECT tick, asset, src, dst, qty, memo FROM ledger ORDER BY id").fetchall()
    return events + ledger


def _status(run_dir: Path) -> tuple[str, int | None]:
    with _db(run_dir) as db:
        return db.execute("SELECT status, last_tick FROM runs").fetchone()


def _spawn(args: list[str], out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [*CLI, "run", *args, "--out", str(out)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_tick(out: Path, tick: int, proc: subprocess.Popen, timeout: float = 120.0) -> Path:
    """Poll until the run under ``out`` has committed ``tick``; returns its folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the run ended before it could be interrupted"
        for run_dir in out.glob("*/events.db"):
            try:
                status = _status(run_dir.parent)
            except sqlite3.Error:
                continue
            if status[1] is not None and status[1] >= tick:
                return run_dir.parent
        time.sleep(0.02)  # polling interval, not a wait for an outcome
    raise AssertionError(f"tick {tick} not reached within {timeout}s")


def test_run_makes_a_run_folder_and_prints_it_last(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*CLI, "run", "configs/boltzmann.yaml", "--ticks", "4", "--seed", "5", "--set", "population.count=50",
         "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    run_dir = Path(proc.stdout.strip())  # not a terminal: no progress bar, only the folder
    assert run_dir.parent == tmp_path
    assert sorted(p.name for p in run_dir.iterdir()) == [
        "checkpoints",
        "config.yaml",
        "events.db",
        "events.db.lock",
        "usage.json",  # every run folder has one (zeros for a rule-only run)
    ]
    cfg = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert (cfg["run"]["ticks"], cfg["run"]["seed"], cfg["population"]["count"]) == (4, 5, 50)
    assert _status(run_dir) == ("finished", 3)
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["tick-00000004.json"]


def test_run_refuses_a_bad_override_with_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [*CLI, "run", "configs/boltzmann.yaml", "--set", "population.count=-1", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: configs/boltzmann.yaml: population.count: must be at least 0 (set by --set)"
    ]


def test_resume_after_sigkill_ends_with_the_same_event_log(tmp_path: Path) -> None:
    whole = _run(MARKET, tmp_path / "whole")
    proc = _spawn(MARKET, tmp_path / "killed")
    run_dir = _wait_for_tick(tmp_path / "killed", 13, proc)  # past the checkpoint of tick 10
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    status, last = _status(run_dir)
    assert status == "running" and 13 <= last < 29  # killed mid-run, not marked
    _resume(run_dir)
    assert _status(run_dir) == ("finished", 29)
    assert _log(run_dir) == _log(whole)


def test_sigint_stops_at_a_tick_boundary_and_resume_finishes(tmp_path: Path) -> None:
    whole = _run(MARKET, tmp_path / "whole")
    proc = _spawn(MARKET, tmp_path / "stopped")
    run_dir = _wait_for_tick(tmp_path / "stopped", 7, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert out.strip().splitlines()[-1] == str(run_dir)
    status, last = _status(run_dir)
    assert status == "interrupted"
    # The stop checkpoint is the next tick to run: nothing half-done to drop.
    assert (run_dir / "checkpoints" / f"tick-{last + 1:08d}.json").is_file()
    _resume(run_dir)
    assert _status(run_dir) == ("finished", 29)
    assert _log(run_dir) == _log(whole)


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_resume_of_a_finished_run_changes_nothing(tmp_path: Path) -> None:
    run_dir = _run(["configs/boltzmann.yaml", "--ticks", "3", "--set", "population.count=20"], tmp_path)
    before = _log(run_dir)
    _resume(run_dir)
    assert _log(run_dir) == before
    assert _status(run_dir) == ("finished", 2)
