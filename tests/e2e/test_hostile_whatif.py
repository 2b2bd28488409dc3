"""Hostile and careless input to ``fork``, ``inject`` and ``interview``: one ``error:`` line, exit 2, no
traceback, and nothing of the run already written is changed (the run folder's bytes are the same)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_common import CONFIGS, _refused, _tree

from sim.cli import invoke


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs")
    args = ["run", str(CONFIGS / "commons.yaml"), "--ticks", "6", "--set", "run.checkpoint_every=3"]
    assert invoke([*args, "--out", str(out)]) == 0
    (run,) = out.iterdir()
    return run


def _events(sandbox: Path, name: str, text: str) -> str:
    path = sandbox / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--at-tick", "-1"], "--at-tick: -1 is outside the parent's ticks 0..5"),
        (["--at-tick", "6"], "--at-tick: 6 is outside the parent's ticks 0..5"),
        (["--at-tick", "5"], "--at-tick: 5 is the parent's last tick"),
        (["--at-tick", "1", "--ticks", "0"], "--ticks: must be at least 1"),
        (["--at-tick", "x"], "Invalid value for '--at-tick'"),
        (
            ["--at-tick", "1", "--set", "world.width=3"],
            "--set world.width: world.width: cannot change mid-run",
        ),
        (["--at-tick", "1", "--set", "population.count=3"], "population.count: cannot change mid-run"),
        (["--at-tick", "1", "--set", "run.seed=3"], "run.seed: cannot change mid-run"),
        (
            ["--at-tick", "1", "--set", "economy.tax_rate=2"],
            "--set economy.tax_rate: economy.tax_rate: must be between 0 and 1",
        ),
        (["--at-tick", "1", "--set", "oops"], "--set oops: expected key.path=value"),
        (["--at-tick", "1", "--events", "in/binary.yaml"], "in/binary.yaml: binary data"),
        (["--at-tick", "1", "--events", "in/latin1.yaml"], "in/latin1.yaml: not UTF-8 text"),
        (["--at-tick", "1", "--events", "in/bomb.yaml"], "in/bomb.yaml: YAML aliases expand"),
        (["--at-tick", "1", "--events", "in/syntax.yaml"], "in/syntax.yaml: line 2"),
        (["--at-tick", "1", "--events", "in/empty.yaml"], "in/empty.yaml: empty events file"),
        (["--at-tick", "1", "--events", "in/x.yaml"], "in/x.yaml: (root): must be a list of events"),
        (["--at-tick", "1", "--events", "in/missing.yaml"], "in/missing.yaml: file not found"),
        (["--at-tick", "1", "--out", "in/a_file"], "--out: in/a_file is not a folder"),
    ],
)
def test_fork_refuses_in_one_line(
    finished: Path, sandbox: Path, extra: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before, siblings = _tree(finished), sorted(finished.parent.iterdir())
    line = _refused(["fork", str(finished), *extra], capsys)
    assert expected in line, line
    assert _tree(finished) == before
    assert sorted(finished.parent.iterdir()) == siblings  # no fork folder left behind
    assert not list(sandbox.glob("**/events.db"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- {tick: 1, type: storm}\n", "0.type: must be one of announcement"),
        ("- {tick: 2, type: tax, rate: 0.1}\n- {tick: 2, type: tax}\n", "1.rate: required field is missing"),
        ("- {type: tax, rate: 0.1}\n", "0.tick: required field is missing"),
        ("- {tick: 2, type: tax, rate: 0.1, when: now}\n", "0.when: unknown field"),
        ("- {tick: 0, type: tax, rate: 0.1}\n", "0.tick: 0 is outside the fork's ticks 2..5"),
        ("- {tick: 2, type: price_shock, item: gold, factor: 2}\n", "0.item: unknown item 'gold'"),
        ("- {tick: 2, type: item_drop, item: fish, qty: 1, to: kings}\n", "0.to: unknown role 'kings'"),
        ("- {tick: 2, type: new_avatar, role: king}\n", "0.role: unknown role 'king'"),
        (
            "- {tick: 2, type: new_avatar, role: fisher, policy: llm}\n",
            "0.policy: llm needs a language model",
        ),
        ("- {tick: 2, type: announcement, text: hi, place: moon}\n", "0.place: unknown place 'moon'"),
        ("- {tick: 2, type: rule, key: world.height, value: 2}\n", "world.height: cannot change mid-run"),
        (
            "- {tick: 2, type: announcement, text: hi}\n- {tick: 2, type: announcement, text: hi}\n- 3\n",
            "2: must be a mapping",
        ),
    ],
)
def test_a_bad_events_file_is_one_line_naming_the_file_and_field(
    finished: Path, sandbox: Path, text: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _events(sandbox, "ev.yaml", text)
    line = _refused(["fork", str(finished), "--at-tick", "1", "--events", path], capsys)
    assert path in line and expected in line, line


def test_commands_on_a_missing_run_folder_are_one_line(
    sandbox: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ok = _events(sandbox, "ok.yaml", "- {type: tax, rate: 0.1}\n")
    for args in (
        ["fork", "nope", "--at-tick", "1"],
        ["inject", "nope", ok],
        ["interview", "nope", "1", "hello?"],
    ):
        assert "nope: not a run folder" in _refused(args, capsys)


def test_inject_into_a_finished_run_is_refused(finished: Path, sandbox: Path, capsys) -> None:
    before = _tree(finished)
    ok = _events(sandbox, "ok.yaml", "- {type: tax, rate: 0.1}\n")
    assert "the run is finished, not running" in _refused(["inject", str(finished), ok], capsys)
    late = _events(sandbox, "late.yaml", "- {tick: 99, type: tax, rate: 0.1}\n")
    assert "the run is finished, not running" in _refused(["inject", str(finished), late], capsys)
    bad = _events(sandbox, "bad.yaml", "- {type: tax, rate: 7}\n")
    assert "0.rate: must be between 0 and 1" in _refused(["inject", str(finished), bad], capsys)
    assert _tree(finished) == before


@pytest.mark.parametrize(
    ("who", "question", "expected"),
    [
        ("Nobody Here", "hi?", "AVATAR: no avatar 'Nobody Here' in this run"),
        ("999", "hi?", "AVATAR: no avatar '999'"),
        ("1", "   ", "QUESTION: must not be empty"),
        ("1", "x" * 2000, "QUESTION: at most 1,000 characters"),
    ],
)
def test_interview_refuses_in_one_line(
    finished: Path, who: str, question: str, expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _tree(finished)
    assert expected in _refused(["interview", str(finished), who, question], capsys)
    assert _tree(finished) == before
