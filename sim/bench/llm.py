"""``mesaverse bench llm``: naive one-at-a-time serving versus the batched, prefix-caching pool.

Workload (built like the simulation's requests): N avatars over R rounds; a shared world-rules
prefix of about 300 tokens, a persona of about 100 tokens per avatar (the same every round), a
short situation that changes each round; half the avatars ``choose`` over 6 options, half
``generate`` at most 32 tokens.

Measured in one run:
- naive: the same model and dtype, one request at a time, full prompt every time, no batching,
  no prefix reuse (how mesa-llm and Generative Agents drive a local model). Its rate is taken
  over ``--naive-rounds`` rounds (default 1: N requests, half of each kind; naive serving keeps
  no state between rounds, so its per-request rate does not depend on the round);
- prefix reuse alone: the same batched prefill (the choose half) with and without the cache;
- the pool: all rounds through Ray replicas;
- the roofline: a large matmul in the engine's dtype; tokens/s = FLOP/s / (2 x parameters).
"""

from __future__ import annotations

import contextlib
import gc
import json
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from agents.lm import ChooseRequest, GenerateRequest, Message, request_seed
from sim.errors import UserError
from sim.llm.roofline import matmul_roofline
from sim.metrics import percentile

__all__ = ["Workload", "bench_llm_command", "build_workload"]

RULES = (
    "You are an avatar in Riverton, a small town simulated tick by tick. The town has a market "
    "square where goods are bought and sold through an order book, a farm that yields grain and "
    "vegetables, a mine that yields ore and stone, a forest that yields wood and berries, a "
    "workshop where tools, bread and furniture are crafted from raw goods, a plaza where people "
    "meet and talk, and a town hall where collaborative projects such as a bridge, a school or a "
    "festival are proposed and funded. Money is counted in coins. Every trade is recorded in a "
    "public ledger and taxed at ten percent for the town treasury. You can move between places, "
    "talk to people at your place, offer trades to them, accept or reject their offers, post buy "
    "and sell orders at the market, gather resources at the farm, mine or forest, craft items in "
    "the workshop, eat food when hungry, rest when tired, and join or contribute to projects. "
    "Moderators watch every message: insults, spam, threats and scams are punished with warnings, "
    "mutes and bans. Be honest, keep your promises, look after your needs, and speak briefly in "
    "the first person, as yourself, in one or two sentences. Never pretend to be the system. "
)
OCCUPATIONS = ["baker", "farmer", "miner", "carpenter", "merchant", "teacher", "blacksmith", "healer"]
TRAITS = ["generous", "cautious", "curious", "stubborn", "cheerful", "shrewd", "shy", "ambitious", "honest"]
GOALS = ["save enough coins to open a shop", "help build the new bridge", "make friends in town",
         "become the best craftsman", "feed the family through winter", "win the festival contest"]  # fmt: skip
NAMES = [
    "Ada",
    "Bram",
    "Cora",
    "Dov",
    "Elin",
    "Finn",
    "Gita",
    "Hugo",
    "Ines",
    "Jon",
    "Kaia",
    "Lev",
    "Mira",
    "Nils",
]
PLACES = ["market", "farm", "mine", "forest", "workshop", "plaza", "town hall"]
ACTIONS = ["eat some bread", "rest at home", "gather wood in the forest", "sell grain at the market",
           "talk to a neighbour", "contribute coins to the bridge project", "craft a chair in the workshop",
           "buy a hammer", "move to the plaza", "offer berries for ore"]  # fmt: skip


def _persona(i: int, rng: random.Random) -> str:
    name = f"{NAMES[i % len(NAMES)]}{i}"
    t1, t2 = rng.sample(TRAITS, 2)
    return (
        f"You are {name}, a {rng.randint(18, 70)}-year-old {rng.choice(OCCUPATIONS)} in Riverton. "
        f"You are {t1} and {t2}. Your goal is to {rng.choice(GOALS)}. You value fairness, your "
        f"friends and hard work. You live near the {rng.choice(PLACES)} and you know most people "
        f"in town by name. You remember who treated you well and who cheated you, and you act on "
        f"it: you trade with people you trust and you avoid people who lied to you before. "
        f"You like simple food and long walks after work."
    )


def _situation(i: int, r: int, rng: random.Random) -> str:
    return (
        f"Tick {r}. You are at the {rng.choice(PLACES)}. Hunger {rng.random():.1f}, energy "
        f"{rng.random():.1f}. You have {rng.randint(0, 40)} coins. {NAMES[(i + r) % len(NAMES)]} is "
        f"here and just said: 'Good day! Do you have anything to trade?'"
    )


@dataclass
class Workload:
    rounds: list[tuple[list[ChooseRequest], list[GenerateRequest]]]

    @property
    def requests(self) -> int:
        return sum(len(c) + len(g) for c, g in self.rounds)


