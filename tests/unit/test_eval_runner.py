"""Orchestration of an evaluation (inline backend, a stand-in simulation): results, failures, resume.

The stand-in runs the real scenario loader (so a bad override fails exactly as in a real run) and
writes a small real event store; the real simulation and the Ray path are in the integration tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from sim.evaluation.runner import RESULT, STARTED, read_result, run_sweep
from sim.evaluation.sweep import RunSpec, expand, load_sweep
from sim.store import EventStore


def fake_simulate(spec: RunSpec, run_dir: Path, lm: object) -> Path:
    """Validate the scenario like a real run, then write a two-tick store whose trade price is 10 + seed."""
    from sim.config import load_scenario

    cfg = load_scenario(spec.scenario, list(spec.overrides))
    db = run_dir / "events.db"
    store = EventStore.create(db, run_id=spec.key, scenario=spec.scenario_name, seed=spec.seed, config={})
    store.register_agents([(1, "Ada", "rule", {}), (2, "Bo", "rule", {})])
    price = 10 + spec.seed
    trade = {"kind": "trade", "data": {"item": "bread", "qty": 1, "price": price, "via": "book"}}
    store.write_tick(0, [trade], {"gini": cfg.economy.tax_rate}, [])
    store.write_tick(1, [], {"gini": cfg.economy.tax_rate}, [])
    store.set_status("finished")
    store.close()
    return db


def make_sweep(tmp_path: Path, rates: list[float], seeds: int = 2) -> Path:
    (tmp_path / "town.yaml").write_text("name: town\n")
    sweep = {
        "name": "tiny",
        "scenarios": ["town.yaml"],
        "grid": {"economy.tax_rate": rates},
        "seeds": seeds,
        "ticks": 2,
        "metrics": ["trade.volume", "inequality.gini_final"],
    }
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(sweep))
    return path


def test_every_run_becomes_a_row_and_the_report_has_ci_columns(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path, [0.0, 0.3])
    frame = run_sweep(sweep, tmp_path / "ev", simulate=fake_simulate, backend="inline", progress=False)
    assert len(frame) == 4
    assert frame["status"].tolist() == ["finished"] * 4
    assert frame["trade.volume"].tolist() == [10.0, 11.0, 10.0, 11.0]
    assert frame["inequality.gini_final"].tolist() == [0.0, 0.0, 0.3, 0.3]
    back = pd.read_parquet(tmp_path / "ev" / "results.parquet")
    assert back["key"].tolist() == frame["key"].tolist()
    assert "| town | economy.tax_rate=0.3 | 2 | 0.3 |" in (tmp_path / "ev" / "report.md").read_text()
    assert "ci95_high" in (tmp_path / "ev" / "report.html").read_text()


def test_a_bad_override_fails_its_runs_and_the_others_finish(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path, [0.1, 2.0])
    frame = run_sweep(sweep, tmp_path / "ev", simulate=fake_simulate, backend="inline", progress=False)
    assert frame["status"].tolist() == ["finished", "finished", "failed", "failed"]
    error = "town.yaml: economy.tax_rate: must be between 0 and 1 (set by --set)"  # as the CLI says it
    assert frame["error"].tolist()[2:] == [error, error]
    report = (tmp_path / "ev" / "report.md").read_text()
    assert report.split("## Failed runs")[1].count("must be between 0 and 1") == 2
    key = frame["key"].iloc[2]
    assert "Traceback" in (tmp_path / "ev" / "runs" / key / "error.txt").read_text()


def test_rerunning_skips_finished_runs_and_retries_failed_ones(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path, [0.1, 2.0])
    run_sweep(sweep, tmp_path / "ev", simulate=fake_simulate, backend="inline", progress=False)
    ran: list[str] = []

    def counting(spec: RunSpec, run_dir: Path, lm: object) -> Path:
        ran.append(spec.key)
        return fake_simulate(spec, run_dir, lm)

    frame = run_sweep(sweep, tmp_path / "ev", simulate=counting, backend="inline", progress=False)
    assert ran == frame["key"].tolist()[2:]  # only the two failed runs
    assert len(frame) == 4


# -- resume after a kill ------------------------------------------------------------------------------

HANG_AT = 2  # the third run hangs, so the evaluation is killed with two runs finished


def hanging_main(sweep: str, out: str) -> None:
    """Subprocess entry: run the sweep; the third run writes part of its store, says so, then hangs."""
    specs = expand(load_sweep(sweep), Path(sweep))

    def simulate(spec: RunSpec, run_dir: Path, lm: object) -> Path:
        if spec.key == specs[HANG_AT].key:
            EventStore.create(run_dir / "events.db", run_id="x", scenario="x", seed=0, config={}).close()
            print("HANGING", flush=True)
            signal.pause()  # until killed
        return fake_simulate(spec, run_dir, lm)

    run_sweep(sweep, out, simulate=simulate, backend="inline", progress=False)


def test_a_killed_evaluation_resumes_where_it_stopped(tmp_path: Path) -> None:
    sweep = make_sweep(tmp_path, [0.0, 0.1, 0.3])
    out = tmp_path / "ev"
    code = (
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
        f"import test_eval_runner as t; t.hanging_main({str(sweep)!r}, {str(out)!r})"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "HANGING"  # blocks until the third run is midway
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    specs = expand(load_sweep(sweep), sweep)
    runs = out / "runs"
    assert [read_result(runs / s.key) is not None for s in specs] == [True, True, False, False, False, False]
    assert (runs / specs[HANG_AT].key / STARTED).exists()
    assert not (out / "results.parquet").exists()

    ran: list[str] = []

    def counting(spec: RunSpec, run_dir: Path, lm: object) -> Path:
        ran.append(spec.key)
        return fake_simulate(spec, run_dir, lm)  # would fail if the half-written store were left

    frame = run_sweep(sweep, out, simulate=counting, backend="inline", progress=False)
    assert ran == [s.key for s in specs[HANG_AT:]]
    assert frame["status"].tolist() == ["finished"] * 6
    first = json.loads((runs / specs[0].key / RESULT).read_text())
    assert first["metrics"]["trade.volume"] == 10.0


@pytest.fixture(autouse=True)
def _quiet_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
