"""``mesaverse interview`` with the real embedded model: the answer is stored, the run is unchanged."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from sim.cli import invoke

ROOT = Path(__file__).resolve().parents[2]


def _events_digest(db: Path) -> str:
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT * FROM events ORDER BY id").fetchall()
    runs = conn.execute("SELECT run_id, status, last_tick FROM runs").fetchall()
    conn.close()
    return hashlib.sha256(repr((rows, runs)).encode()).hexdigest()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_an_interview_is_stored_and_leaves_the_events_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["run", str(ROOT / "configs/commons.yaml"), "--ticks", "8", "--set", "run.checkpoint_every=4"]
    assert invoke([*args, "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    db = run / "events.db"
    name = sqlite3.connect(db).execute("SELECT name FROM agents WHERE agent_id = 2").fetchone()[0]
    before = _events_digest(db)
    capsys.readouterr()
    for who in ("2", name.upper()):  # an id, or a name (case aside)
        assert invoke(["interview", str(run), who, "How many fish did you catch today?"]) == 0
    answers = capsys.readouterr().out.strip().splitlines()
    assert len(answers) == 2 and all(a.strip() for a in answers)
    assert _events_digest(db) == before
    rows = (
        sqlite3.connect(db)
        .execute("SELECT tick, agent_id, question, answer, model FROM interviews")
        .fetchall()
    )
    assert rows == [
        (8, 2, "How many fish did you catch today?", answers[0], "smollm2-135m"),
        (8, 2, "How many fish did you catch today?", answers[1], "smollm2-135m"),
    ]
    assert answers[0] == answers[1]  # same seed (run seed, tick, avatar): same answer
    assert not (run / "events.db-wal").exists()  # a finished run's store stays in rollback-journal mode
