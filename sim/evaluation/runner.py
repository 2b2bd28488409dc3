"""``mesaverse eval SWEEP``: every (scenario, setting, seed) as its own simulation, in parallel, resumable.

Each run is a Ray task that receives the one LLM pool of the evaluation (the pool is picklable: it
carries actor handles), so the requests of concurrent runs meet in the same replicas and are batched
together. A task runs the simulation, then the survey and the model-judged metrics, then summarises
the run's event store, and writes its result record (``result.json``) itself, atomically.

The evaluation folder::

    OUT/sweep.yaml                 a copy of the sweep, for the record
    OUT/runs/<key>/started         written when a run starts
    OUT/runs/<key>/result.json     status (finished|failed), error, wall time, every summary metric
    OUT/runs/<key>/...             the run itself (events.db, config.yaml, checkpoints/)
    OUT/results.parquet, OUT/report.md, OUT/report.html, OUT/plots/

Resuming is re-running with the same folder: a run whose ``result.json`` says finished is skipped;
any other run folder (killed midway, or failed) is removed and the run done again from the start.
A run's key encodes its scenario, overrides, seed and ticks, so a changed sweep never reuses a stale
run. A failed run is recorded with its error (one line) and never stops the others.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agents.lm import LanguageModel
from sim.errors import UserError
from sim.evaluation.metrics import LLM_METRICS, load_log, summarize
from sim.evaluation.report import results_frame, write_report, write_results
from sim.evaluation.sweep import RunSpec, Sweep, expand, load_sweep

__all__ = [
    "SimulateFn",
    "eval_command",
    "execute_run",
    "read_result",
    "run_sweep",
    "simulate_scenario",
]

#: Runs one simulation of ``spec`` inside ``run_dir`` with the shared model; returns its ``events.db``.
SimulateFn = Callable[[RunSpec, Path, LanguageModel | None], Path]

RESULT, STARTED = "result.json", "started"


def simulate_scenario(spec: RunSpec, run_dir: Path, lm: LanguageModel | None) -> Path:
    """The real path: the scenario with the run's overrides, seed and ticks, run with the shared pool.

    The same run folder as ``mesaverse run`` makes (config.yaml, events.db, checkpoints/), built from
    the runner's own parts; only the pool differs: the evaluation's, shared, instead of one per run.
    """
    from sim.config import dump_yaml, load_scenario
    from sim.model import MetaverseModel, needs_llm
    from sim.runner import run_loop
    from sim.store import EventStore

    cfg = load_scenario(spec.scenario, [*spec.overrides, f"run.seed={spec.seed}", f"run.ticks={spec.ticks}"])
    (run_dir / "config.yaml").write_text(dump_yaml(cfg), encoding="utf-8")
    db = run_dir / "events.db"
    store = EventStore.create(
        db, run_id=spec.key, scenario=cfg.name, seed=cfg.run.seed, config=cfg.model_dump(mode="json")
    )
    status = "failed"
    try:
        model = MetaverseModel(cfg, llm=lm if needs_llm(cfg) else None, store=store, seed=cfg.run.seed)
        status = run_loop(model, run_dir / "checkpoints", every=cfg.run.checkpoint_every)
    finally:
        store.set_status(status)
        store.close()
    if status != "finished":
        raise RuntimeError(f"run stopped early ({status})")
    return db


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomic write (temp file, then rename): a killed run never leaves a half-written result."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=True))
    os.replace(tmp, path)


def read_result(run_dir: Path) -> dict[str, Any] | None:
    """A run's result record, or None if it never finished writing one."""
    try:
        return json.loads((run_dir / RESULT).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return text if type(exc).__name__ == "UserError" else f"{type(exc).__name__}: {text}"


def execute_run(
    spec: RunSpec,
    run_dir: Path,
    lm: LanguageModel | None,
    sweep: Sweep,
    simulate: SimulateFn = simulate_scenario,
) -> dict[str, Any]:
    """Run one simulation, its survey and its metrics; write and return its result record.

    Never raises for a failure of the run: the error becomes the record (status ``failed``), with the
    traceback beside it in ``error.txt``, so one bad run never stops an evaluation.
    """
    from sim.evaluation import judge

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / STARTED).write_text(str(os.getpid()))
    start = time.monotonic()
    record: dict[str, Any] = {"spec": spec.to_json()}
    try:
        db = Path(simulate(spec, run_dir, lm))
        if sweep.survey and lm is not None:
            judge.run_survey(db, sweep.survey, lm, spec.seed)
        log = load_log(db)
        metrics = summarize(log)
        if "dialogue.persona_consistency" in sweep.metrics and lm is not None:
            metrics["dialogue.persona_consistency"] = judge.persona_consistency(
                log, lm, samples=sweep.persona_samples, run_seed=spec.seed
            )
        record.update(status="finished", error="", metrics=metrics)
    except Exception as exc:  # a failed run is a result, not a crash of the evaluation
        record.update(status="failed", error=_one_line(exc), metrics={})
        (run_dir / "error.txt").write_text(traceback.format_exc())
    record["wall_s"] = time.monotonic() - start
    _write_json(run_dir / RESULT, record)
    return record


