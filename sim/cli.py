"""The ``mesaverse`` command line (Typer).

Each command is a thin shell: it parses flags and calls the module that does the work,
imported lazily so that ``mesaverse validate`` does not pay for torch or Ray. A
:class:`~sim.errors.UserError` anywhere becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from sim.errors import UserError, one_line

__all__ = ["app", "invoke", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="mesaverse: a distributed multi-agent metaverse simulation.",
)
bench_app = typer.Typer(
    no_args_is_help=True, help="Benchmarks: llm, sim, dashboard, eval, moderation, behaviour."
)
app.add_typer(bench_app, name="bench")


ConfigArg = Annotated[Path, typer.Argument(help="Scenario YAML file.")]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a config field: key.path=value (repeatable).")
]


@app.command()
def run(
    config: ConfigArg,
    ticks: Annotated[int | None, typer.Option(help="Number of ticks (overrides run.ticks).")] = None,
    seed: Annotated[int | None, typer.Option(help="Run seed (overrides run.seed).")] = None,
    set_: SetOpt = None,
    out: Annotated[Path, typer.Option(help="Folder that receives the run folder.")] = Path("runs"),
    replicas: Annotated[int | None, typer.Option(help="LLM replicas (default: one per GPU, else 1).")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu or cuda.")] = None,
    model: Annotated[
        str | None, typer.Option(help="smollm2-135m, a Hugging Face id or a local path.")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(envvar="RAY_ADDRESS", help="Attach to a running Ray cluster.")
    ] = None,
) -> None:
    """Run a scenario; prints the run folder on the last line of stdout."""
    from sim.runner import run_command

    run_command(
        config,
        ticks=ticks,
        seed=seed,
        overrides=set_ or [],
        out=out,
        replicas=replicas,
        device=device,
        model=model,
        ray_address=ray_address,
    )


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (runs/<run_id>).")],
    ticks: Annotated[int | None, typer.Option(help="Total ticks to reach (default: the run's own).")] = None,
    ray_address: Annotated[
        str | None, typer.Option(envvar="RAY_ADDRESS", help="Attach to a running Ray cluster.")
    ] = None,
    from_scratch: Annotated[
        bool,
        typer.Option(help="Delete the run's ticks and checkpoints and run it again from tick 0."),
    ] = False,
) -> None:
    """Continue a killed or interrupted run from its newest checkpoint (docs/simulation.md: the rules)."""
    from sim.runner import resume_command

    resume_command(run_dir, ticks=ticks, ray_address=ray_address, from_scratch=from_scratch)


@app.command()
def fork(
    run_dir: Annotated[Path, typer.Argument(help="The parent run folder (runs/<run_id>).")],
    at_tick: Annotated[int, typer.Option("--at-tick", help="The last tick shared with the parent.")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="A tick-safe change applied after --at-tick: key.path=value (repeatable)."
        ),
    ] = None,
    events: Annotated[Path | None, typer.Option(help="Events file (YAML list of {tick, type, ...}).")] = None,
    ticks: Annotated[
        int | None, typer.Option(help="Ticks to run after the fork point (default: to the parent's end).")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Folder that receives the fork (default: the parent's folder's parent)."),
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(envvar="RAY_ADDRESS", help="Attach to a running Ray cluster.")
    ] = None,
) -> None:
    """A what-if run: the parent's ticks 0..T, then changes, then on; prints the fork's folder."""
    from sim.whatif.fork import fork_command

    fork_command(
        run_dir,
        at_tick=at_tick,
        overrides=set_ or [],
        events_file=events,
        ticks=ticks,
        out=out,
        ray_address=ray_address,
    )


@app.command()
def inject(
    run_dir: Annotated[Path, typer.Argument(help="A running run's folder.")],
    file: Annotated[Path, typer.Argument(help="Events file (YAML list; tick optional: the next tick).")],
) -> None:
    """Queue events for a running run; it applies them at its next tick boundary."""
    from sim.whatif.inject import inject_command

    inject_command(run_dir, file)


@app.command()
def interview(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (finished or running).")],
    avatar: Annotated[str, typer.Argument(help="Avatar id or name.")],
    question: Annotated[str, typer.Argument(help="The question.")],
    device: Annotated[
        str | None, typer.Option(help="auto, cpu or cuda (default: the run's llm.device).")
    ] = None,
) -> None:
    """Ask an avatar a question; it answers in character from its last checkpoint (the run does not change)."""
    from sim.whatif.interview import interview_command

    interview_command(run_dir, avatar, question, device=device)


@app.command()
def validate(
    config: ConfigArg,
    set_: SetOpt = None,
    dump: Annotated[bool, typer.Option(help="Print the resolved config as YAML.")] = False,
) -> None:
    """Validate a scenario file; exit 0, or 2 with one line naming the file and field."""
    from sim.config import validate_command

    validate_command(config, overrides=set_ or [], dump=dump)


@app.command()
def moderate(
    file: Annotated[Path, typer.Argument(help="JSON lines: {text, sender, target}.")],
    config: Annotated[Path, typer.Option(help="Scenario whose moderation policy applies.")] = Path(
        "configs/moderation.yaml"
    ),
    eval_: Annotated[
        bool,
        typer.Option(
            "--eval", help="Score the verdicts against the lines' labels (overall and per category)."
        ),
    ] = False,
) -> None:
    """Apply a scenario's moderation policy offline: one verdict JSON line per message."""
    from sim.offline_moderation import moderate_command

    moderate_command(file, config=config, evaluate=eval_)


