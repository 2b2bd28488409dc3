"""``mesaverse bench eval``: N short LLM runs sharing one pool, in parallel versus one after another.

Both phases run in one bench process, against the same warmed-up pool, through the same code path
(:func:`sim.evaluation.runner.run_sweep` with Ray tasks); only ``parallel`` differs (N, then 1). What
parallel runs buy is batching: the requests of concurrent runs meet in the replicas and go through the
model together, so a forward pass serves many runs instead of one. The figure is
``speedup = sequential wall time / parallel wall time`` (target >= 2).
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

__all__ = ["BENCH_SCENARIO", "bench_eval", "bench_eval_command"]

#: The workload: a few LLM avatars for a few ticks (short runs whose cost is the model's).
BENCH_SCENARIO: dict[str, Any] = {
    "name": "bench_eval",
    "description": "Three LLM avatars for three ticks: a short run whose cost is the model's.",
    "population": {"count": 3, "llm_share": 1.0},
    "world": {"start_place": "plaza"},
    "llm": {"max_new_tokens": 8, "conversation_turns": 1},
    "run": {"ticks": 3, "seed": 0, "checkpoint_every": 0},
}


def _sweep(folder: Path, runs: int, parallel: int, seeds: list[int], ticks: int) -> Path:
    scenario = folder / "bench_eval.yaml"
    scenario.write_text(yaml.safe_dump(BENCH_SCENARIO, sort_keys=False))
    sweep = {
        "name": f"bench_eval_p{parallel}",
        "scenarios": [str(scenario)],
        "seeds": seeds,
        "ticks": ticks,
        "metrics": ["moderation.messages"],
        "parallel": parallel,
        "task_cpus": 0.25,
    }
    path = folder / f"sweep_p{parallel}_{len(seeds)}.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def bench_eval(runs: int = 12, ticks: int = 3, ray_address: str | None = None) -> dict[str, Any]:
    """Time ``runs`` runs in parallel and the same runs sequentially with one shared pool."""
    import ray

    from sim.evaluation.runner import _start_pool, run_sweep
    from sim.evaluation.sweep import load_sweep

    if runs < 1:
        from sim.errors import UserError

        raise UserError(f"--runs: must be >= 1, got {runs}")
    with tempfile.TemporaryDirectory(prefix="bench-eval-") as tmp:
        folder = Path(tmp)
        seeds = list(range(runs))
        par_sweep = _sweep(folder, runs, runs, seeds, ticks)
        seq_sweep = _sweep(folder, runs, 1, seeds, ticks)
        warm_sweep = _sweep(folder, 1, 1, [10_000], ticks)
        pool = _start_pool(ray_address, load_sweep(par_sweep), {})
        try:
            # Warm-up: model weights, tokenizer, the prefix cache of the shared prompt, worker start.
            run_sweep(warm_sweep, folder / "warm", lm=pool, backend="ray", progress=False)
            timings = {}
            frames = {}
            for label, sweep in (("parallel", par_sweep), ("sequential", seq_sweep)):
                started = time.perf_counter()
                frames[label] = run_sweep(sweep, folder / label, lm=pool, backend="ray", progress=False)
                timings[label] = time.perf_counter() - started
                timings[f"{label}_telemetry"] = pool.telemetry()
            failed = {k: int((f["status"] != "finished").sum()) for k, f in frames.items()}
            messages = {k: float(f["moderation.messages"].sum()) for k, f in frames.items()}
        finally:
            pool.shutdown()
            ray.shutdown()
    return {
        "runs": runs,
        "ticks": ticks,
        "avatars_per_run": BENCH_SCENARIO["population"]["count"],
        "parallel_s": timings["parallel"],
        "sequential_s": timings["sequential"],
        "speedup": timings["sequential"] / timings["parallel"],
        "failed_runs": failed,
        "messages": messages,
        "telemetry_after_parallel": timings["parallel_telemetry"],
        "telemetry_after_sequential": timings["sequential_telemetry"],
    }


def bench_eval_command(json_path: Path | None = None, runs: int = 12) -> None:
    """CLI: print the figures; ``--json PATH`` writes them (at least the key ``speedup``)."""
    result = bench_eval(runs=runs)
    print(f"runs: {result['runs']} x {result['ticks']} ticks, {result['avatars_per_run']} LLM avatars each")
    print(f"parallel (one shared pool): {result['parallel_s']:.1f} s")
    print(f"sequential (same pool):     {result['sequential_s']:.1f} s")
    print(f"speedup: {result['speedup']:.2f}x (failed runs: {result['failed_runs']})")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result, indent=1, default=str))
