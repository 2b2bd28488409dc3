"""``mesaverse bench eval``'s output (the timed phases themselves need Ray and the model: see docs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from sim.evaluation import bench
from sim.evaluation.sweep import expand, load_sweep


def test_json_has_the_speedup_and_both_timings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figures = {"runs": 12, "ticks": 3, "avatars_per_run": 3, "parallel_s": 10.0, "sequential_s": 25.0}
    figures |= {"speedup": 2.5, "failed_runs": {"parallel": 0, "sequential": 0}}
    monkeypatch.setattr(bench, "bench_eval", lambda runs: dict(figures, runs=runs))
    bench.bench_eval_command(json_path=tmp_path / "out" / "bench.json", runs=12)
    data = json.loads((tmp_path / "out" / "bench.json").read_text())
    assert (data["speedup"], data["parallel_s"], data["sequential_s"], data["runs"]) == (2.5, 10.0, 25.0, 12)


def test_both_phases_run_the_same_runs_and_differ_only_in_parallelism(tmp_path: Path) -> None:
    par = bench._sweep(tmp_path, 12, 12, list(range(12)), 3)
    seq = bench._sweep(tmp_path, 12, 1, list(range(12)), 3)
    assert [s.key for s in expand(load_sweep(par), par)] == [s.key for s in expand(load_sweep(seq), seq)]
    assert (load_sweep(par).parallel, load_sweep(seq).parallel) == (12, 1)
    scenario = yaml.safe_load((tmp_path / "bench_eval.yaml").read_text())
    assert scenario["population"]["llm_share"] == 1.0  # every avatar asks the model
