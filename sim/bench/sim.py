"""``mesaverse bench sim``: how fast the simulation runs, in one run.

(a) Rule-only scale. Our Boltzmann scenario (random-give on the ledger, the world validating
    every gift, Gini and economy metrics every tick) at 1,000, 10,000 and 100,000 avatars,
    beside Mesa's own ``BoltzmannWealth`` example at the same N. Both step as shipped (Mesa's
    collects its Gini and every agent's wealth each step; ours its world metrics). Mesa's grid
    keeps the example's density of one agent per cell (sqrt(N) x sqrt(N)); at the default
    10 x 10 its per-agent cost would grow with N. Reported: agent-steps/s, the ratio ours/Mesa
    (target >= 1), and memory per avatar (Python allocations while building, tracemalloc).
(b) LLM avatar-ticks/s in ``town.yaml`` at the largest size of (c) (64 LLM avatars), against
    the naive way of driving a local model (as mesa-llm does): every LLM avatar, every tick,
    one full-prompt ``choose`` plus one full-prompt ``generate`` per line it says, one request
    at a time, no cache, no batching - a timed sample of the run's own requests, scaled per
    avatar-tick. Our side counts everything a tick costs (intentions that ask no model,
    conversation turns, batching, prefix reuse). Target: >= 10x (``llm_speedup``). Timed over
    the 4 ticks after the first, when nobody is lonely yet and nobody talks; so the same town is
    also carried on and timed at ticks 16-18, once its avatars talk (``llm_speedup_talking``:
    speech, each line drawn from ``llm.speech_candidates`` samples, and conversation turns).
(c) Tick time as the LLM avatars double (8, 16, 32, 64; town's roles scaled evenly), through
    the pool; the first tick (which computes every persona's prefix) is not counted. Growth
    should be no faster than linear (64 <= 10x of 8). Also model calls per avatar-tick
    (``calls_per_avatar_tick``: chooses and generates over avatar-ticks).

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

__all__ = ["bench_sim_command", "llm_scaling", "llm_speedup", "llm_talking", "rule_vs_mesa"]

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
    """Passes calls to the pool, keeping every request and the seconds spent in the model."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.chooses: list[Any] = []
        self.generates: list[Any] = []
        self.model_s = 0.0

    def choose(self, requests: Any) -> Any:
        t0 = time.perf_counter()
        out = self.pool.choose(requests)
        self.model_s += time.perf_counter() - t0
        self.chooses += list(requests)
        return out

    def generate(self, requests: Any) -> Any:
        t0 = time.perf_counter()
        out = self.pool.generate(requests)
        self.model_s += time.perf_counter() - t0
        self.generates += list(requests)
        return out

    def telemetry(self) -> dict:
        return self.pool.telemetry()


