"""The Ray path of an evaluation on a small real cluster: runs as tasks, a worker that dies mid-run."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from sim.evaluation.runner import read_result, run_sweep, simulate_scenario
from sim.evaluation.sweep import RunSpec

pytestmark = pytest.mark.slow

CRASH_SEED = 1


def crashing_simulate(spec: RunSpec, run_dir: Path, lm: object) -> Path:
    """The real rule-only run, except that the worker process dies outright on one seed."""
    if spec.seed == CRASH_SEED and spec.params["population.count"] == 6:
        os._exit(3)  # no exception, no result file: the driver must notice and record it
    return simulate_scenario(spec, run_dir, lm)


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    import ray
    from ray import cloudpickle

    # Workers cannot import this test module: ship the stand-in by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_a_worker_that_dies_is_recorded_as_failed_and_the_other_runs_finish(
    tmp_path: Path, ray_cluster: None
) -> None:
    (tmp_path / "town.yaml").write_text(yaml.safe_dump({"name": "town", "run": {"checkpoint_every": 0}}))
    sweep = {
        "name": "crash",
        "scenarios": [str(tmp_path / "town.yaml")],
        "grid": {"population.count": [4, 6]},
        "seeds": [0, 1],
        "ticks": 3,
        "metrics": ["run.ticks"],
        "parallel": 4,
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(sweep))
    frame = run_sweep(
        tmp_path / "sweep.yaml", tmp_path / "ev", simulate=crashing_simulate, backend="ray", progress=False
    )
    assert frame["status"].tolist() == ["finished", "finished", "finished", "failed"]
    assert frame["run.ticks"].tolist()[:3] == [3.0, 3.0, 3.0]
    error = frame["error"].iloc[3]
    assert "died" in error.lower() or "crash" in error.lower(), error
    assert read_result(tmp_path / "ev" / "runs" / frame["key"].iloc[3])["status"] == "failed"
    assert "died" in (tmp_path / "ev" / "report.md").read_text().split("## Failed runs")[1].lower()
