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
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from sim.checkpoint import save_checkpoint
from sim.config import ScenarioConfig, dump_yaml, load_scenario
from sim.errors import UserError, one_line
from sim.quiet import RunLog, quiet_console

__all__ = ["check_out", "resume_command", "run_command", "run_loop", "start_llm"]


#: The flags of ``run`` that set a config field: an error in that field names the flag.
_RUN_FLAGS = (
    ("--ticks", "run.ticks"),
    ("--seed", "run.seed"),
    ("--replicas", "llm.replicas"),
    ("--device", "llm.device"),
    ("--model", "llm.model"),
)


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
    """Run a scenario into a new run folder; prints the folder as the last line of stdout.

    Everything a user can get wrong is checked before the folder exists: the config, the model name,
    ``--out``, and the pool (a ``device: cuda`` without a GPU). The folder is then made with its
    ``config.yaml`` and event store together, or not at all.
    """

    values = {"--ticks": ticks, "--seed": seed, "--replicas": replicas, "--device": device, "--model": model}
    extra = list(overrides)
    flags = {}
    for flag, key in _RUN_FLAGS:
        if values[flag] is not None:
            extra.append(f"{key}={values[flag]}")
            flags[key] = flag
    cfg = load_scenario(config, extra, flags)
    _check_model(cfg, config)  # before anything is written: a typo leaves no run folder behind
    out = Path(out)
    check_out(out)
    with quiet_console() as log:
        pool, (run_dir, store) = start_then(cfg, ray_address, lambda pool: _make_run_folder(out, cfg))
        _open_log(log, run_dir, pool)
        _execute(cfg, run_dir, store, state=None, pool=pool)
    print(run_dir)
    return run_dir


def _open_log(log: RunLog, run_dir: Path, pool: Any) -> None:
    """Third-party output goes to ``run.log``; it says where the replicas' own logs are."""
    log.open(run_dir / "run.log")
    if pool is not None:
        log.note(
            "the replicas' own output (weight loading, warnings) is in Ray's session logs: "
            "/tmp/ray/session_latest/logs on a local cluster"
        )


def resume_command(
    run_dir: str | Path,
    *,
    ticks: int | None = None,
    ray_address: str | None = None,
    from_scratch: bool = False,
) -> Path:
    """Continue a killed or interrupted run from its newest checkpoint, in the same folder.

    The rules (docs/simulation.md): one writer at a time (the run's writer lock); the folder's
    ``config.yaml`` must still be the config the run started with; only the ticks after the newest
    checkpoint are dropped (a killed run may have written part of them) and they are run again; with
    no usable checkpoint nothing is deleted unless ``from_scratch``. Every refusal happens before
    anything is written: the run's data and status stay as they were.
    """
    from sim.model import needs_llm
    from sim.store import EventStore, WriterLock

    run_dir = Path(run_dir)
    if not (run_dir / "config.yaml").is_file() or not (run_dir / "events.db").is_file():
        raise UserError(f"{run_dir}: not a run folder (needs config.yaml and events.db)")
    db = run_dir / "events.db"
    lock = WriterLock.acquire(db)
    try:
        plan = _plan_resume(run_dir, ticks=ticks, from_scratch=from_scratch)
        if plan is None:
            lock.release()
            print(run_dir)
            return run_dir
        cfg, state, model_factory = plan
        pool = start_llm(cfg, ray_address, quiet=True) if needs_llm(cfg) else None
    except BaseException:
        lock.release()
        raise
    try:
        store = EventStore.open(db, lock=lock)
    except BaseException:
        lock.release()
        if pool is not None:
            pool.shutdown()
        raise
    try:
        # Ticks after the checkpoint were (perhaps partly) written by the killed run: they are
        # dropped and run again, so each tick is in the log exactly once.
        store.truncate_after((state["tick"] if state else 0) - 1)
        if from_scratch:
            _drop_checkpoints(run_dir / "checkpoints")
        store.set_status("running")
    except BaseException:
        store.close()
        if pool is not None:
            pool.shutdown()
        raise
    with quiet_console() as log:
        _open_log(log, run_dir, pool)
        _execute(cfg, run_dir, store, state=state, pool=pool, model_factory=model_factory)
    print(run_dir)
    return run_dir


