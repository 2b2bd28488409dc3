"""``mesaverse run`` and ``mesaverse resume``: a scenario from config to a finished run folder.

Run folder ``runs/<run_id>/``: ``config.yaml`` (the resolved scenario), ``events.db`` (the
event store) and ``checkpoints/`` (JSON, atomic). A checkpoint is written every
``run.checkpoint_every`` ticks and at the end. Ctrl-C (SIGINT) or SIGTERM stop at the next
tick boundary: a checkpoint of that boundary is written and the run is marked
``interrupted``, so ``resume`` carries on from exactly there. After a SIGKILL, ``resume``
goes back to the last checkpoint and drops the events of the ticks after it; for rule-only
scenarios the finished event log is then identical to an uninterrupted run's.

The last line of stdout is always the run folder. The progress bar (rich) is shown only when
stdout is a terminal.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sim.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from sim.config import ScenarioConfig, dump_yaml, load_scenario
from sim.errors import UserError

__all__ = ["resume_command", "run_command", "run_loop", "start_llm"]


def run_command(
    config: str | Path,
    *,
    ticks: int | None = None,
    seed: int | None = None,
    overrides: Sequence[str] = (),
    out: str | Path = "runs",
    replicas: int | None = None,
    device: str | None = None,
    model: str | None = None,
    ray_address: str | None = None,
) -> Path:
    """Run a scenario into a new run folder; prints the folder as the last line of stdout."""
    if ticks is not None and ticks < 0:
        raise UserError(f"--ticks: must be >= 0, got {ticks}")
    extra = list(overrides)
    if ticks is not None:
        extra.append(f"run.ticks={ticks}")
    if seed is not None:
        extra.append(f"run.seed={seed}")
    if replicas is not None:
        extra.append(f"llm.replicas={replicas}")
    if device is not None:
        extra.append(f"llm.device={device}")
    if model is not None:
        extra.append(f"llm.model={model}")
    cfg = load_scenario(config, extra)
    _check_model(cfg, config)  # before anything is written: a typo leaves no run folder behind
    run_dir = _new_run_dir(Path(out), cfg)
    (run_dir / "config.yaml").write_text(dump_yaml(cfg), encoding="utf-8")
    from sim.store import EventStore

    store = EventStore.create(
        run_dir / "events.db",
        run_id=run_dir.name,
        scenario=cfg.name,
        seed=cfg.run.seed,
        config=cfg.model_dump(mode="json"),
    )
    _execute(cfg, run_dir, store, state=None, ray_address=ray_address)
    print(run_dir)
    return run_dir


def resume_command(run_dir: str | Path, *, ticks: int | None = None, ray_address: str | None = None) -> Path:
    """Continue a killed or interrupted run from its last checkpoint, in the same folder."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "events.db").is_file():
        raise UserError(f"{run_dir}: not a run folder (needs config.yaml and events.db)")
    overrides = [f"run.ticks={ticks}"] if ticks is not None else []
    cfg = load_scenario(run_dir / "config.yaml", overrides)
    from sim.store import EventStore

    store = EventStore.open(run_dir / "events.db")
    ckpt = latest_checkpoint(run_dir / "checkpoints")
    state = load_checkpoint(ckpt) if ckpt is not None else None
    # Ticks after the checkpoint were (perhaps partly) written by the killed run: they are
    # dropped and run again, so each tick is in the log exactly once.
    store.truncate_after((state["tick"] if state else 0) - 1)
    store.set_status("running")
    _execute(cfg, run_dir, store, state=state, ray_address=ray_address)
    print(run_dir)
    return run_dir


def _check_model(cfg: ScenarioConfig, source: str | Path) -> None:
    """An unknown ``llm.model`` is a user mistake: one line naming the field, exit 2."""
    from sim.model import needs_llm

    if not needs_llm(cfg):
        return
    from sim.llm.models import resolve

    try:
        resolve(cfg.llm.model)
    except ValueError as exc:
        raise UserError(f"{source}: llm.{exc}") from None


def start_llm(cfg: ScenarioConfig, ray_address: str | None = None) -> Any:
    """The replica pool for a scenario that needs one (imports Ray and torch only then).

    A ``ValueError`` from the pool (no CUDA device for ``device: cuda``, say) names the field;
    it becomes a one-line user error."""
    from sim.llm.pool import Pool

    try:
        return _start_pool(Pool, cfg, ray_address)
    except ValueError as exc:
        raise UserError(f"llm.{exc}") from None


