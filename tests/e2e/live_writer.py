"""A stand-in simulation for the browser test: appends ticks to an event store on a timer.

    python tests/e2e/live_writer.py RUNS_DIR [--ticks N] [--interval S]

Creates ``RUNS_DIR/live-writer/events.db`` with the real writer (:class:`sim.store.EventStore`) and
writes one tick every ``--interval`` seconds: each avatar says a numbered line ("line <tick>.<i>"),
moves, and now and then trades or gets moderated, so every panel has something to show. The run is
marked finished at the end, or interrupted when terminated.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sim.store import EventStore

NAMES = ["Ada", "Bo", "Cy", "Di", "Eve", "Fin"]
PLACES = ["plaza", "market", "farm"]


def tick_rows(t: int) -> tuple[list[tuple[Any, ...]], dict[str, float], list[tuple[Any, ...]]]:
    """Events, metrics and avatar states of tick ``t``."""
    n = len(NAMES)
    events: list[tuple[Any, ...]] = []
    for i in range(n):
        j = (i + 1 + t % (n - 1)) % n  # never the speaker
        flagged = (t + i) % 7 == 0
        data = {
            "flagged": flagged,
            "rule": "insult" if flagged else None,
            "delivered": not flagged,
            "violation": flagged,
        }
        events.append(("say", i, j, PLACES[i % 3], f"line {t}.{i}", data))
        if flagged:
            events.append(
                (
                    "moderation",
                    i,
                    j,
                    PLACES[i % 3],
                    f"line {t}.{i}",
                    {"rule": "insult", "evidence": "line", "sanction": "warn", "ground_truth": True},
                )
            )
    events.append(
        (
            "trade",
            0,
            1,
            "market",
            "1 bread",
            {
                "item": "bread",
                "qty": 1,
                "price": 2.0 + t % 3,
                "tax": 0.1,
                "buyer": 0,
                "seller": 1,
                "via": "book",
            },
        )
    )
    if t == 1:
        events.append(("project_propose", 2, None, "plaza", "Bridge", {"project_id": 1, "name": "Bridge"}))
    if t > 1:
        events.append(
            ("project_contribute", 3, None, "plaza", "", {"project_id": 1, "progress": min(1.0, t / 20)})
        )
    metrics = {
        "population": n,
        "messages": n,
        "gini": 0.2 + 0.01 * t,
        "treasury": 0.1 * t,
        "trades": 1,
        "trade_volume": 2.0 + t % 3,
        "price.bread": 2.0 + t % 3,
        "graph.density": min(1.0, 0.1 * t),
        "llm.tokens_per_s": 100 + t,
        "llm.requests": n,
        "llm.batch_size_mean": n,
        "llm.latency_p50": 0.1,
        "llm.latency_p95": 0.3,
        "llm.queue_depth": 0,
    }
    states = [
        (
            i,
            PLACES[(i + t) % 3],
            None,
            None,
            10 + i + t,
            {"needs": {"food": 0.1}, "inventory": {"bread": t}, "memory": [f"line {t}.{i}"]},
        )
        for i in range(n)
    ]
    return events, metrics, states


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("runs", type=Path)
    parser.add_argument("--ticks", type=int, default=200)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    store = EventStore.create(
        args.runs / "live-writer" / "events.db", run_id="live-writer", scenario="helper", seed=0, config={}
    )
    store.register_agents(
        (i, name, "rule", {"role": "talker" if i % 2 else "trader"}) for i, name in enumerate(NAMES)
    )

    def stop(*_: object) -> None:
        store.set_status("interrupted")
        store.close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    for t in range(args.ticks):
        store.write_tick(t, *tick_rows(t))
        time.sleep(args.interval)  # the "simulation" pace; this helper is a writer, not a test
    store.set_status("finished")
    store.close()


if __name__ == "__main__":
    main()
