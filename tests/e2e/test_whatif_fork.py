"""``mesaverse fork``: a rule-only fork without changes has its parent's events after the fork tick;
changes are recorded and survive a resume of the fork. Real CLI (in-process), real SQLite, real checkpoints."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from sim.cli import invoke

ROOT = Path(__file__).resolve().parents[2]
COLS = "tick, kind, actor, target, place, text, data_json"


def _last_line(out: str) -> Path:
    return Path(out.strip().splitlines()[-1])


def _events(run: Path, where: str = "1") -> list[tuple]:
    conn = sqlite3.connect(run / "events.db")
    rows = conn.execute(f"SELECT {COLS} FROM events WHERE {where} ORDER BY id").fetchall()
    conn.close()
    return rows


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 30-tick rule-only commons run with checkpoints at ticks 10, 20 and 30."""
    out = tmp_path_factory.mktemp("runs")
    args = ["run", str(ROOT / "configs/commons.yaml"), "--ticks", "30", "--set", "run.checkpoint_every=10"]
    assert invoke([*args, "--out", str(out)]) == 0
    (run,) = out.iterdir()
    return run


@pytest.mark.parametrize("at", [3, 9, 10, 17])
def test_a_fork_without_changes_has_the_parents_events_after_the_fork_tick(
    parent: Path, tmp_path: Path, at: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # at=9: the checkpoint of tick 10 is the fork point (no replay); at=10: a checkpoint tick, one tick
    # replayed; 3 and 17: replayed from tick 0 and from the checkpoint of tick 10.
    assert invoke(["fork", str(parent), "--at-tick", str(at), "--out", str(tmp_path)]) == 0
    fork = _last_line(capsys.readouterr().out)
    assert fork.parent == tmp_path
    assert _events(fork) == _events(parent)
    conn = sqlite3.connect(fork / "events.db")
    row = conn.execute("SELECT parent_run_id, parent_dir, fork_tick, status, last_tick FROM runs").fetchone()
    assert row == (parent.name, str(parent.resolve()), at, "finished", 29)
    for table, cols in (("metrics", "tick, name"), ("ledger", "id, tick, asset, src, dst, qty, memo")):
        mine = conn.execute(f"SELECT {cols} FROM {table} WHERE tick <= ? ORDER BY 1, 2", (at,)).fetchall()
        theirs = sqlite3.connect(parent / "events.db").execute(
            f"SELECT {cols} FROM {table} WHERE tick <= ? ORDER BY 1, 2", (at,)
        )
        assert mine == theirs.fetchall()
    conn.close()


def test_a_fork_defaults_to_the_parents_folder_and_ticks_extends_it(
    parent: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke(["fork", str(parent), "--at-tick", "29", "--ticks", "3"]) == 0
    fork = _last_line(capsys.readouterr().out)
    try:
        assert fork.parent == parent.parent
        assert _events(fork, "tick <= 29") == _events(parent)
        assert sqlite3.connect(fork / "events.db").execute("SELECT last_tick FROM runs").fetchone() == (32,)
    finally:
        shutil.rmtree(fork)


def test_changes_are_recorded_at_the_next_tick_and_a_resumed_fork_reapplies_them(
    parent: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "ev.yaml"
    events.write_text(
        "- {tick: 14, type: item_drop, item: coin, qty: 50, to: all}\n"
        "- {tick: 16, type: new_avatar, role: fisher, name: Nina}\n"
        "- {tick: 22, type: avatar_leaves, avatar: 3}\n",
        encoding="utf-8",
    )
    args = ["fork", str(parent), "--at-tick", "12", "--set", "economy.tax_rate=0.25", "--events", str(events)]
    assert invoke([*args, "--out", str(tmp_path / "forks")]) == 0
    fork = _last_line(capsys.readouterr().out)
    got = [(r[0], r[6]) for r in _events(fork, "kind = 'intervention'")]
    assert [t for t, _ in got] == [13, 14, 16, 22]
    assert '"key":"economy.tax_rate"' in got[0][1] and '"status":"applied"' in got[0][1]
    whole = _events(fork)
    assert _events(fork, "tick <= 12") == _events(parent, "tick <= 12")
    assert whole != _events(parent)
    # Kill the fork after tick 20's checkpoint: resume goes back there and must redo the same ticks,
    # with the tax, the newcomer and the departure of avatar 3 (scheduled after the checkpoint).
    (fork / "checkpoints" / "tick-00000030.json").unlink()
    conn = sqlite3.connect(fork / "events.db")
    conn.execute("UPDATE runs SET status = 'interrupted'")
    conn.commit()
    conn.close()
    assert invoke(["resume", str(fork)]) == 0
    assert _events(fork) == whole


def test_the_same_events_twice_give_identical_forks(parent: Path, tmp_path: Path, capsys) -> None:
    events = tmp_path / "ev.yaml"
    events.write_text(
        "- {tick: 21, type: announcement, text: 'The lake is closed tomorrow'}\n"
        "- {tick: 21, type: price_shock, item: fish, factor: 3}\n",
        encoding="utf-8",
    )
    logs = []
    for name in ("a", "b"):
        assert (
            invoke(
                [
                    "fork",
                    str(parent),
                    "--at-tick",
                    "20",
                    "--events",
                    str(events),
                    "--out",
                    str(tmp_path / name),
                ]
            )
            == 0
        )
        logs.append(_events(_last_line(capsys.readouterr().out)))
    assert logs[0] == logs[1]
    assert logs[0] != _events(parent)


def test_a_fork_of_a_fork_without_changes_has_the_forks_events(
    parent: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "ev.yaml"
    events.write_text(
        "- {tick: 8, type: new_avatar, role: fisher}\n- {tick: 15, type: avatar_leaves, avatar: 4}\n"
    )
    assert (
        invoke(["fork", str(parent), "--at-tick", "6", "--events", str(events), "--out", str(tmp_path / "a")])
        == 0
    )
    first = _last_line(capsys.readouterr().out)
    # Forked again after the newcomer and before the departure: both come along, the departure at tick 15.
    assert invoke(["fork", str(first), "--at-tick", "11", "--out", str(tmp_path / "b")]) == 0
    second = _last_line(capsys.readouterr().out)
    assert _events(second) == _events(first)
    row = (
        sqlite3.connect(second / "events.db").execute("SELECT parent_run_id, fork_tick FROM runs").fetchone()
    )
    assert row == (first.name, 11)