def _town(n: int, pool: Any, ticks: int) -> tuple[Any, Any]:
    """Town with ``n`` LLM avatars (its four roles scaled evenly) on a recorder over ``pool``."""
    from sim.model import MetaverseModel

    per_role = max(1, n // 4)
    overrides = [f"population.count={4 * per_role}"] + [
        f"population.roles.{i}.count={per_role}" for i in range(4)
    ]
    rec = _Recorder(pool)
    return MetaverseModel(TOWN, overrides=overrides, llm=rec, ticks=ticks + 1), rec


def _timed(model: Any, rec: Any, ticks: int) -> dict[str, Any]:
    """``ticks`` more ticks of ``model`` timed, with the model calls its recorder saw in them."""
    rec.chooses.clear()
    rec.generates.clear()
    t0 = time.perf_counter()
    for _ in range(ticks):
        model.step()
    wall = time.perf_counter() - t0
    avatar_ticks = len(model.llm_avatars) * ticks
    return {
        "tick_s": wall / ticks,
        "avatar_ticks": avatar_ticks,
        "choose_calls": len(rec.chooses),
        "generate_calls": len(rec.generates),
        "lines": sum(1 for r in rec.generates if "#" not in r.request_id),  # one per line said
        "calls_per_avatar_tick": (len(rec.chooses) + len(rec.generates)) / avatar_ticks,
        "chooses": list(rec.chooses),  # copies: the recorder carries on (llm_talking)
        "generates": list(rec.generates),
    }


def llm_scaling(pool: Any, sizes: tuple[int, ...], ticks: int) -> dict[int, dict[str, Any]]:
    """Part (c): per number of LLM avatars, the mean tick seconds after the first tick (which
    computes every persona's prefix), and the model calls of those ticks."""
    out: dict[int, dict[str, Any]] = {}
    # Warm-up on a throwaway town: the replicas' first calls pay one-off costs (kernel set-up, the
    # vocabulary pass behind speech's banned openers) that would land in the smallest size's ticks.
    warm, _ = _town(sizes[0], pool, 2)
    warm.step()
    warm.step()
    for n in sizes:
        model, rec = _town(n, pool, ticks + 32)  # room to carry the largest on (llm_talking)
        model.step()
        out[n] = {**_timed(model, rec, ticks), "model": model, "recorder": rec}
        print(
            f"(c) {len(model.llm_avatars):>3} LLM avatars: {out[n]['tick_s']:.2f} s/tick, "
            f"{out[n]['calls_per_avatar_tick']:.2f} model calls per avatar-tick",
            file=sys.stderr,
        )
    return out


def llm_talking(run: dict[str, Any], from_tick: int, ticks: int) -> dict[str, Any]:
    """The same town carried on to ``from_tick`` (by then its avatars are a little lonely and
    talk: speech and conversation turns join the choices), then ``ticks`` more timed, in the
    form :func:`llm_speedup` takes."""
    model, rec = run["model"], run["recorder"]
    while model.steps < from_tick and model.running:
        model.step()
    out = {"from_tick": from_tick, "ticks": ticks, **_timed(model, rec, ticks)}
    avatars = len(model.llm_avatars)
    print(
        f"(c) {avatars} LLM avatars, ticks {from_tick}-{from_tick + ticks - 1} (talking): "
        f"{out['tick_s']:.2f} s/tick, {out['calls_per_avatar_tick']:.2f} model calls per avatar-tick",
        file=sys.stderr,
    )
    return out


def llm_speedup(run: dict[str, Any], engine: Any, samples: int) -> dict[str, Any]:
    """Part (b): LLM avatar-ticks/s of the town run against the naive way of driving a local
    model (as mesa-llm does): every LLM avatar, every tick, one full-prompt ``choose``, plus one
    full-prompt ``generate`` per line it says, one request at a time, no cache, no batching.
    A timed sample of the run's own requests of each kind, scaled per avatar-tick."""
    engine.prefix_cache = None  # naive: the full prompt every time
    engine.token_budget = 10**9
    firsts = [r for r in run["generates"] if "#" not in r.request_id]  # naive: one sample a line
    chooses, generates = run["chooses"][:samples], firsts[:samples]
    engine.choose(chooses[:1])  # warm-up (one-off kernel set-up)
    engine._prior.clear()
    t0 = time.perf_counter()
    for r in chooses:
        engine.choose([r])
    choose_s = (time.perf_counter() - t0) / max(1, len(chooses))
    t0 = time.perf_counter()
    for r in generates:
        engine.generate([r])
    generate_s = (time.perf_counter() - t0) / max(1, len(generates))
    lines_per_avatar_tick = run["lines"] / run["avatar_ticks"]
    naive_s = choose_s + lines_per_avatar_tick * generate_s  # per avatar-tick
    ours = run["avatar_ticks"] / run["ticks"] / run["tick_s"]  # avatars per tick / seconds per tick
    naive = 1.0 / naive_s
    print(
        f"(b) town LLM avatar-ticks/s: ours {ours:.2f}, naive {naive:.2f} "
        f"({choose_s:.2f} s a choose, {generate_s:.2f} s a line x {lines_per_avatar_tick:.2f}): {ours / naive:.1f}x",
        file=sys.stderr,
    )
    return {
        "avatar_ticks_per_s": ours,
        "naive_avatar_ticks_per_s": naive,
        "naive_choose_s": choose_s,
        "naive_generate_s": generate_s,
        "naive_samples": [len(chooses), len(generates)],
        "lines_per_avatar_tick": lines_per_avatar_tick,
        "speedup": ours / naive,
    }


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
    from sim.llm.engine import Engine
    from sim.runner import start_llm

    cfg = load_scenario(TOWN)
    pool = start_llm(cfg)
    try:
        llm_sizes = (4, 8) if quick else (8, 16, 32, 64)
        ticks_each = 1 if quick else 4
        runs = llm_scaling(pool, llm_sizes, ticks=ticks_each)
        talking = llm_talking(runs[max(runs)], from_tick=4 if quick else 16, ticks=1 if quick else 3)
        figures["llm_telemetry"] = {k: v for k, v in pool.telemetry().items() if k != "replicas"}
    finally:
        pool.shutdown()
    biggest = runs[max(runs)]
    biggest["ticks"] = ticks_each
    engine = Engine(cfg.llm.model, device="cpu" if cfg.llm.device == "cpu" else "auto")
    speed = llm_speedup(biggest, engine, samples=4 if quick else 12)
    figures["llm_speedup"] = speed["speedup"]
    figures["llm_detail"] = speed
    # The same town later, once its avatars talk (speech, conversation turns).
    late = llm_speedup(talking, engine, samples=4 if quick else 12)
    figures["llm_speedup_talking"] = late["speedup"]
    figures["llm_talking"] = {
        **{
            k: talking[k] for k in ("from_tick", "ticks", "tick_s", "choose_calls", "generate_calls", "lines")
        },
        **late,
    }
    figures["tick_seconds_by_llm_avatars"] = {str(n): r["tick_s"] for n, r in runs.items()}
    figures["calls_per_avatar_tick"] = {str(n): r["calls_per_avatar_tick"] for n, r in runs.items()}
    figures["llm_calls"] = {
        str(n): {k: r[k] for k in ("avatar_ticks", "choose_calls", "generate_calls")} for n, r in runs.items()
    }
    text = json.dumps(figures, indent=2)
    if json_path is not None:
        Path(json_path).write_text(text + "\n", encoding="utf-8")
    print(text)
    return figures
