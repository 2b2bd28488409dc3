"""``mesaverse bench moderation``: messages per second through moderation's non-LLM layers.

The workload is 100,000 messages (``--messages``) made from the labelled town messages in
``tests/data/moderation/`` (every category, hard negatives included), each one varied (a name,
a number and a place substituted or appended) so that almost no two messages are the same text
and no per-tick cache can answer for the detectors. 500 senders, 100 messages a tick (so the
window rules, near-duplicates across senders included, hold about a thousand messages), screened
by the rules of ``configs/moderation.yaml`` (``--config``) exactly as the world screens a ``say``:
``Moderator.screen_message`` then, for a flag, ``Moderator.decide``. No ``llm`` rule runs.

Reported: messages/s by the wall clock and per CPU second of this process (medians of three
passes, each over a fresh moderator: on a shared machine the wall clock also counts the time
other processes held the core), the share flagged, and whether the wall-clock rate meets the
target (>= 10,000 messages/s).
"""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path
from typing import Any

from sim.errors import UserError

__all__ = ["bench_moderation", "bench_moderation_command", "workload"]

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "moderation"
TARGET = 10_000
_NAMES = ("Cora", "Dov", "Hana", "Jun", "Emil", "Goran", "Ines", "Bram", "Tova", "Pim")
_PLACES = ("market", "plaza", "farm", "forest", "workshop", "mill")


def workload(n: int, seed: int = 0) -> list[tuple[int, str]]:
    """``n`` (sender, text) pairs, varied from the labelled sets; deterministic for a seed."""
    texts = []
    for f in sorted(DATA.glob("*.jsonl")):
        texts += [json.loads(line)["text"] for line in f.read_text(encoding="utf-8").splitlines() if line]
    if not texts:
        raise UserError(f"no labelled messages in {DATA}")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        t = rng.choice(texts)
        for name in _NAMES:
            if name in t:
                t = t.replace(name, rng.choice(_NAMES))
        t = f"{t} ({rng.choice(_NAMES)}, {rng.randrange(1, 99)} at the {rng.choice(_PLACES)})"
        out.append((rng.randrange(500), t))
    return out


def _one_pass(cfg: Any, msgs: list[tuple[int, str]], per_tick: int) -> tuple[float, float, int]:
    from world.moderation import Moderator

    mod = Moderator(cfg)
    flagged = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for i, (sender, text) in enumerate(msgs):
        tick = i // per_tick
        d = mod.screen_message(sender, None, text, tick)
        if d is not None:
            flagged += 1
            mod.decide(sender, d, tick)
        if (i + 1) % per_tick == 0:
            mod.end_tick()
    return time.perf_counter() - t0, time.process_time() - c0, flagged


def bench_moderation(
    messages: int = 100_000, config: Path | None = None, repeats: int = 3, per_tick: int = 100
) -> dict[str, Any]:
    """Time the non-LLM rules of ``config`` on ``messages`` messages; return the figures."""
    from sim.config import load_scenario

    cfg = load_scenario(config or ROOT / "configs" / "moderation.yaml").moderation
    no_llm = cfg.model_copy(update={"rules": tuple(r for r in cfg.rules if r.kind != "llm")})
    msgs = workload(messages)
    runs = [_one_pass(no_llm, msgs, per_tick) for _ in range(max(1, repeats))]
    seconds = statistics.median(s for s, _, _ in runs)
    cpu = statistics.median(c for _, c, _ in runs)
    rate = messages / seconds
    return {
        "messages": messages,
        "messages_per_tick": per_tick,
        "rules": [r.id for r in no_llm.rules],
        "seconds": round(seconds, 3),
        "messages_per_s": round(rate),
        # CPU time of this process: on a shared, loaded machine the wall clock also counts the
        # time other processes held the core.
        "cpu_seconds": round(cpu, 3),
        "messages_per_cpu_s": round(messages / cpu) if cpu > 0 else None,
        "flagged_share": round(runs[0][2] / messages, 4),
        "target_messages_per_s": TARGET,
        "meets_target": rate >= TARGET,
    }


def bench_moderation_command(
    *, json_path: Path | None = None, messages: int = 100_000, config: Path | None = None
) -> dict[str, Any]:
    """Run the bench, print the figures as JSON, write ``json_path``."""
    if json_path is not None and not Path(json_path).parent.exists():
        raise UserError(f"--json: folder {Path(json_path).parent} does not exist")
    if messages < 1:
        raise UserError("--messages: must be at least 1")
    figures = bench_moderation(messages, config)
    text = json.dumps(figures, indent=2)
    if json_path is not None:
        Path(json_path).write_text(text + "\n", encoding="utf-8")
    print(text)
    return figures
