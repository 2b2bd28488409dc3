"""``mesaverse bench dashboard``: how long a live refresh takes on a large event store.

It writes a synthetic run (``--events`` events, 1,000,000 by default, 1,000 avatars, 1,000 events per
tick) with the real writer, then times what the page does on each live refresh: open the store
read-only, take a snapshot, and run one panel's code (queries, pandas, chart specs; Streamlit in bare
mode, so no browser round trip). Each timed refresh follows a freshly written tick, so it measures the
incremental path: trackers primed by the previous refresh read only the new tick's rows.

Figures (JSON with ``--json``): ``refresh_ms`` (the slowest panel's median warm refresh, the figure to
hold under 200 ms), ``refresh_all_panels_ms`` (every panel in one go, the overview and the compare page
included: its other run is a copy of the store taken once it is built), per panel median and p95,
the cold first load, and a replay refresh at mid-run.

It lives in ``sim/bench/``, not ``dashboard/``, because it writes the store (the dashboard only reads it);
it drives the dashboard's queries and panels the way the page does.
"""

from __future__ import annotations

import json
import logging
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dashboard import queries
from dashboard.panels import PANELS, snapshot_context
from sim.store import EventStore

__all__ = ["bench_dashboard", "bench_dashboard_command", "synthetic_run"]

AGENTS = 1000
EVENTS_PER_TICK = 1000
SNAPSHOT_EVERY = 10
PLACES = ["plaza", "market", "farm", "forest", "harbour", "library", "tavern", "workshop"]
ITEMS = ["bread", "wood", "tool", "fish"]
RULES = ["insult", "spam", "scam"]


def _tick_events(rng: random.Random, tick: int) -> Iterator[tuple[Any, ...]]:
    """A plausible mix: mostly speech, then moves, trades, offers, gathering, some moderation."""
    for _ in range(EVENTS_PER_TICK):
        a, b = rng.randrange(AGENTS), rng.randrange(AGENTS)
        place = PLACES[a % len(PLACES)]
        r = rng.random()
        if r < 0.6:
            flagged = rng.random() < 0.02
            violation = flagged if rng.random() < 0.8 else not flagged
            data: dict[str, Any] = {
                "flagged": flagged,
                "rule": RULES[a % 3] if flagged else None,
                "delivered": not flagged,
                "violation": violation,
            }
            yield ("say", a, b, place, f"message {tick}.{a} to {b}", data)
        elif r < 0.75:
            yield ("move", a, None, place, "", {})
        elif r < 0.85:
            item = ITEMS[b % len(ITEMS)]
            data = {
                "item": item,
                "qty": 1,
                "price": 2.0 + b % 7,
                "tax": 0.1,
                "buyer": a,
                "seller": b,
                "via": "book",
            }
            yield ("trade", a, b, place, f"1 {item}", data)
        elif r < 0.92:
            yield ("offer", a, b, place, "", {"item": ITEMS[a % 4], "price": 3.0})
        elif r < 0.99:
            yield ("gather", a, None, place, "", {"item": "wood", "qty": 1})
        else:
            rule = RULES[a % 3]
            yield (
                "moderation",
                a,
                b,
                place,
                "",
                {"rule": rule, "evidence": "x", "sanction": "warn", "ground_truth": True},
            )
    if tick % 25 == 0:
        yield (
            "project_propose",
            tick % AGENTS,
            None,
            "plaza",
            f"project {tick}",
            {"project_id": tick, "name": f"P{tick}"},
        )


def _tick_metrics(rng: random.Random, tick: int) -> dict[str, float]:
    base = {
        "population": AGENTS,
        "messages": 600,
        "trades": 100,
        "trade_volume": 500 + rng.random() * 50,
        "gini": 0.3 + 0.0001 * tick,
        "top10_share": 0.25,
        "treasury": 10.0 * tick,
        "coins_total": 100_000,
        "graph.density": 0.01,
        "graph.clustering": 0.1,
        "graph.modularity": 0.4,
        "llm.tokens_per_s": 900 + rng.random() * 100,
        "llm.requests": 200,
        "llm.batch_size_mean": 32,
        "llm.latency_p50": 0.4,
        "llm.latency_p95": 0.9,
        "llm.queue_depth": 3,
        "llm.replica.0.tokens_per_s": 450,
        "llm.replica.1.tokens_per_s": 450,
    }
    base.update({f"price.{item}": 2.0 + i + rng.random() for i, item in enumerate(ITEMS)})
    return base


def _tick_states(rng: random.Random, tick: int) -> list[tuple[Any, ...]]:
    if tick % SNAPSHOT_EVERY:
        return []
    return [
        (
            a,
            PLACES[a % len(PLACES)],
            None,
            None,
            100 + rng.random() * 50,
            {"needs": {"food": 0.5}, "inventory": {"bread": 1}},
        )
        for a in range(AGENTS)
    ]