def _stored_run(db: Path) -> dict[str, Any]:
    """The run's row, read read-only: status, last tick, the config it started with."""
    import json

    from sim.store import connect_readonly

    conn = connect_readonly(db)
    try:
        row = conn.execute("SELECT status, last_tick, config_json FROM runs").fetchone()
    except Exception as exc:
        raise UserError(f"{db}: unreadable run record ({one_line(str(exc), 120)})") from None
    finally:
        conn.close()
    if row is None:
        raise UserError(f"{db}: the runs table is empty")
    try:
        config = json.loads(row[2])
    except ValueError:
        raise UserError(f"{db}: the stored config is not valid JSON") from None
    return {"status": row[0], "last_tick": row[1], "config": config}


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The dotted path of the first field where ``a`` and ``b`` differ (None if equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{path}{key}"
            found = _first_difference(a[key], b[key], f"{path}{key}.")
            if found is not None:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            found = _first_difference(x, y, f"{path}{i}.")
            if found is not None:
                return found
        return None
    return None if a == b else path.rstrip(".") or "(root)"


def _plan_resume(
    run_dir: Path, *, ticks: int | None, from_scratch: bool
) -> tuple[ScenarioConfig, dict | None, Any] | None:
    """Check everything a resume needs without writing; None when the run has nothing left to do."""
    from sim.checkpoint import CheckpointError, newest_checkpoint, read_checkpoint
    from sim.model import MetaverseModel, needs_llm

    config_file = run_dir / "config.yaml"
    stored = _stored_run(run_dir / "events.db")
    cfg = load_scenario(config_file)
    edited = _first_difference(_without_ticks(stored["config"]), _without_ticks(cfg.model_dump(mode="json")))
    if edited is not None:
        raise UserError(
            f"{config_file}: {edited}: differs from the config the run started with"
            " (a run continues only with its own config; start a new run, or fork one)"
        )
    if ticks is not None:
        cfg = load_scenario(config_file, [f"run.ticks={ticks}"], {"run.ticks": "--ticks"})
    last_tick = stored["last_tick"]
    written = 0 if last_tick is None else last_tick + 1  # ticks in the store
    state: dict | None = None
    ckpt: Path | None = None
    if not from_scratch:
        ckpt = newest_checkpoint(run_dir / "checkpoints")
        if ckpt is None and written:
            raise UserError(
                f"{run_dir / 'checkpoints'}: no checkpoint to resume from, and the store holds ticks"
                f" 0..{last_tick}: pass --from-scratch to delete them and run again from tick 0"
            )
        if ckpt is not None:
            try:
                state = read_checkpoint(ckpt)
            except CheckpointError as exc:
                raise UserError(
                    f"{ckpt}: {exc}; move it away to resume from an older checkpoint, or pass --from-scratch"
                ) from None
            if state["tick"] > written:
                raise UserError(
                    f"{ckpt}: checkpoint of tick {state['tick']} is ahead of the store, which ends at"
                    f" tick {last_tick}: not this run's checkpoint"
                )
    at = state["tick"] if state else 0
    if cfg.run.ticks < at:
        raise UserError(
            f"--ticks: {cfg.run.ticks} is before the checkpoint's tick {at} (a run cannot shrink)"
        )
    if stored["status"] == "finished" and state is not None and at == written and cfg.run.ticks <= at:
        print(
            f"{run_dir}: finished at tick {at}; nothing to resume (pass --ticks N to go further)",
            file=sys.stderr,
        )
        return None

    def make_model(pool: Any, store: Any) -> Any:
        """The model of the resumed run, restored from ``state`` (validated already)."""
        from sim.whatif.inject import replay_applied
        from sim.whatif.interventions import restore

        model = MetaverseModel(cfg, llm=pool, store=store if state is None else None, seed=cfg.run.seed)
        if state is not None:
            restore(model, state)  # model.set_state, with what-if changes (sim.whatif)
            model.store = store  # attached after the restore: the avatars are registered already
        replay_applied(model, run_dir, since=at)  # injections read after the checkpoint: read again
        return model

    if state is not None:
        # Restore the checkpoint once on a throw-away model now, before anything is truncated: a
        # damaged or tampered checkpoint is refused while the run's data is still whole.
        _validate_checkpoint(cfg, state, ckpt, needs_llm(cfg))
    return cfg, state, make_model


def _validate_checkpoint(cfg: ScenarioConfig, state: dict, ckpt: Path | None, llm: bool) -> None:
    from sim.model import MetaverseModel

    try:
        from sim.whatif.interventions import restore

        model = MetaverseModel(cfg, llm=_Unused() if llm else None, store=None, seed=cfg.run.seed)
        restore(model, state)
        model.world.ledger.check()  # coins and goods balance, every trade has both legs
    except Exception as exc:
        raise UserError(f"{ckpt}: not a valid checkpoint of this run ({type(exc).__name__}: {exc})") from None


class _Unused:
    """A language model that is never asked (checkpoint validation builds a model without a pool)."""

    def generate(self, requests: Any) -> Any:
        raise RuntimeError("no model during checkpoint validation")

    def choose(self, requests: Any) -> Any:
        raise RuntimeError("no model during checkpoint validation")


def _without_ticks(config: dict) -> dict:
    """A config without ``run.ticks``, which resume may extend (``--ticks``)."""
    out = dict(config)
    if isinstance(out.get("run"), dict):
        out["run"] = {k: v for k, v in out["run"].items() if k != "ticks"}
    return out


def _drop_checkpoints(folder: Path) -> None:
    from sim.checkpoint import checkpoint_files

    for path in checkpoint_files(folder):
        path.unlink(missing_ok=True)


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


T = TypeVar("T")


def start_then(cfg: ScenarioConfig, ray_address: str | None, prepare: Callable[[Any], T]) -> tuple[Any, T]:
    """The scenario's pool (None without LLM avatars, quiet) and ``prepare(pool)``; the pool is
    shut down when ``prepare`` fails (a run or fork folder that could not be made)."""
    from sim.model import needs_llm

    pool = start_llm(cfg, ray_address, quiet=True) if needs_llm(cfg) else None
    try:
        return pool, prepare(pool)
    except BaseException:
        if pool is not None:
            pool.shutdown()
        raise


def start_llm(cfg: ScenarioConfig, ray_address: str | None = None, *, quiet: bool = False) -> Any:
    """The replica pool for a scenario that needs one (imports Ray and torch only then).

    A ``ValueError`` from the pool (no CUDA device for ``device: cuda``, say) names the field;
    it becomes a one-line user error."""
    from sim.llm.pool import Pool

    try:
        return _start_pool(Pool, cfg, ray_address, quiet)
    except ValueError as exc:
        raise UserError(f"llm.{exc}") from None


def _start_pool(Pool: Any, cfg: ScenarioConfig, ray_address: str | None, quiet: bool = False) -> Any:
    pool = Pool.start(
        replicas=cfg.llm.replicas,
        model=cfg.llm.model,
        device=cfg.llm.device,
        dtype=cfg.llm.dtype,
        ray_address=ray_address,
        max_batch_size=cfg.llm.max_batch_size,
        max_wait_ms=cfg.llm.max_wait_ms,
        prefix_cache_mb=cfg.llm.prefix_cache_mb,
        log_to_driver=not quiet,
    )
    pool.deadline_s = cfg.llm.deadline_s
    return pool


def _execute(
    cfg: ScenarioConfig,
    run_dir: Path,
    store: Any,
    *,
    state: dict | None,
    pool: Any = None,
    model_factory: Any = None,
) -> None:
    """Build the model (a fresh one, or ``model_factory``'s restored one), run it, record the status."""
    from sim.model import MetaverseModel

    status = "failed"
    try:
        if model_factory is not None:
            model = model_factory(pool, store)
        else:
            model = MetaverseModel(cfg, llm=pool, store=store, seed=cfg.run.seed)
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
    from sim.whatif.interventions import at_boundary

    with _stop_signals() as stop, _progress(model) as advance:
        while model.running:
            if stop():
                _checkpoint(model, checkpoints)
                return "interrupted"
            at_boundary(model, checkpoints.parent)  # what-if events due now, injections queued (sim.whatif)
            model.step()
            advance(model)
            if every and model.tick % every == 0 and model.running:
                _checkpoint(model, checkpoints)
    _checkpoint(model, checkpoints)
    return "finished"


def _checkpoint(model: Any, checkpoints: Path) -> None:
    """A checkpoint of the tick boundary, and the run's ``usage.json`` beside it (both atomic)."""
    state = model.get_state()
    whatif = getattr(model, "whatif", None)
    if whatif is not None:  # events and changes of sim.whatif: resume and forks reapply them
        state["whatif"] = whatif.get_state()
    save_checkpoint(checkpoints, model.tick, state)
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


def check_out(out: Path, flag: str = "--out") -> None:
    """``--out`` is a folder we can write into, or can be made (nothing is created here)."""
    probe = out
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe == out and not out.is_dir():
        raise UserError(f"{flag}: {out} is not a folder")
    if not probe.is_dir():
        raise UserError(f"{flag}: {out}: {probe} is not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{flag}: {out}: {probe} is not writable")


def _make_dirs(folder: Path) -> list[Path]:
    """``mkdir -p`` that returns the folders it made (to remove them again if the run cannot start)."""
    missing = []
    probe = folder
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for path in reversed(missing):
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            _remove_empty(missing)
            raise UserError(f"--out: cannot create {path}: {exc.strerror or exc}") from None
    return missing


def _remove_empty(folders: list[Path]) -> None:
    for path in folders:  # deepest first
        with contextlib.suppress(OSError):
            path.rmdir()


def _make_run_folder(out: Path, cfg: ScenarioConfig) -> tuple[Path, Any]:
    """A new run folder inside ``out`` holding ``config.yaml`` and a new event store, or nothing at all."""
    import shutil
    import sqlite3

    from sim.store import EventStore

    made = _make_dirs(out)
    try:
        run_dir = _new_run_dir(out, cfg)
    except BaseException:
        _remove_empty(made)
        raise
    try:
        # The name is a slug (config validation), so this holds; checked anyway: never write outside --out.
        if run_dir.resolve().parent != out.resolve():
            raise UserError(f"name: run folder {run_dir} would lie outside --out {out}")
        (run_dir / "config.yaml").write_text(dump_yaml(cfg), encoding="utf-8")
        store = EventStore.create(
            run_dir / "events.db",
            run_id=run_dir.name,
            scenario=cfg.name,
            seed=cfg.run.seed,
            config=cfg.model_dump(mode="json"),
        )
    except BaseException as exc:
        shutil.rmtree(run_dir, ignore_errors=True)
        _remove_empty(made)
        if isinstance(exc, OSError | sqlite3.Error):
            raise UserError(
                f"--out: cannot write the run folder {run_dir}: {one_line(str(exc), 160)}"
            ) from None
        raise
    return run_dir, store


def _new_run_dir(out: Path, cfg: ScenarioConfig) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    base = f"{cfg.name}-{stamp}-s{cfg.run.seed}"
    for n in range(1000):
        run_dir = out / (base if n == 0 else f"{base}-{n}")
        try:
            run_dir.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise UserError(f"--out: cannot create a run folder in {out}: {exc.strerror or exc}") from None
        return run_dir
    raise UserError(f"{out}: cannot make a new run folder for {base}")
