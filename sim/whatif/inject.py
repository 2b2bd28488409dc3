"""``mesaverse inject RUN_DIR FILE.yaml``: events for a running run, applied at its next tick boundary.

The command validates the file (the events file format, checked against the run's own config) and
queues it in ``RUN_DIR/inject/queue/`` atomically: a temp name, then a rename, so the run never reads
half a file. It refuses a run that is not being written (finished, failed, interrupted, or killed:
nobody holds its writer lock).

The run, before each tick (:func:`read_queue`): each queued file, oldest first, is scheduled (an event
without ``tick`` gets the tick about to run; one whose tick has passed is recorded as refused), then
written to ``RUN_DIR/inject/applied/`` with the tick it was read at (``applied_at``) and removed from
the queue. Resume reads again the applied files of ticks at or after its checkpoint
(:func:`replay_applied`), so a resumed run applies every injection the killed one had read.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from sim.errors import UserError

__all__ = ["inject_command", "read_queue", "replay_applied"]


def _write_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def inject_command(run_dir: str | Path, file: str | Path) -> Path:
    """Validate ``file`` and queue its events for the live run in ``run_dir``; prints the queued file."""
    from sim.config import load_scenario
    from sim.store import WriterLock, connect_readonly
    from sim.whatif.events import event_dict, load_events
    from sim.whatif.interventions import static_check

    run_dir = Path(run_dir)
    db = run_dir / "events.db"
    if not (run_dir / "config.yaml").is_file() or not db.is_file():
        raise UserError(f"{run_dir}: not a run folder (needs config.yaml and events.db)")
    events = [event_dict(e) for e in load_events(file, need_tick=False)]
    cfg = load_scenario(run_dir / "config.yaml")
    static_check(cfg, events, str(file))
    conn = connect_readonly(db)
    try:
        status, last_tick = conn.execute("SELECT status, last_tick FROM runs").fetchone()
    finally:
        conn.close()
    if status != "running":
        raise UserError(f"{run_dir}: the run is {status}, not running: nothing would read the events")
    try:
        lock = WriterLock.acquire(db)
    except UserError:
        lock = None  # held: a live writer, as it should be
    if lock is not None:
        lock.release()
        raise UserError(f"{run_dir}: no process is writing this run (killed?): resume it, then inject")
    next_tick = 0 if last_tick is None else last_tick + 1
    for i, e in enumerate(events):
        if e.get("tick") is not None and e["tick"] < next_tick:
            raise UserError(f"{file}: {i}.tick: {e['tick']} has passed (the run is at tick {next_tick})")
        if e.get("tick") is not None and e["tick"] >= cfg.run.ticks:
            raise UserError(
                f"{file}: {i}.tick: {e['tick']} is after the run's end (it runs to {cfg.run.ticks})"
            )
    queue = run_dir / "inject" / "queue"
    try:
        queue.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():020d}-{os.getpid()}.json"
        path = queue / name
        _write_atomic(path, {"source": str(file), "events": events})
    except OSError as exc:
        raise UserError(f"{run_dir}: cannot queue the events: {exc.strerror or exc}") from None
    print(path)
    return path


def read_queue(model: Any, run_dir: Path) -> None:
    """Schedule every queued file's events (at the tick about to run when they name none), and move
    the file to ``inject/applied/`` with the tick it was read at."""
    from sim.whatif.interventions import whatif_of

    queue = run_dir / "inject" / "queue"
    files = sorted(p for p in queue.glob("*.json") if not p.name.startswith("."))
    if not files:
        return
    applied = run_dir / "inject" / "applied"
    applied.mkdir(parents=True, exist_ok=True)
    wi = whatif_of(model)
    for path in files:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            events = raw["events"]
        except (OSError, ValueError, KeyError, TypeError):
            events = [{"type": "inject", "refuse": "unreadable queue file"}]
            raw = {}
        record = {
            "file": path.name,
            "applied_at": model.tick,
            "events": _normalise(events, path.stem, model.tick),
        }
        wi.add(record["events"])
        _write_atomic(applied / path.name, {**raw, **record})
        path.unlink(missing_ok=True)


def _normalise(events: list[dict[str, Any]], stem: str, tick: int) -> list[dict[str, Any]]:
    out = []
    for i, e in enumerate(events):
        e = dict(e)
        if e.get("tick") is None:
            e["tick"] = tick
        elif e["tick"] < tick:
            e = {**e, "refuse": f"tick {e['tick']} had passed when the run read it (at tick {tick})"}
            e["tick"] = tick
        e["source"] = f"inject:{stem}:{i}"
        out.append(e)
    return out


def replay_applied(model: Any, run_dir: Path, *, since: int) -> None:
    """Schedule again the injections read at ticks ``>= since`` (a resume from the checkpoint of
    ``since``: the killed run had read them after it)."""
    from sim.whatif.interventions import whatif_of

    applied = run_dir / "inject" / "applied"
    if not applied.is_dir():
        return
    records = []
    for path in sorted(applied.glob("*.json")):
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and isinstance(rec.get("applied_at"), int) and rec["applied_at"] >= since:
            records.append(rec)
    for rec in sorted(records, key=lambda r: (r["applied_at"], r.get("file", ""))):
        whatif_of(model).add(rec["events"])