def _start_pool(Pool: Any, cfg: ScenarioConfig, ray_address: str | None) -> Any:
    pool = Pool.start(
        replicas=cfg.llm.replicas,
        model=cfg.llm.model,
        device=cfg.llm.device,
        dtype=cfg.llm.dtype,
        ray_address=ray_address,
        max_batch_size=cfg.llm.max_batch_size,
        max_wait_ms=cfg.llm.max_wait_ms,
    )
    pool.deadline_s = cfg.llm.deadline_s
    return pool


def _execute(
    cfg: ScenarioConfig, run_dir: Path, store: Any, *, state: dict | None, ray_address: str | None
) -> None:
    from sim.model import MetaverseModel, needs_llm

    pool = start_llm(cfg, ray_address) if needs_llm(cfg) else None
    status = "failed"
    try:
        model = MetaverseModel(cfg, llm=pool, store=store, seed=cfg.run.seed)
        if state is not None:
            model.set_state(state)
        status = run_loop(model, run_dir / "checkpoints", every=cfg.run.checkpoint_every)
        if model.llm is not None:
            print(model.meter.usage.summary())
    finally:
        store.set_status(status)
        store.close()
        if pool is not None:
            pool.shutdown()


def run_loop(model: Any, checkpoints: Path, *, every: int) -> str:
    """Step ``model`` until it stops running; checkpoint every ``every`` ticks and at the end.

    Returns the run's status: ``finished``, or ``interrupted`` when SIGINT/SIGTERM arrived
    (the tick under way completes first).
    """
    with _stop_signals() as stop, _progress(model) as advance:
        while model.running:
            if stop():
                _checkpoint(model, checkpoints)
                return "interrupted"
            model.step()
            advance(model)
            if every and model.tick % every == 0 and model.running:
                _checkpoint(model, checkpoints)
    _checkpoint(model, checkpoints)
    return "finished"


def _checkpoint(model: Any, checkpoints: Path) -> None:
    """A checkpoint of the tick boundary, and the run's ``usage.json`` beside it (both atomic)."""
    save_checkpoint(checkpoints, model.tick, model.get_state())
    write_usage(checkpoints.parent / "usage.json", model.meter.usage.as_dict())


def write_usage(path: Path, usage: dict[str, Any]) -> None:
    """Write ``usage.json`` atomically (temp file, then rename)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(usage, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def _stop_signals() -> Iterator[Any]:
    """SIGINT/SIGTERM set a flag read at tick boundaries instead of raising mid-tick."""
    flag = {"stop": False}

    def handler(signum: int, frame: Any) -> None:
        flag["stop"] = True

    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Outside the main thread (e.g. a Ray task) signals cannot be caught: run without.
        with contextlib.suppress(ValueError):
            old[sig] = signal.signal(sig, handler)
    try:
        yield lambda: flag["stop"]
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


@contextlib.contextmanager
def _progress(model: Any) -> Iterator[Any]:
    """A rich progress bar on a terminal; nothing at all otherwise."""
    if not sys.stdout.isatty():
        yield lambda m: None
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    totals = {"trades": 0.0, "messages": 0.0}
    started = time.perf_counter()
    first = model.tick
    with Progress(
        TextColumn("tick {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("{task.fields[rate]:.2f} ticks/s  {task.fields[tps]:.0f} tok/s"),
        TextColumn("trades {task.fields[trades]:.0f}  messages {task.fields[messages]:.0f}"),
        TimeRemainingColumn(),
        transient=False,
    ) as bar:
        task = bar.add_task(
            "run", total=model.ticks, completed=model.tick, rate=0.0, tps=0.0, trades=0, messages=0
        )

        def advance(m: Any) -> None:
            met = m.last_metrics
            for k in totals:
                totals[k] += met.get(k, 0.0)
            elapsed = time.perf_counter() - started
            bar.update(
                task,
                completed=m.tick,
                rate=(m.tick - first) / elapsed if elapsed > 0 else 0.0,
                tps=met.get("llm.tokens_per_s", 0.0),
                trades=totals["trades"],
                messages=totals["messages"],
            )

        yield advance


def _new_run_dir(out: Path, cfg: ScenarioConfig) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{cfg.name}-{stamp}-s{cfg.run.seed}"
    out.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        run_dir = out / (base if n == 0 else f"{base}-{n}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        return run_dir
    raise UserError(f"{out}: cannot make a new run folder for {base}")
