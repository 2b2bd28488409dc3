"""``mesaverse inject`` and ``interview`` on a live run: a real ``mesaverse run`` subprocess of a rule-only
config, polled through its store. The injection is applied at the next tick boundary, recorded, and a
resume from a checkpoint before it applies it again, identically."""

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

from sim.cli import invoke

ROOT = Path(__file__).resolve().parents[2]
COLS = "tick, kind, actor, target, place, text, data_json"


def _query(run: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(f"{(run / 'events.db').resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _poll(condition, what: str, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)  # polling interval of the condition, bounded by the deadline


def _last_tick(run: Path) -> int | None:
    try:
        return _query(run, "SELECT last_tick FROM runs")[0][0]
    except sqlite3.Error:
        return None


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_injected_events_apply_at_the_next_tick_and_resume_reapplies_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = ["run", str(ROOT / "configs/boltzmann.yaml"), "--ticks", "1000000", "--set", "population.count=50"]
    args += ["--set", "run.checkpoint_every=5", "--out", str(out)]
    writer = subprocess.Popen(
        [sys.executable, "-m", "sim.cli", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    saved = tmp_path / "saved"
    try:
        run = _poll(lambda: next(iter(out.glob("*/events.db")), None), "the run folder").parent
        _poll(
            lambda: list((run / "checkpoints").glob("tick-*.json")) and (_last_tick(run) or 0) >= 6, "ticks"
        )

        def snapshot() -> bool:  # the newest checkpoint so far (the writer may prune one as we copy)
            shutil.rmtree(saved, ignore_errors=True)
            try:
                newest = sorted((run / "checkpoints").glob("tick-*.json"))[-1]
                saved.mkdir()
                shutil.copy(newest, saved / newest.name)
            except (OSError, IndexError):
                return False
            return True

        _poll(snapshot, "a copy of a checkpoint")
        events = tmp_path / "ev.yaml"
        events.write_text(
            "- {type: item_drop, item: coin, qty: 7, to: all}\n- {type: announcement, text: 'Market day!'}\n",
            encoding="utf-8",
        )
        before = _last_tick(run)
        assert invoke(["inject", str(run), str(events)]) == 0
        queued = Path(capsys.readouterr().out.strip().splitlines()[-1])
        assert queued.parent == run / "inject" / "queue"
        rows = _poll(
            lambda: _query(run, "SELECT tick, data_json FROM events WHERE kind = 'intervention' ORDER BY id"),
            "the intervention events",
        )
        assert len(rows) == 2
        tick = rows[0][0]
        assert rows[1][0] == tick and tick > before  # the next boundary after the file was queued
        assert [json.loads(d)["type"] for _, d in rows] == ["item_drop", "announcement"]
        assert all(json.loads(d)["status"] == "applied" for _, d in rows)
        assert _query(run, "SELECT COUNT(*), SUM(qty) FROM ledger WHERE memo = 'intervention'") == [
            (50, 350.0)
        ]
        assert not queued.exists()
        # A live run refuses ticks that have passed or lie beyond its end, in one line, queueing nothing.
        for text, expected in (
            ("- {tick: 0, type: tax, rate: 0.1}\n", "0.tick: 0 has passed"),
            ("- {tick: 1000000, type: tax, rate: 0.1}\n", "0.tick: 1000000 is after the run's end"),
        ):
            events.write_text(text, encoding="utf-8")
            assert invoke(["inject", str(run), str(events)]) == 2
            err = capsys.readouterr().err.splitlines()
            assert len(err) == 1 and expected in err[0], err
        assert not list((run / "inject" / "queue").glob("*.json"))
        (applied,) = (run / "inject" / "applied").iterdir()
        assert json.loads(applied.read_text())["applied_at"] == tick
        # An interview beside the live writer: its own short transaction; the run carries on.
        proc = subprocess.run(
            [sys.executable, "-m", "sim.cli", "interview", str(run), "1", "Did you get the coins?"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert _query(run, "SELECT agent_id, question FROM interviews") == [(1, "Did you get the coins?")]
        now = _last_tick(run)
        _poll(lambda: (_last_tick(run) or 0) > now, "the writer's next tick")
        assert writer.poll() is None
    finally:
        os.killpg(writer.pid, signal.SIGTERM)
        writer.wait(timeout=60)
    status, last = _query(run, "SELECT status, last_tick FROM runs")[0]
    assert status == "interrupted"
    whole = _query(run, f"SELECT {COLS} FROM events ORDER BY id")
    # As if killed before the injection reached a checkpoint: only the saved one (before it) is left.
    shutil.rmtree(run / "checkpoints")
    shutil.copytree(saved, run / "checkpoints")
    assert invoke(["resume", str(run), "--ticks", str(last + 1)]) == 0
    assert _query(run, f"SELECT {COLS} FROM events ORDER BY id") == whole
