"""The hostile-input suite: careless and hostile use of every command ends in ONE line and exit 2.

Each case runs the real CLI (``sim.cli.invoke``, the function ``mesaverse`` calls, in-process for speed)
inside a sandbox folder that is the working directory, and asserts:

- exit status 2, and stderr is exactly one line ``error: ...`` naming the file, field or flag;
- no traceback, nothing on stdout that claims success;
- the sandbox is byte-for-byte what it was: no folder left behind, no file written (so none outside
  ``--out`` either), and for ``resume`` the run's files hash the same (data and status unchanged).

A few cases run as real subprocesses (exit codes as a shell sees them), and one resumes a run that a
live process is still writing (the writer lock).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_common import BOLTZMANN, MODERATION, TOWN, _flow_bomb, _refused, _tree

# (id, arguments, text the error line must contain). {in} is the inputs folder, {out} an output
# folder that does not exist yet; every other path is relative to the sandbox.
CASES: list[tuple[str, list[str], str]] = [
    # -- validate: files --------------------------------------------------------------------------
    ("validate-binary", ["validate", "{in}/binary.yaml"], "binary.yaml: binary data"),
    ("validate-latin1", ["validate", "{in}/latin1.yaml"], "latin1.yaml: not UTF-8 text (byte 0xe9"),
    ("validate-empty", ["validate", "{in}/empty.yaml"], "empty.yaml: empty scenario file"),
    ("validate-comments", ["validate", "{in}/comments.yaml"], "comments.yaml: empty scenario file"),
    ("validate-dup", ["validate", "{in}/dup.yaml"], "dup.yaml: line 2, column 1: duplicate key 'name'"),
    ("validate-dup-nested", ["validate", "{in}/dup_nested.yaml"], "duplicate key 'ticks'"),
    ("validate-bomb", ["validate", "{in}/bomb.yaml"], "bomb.yaml: YAML aliases expand to more than"),
    ("validate-recursive", ["validate", "{in}/recursive.yaml"], "recursive.yaml: an alias refers"),
    ("validate-huge", ["validate", "{in}/huge.yaml"], "huge.yaml: larger than 1,048,576 bytes"),
    ("validate-list", ["validate", "{in}/list.yaml"], "list.yaml: (root): must be a mapping"),
    ("validate-syntax", ["validate", "{in}/syntax.yaml"], "syntax.yaml: line 2, column 1: YAML syntax error"),
    ("validate-two-docs", ["validate", "{in}/two_docs.yaml"], "two_docs.yaml: line 2, column 1: YAML syntax"),
    ("validate-missing", ["validate", "{in}/nope.yaml"], "nope.yaml: file not found"),
    ("validate-folder", ["validate", "{in}"], "is a folder, not a scenario file"),
    # -- validate: fields ----------------------------------------------------------------------------
    (
        "validate-slash-name",
        ["validate", "{in}/slash_name.yaml"],
        "slash_name.yaml: name: must be a short slug",
    ),
    ("validate-escape-name", ["validate", "{in}/escape_name.yaml"], "name: must be a short slug"),
    ("validate-long-name", ["validate", "{in}/long_name.yaml"], "long_name.yaml: name: must be a short slug"),
    ("validate-newline-name", ["validate", "{in}/newline_name.yaml"], "name: must be a short slug"),
    ("validate-inf", ["validate", "{in}/inf.yaml"], "economy.endowment.coin.value: must be a finite number"),
    ("validate-nan", ["validate", "{in}/nan.yaml"], "economy.endowment.coin.std: must be a finite number"),
    ("validate-wide", ["validate", "{in}/wide.yaml"], "world.width: must be at most 10,000"),
    ("validate-cells", ["validate", "{in}/cells.yaml"], "world.width: a 1000x1000 grid has 1,000,000 cells"),
    ("validate-crowd", ["validate", "{in}/crowd.yaml"], "population.count: must be at most 100,000"),
    ("validate-seed", ["validate", "{in}/seed.yaml"], "run.seed: must be at least 0"),
    (
        "validate-big-seed",
        ["validate", "{in}/big_seed.yaml"],
        "run.seed: must be at most 9,223,372,036,854,775,807",
    ),
    ("validate-ticks", ["validate", "{in}/ticks.yaml"], "run.ticks: must be at most 1,000,000"),
    ("validate-unknown", ["validate", "{in}/unknown.yaml"], "economy.taxrate: unknown field"),
    ("validate-tax", ["validate", "{in}/tax.yaml"], "economy.tax_rate: must be between 0 and 1"),
    (
        "validate-description",
        ["validate", "{in}/description.yaml"],
        "description: is too long (at most 4,000",
    ),
    ("validate-place-name", ["validate", "{in}/place.yaml"], "is too long (at most 100 characters)"),
    (
        "validate-roles",
        ["validate", "{in}/roles.yaml"],
        "population.count: 50 disagrees with the roles' fixed counts",
    ),
    (
        "validate-town-4000",
        ["validate", TOWN, "--set", "population.count=4000"],
        "population.count: 4000 disagrees with the roles' fixed counts, which add up to 12",
    ),
    (
        "validate-set-syntax",
        ["validate", BOLTZMANN, "--set", "run.ticks"],
        "--set run.ticks: expected key.path=value",
    ),
    (
        "validate-set-yaml",
        ["validate", BOLTZMANN, "--set", "run.ticks=[1"],
        "--set run.ticks=[1: value is not valid",
    ),
    (
        "validate-set-bomb",
        ["validate", BOLTZMANN, "--set", f"description={_flow_bomb()}"],
        "--set description=",
    ),
    (
        "validate-set-seed",
        ["validate", BOLTZMANN, "--set", "run.seed=1.5"],
        "run.seed: must be a whole number",
    ),
    (
        "validate-set-inf",
        ["validate", BOLTZMANN, "--set", "economy.tax_rate=.nan"],
        "economy.tax_rate: must be a finite",
    ),
    # -- run ---------------------------------------------------------------------------------------
    ("run-binary", ["run", "{in}/binary.yaml", "--out", "{out}"], "binary.yaml: binary data"),
    ("run-bomb", ["run", "{in}/bomb.yaml", "--out", "{out}"], "bomb.yaml: YAML aliases expand"),
    ("run-escape-name", ["run", "{in}/escape_name.yaml", "--out", "{out}"], "name: must be a short slug"),
    (
        "run-seed-negative",
        ["run", BOLTZMANN, "--seed", "-1", "--out", "{out}"],
        "--seed: run.seed: must be at least 0",
    ),
    (
        "run-seed-64bit",
        ["run", BOLTZMANN, "--seed", str(2**64), "--out", "{out}"],
        "--seed: run.seed: must be at most",
    ),
    ("run-seed-text", ["run", BOLTZMANN, "--seed", "abc", "--out", "{out}"], "'--seed'"),
    (
        "run-ticks-negative",
        ["run", BOLTZMANN, "--ticks", "-1", "--out", "{out}"],
        "--ticks: run.ticks: must be at least 0",
    ),
    (
        "run-ticks-huge",
        ["run", BOLTZMANN, "--ticks", "10000000", "--out", "{out}"],
        "--ticks: run.ticks: must be at most",
    ),
    (
        "run-replicas-zero",
        ["run", BOLTZMANN, "--replicas", "0", "--out", "{out}"],
        "--replicas: llm.replicas: must be at least 1",
    ),
    ("run-device", ["run", BOLTZMANN, "--device", "tpu", "--out", "{out}"], "--device: llm.device: must be"),
    (
        "run-crowd",
        ["run", BOLTZMANN, "--set", "population.count=1000000000", "--out", "{out}"],
        "population.count: must be at most 100,000",
    ),
    (
        "run-wide",
        ["run", BOLTZMANN, "--set", "world.width=100000", "--set", "world.height=100000", "--out", "{out}"],
        "world.width: must be at most",
    ),
    (
        "run-inf",
        ["run", BOLTZMANN, "--set", "economy.endowment.coin=.inf", "--out", "{out}"],
        "must be a finite number",
    ),
    (
        "run-town-4000",
        ["run", TOWN, "--set", "population.count=4000", "--out", "{out}"],
        "population.count: 4000 disagrees",
    ),
    ("run-out-file", ["run", BOLTZMANN, "--out", "{in}/a_file"], "--out: "),
    ("run-out-under-file", ["run", BOLTZMANN, "--out", "{in}/a_file/sub"], "a_file is not a folder"),
    (
        "run-out-proc",
        ["run", BOLTZMANN, "--out", "/proc/mesaverse-nope"],
        "--out: cannot create /proc/mesaverse-nope",
    ),
    ("run-missing", ["run", "{in}/nope.yaml", "--out", "{out}"], "nope.yaml: file not found"),
    # -- moderate ------------------------------------------------------------------------------------
    (
        "moderate-binary",
        ["moderate", "{in}/messages_binary.jsonl", "--config", MODERATION],
        "messages_binary.jsonl: line 2: binary data",
    ),
    (
        "moderate-latin1",
        ["moderate", "{in}/latin1.yaml", "--config", MODERATION],
        "latin1.yaml: line 1: not UTF-8",
    ),
    (
        "moderate-missing",
        ["moderate", "{in}/nope.jsonl", "--config", MODERATION],
        "nope.jsonl: file not found",
    ),
    ("moderate-folder", ["moderate", "{in}", "--config", MODERATION], "is a folder, not a file"),
    (
        "moderate-bad-json",
        ["moderate", "{in}/messages_bad.jsonl", "--config", MODERATION],
        "messages_bad.jsonl: line 2: not valid JSON",
    ),
    (
        "moderate-deep",
        ["moderate", "{in}/messages_deep.jsonl", "--config", MODERATION],
        "line 1: JSON nested too deeply",
    ),
    (
        "moderate-text",
        ["moderate", "{in}/messages_text.jsonl", "--config", MODERATION],
        "line 1: text: must be a string",
    ),
    (
        "moderate-sender",
        ["moderate", "{in}/messages_sender.jsonl", "--config", MODERATION],
        "line 1: sender: required",
    ),
    (
        "moderate-tick",
        ["moderate", "{in}/messages_tick.jsonl", "--config", MODERATION],
        "line 1: tick: must be a whole number",
    ),
    (
        "moderate-target",
        ["moderate", "{in}/messages_target.jsonl", "--config", MODERATION],
        "line 1: target: must be",
    ),
    (
        "moderate-long-line",
        ["moderate", "{in}/messages_long.jsonl", "--config", MODERATION],
        "line 1: longer than 1,048,576 bytes",
    ),
    (
        "moderate-config-binary",
        ["moderate", "{in}/messages_ok.jsonl", "--config", "{in}/binary.yaml"],
        "binary.yaml: binary data",
    ),
    (
        "moderate-config-bomb",
        ["moderate", "{in}/messages_ok.jsonl", "--config", "{in}/bomb.yaml"],
        "bomb.yaml: YAML aliases",
    ),
    # -- eval --------------------------------------------------------------------------------------
    ("eval-binary", ["eval", "{in}/binary.yaml"], "binary.yaml: binary data"),
    ("eval-empty", ["eval", "{in}/empty.yaml"], "empty.yaml: empty sweep file"),
    ("eval-bomb", ["eval", "{in}/bomb.yaml"], "bomb.yaml: YAML aliases expand"),
    ("eval-missing", ["eval", "{in}/nope.yaml"], "nope.yaml: no such sweep file"),
    ("eval-dup", ["eval", "{in}/sweep_dup.yaml"], "sweep_dup.yaml: line 2, column 1: duplicate key 'name'"),
    ("eval-escape-name", ["eval", "{in}/sweep_escape.yaml"], "sweep_escape.yaml: name: String should match"),
    ("eval-seed", ["eval", "{in}/sweep_seed.yaml"], "sweep_seed.yaml: seeds: seeds must be between 0"),
    ("eval-metric", ["eval", "{in}/sweep_metric.yaml"], "sweep_metric.yaml: metrics: unknown metric 'nope'"),
    ("eval-ticks", ["eval", "{in}/sweep_ticks.yaml"], "sweep_ticks.yaml: ticks:"),
    ("eval-binary-scenario", ["eval", "{in}/sweep_binary_scenario.yaml"], "binary.yaml: binary data"),
    ("eval-out-file", ["eval", "{in}/sweep_binary_scenario.yaml", "--out", "{in}/a_file"], "--out: "),
    # -- dashboard flags (all refused before Streamlit starts) ------------------------------------------------
    ("dashboard-port-zero", ["dashboard", "--runs", "{in}", "--port", "0"], "--port: 0 is not a port number"),
    (
        "dashboard-port-big",
        ["dashboard", "--runs", "{in}", "--port", "70000"],
        "--port: 70000 is not a port number",
    ),
    ("dashboard-port-text", ["dashboard", "--runs", "{in}", "--port", "http"], "'--port'"),
    ("dashboard-runs-file", ["dashboard", "--runs", "{in}/a_file", "--port", "1"], "--runs: "),
    ("dashboard-runs-missing", ["dashboard", "--runs", "{in}/nope", "--port", "1"], "--runs: "),
    (
        "dashboard-host-unknown",
        ["dashboard", "--runs", "{in}", "--host", "no-such-host.invalid", "--port", "8599"],
        "--host: cannot serve on no-such-host.invalid",
    ),
]


@pytest.mark.parametrize(("args", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_input_is_one_line_exit_2_and_writes_nothing(
    sandbox: Path, args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(**{"in": sandbox / "in", "out": sandbox / "out"}) for a in args]
    before = _tree(sandbox)
    line = _refused(argv, capsys)
    assert expected in line, line
    assert _tree(sandbox) == before  # no folder left behind, nothing written anywhere in the sandbox
    assert not (sandbox / "out").exists() and not (sandbox / "runs").exists()