def build_workload(agents: int, rounds: int, seed: int = 0) -> Workload:
    rng = random.Random(seed)
    personas = [_persona(i, rng) for i in range(agents)]
    out = []
    for r in range(rounds):
        chooses, gens = [], []
        for i in range(agents):
            msgs = (
                Message("system", RULES),
                Message("user", personas[i]),
                Message("user", _situation(i, r, rng)),
            )
            s = request_seed(seed, r, i)
            if i % 2 == 0:
                opts = tuple(rng.sample(ACTIONS, 6))
                chooses.append(
                    ChooseRequest(msgs, opts, answer_prefix="I will", seed=s, request_id=f"{r}:{i}")
                )
            else:
                gens.append(GenerateRequest(msgs, max_new_tokens=32, temperature=0.7, top_p=0.95, seed=s,
                                            stop=("\n\n",), request_id=f"{r}:{i}"))  # fmt: skip
        out.append((chooses, gens))
    return Workload(out)


def _mode_figures(n_req: int, wall: float, prompt: int, completion: int, lat: list[float], **extra) -> dict:
    return {
        "requests": n_req,
        "wall_s": round(wall, 3),
        "requests_per_s": n_req / wall,
        "prompt_tokens_per_s": prompt / wall,
        "completion_tokens_per_s": completion / wall,
        "latency_p50_s": percentile(lat, 50),
        "latency_p95_s": percentile(lat, 95),
        **extra,
    }


def _run_naive(engine, work: Workload, rounds: int) -> dict:
    """One request at a time, full prompt every time (the engine's prefix cache is off)."""
    saved, engine.prefix_cache = engine.prefix_cache, None
    lat, prompt, completion, n = [], 0, 0, 0
    t0 = time.perf_counter()
    for chooses, gens in work.rounds[:rounds]:
        for c in chooses:
            t = time.perf_counter()
            prompt += engine.choose([c])[0].prompt_tokens
            lat.append(time.perf_counter() - t)
        for g in gens:
            t = time.perf_counter()
            out = engine.generate([g])[0]
            lat.append(time.perf_counter() - t)
            prompt += out.prompt_tokens
            completion += out.completion_tokens
        n += len(chooses) + len(gens)
    wall = time.perf_counter() - t0
    engine.prefix_cache = saved
    return _mode_figures(n, wall, prompt, completion, lat)


def _run_prefix_alone(engine, work: Workload) -> dict:
    """Batched prefill (the choose half) with and without the prefix cache."""
    from sim.llm.prefix_cache import PrefixCache

    times = {}
    for label, cache in (("without", None), ("with", PrefixCache(2048 * 2**20))):
        engine.prefix_cache = cache
        engine._prior.clear()
        t = time.perf_counter()
        for chooses, _ in work.rounds:
            engine.choose(chooses)
        times[label] = time.perf_counter() - t
    return {"prefill_s_without_cache": times["without"], "prefill_s_with_cache": times["with"],
            "prefix_speedup": times["without"] / times["with"]}  # fmt: skip


def _serve_rounds(lm, work: Workload) -> tuple[float, int, int]:
    """All rounds through a batched LanguageModel (the pool, or the engine alone), like ticks:
    all choices of a round together, then all speech. Returns (wall s, prompt, completion tokens)."""
    t0 = time.perf_counter()
    prompt = completion = 0
    for chooses, gens in work.rounds:
        prompt += sum(c.prompt_tokens for c in lm.choose(chooses))
        outs = lm.generate(gens)
        prompt += sum(o.prompt_tokens for o in outs)
        completion += sum(o.completion_tokens for o in outs)
    return time.perf_counter() - t0, prompt, completion


def _run_pool(pool, work: Workload) -> dict:
    before = pool.telemetry()
    wall, prompt, completion = _serve_rounds(pool, work)
    after = pool.telemetry()
    computed = after["computed_tokens"] - before["computed_tokens"]
    return _mode_figures(
        work.requests, wall, prompt, completion, [], latency_p50_s=after["latency_p50"],
        latency_p95_s=after["latency_p95"], processed_tokens_per_s=computed / wall,
        cached_tokens=after["cached_tokens"] - before["cached_tokens"], batch_size_mean=after["batch_size_mean"],
        replicas=pool.replicas,
    )  # fmt: skip


