"""``mesaverse bench sim``: how fast the simulation runs, in one run.

(a) Rule-only scale. Our Boltzmann scenario (random-give on the ledger, the world validating
    every gift, Gini and economy metrics every tick) at 1,000, 10,000 and 100,000 avatars,
    beside Mesa's own ``BoltzmannWealth`` example at the same N. Both step as shipped (Mesa's
    collects its Gini and every agent's wealth each step; ours its world metrics). Mesa's grid
    keeps the example's density of one agent per cell (sqrt(N) x sqrt(N)); at the default
    10 x 10 its per-agent cost would grow with N. Reported: agent-steps/s, the ratio ours/Mesa
    (target >= 1), and memory per avatar (Python allocations while building, tracemalloc).
(b) LLM decisions/s in ``town.yaml``: the choices of a few ticks through the replica pool, as
    the model sends them (one batched call per tick), against the naive baseline - the same
    requests one at a time on an in-process engine without prefix reuse (as ``bench llm``
    defines it). Target: >= 10x.
(c) Tick time as the LLM avatars double (8, 16, 32, 64; town's roles scaled evenly), through
    the pool; the first tick (which computes every persona's prefix) is not counted. Growth
    should be no faster than linear.

``--quick`` shrinks every part (a smoke run). Figures print as a table and, with ``--json``,
are written with at least ``rule_vs_mesa``, ``llm_speedup`` and ``tick_seconds_by_llm_avatars``.
"""

from __future__ import annotations

import gc
import json
import math
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

from sim.errors import UserError

__all__ = ["bench_sim_command", "llm_scaling", "llm_speedup", "rule_vs_mesa"]

ROOT = Path(__file__).resolve().parents[2]
BOLTZMANN = ROOT / "configs" / "boltzmann.yaml"
TOWN = ROOT / "configs" / "town.yaml"


def _steps_per_s(model: Any, ticks: int) -> tuple[float, float]:
    """(agent-steps/s, seconds per step) from the median of ``ticks`` steps after a warm-up one.

    The median, not the mean: this machine is shared, and a step that another process
    preempted says nothing about either model.
    """
    model.step()
    gc.collect()
    times = []
    for _ in range(ticks):
        t0 = time.perf_counter()
        model.step()
        times.append(time.perf_counter() - t0)
    step = statistics.median(times)
    return len(model.agents) / step, step


def _memory_per_agent(build: Any, n: int) -> float:
    """Bytes of Python allocations per agent while ``build()`` makes a model of ``n`` agents."""
    gc.collect()
    tracemalloc.start()
    model = build()
    current, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del model
    gc.collect()
    return current / n


def rule_vs_mesa(sizes: tuple[int, ...], ticks: dict[int, int]) -> dict[str, Any]:
    """Part (a): our random-give world against Mesa's BoltzmannWealth at each size."""
    from mesa.examples.basic.boltzmann_wealth_model.model import BoltzmannWealth

    from sim.model import MetaverseModel

    out: dict[str, Any] = {}
    for n in sizes:
        side = max(10, math.isqrt(n))

        def ours(n: int = n) -> Any:
            return MetaverseModel(BOLTZMANN, population=n, ticks=10**9, seed=1)

        def mesa(n: int = n, side: int = side) -> Any:
            return BoltzmannWealth(n=n, width=side, height=side, seed=1)

        t = ticks[n]
        our_rate, our_step = _steps_per_s(ours(), t)
        mesa_rate, mesa_step = _steps_per_s(mesa(), t)
        out[str(n)] = {
            "ticks": t,
            "ours_agent_steps_per_s": our_rate,
            "mesa_agent_steps_per_s": mesa_rate,
            "ours_step_s": our_step,
            "mesa_step_s": mesa_step,
            "ratio": our_rate / mesa_rate,
            "ours_bytes_per_avatar": _memory_per_agent(ours, n),
            "mesa_bytes_per_agent": _memory_per_agent(mesa, n),
            "mesa_grid": [side, side],
        }
        print(
            f"(a) N={n:>7}: ours {our_rate:>10,.0f} agent-steps/s, Mesa {mesa_rate:>10,.0f}, "
            f"ratio {our_rate / mesa_rate:.2f}; memory/avatar ours {out[str(n)]['ours_bytes_per_avatar']:,.0f} B, "
            f"Mesa {out[str(n)]['mesa_bytes_per_agent']:,.0f} B",
            file=sys.stderr,
        )
    return out