def synthetic_run(path: Path, events: int, seed: int = 0) -> tuple[EventStore, random.Random, int]:
    """Write a run of about ``events`` events; returns the open writer, its rng and the next tick."""
    rng = random.Random(seed)
    store = EventStore.create(path, run_id=path.parent.name, scenario="bench", seed=seed, config={})
    store.register_agents(
        (a, f"avatar{a}", "llm" if a % 4 == 0 else "rule", {"role": ["farmer", "trader", "guard"][a % 3]})
        for a in range(AGENTS)
    )
    ticks = max(1, events // EVENTS_PER_TICK)
    for tick in range(ticks):
        store.write_tick(tick, _tick_events(rng, tick), _tick_metrics(rng, tick), _tick_states(rng, tick))
    return store, rng, ticks


def _twin(path: Path) -> Path:
    """A copy of the run as it is now, in a sibling folder: the other run of the compare page."""
    twin = path.parent.with_name("bench-twin") / "events.db"
    twin.parent.mkdir()
    src, dst = sqlite3.connect(path), sqlite3.connect(twin)
    try:
        src.backup(dst)  # a consistent copy while the writer keeps its connection
        dst.execute("PRAGMA journal_mode=DELETE")
        dst.execute("UPDATE runs SET run_id = 'bench-twin', status = 'finished'")
        dst.commit()
    finally:
        src.close()
        dst.close()
    return twin


def _refresh(
    path: Path,
    panel: str,
    *,
    live: bool,
    replay_tick: int | None,
    state: dict[str, Any],
    runs: tuple[queries.RunInfo, ...] = (),
) -> float:
    """One refresh as the page's fragment does it; returns milliseconds."""
    start = time.perf_counter()
    conn = queries.open_store(path)
    try:
        info = queries.run_info(path)
        ctx = snapshot_context(
            conn, info, live=live, replay_tick=replay_tick, state=state, runs=(info, *runs)
        )
        assert ctx is not None
        PANELS[panel](ctx)
    finally:
        conn.close()
    return (time.perf_counter() - start) * 1000


def bench_dashboard(
    events: int = 1_000_000, refreshes: int = 8, workdir: Path | None = None
) -> dict[str, Any]:
    """Build the store, then time cold, warm-live and replay refreshes of every panel."""
    # Bare-mode Streamlit warns once per widget; the bench only wants the panels' work.
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        path = Path(tmp) / "bench-run" / "events.db"
        t0 = time.perf_counter()
        store, rng, next_tick = synthetic_run(path, events)
        build_s = time.perf_counter() - t0
        total_events = queries.event_count(queries.open_store(path))
        # The compare page's other run: the same history (so its first refresh compares all of it),
        # which the live run then outgrows tick by tick.
        runs = (queries.run_info(_twin(path)),)
        states: dict[str, dict[str, Any]] = {panel: {} for panel in PANELS}
        cold = {
            panel: _refresh(path, panel, live=True, replay_tick=None, state=states[panel], runs=runs)
            for panel in PANELS
        }
        warm: dict[str, list[float]] = {panel: [] for panel in PANELS}
        all_panels: list[float] = []
        for _ in range(refreshes):
            store.write_tick(
                next_tick,
                _tick_events(rng, next_tick),
                _tick_metrics(rng, next_tick),
                _tick_states(rng, next_tick),
            )
            next_tick += 1
            start = time.perf_counter()
            for panel in PANELS:
                warm[panel].append(
                    _refresh(path, panel, live=True, replay_tick=None, state=states[panel], runs=runs)
                )
            all_panels.append((time.perf_counter() - start) * 1000)
        replay = {
            panel: _refresh(path, panel, live=False, replay_tick=next_tick // 2, state={}, runs=runs)
            for panel in PANELS
        }
        store.close()

    def p95(xs: list[float]) -> float:
        return sorted(xs)[max(0, round(0.95 * len(xs)) - 1)]

    per_panel = {
        panel: {
            "warm_median_ms": round(statistics.median(times), 1),
            "warm_p95_ms": round(p95(times), 1),
            "cold_ms": round(cold[panel], 1),
            "replay_ms": round(replay[panel], 1),
        }
        for panel, times in warm.items()
    }
    slowest = max(per_panel, key=lambda p: per_panel[p]["warm_median_ms"])
    return {
        "refresh_ms": per_panel[slowest]["warm_median_ms"],
        "refresh_slowest_panel": slowest,
        "refresh_all_panels_ms": round(statistics.median(all_panels), 1),
        "events": total_events,
        "events_per_tick": EVENTS_PER_TICK,
        "avatars": AGENTS,
        "refreshes": refreshes,
        "build_store_s": round(build_s, 1),
        "panels": per_panel,
    }


def bench_dashboard_command(*, json_path: Path | None, events: int) -> None:
    """CLI entry: print a table of the figures, write them as JSON if asked."""
    result = bench_dashboard(events=events)
    print(
        f"event store: {result['events']:,} events, {result['avatars']:,} avatars (built in {result['build_store_s']} s)"
    )
    print(f"{'panel':<18}{'warm median':>12}{'warm p95':>10}{'cold':>9}{'replay':>9}   (ms)")
    for panel, row in result["panels"].items():
        print(
            f"{panel:<18}{row['warm_median_ms']:>12}{row['warm_p95_ms']:>10}{row['cold_ms']:>9}{row['replay_ms']:>9}"
        )
    print(
        f"refresh_ms: {result['refresh_ms']} (slowest panel: {result['refresh_slowest_panel']}); all panels at once: {result['refresh_all_panels_ms']}"
    )
    if json_path is not None:
        json_path.write_text(json.dumps(result, indent=2) + "\n")
