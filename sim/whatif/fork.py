"""``mesaverse fork RUN_DIR --at-tick T [--set key=value ...] [--events FILE] [--ticks N] [--out DIR]``.

A fork shares ticks ``0..T`` with its parent and differs from tick ``T + 1`` on. It is a new run folder
(in ``--out``, default: the folder holding the parent's folder) whose store holds a copy of the
parent's rows of ticks ``<= T`` (agents, events, metrics, agent_state, ledger: a complete history on its
own) and its lineage (``runs.parent_run_id``, ``parent_dir``, ``fork_tick = T``). The model starts from
the parent's newest checkpoint at or before the boundary after ``T`` (else tick 0) and replays the
parent's ticks up to ``T`` without recording them; the changes apply at the boundary before tick
``T + 1`` (``--set`` first, then the events of that tick), each one an ``intervention`` event of tick
``T + 1``; then it runs to the parent's end tick, or ``--ticks N`` ticks more. A fork with no change of
a rule-only run has the parent's events after ``T``.

Its ``config.yaml`` is the parent's (``run.ticks`` aside); the changes live in the checkpoints
(``state["whatif"]``), so ``resume`` of a fork reapplies them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sim.errors import UserError

__all__ = ["fork_command"]


def fork_command(
    run_dir: str | Path,
    *,
    at_tick: int,
    overrides: Sequence[str] = (),
    events_file: str | Path | None = None,
    ticks: int | None = None,
    out: str | Path | None = None,
    ray_address: str | None = None,
) -> Path:
    """Make and run the fork; prints its folder as the last line of stdout (as ``run`` does)."""
    from sim.config import load_scenario
    from sim.quiet import quiet_console
    from sim.runner import _make_run_folder, _open_log, _stored_run, check_out, start_then
    from sim.whatif.events import event_dict, load_events
    from sim.whatif.interventions import static_check
    from sim.whatif.settings import changed_config, parse_set

    parent = Path(run_dir)
    if not (parent / "config.yaml").is_file() or not (parent / "events.db").is_file():
        raise UserError(f"{parent}: not a run folder (needs config.yaml and events.db)")
    stored = _stored_run(parent / "events.db")
    last = stored["last_tick"]
    if last is None:
        raise UserError(f"{parent}: the run has no ticks yet: nothing to fork")
    if at_tick < 0 or at_tick > last:
        raise UserError(f"--at-tick: {at_tick} is outside the parent's ticks 0..{last}")
    cfg = load_scenario(parent / "config.yaml")
    start = at_tick + 1  # the first tick of the fork's own
    if ticks is not None and ticks < 1:
        raise UserError(f"--ticks: must be at least 1 (got {ticks})")
    end = start + ticks if ticks is not None else cfg.run.ticks
    if end <= start:
        raise UserError(
            f"--at-tick: {at_tick} is the parent's last tick (it ends at {cfg.run.ticks}): pass --ticks N to go on"
        )
    # Every change is checked before anything is written.
    changes: list[dict[str, Any]] = []
    checked = cfg
    for i, item in enumerate(overrides):
        key, value = parse_set(item)
        checked = changed_config(checked, key, value, f"--set {key}")
        changes.append({"tick": start, "type": "rule", "key": key, "value": value, "source": f"set:{i}"})
    if events_file is not None:
        events = [event_dict(e) for e in load_events(events_file, need_tick=True)]
        static_check(cfg, events, str(events_file))
        for i, e in enumerate(events):
            if not start <= e["tick"] < end:
                raise UserError(
                    f"{events_file}: {i}.tick: {e['tick']} is outside the fork's ticks {start}..{end - 1}"
                )
            changes.append({**e, "source": f"events:{i}"})
    changes.sort(key=lambda e: e["tick"])  # stable: --set first, then the file's order
    out = parent.resolve().parent if out is None else Path(out)
    check_out(out)
    cfg = load_scenario(parent / "config.yaml", [f"run.ticks={end}"], {"run.ticks": "--ticks"})
    with quiet_console() as log:

        def prepare(pool: Any) -> tuple[Any, Path, Any]:
            model = _model_at(cfg, parent, start, pool)
            return (model, *_make_run_folder(out, cfg))

        pool, (model, fork_dir, store) = start_then(cfg, ray_address, prepare)
        _open_log(log, fork_dir, pool)
        _run_fork(model, store, parent, fork_dir, stored, at_tick, changes, cfg, pool)
    print(fork_dir)
    return fork_dir


def _model_at(cfg: Any, parent: Path, start: int, pool: Any) -> Any:
    """The parent's model at the boundary before tick ``start``: its newest usable checkpoint at or
    before it, replayed forward (with the parent's own what-if events and injections), unrecorded."""
    from sim.checkpoint import CheckpointError, checkpoint_files, read_checkpoint
    from sim.model import MetaverseModel
    from sim.whatif.inject import replay_applied
    from sim.whatif.interventions import at_boundary, restore

    state = None
    for path in reversed(checkpoint_files(parent / "checkpoints")):
        try:
            candidate = read_checkpoint(path)
        except CheckpointError:
            continue
        if candidate["tick"] <= start:
            state = candidate
            break
    model = MetaverseModel(cfg, llm=pool, store=None, seed=cfg.run.seed)
    if state is not None:
        try:
            restore(model, state)
        except Exception as exc:
            raise UserError(
                f"{parent}: checkpoint of tick {state['tick']} does not restore ({exc})"
            ) from None
    since = state["tick"] if state is not None else 0
    replay_applied(model, parent, since=since)
    while model.tick < start:
        at_boundary(model, None)
        model.step()
    model.interventions = []
    return model


def _run_fork(
    model: Any,
    store: Any,
    parent: Path,
    fork_dir: Path,
    stored: dict[str, Any],
    at_tick: int,
    changes: list[dict[str, Any]],
    cfg: Any,
    pool: Any,
) -> None:
    from sim.runner import _checkpoint, run_loop
    from sim.store import connect_readonly
    from sim.whatif.interventions import whatif_of

    status = "failed"
    try:
        conn = connect_readonly(parent / "events.db")
        try:
            parent_id = conn.execute("SELECT run_id FROM runs").fetchone()[0]
        finally:
            conn.close()
        store.set_lineage(parent_id, str(parent.resolve()), at_tick)
        store.copy_history(parent / "events.db", at_tick)
        model.ticks = cfg.run.ticks
        model.running = model.tick < model.ticks
        model.store = store
        whatif_of(model).add(changes)
        # A checkpoint of the fork point first: a killed fork resumes from here, its changes pending.
        _checkpoint(model, fork_dir / "checkpoints")
        status = run_loop(model, fork_dir / "checkpoints", every=cfg.run.checkpoint_every)
        if model.llm is not None:
            print(model.meter.usage.summary())  # as run does: model use, then the folder
    finally:
        store.set_status(status)
        store.close()
        if pool is not None:
            pool.shutdown()
