"""``mesaverse run configs/town.yaml --ticks 3`` end to end: the real model on a real Ray cluster.

The CLI starts a local Ray cluster and the replica pool, 12 LLM avatars decide through it, and
the event store ends up with the run's events, LLM metrics and generated speech. Loneliness rises
fast here (an urgent need narrows an avatar's options to talking), so that avatars do talk within
three ticks whatever the model prefers otherwise.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_town_runs_three_ticks_with_the_real_model_and_ray(tmp_path: Path) -> None:
    lonely = ["--set", "world.needs.loneliness_per_tick=0.45"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim.cli",
            "run",
            "configs/town.yaml",
            "--ticks",
            "3",
            "--out",
            str(tmp_path),
            *lonely,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    run_dir = Path(proc.stdout.strip().splitlines()[-1])
    assert run_dir.parent == tmp_path
    db = sqlite3.connect(f"{(run_dir / 'events.db').as_uri()}?mode=ro", uri=True)
    assert db.execute("SELECT status, last_tick FROM runs").fetchone() == ("finished", 2)
    policies = dict(db.execute("SELECT agent_id, policy FROM agents"))
    assert len(policies) == 12 and set(policies.values()) == {"llm"}
    requests = db.execute(
        "SELECT tick, value FROM metrics WHERE name = 'llm.requests' ORDER BY tick"
    ).fetchall()
    assert [t for t, _ in requests] == [0, 1, 2]
    # Every avatar whose agenda left it more than one option asked the pool on the first tick.
    assert requests[0][1] >= 1
    says = db.execute("SELECT actor, text, data_json FROM events WHERE kind = 'say'").fetchall()
    assert says, "no avatar spoke in three ticks"
    for actor, text, data in says:
        assert policies[actor] == "llm"
        assert text.strip() and "\n" not in text
        assert "conversation_id" in json.loads(data) or not json.loads(data).get("delivered", True)
    (kinds,) = db.execute("SELECT count(DISTINCT kind) FROM events").fetchone()
    assert kinds >= 2
    # A quiet console: our own lines only; Ray's and the replicas' chatter is not on it.
    for noise in ("(raylet)", "Loading weights", "(ReplicaServer", "FutureWarning", "DeprecationWarning"):
        assert noise not in proc.stderr and noise not in proc.stdout, noise
    assert (run_dir / "run.log").is_file()
    assert (
        proc.stdout.strip().splitlines()[-2].startswith("model use: ")
    )  # the usage summary, then the folder
    usage = json.loads((run_dir / "usage.json").read_text())
    assert usage["llm_avatar_ticks"] == 36 and usage["by_phase"]["choose"]["requests"] >= 12