class _Recorder:
    """Passes calls to the pool, keeping each tick's choose batch and its wall time."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.batches: list[tuple[list, float]] = []

    def choose(self, requests: Any) -> Any:
        t0 = time.perf_counter()
        out = self.pool.choose(requests)
        self.batches.append((list(requests), time.perf_counter() - t0))
        return out

    def generate(self, requests: Any) -> Any:
        return self.pool.generate(requests)

    def telemetry(self) -> dict:
        return self.pool.telemetry()


def llm_speedup(pool: Any, ticks: int, naive_requests: int) -> dict[str, Any]:
    """Part (b): town's decisions through the pool versus one at a time on a plain engine."""
    from sim.llm.engine import Engine
    from sim.model import MetaverseModel

    rec = _Recorder(pool)
    model = MetaverseModel(TOWN, llm=rec, ticks=ticks + 1)
    model.step()  # the first tick computes each persona's prefix once; steady state after
    rec.batches.clear()
    for _ in range(ticks):
        model.step()
    decisions = sum(len(b) for b, _ in rec.batches)
    pool_s = sum(dt for _, dt in rec.batches)
    requests = [r for b, _ in rec.batches for r in b][:naive_requests]
    engine = Engine(model.config.llm.model, device="cpu" if model.config.llm.device == "cpu" else "auto")
    engine.choose(requests[:1])  # warm-up (one-off kernel set-up)
    engine.prefix_cache = None  # naive: the full prompt every time
    engine._prior.clear()
    t0 = time.perf_counter()
    for r in requests:
        engine.choose([r])
    naive_s = time.perf_counter() - t0
    pool_rate = decisions / pool_s if pool_s else 0.0
    naive_rate = len(requests) / naive_s
    print(
        f"(b) town decisions/s: pool {pool_rate:.2f} ({decisions} in {pool_s:.1f} s), "
        f"naive {naive_rate:.2f} ({len(requests)} in {naive_s:.1f} s): {pool_rate / naive_rate:.1f}x",
        file=sys.stderr,
    )
    return {
        "pool_decisions_per_s": pool_rate,
        "naive_decisions_per_s": naive_rate,
        "pool_decisions": decisions,
        "naive_decisions": len(requests),
        "speedup": pool_rate / naive_rate,
    }


def llm_scaling(pool: Any, sizes: tuple[int, ...], ticks: int) -> dict[str, float]:
    """Part (c): mean tick seconds (after the first) at each number of LLM avatars."""
    from sim.model import MetaverseModel

    out: dict[str, float] = {}
    for n in sizes:
        per_role = max(1, n // 4)
        overrides = [f"population.count={4 * per_role}"] + [
            f"population.roles.{i}.count={per_role}" for i in range(4)
        ]
        model = MetaverseModel(TOWN, overrides=overrides, llm=pool, ticks=ticks + 1)
        model.step()
        t0 = time.perf_counter()
        for _ in range(ticks):
            model.step()
        out[str(4 * per_role)] = (time.perf_counter() - t0) / ticks
        print(f"(c) {4 * per_role:>3} LLM avatars: {out[str(4 * per_role)]:.2f} s/tick", file=sys.stderr)
    return out


def bench_sim_command(*, json_path: Path | None = None, quick: bool = False) -> dict[str, Any]:
    """Run (a), (b) and (c); print a summary; write ``json_path``; return the figures."""
    if json_path is not None and not Path(json_path).parent.exists():
        raise UserError(f"--json: folder {Path(json_path).parent} does not exist")
    sizes = (1_000, 10_000) if quick else (1_000, 10_000, 100_000)
    ticks = {1_000: 20, 10_000: 5, 100_000: 3} if quick else {1_000: 50, 10_000: 10, 100_000: 5}
    rule = rule_vs_mesa(sizes, ticks)
    figures: dict[str, Any] = {
        "quick": quick,
        "rule_vs_mesa": {n: f["ratio"] for n, f in rule.items()},
        "rule_detail": rule,
    }
    from sim.config import load_scenario
    from sim.runner import start_llm

    pool = start_llm(load_scenario(TOWN))
    try:
        speed = llm_speedup(pool, ticks=1 if quick else 3, naive_requests=4 if quick else 12)
        figures["llm_speedup"] = speed["speedup"]
        figures["llm_detail"] = speed
        llm_sizes = (4, 8) if quick else (8, 16, 32, 64)
        figures["tick_seconds_by_llm_avatars"] = llm_scaling(pool, llm_sizes, ticks=1 if quick else 2)
        figures["llm_telemetry"] = {k: v for k, v in pool.telemetry().items() if k != "replicas"}
    finally:
        pool.shutdown()
    text = json.dumps(figures, indent=2)
    if json_path is not None:
        Path(json_path).write_text(text + "\n", encoding="utf-8")
    print(text)
    return figures