class _Progress:
    """Progress over runs on stderr: done, running, failed, and the time left.

    A live bar on a terminal; elsewhere (a log file, CI) one plain line per finished run, since a
    live bar only draws on a terminal.
    """

    def __init__(self, total: int, done: int, enabled: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        console = Console(stderr=True)
        self._total, self._started = total, time.monotonic()
        self._first_done = done
        self._plain = enabled and not console.is_terminal
        self._bar = Progress(
            TextColumn("eval"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            disable=not enabled or self._plain,
        )
        self._task = self._bar.add_task("eval", total=total, completed=done, counts="")
        self._bar.start()

    def update(self, done: int, running: int, failed: int, finished: str | None = None) -> None:
        counts = f"done {done} · running {running} · failed {failed}"
        self._bar.update(self._task, completed=done, counts=counts)
        if self._plain and finished is not None:
            new = done - self._first_done
            rate = new / max(time.monotonic() - self._started, 1e-9)
            eta = (self._total - done) / rate if rate > 0 else float("nan")
            print(f"eval {done}/{self._total} ({finished}) {counts} · ETA {eta:.0f} s", file=sys.stderr)

    def close(self) -> None:
        self._bar.stop()


def _prepare(specs: Sequence[RunSpec], runs_dir: Path) -> tuple[list[RunSpec], int]:
    """Runs still to do (unfinished folders cleared), and how many earlier runs already finished."""
    todo, finished = [], 0
    for spec in specs:
        run_dir = runs_dir / spec.key
        result = read_result(run_dir)
        if result is not None and result.get("status") == "finished":
            finished += 1
            continue
        if run_dir.exists():
            shutil.rmtree(run_dir)  # a killed or failed run starts again from scratch
        todo.append(spec)
    return todo, finished


def _dispatch_inline(
    todo: Sequence[RunSpec],
    runs_dir: Path,
    lm: LanguageModel | None,
    sweep: Sweep,
    simulate: SimulateFn,
    tick: Callable[[dict | None, int], None],
) -> None:
    for spec in todo:
        tick(None, 1)
        tick(execute_run(spec, runs_dir / spec.key, lm, sweep, simulate), 0)


def _dispatch_ray(
    todo: Sequence[RunSpec],
    runs_dir: Path,
    lm: LanguageModel | None,
    sweep: Sweep,
    simulate: SimulateFn,
    tick: Callable[[dict | None, int], None],
) -> None:
    """Ray tasks, at most ``sweep.parallel`` in flight; a task that dies is recorded as failed."""
    import ray

    # max_retries=0: a run that crashed its worker is a result to report, not to repeat silently.
    task = ray.remote(num_cpus=sweep.task_cpus, max_retries=0)(execute_run)
    queue = list(todo)
    inflight: dict[Any, RunSpec] = {}
    while queue or inflight:
        while queue and len(inflight) < sweep.parallel:
            spec = queue.pop(0)
            inflight[task.remote(spec, runs_dir / spec.key, lm, sweep, simulate)] = spec
        ready, _ = ray.wait(list(inflight), num_returns=1, timeout=1.0)
        records = []
        for ref in ready:
            spec = inflight.pop(ref)
            try:
                record = ray.get(ref)
            except Exception as exc:  # the worker died (killed, out of memory): record it ourselves
                record = {"spec": spec.to_json(), "status": "failed", "error": _one_line(exc), "metrics": {}}
                (runs_dir / spec.key).mkdir(parents=True, exist_ok=True)
                _write_json(runs_dir / spec.key / RESULT, record)
            records.append(record)
        running = sum((runs_dir / s.key / STARTED).exists() for s in inflight.values())
        for record in records:
            tick(record, running)
        tick(None, running)


def run_sweep(
    sweep_path: str | Path,
    out: str | Path,
    *,
    lm: LanguageModel | None = None,
    simulate: SimulateFn = simulate_scenario,
    backend: str = "ray",
    progress: bool = True,
    telemetry: Callable[[], dict] | None = None,
) -> Any:
    """Run (or resume) a sweep into ``out``; write results.parquet and the reports; return the frame.

    ``backend`` is ``"ray"`` (each run a Ray task; Ray must be initialised) or ``"inline"`` (one
    after another in this process: for tests and for machines without Ray).
    """
    sweep_path, out = Path(sweep_path), Path(out)
    sweep = load_sweep(sweep_path)
    specs = expand(sweep, sweep_path)
    runs_dir = out / "runs"
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sweep_path, out / "sweep.yaml")
    except OSError as exc:
        raise UserError(f"--out: cannot write the evaluation folder {out}: {exc.strerror or exc}") from None
    todo, finished_before = _prepare(specs, runs_dir)

    started = time.monotonic()
    bar = _Progress(len(specs), finished_before, progress)
    counts = {"done": finished_before, "failed": 0, "running": 0}

    def tick(record: dict | None, running: int) -> None:
        if record is not None:
            counts["done"] += 1
            counts["failed"] += record.get("status") == "failed"
        counts["running"] = running
        finished = None if record is None else f"{record['spec']['key']} {record.get('status')}"
        bar.update(counts["done"], counts["running"], counts["failed"], finished)

    try:
        dispatch = {"ray": _dispatch_ray, "inline": _dispatch_inline}[backend]
        dispatch(todo, runs_dir, lm, sweep, simulate, tick)
    finally:
        bar.close()

    records = [read_result(runs_dir / s.key) or {"spec": s.to_json(), "status": "missing"} for s in specs]
    frame = results_frame(records)
    write_results(frame, out / "results.parquet")
    write_report(
        frame,
        sweep,
        out,
        telemetry=telemetry() if telemetry else None,
        wall_s=time.monotonic() - started,
    )
    return frame


def _start_pool(ray_address: str | None, sweep: Sweep, llm: dict[str, Any]) -> Any:
    """Start Ray (or attach) and the one pool every run of the sweep shares.

    Run tasks mostly wait on the pool, which does the heavy work, so each gets a fraction of a CPU
    (``task_cpus``). A local cluster counts those on top of the machine's cores, and a CPU replica is
    given the real cores for its torch threads, so a replica holding every core still leaves room
    for ``parallel`` runs (Ray would otherwise hand it the extra logical CPUs as threads too).
    """
    from sim.llm.pool import Pool, ensure_ray

    cores = os.cpu_count() or 1
    ensure_ray(ray_address, num_cpus=cores + math.ceil(sweep.parallel * sweep.task_cpus))
    replicas = sweep.llm.replicas or llm.get("replicas")
    return Pool.start(
        replicas=replicas,
        model=sweep.llm.model or llm.get("model") or "smollm2-135m",
        device=sweep.llm.device or llm.get("device") or "auto",
        ray_address=ray_address,
        cpus_per_replica=max(1, cores // (replicas or 1)),
    )


def _needs_pool(sweep: Sweep, specs: Sequence[RunSpec]) -> bool:
    """Whether any of ``specs``, the survey or a judged metric needs the model (rule-only: no pool)."""
    from sim.config import load_scenario
    from sim.model import needs_llm

    if sweep.survey or any(m in LLM_METRICS for m in sweep.metrics):
        return True
    for spec in specs:
        try:
            if needs_llm(load_scenario(spec.scenario, list(spec.overrides))):
                return True
        except UserError:
            continue  # that run fails on its own and is reported
    return False


def eval_command(sweep: Path, out: Path | None = None, ray_address: str | None = None) -> None:
    """CLI: run a sweep with one shared pool; prints the report path on the last line of stdout."""
    import ray

    from sim.errors import load_user_yaml
    from sim.llm.pool import ensure_ray
    from sim.runner import check_out

    parsed = load_sweep(sweep)
    out = out or Path("evals") / parsed.name
    check_out(out)
    # Each scenario file must be readable YAML: a mistake in the sweep, not a failed run. (A bad
    # override value is one run's failure, recorded with the others, as the design says.)
    for scenario in sorted({s.scenario for s in expand(parsed, sweep)}):
        load_user_yaml(scenario, what="scenario file")
    # Only the runs still to do decide whether the model is needed (a finished sweep just re-reports).
    pending = [
        s
        for s in expand(parsed, sweep)
        if (read_result(out / "runs" / s.key) or {}).get("status") != "finished"
    ]
    if not pending:  # nothing to run: rebuild results and report without starting Ray
        frame = run_sweep(sweep, out, backend="inline")
    else:
        pool = None
        if _needs_pool(parsed, pending):
            pool = _start_pool(ray_address, parsed, _scenario_llm(parsed, sweep))
        else:
            ensure_ray(ray_address, num_cpus=os.cpu_count() or 1)
        try:
            telemetry = pool.telemetry if pool is not None else None
            frame = run_sweep(sweep, out, lm=pool, backend="ray", telemetry=telemetry)
        finally:
            if pool is not None:
                pool.shutdown()
            ray.shutdown()
    failed = int((frame["status"] != "finished").sum())
    print(f"{len(frame) - failed} runs finished, {failed} failed; results in {out / 'results.parquet'}")
    print(out / "report.html")


def _scenario_llm(sweep: Sweep, sweep_path: Path) -> dict[str, Any]:
    """The first scenario's ``llm`` section: the pool's defaults when the sweep does not say."""
    from sim.config import load_scenario

    specs = expand(sweep, sweep_path)
    try:
        cfg = load_scenario(specs[0].scenario, list(specs[0].overrides))
    except UserError:
        return {}  # that run will fail and be reported; the pool still serves the others
    return cfg.llm.model_dump()