@app.command()
def dashboard(
    runs: Annotated[Path, typer.Option(help="Folder of run folders.")] = Path("runs"),
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    host: Annotated[str, typer.Option(help="Address to bind (default loopback only).")] = "127.0.0.1",
) -> None:
    """Serve the live dashboard (Streamlit)."""
    from dashboard.launch import dashboard_command

    dashboard_command(runs=runs, port=port, host=host)


@app.command(name="eval")
def eval_(
    sweep: Annotated[Path, typer.Argument(help="Sweep YAML file (configs/eval/).")],
    out: Annotated[Path | None, typer.Option(help="Evaluation folder (re-use it to resume).")] = None,
    ray_address: Annotated[
        str | None, typer.Option(envvar="RAY_ADDRESS", help="Attach to a running Ray cluster.")
    ] = None,
) -> None:
    """Run a sweep (scenarios x settings x seeds) and write results.parquet and a report."""
    from sim.evaluation.runner import eval_command

    eval_command(sweep, out=out, ray_address=ray_address)


@app.command(name="prepare-model")
def prepare_model(
    model: Annotated[str, typer.Option(help="Model spec to prepare.")] = "smollm2-135m",
) -> None:
    """Convert the embedded GGUF model once into the local safetensors cache."""
    from sim.llm.models import prepare_command

    prepare_command(model)


@bench_app.command(name="llm")
def bench_llm(
    agents: Annotated[int, typer.Option(help="Avatars in the workload.")] = 64,
    rounds: Annotated[int, typer.Option(help="Rounds (ticks).")] = 3,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
    replicas: Annotated[int | None, typer.Option(help="Pool replicas.")] = None,
    model: Annotated[str, typer.Option(help="Model spec.")] = "smollm2-135m",
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    engine_only: Annotated[
        bool, typer.Option(help="No Ray: time the engine alone (for machines without ray/mesa).")
    ] = False,
    random_weights: Annotated[
        str | None,
        typer.Option(
            help="Engine-only on a model built from a config with random weights: smollm2-135m or llama-1.7b."
        ),
    ] = None,
    batch: Annotated[int, typer.Option(help="Max batch size (engine and replicas).")] = 64,
    naive_rounds: Annotated[int, typer.Option(help="Rounds timed for the naive baseline.")] = 1,
    tokenizer: Annotated[str | None, typer.Option(help="Tokenizer folder (for --random-weights).")] = None,
    ray_address: Annotated[
        str | None, typer.Option(envvar="RAY_ADDRESS", help="Attach to a running Ray cluster.")
    ] = None,
) -> None:
    """LLM serving: naive one-at-a-time versus the batched, prefix-caching pool."""
    from sim.bench.llm import bench_llm_command

    bench_llm_command(
        agents=agents,
        rounds=rounds,
        json_path=json_path,
        replicas=replicas,
        model=model,
        device=device,
        engine_only=engine_only,
        random_weights=random_weights,
        batch=batch,
        ray_address=ray_address,
        naive_rounds=naive_rounds,
        tokenizer=tokenizer,
    )


