"""Sweep files: validation with one-line errors, and expansion into runs with stable keys."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim.errors import UserError
from sim.evaluation.sweep import expand, format_override, load_sweep

BASE = {
    "name": "t",
    "scenarios": ["configs/market.yaml"],
    "grid": {"economy.tax_rate": [0.0, 0.1, 0.3]},
    "seeds": 2,
    "ticks": 5,
    "metrics": ["trade.volume", "survey.fair"],
    "survey": [{"id": "fair", "text": "Was it fair?", "options": ["no", "yes"]}],
}


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_grid_times_seeds_gives_one_run_each_with_overrides(tmp_path: Path) -> None:
    sweep = load_sweep(write(tmp_path, {**BASE, "set": {"population.size": 6}}))
    specs = expand(sweep)
    assert sweep.seeds == (0, 1)
    assert len(specs) == 6
    assert specs[2].overrides == ("population.size=6", "economy.tax_rate=0.1")
    assert (specs[2].setting, specs[2].seed, specs[2].params) == (
        "economy.tax_rate=0.1",
        0,
        {"economy.tax_rate": 0.1},
    )
    assert len({s.key for s in specs}) == 6
    assert [s.key for s in expand(sweep)] == [s.key for s in specs]  # stable across loads


def test_named_settings_combine_with_the_grid(tmp_path: Path) -> None:
    data = {**BASE, "settings": [{"name": "lenient", "set": {"moderation.strikes": 5}}, {"name": "strict"}]}
    specs = expand(load_sweep(write(tmp_path, data)))
    assert len(specs) == 2 * 3 * 2
    assert specs[0].setting == "lenient, economy.tax_rate=0.0"
    assert specs[0].overrides == ("moderation.strikes=5", "economy.tax_rate=0.0")
    assert load_sweep(write(tmp_path, data)).swept_parameters == ["setting", "economy.tax_rate"]


def test_changing_ticks_changes_every_run_key(tmp_path: Path) -> None:
    a = expand(load_sweep(write(tmp_path, BASE)))
    b = expand(load_sweep(write(tmp_path, {**BASE, "ticks": 6})))
    assert not {s.key for s in a} & {s.key for s in b}


def test_override_values_are_written_as_yaml() -> None:
    assert format_override("a.b", 0.1) == "a.b=0.1"
    assert format_override("a.b", True) == "a.b=true"
    assert format_override("a.b", [1, 2]) == "a.b=[1, 2]"
    assert format_override("a.b", "strict") == "a.b=strict"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "red"}, "colour: unknown field"),
        ({"ticks": 0}, "ticks: Input should be greater than or equal to 1"),
        ({"grid": {"economy.tax_rate": []}}, "grid: economy.tax_rate: must be a non-empty list"),
        ({"metrics": ["trade.volumes"]}, "metrics: unknown metric 'trade.volumes'"),
        ({"metrics": ["survey.happy"]}, "metrics: survey.happy names no survey question"),
        ({"seeds": [1, 1]}, "seeds: seeds must be distinct"),
        (
            {"survey": [{"id": "fair", "text": "?", "options": ["a", "b"], "scores": [1]}]},
            "survey.0: scores: need one score per option (2), got 1",
        ),
    ],
)
def test_mistakes_are_one_line_naming_file_and_field(tmp_path: Path, change: dict, message: str) -> None:
    path = write(tmp_path, {**BASE, **change})
    with pytest.raises(UserError) as err:
        load_sweep(path)
    assert str(err.value).startswith(f"{path}: {message}")
    assert "\n" not in str(err.value)


def test_missing_file_and_bad_yaml_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no such sweep file"):
        load_sweep(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(UserError, match="line 2, column 1: YAML syntax error"):
        load_sweep(bad)


def test_every_run_of_every_shipped_sweep_is_a_valid_scenario() -> None:
    from sim.config import load_scenario

    paths = sorted(Path("configs/eval").glob("*.yaml"))
    assert {p.name for p in paths} >= {"tax_policy.yaml", "moderation_strictness.yaml", "llm_vs_rule.yaml"}
    for path in paths:
        specs = expand(load_sweep(path), path)
        assert specs
        for spec in specs:
            load_scenario(
                spec.scenario, [*spec.overrides, f"run.seed={spec.seed}", f"run.ticks={spec.ticks}"]
            )
            assert "\n" not in spec.setting


def test_the_cli_reports_a_bad_sweep_in_one_line_with_status_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = write(tmp_path, {**BASE, "ticks": "soon"})
    proc = subprocess.run(
        [sys.executable, "-c", "from sim.cli import main; main()", "eval", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"error: {path}: ticks: Input should be a valid integer, unable to parse string as an integer"
    ]