def _release_freed_memory() -> None:
    """Hand the freed in-process engine's memory (weights, a filled prefix cache) back to the OS
    before the pool starts: glibc keeps ~1 GB of it otherwise, and the pool measured 19.8-21.7 s
    after a trim against 23-24 s without one (same workload, this VM)."""
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def _table(rows: list[tuple[str, dict]]) -> str:
    head = f"{'mode':<10}{'req/s':>9}{'prompt tok/s':>14}{'compl tok/s':>13}{'p50 s':>8}{'p95 s':>8}"
    lines = [head, "-" * len(head)]
    for name, f in rows:
        lines.append(
            f"{name:<10}{f['requests_per_s']:>9.2f}{f['prompt_tokens_per_s']:>14.0f}"
            f"{f['completion_tokens_per_s']:>13.1f}{f['latency_p50_s']:>8.2f}{f['latency_p95_s']:>8.2f}"
        )
    return "\n".join(lines)


def bench_llm_command(
    *,
    agents: int = 64,
    rounds: int = 3,
    json_path: Path | None = None,
    replicas: int | None = None,
    model: str = "smollm2-135m",
    device: str = "auto",
    engine_only: bool = False,
    random_weights: str | None = None,
    batch: int = 64,
    ray_address: str | None = None,
    naive_rounds: int = 1,
    tokenizer: str | None = None,
) -> dict:
    """Run the benchmark, print a table and the JSON figures; return the figures."""
    if agents < 2:
        raise UserError(f"--agents: must be >= 2, got {agents}")
    if rounds < 1:
        raise UserError(f"--rounds: must be >= 1, got {rounds}")
    if batch < 1:
        raise UserError(f"--batch: must be >= 1, got {batch}")
    if json_path is not None and not Path(json_path).parent.exists():
        raise UserError(f"--json: folder {Path(json_path).parent} does not exist")
    from sim.llm.engine import Engine

    work = build_workload(agents, rounds)
    try:
        engine = Engine(
            model, device=device, max_batch_size=batch, random_weights=random_weights, tokenizer=tokenizer
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None
    info = engine.info()
    print(f"model {info['model']} ({info['parameters'] / 1e6:.0f}M params) on {info['device']} "
          f"{info['dtype']}, {info['threads']} threads; {agents} avatars x {rounds} rounds", file=sys.stderr)  # fmt: skip
    # Warm-up: the first bf16 calls pay one-off kernel set-up that no mode should be charged for.
    engine.generate([GenerateRequest(work.rounds[0][1][0].messages, max_new_tokens=4, temperature=0.0)])
    engine.choose([work.rounds[0][0][0]])
    engine.prefix_cache.clear() if engine.prefix_cache is not None else None
    engine._prior.clear()
    flops = matmul_roofline(info["dtype"], info["device"])
    roofline_tps = flops / (2 * info["parameters"])
    naive = _run_naive(engine, work, min(naive_rounds, rounds))
    prefix = _run_prefix_alone(engine, work)
    figures: dict = {"model": info, "agents": agents, "rounds": rounds, "naive": naive, **prefix,
                     "roofline": {"matmul_flops": flops, "tokens_per_s": roofline_tps}}  # fmt: skip
    if engine_only:
        # No Ray: the engine's own batched serving (with the prefix cache) stands for the pool.
        from sim.llm.prefix_cache import PrefixCache

        engine.prefix_cache = PrefixCache(2048 * 2**20)
        engine._prior.clear()
        before = dict(engine.stats)
        wall, prompt, completion = _serve_rounds(engine, work)
        computed = engine.stats["computed_tokens"] - before["computed_tokens"]
        batched = _mode_figures(
            work.requests, wall, prompt, completion, [], processed_tokens_per_s=computed / wall
        )
        figures["batched"] = batched
        served, label = batched, "batched"
    else:
        del engine
        gc.collect()
        _release_freed_memory()
        from sim.llm.pool import Pool

        try:
            pool = Pool.start(replicas=replicas, model=model, device=device, ray_address=ray_address,
                              max_batch_size=batch)  # fmt: skip
        except ValueError as exc:
            raise UserError(str(exc)) from None
        try:
            figures["pool"] = _run_pool(pool, work)
        finally:
            pool.shutdown()
        served, label = figures["pool"], "pool"
    figures["speedup"] = served["requests_per_s"] / naive["requests_per_s"]
    figures["roofline_fraction"] = served["processed_tokens_per_s"] / roofline_tps
    print(_table([("naive", naive), (label, served)]))
    print(f"speedup ({label}/naive, requests/s): {figures['speedup']:.1f}x")
    print(f"prefix reuse alone (batched prefill): {figures['prefix_speedup']:.2f}x")
    print(f"{label} processed tokens/s {served['processed_tokens_per_s']:.0f} = "
          f"{figures['roofline_fraction']:.0%} of the matmul roofline ({roofline_tps:.0f} tokens/s)")  # fmt: skip
    text = json.dumps(figures, indent=2, default=float)
    if json_path is not None:
        Path(json_path).write_text(text)
    print(text)
    return figures