@bench_app.command(name="sim")
def bench_sim(
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
    quick: Annotated[bool, typer.Option(help="Smaller sizes (a smoke run).")] = False,
) -> None:
    """Simulation: rule-only steps/s against Mesa, LLM decisions/s, tick time as LLM avatars double."""
    from sim.bench.sim import bench_sim_command

    bench_sim_command(json_path=json_path, quick=quick)


@bench_app.command(name="dashboard")
def bench_dashboard(
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
    events: Annotated[int, typer.Option(help="Events in the synthetic store.")] = 1_000_000,
) -> None:
    """Dashboard: time a live refresh on a large event store."""
    from sim.bench.dashboard import bench_dashboard_command

    bench_dashboard_command(json_path=json_path, events=events)


@bench_app.command(name="eval")
def bench_eval(
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
    runs: Annotated[int, typer.Option(help="Number of short runs.")] = 12,
) -> None:
    """Evaluation: runs sharing one pool in parallel versus one after another."""
    from sim.evaluation.bench import bench_eval_command

    bench_eval_command(json_path=json_path, runs=runs)


@bench_app.command(name="moderation")
def bench_moderation(
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
    messages: Annotated[int, typer.Option(help="Messages screened.")] = 100_000,
    config: Annotated[Path | None, typer.Option(help="Scenario whose rules run.")] = None,
) -> None:
    """Moderation: messages/s through the non-LLM rules (target >= 10,000/s)."""
    from sim.bench.moderation import bench_moderation_command

    bench_moderation_command(json_path=json_path, messages=messages, config=config)


@bench_app.command(name="behaviour")
def bench_behaviour(
    json_path: Annotated[Path | None, typer.Option("--json", help="Write the figures as JSON.")] = None,
    model: Annotated[str, typer.Option(help="Model spec (smollm2-135m, a Hugging Face id or a folder).")] = (
        "smollm2-135m"
    ),
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    ticks: Annotated[int, typer.Option(help="Ticks of the town run (part b).")] = 30,
    parts: Annotated[str, typer.Option(help="suite and/or town, comma-separated.")] = "suite,town",
    run_dir: Annotated[Path | None, typer.Option(help="Folder for the town run's event store.")] = None,
    store: Annotated[
        Path | None, typer.Option(help="Score this events.db for (b) and (c) instead of running the town.")
    ] = None,
) -> None:
    """Behaviour: clear-cut cases, the 30-tick town, and the quality of its speech."""
    from sim.bench.behaviour import bench_behaviour_command

    bench_behaviour_command(
        json_path=json_path,
        model=model,
        device=device,
        ticks=ticks,
        parts=parts,
        run_dir=run_dir,
        store=store,
    )


def invoke(argv: list[str] | None = None) -> int:
    """Run the CLI on ``argv`` and return its exit status (tests call this in-process).

    A user mistake is ONE line on stderr, ``error: <file, field or flag>: <what is wrong>``, status 2.
    """
    try:
        app(args=argv, standalone_mode=False, prog_name="mesaverse")
    except UserError as exc:
        typer.echo(f"error: {one_line(str(exc))}", err=True)
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("interrupted", err=True)
        return 130
    except BrokenPipeError:
        # The reader went away (``mesaverse moderate f | head``): not an error of ours, and no traceback.
        _silence_stdout()
        return 141
    except Exception as exc:
        # Usage errors (unknown flag, bad value) from Typer's click: one line, exit 2.
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            message = one_line(exc.format_message())
            if message:  # no_args_is_help has printed the help already
                typer.echo(f"error: {message}", err=True)
            return exc.exit_code if exc.exit_code else 2
        raise
    return 0


def _silence_stdout() -> None:
    import os

    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def main() -> None:
    """Console entry point: user mistakes exit 2 with one line, never a traceback."""
    sys.exit(invoke(sys.argv[1:]))


if __name__ == "__main__":
    main()
