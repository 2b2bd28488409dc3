"""Scenario schema: one-line errors for every kind of mistake, overrides, dump round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from sim.config import (
    PopulationConfig,
    RoleConfig,
    ScenarioConfig,
    dump_yaml,
    load_scenario,
    role_counts,
    validate_command,
)
from sim.errors import UserError

CONFIGS = sorted(Path(__file__).resolve().parents[2].glob("configs/*.yaml"))


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "x.yaml"
    p.write_text(text)
    return p


def error_of(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(UserError) as exc:
        load_scenario(path, overrides or [])
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


def test_an_empty_file_is_refused_and_an_empty_mapping_is_the_default_scenario(tmp_path):
    for empty in ("", "# only a comment\n", "\n\n"):
        assert (
            error_of(write(tmp_path, empty))
            == f"{tmp_path / 'x.yaml'}: empty scenario file (no YAML content)"
        )
    cfg = load_scenario(write(tmp_path, "{}\n"))
    assert cfg == ScenarioConfig()
    assert (cfg.llm.model, cfg.run.ticks, cfg.economy.currency, list(cfg.world.places)) == (
        "smollm2-135m",
        100,
        "coin",
        ["plaza"],
    )


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_every_shipped_config_validates_and_round_trips_through_dump(path):
    cfg = load_scenario(path)
    assert ScenarioConfig.model_validate(yaml.safe_load(dump_yaml(cfg))) == cfg


def test_config_is_frozen():
    cfg = ScenarioConfig()
    with pytest.raises(Exception, match="frozen"):
        cfg.run.ticks = 5


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("economy:\n  tax_rate: 1.5\n", "economy.tax_rate: must be between 0 and 1"),
        ("economy:\n  taxrate: 0.1\n", "economy.taxrate: unknown field"),
        ("bogus: 1\n", "bogus: unknown field"),
        ("run:\n  ticks: many\n", "run.ticks: must be an integer (got 'many')"),
        ("run:\n  ticks: -1\n", "run.ticks: must be at least 0"),
        ("llm:\n  device: tpu\n", "llm.device: must be 'auto', 'cpu', 'cuda' or 'cuda:<index>'"),
        ("llm:\n  top_p: 0\n", "llm.top_p: must be between 0.01 and 1"),
        ("social:\n  generator: {kind: erdos}\n", "social.generator.kind: must be 'watts_strogatz'"),
        ("world:\n  places: {a: {x: 50, y: 0}}\n", "world.places.a: (50, 0) is outside the 20x20 grid"),
        ("world:\n  places: {}\n", "world.places: at least one place is required"),
        ("world:\n  start_place: moon\n", "world.start_place: unknown place 'moon'"),
        ("economy:\n  endowment: {gold: 3}\n", "economy.endowment.gold: unknown item"),
        (
            "economy:\n  endowment: {coin: {kind: uniform, high: x}}\n",
            "economy.endowment.coin.high: must be an integer",
        ),
        ("economy:\n  gathering: {mine: {ore: 1}}\n", "economy.gathering.mine: no place offers this"),
        (
            "economy:\n  items: {wheat: {}}\n  recipes: {bread: {inputs: {wheat: 2}, outputs: {bread: 1}}}\n",
            "economy.recipes.bread.outputs.bread: unknown item",
        ),
        (
            "economy:\n  items: {wheat: {}}\n  recipes: {b: {inputs: {wheat: 2}, outputs: {wheat: 1}, place: oven}}\n",
            "economy.recipes.b.place: unknown place or offer 'oven'",
        ),
        (
            "economy:\n  recipes: {b: {outputs: {coin: 1}}}\n",
            "economy.recipes.b.inputs: required field is missing",
        ),
        ("economy:\n  items: {coin: {}}\n", "economy.items.coin: an item cannot have the currency's name"),
        (
            "projects:\n  templates: {b: {needs: {stone: 3}}}\n",
            "projects.templates.b.needs.stone: unknown item",
        ),
        ("population:\n  roles: [{name: a, policy: wizard}]\n", "population.roles.0.policy: must be 'llm'"),
        ("population:\n  roles: [{name: a, home: moon}]\n", "population.roles.0.home: unknown place 'moon'"),
        ("population:\n  roles: [{name: a}, {name: a}]\n", "population.roles.1.name: duplicate role 'a'"),
        (
            "population:\n  count: 2\n  roles: [{name: a, count: 3}]\n",
            "population.roles: role counts (3) exceed",
        ),
        (
            "moderation:\n  rules: [{id: r, kind: patterns, patterns: ['(']}]\n",
            "moderation.rules.0.patterns.0: bad regular expression",
        ),
        (
            "moderation:\n  rules: [{id: r, kind: words}]\n",
            "moderation.rules.0.words: a words rule needs words",
        ),
        (
            "moderation:\n  rules: [{id: r, kind: words, words: [x]}, {id: r, kind: repeat}]\n",
            "moderation.rules.1.id: duplicate rule id 'r'",
        ),
        ("moderation:\n  rules: [{kind: repeat}]\n", "moderation.rules.0.id: required field is missing"),
        (
            "moderation:\n  rules: [{id: recall, kind: repeat}]\n",
            "moderation.rules.0.id: 'recall' is reserved",
        ),
        ("economy: [1, 2]\n", "economy: must be a mapping"),
        ("- just\n- a list\n", "(root): must be a mapping of sections"),
    ],
)
def test_each_mistake_is_one_line_naming_file_and_field(tmp_path, text, expected):
    path = write(tmp_path, text)
    msg = error_of(path)
    assert msg.startswith(f"{path}: {expected}"), msg


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = write(tmp_path, "run:\n  ticks: 3\n bad: [\n")
    assert error_of(path).startswith(f"{path}: line 3, column 2: YAML syntax error")


def test_missing_file(tmp_path):
    assert error_of(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: file not found"


def test_set_overrides_apply_before_validation(tmp_path):
    path = write(tmp_path, "economy:\n  tax_rate: 1.5\npopulation:\n  roles: [{name: a, count: 1}]\n")
    cfg = load_scenario(
        path,
        [
            "economy.tax_rate=0.2",
            "run.ticks=5",
            "llm.model=gpt2",
            "population.roles.0.count=4",
            "population.count=4",
            "world.width=30",
        ],
    )
    assert (cfg.economy.tax_rate, cfg.run.ticks, cfg.llm.model, cfg.population.roles[0].count) == (
        0.2,
        5,
        "gpt2",
        4,
    )
    assert cfg.world.width == 30


def test_bad_set_value_names_the_field_and_the_flag(tmp_path):
    path = write(tmp_path, "{}")
    assert (
        error_of(path, ["economy.tax_rate=2"])
        == f"{path}: economy.tax_rate: must be between 0 and 1 (set by --set)"
    )
    assert error_of(path, ["economy.taxes=0.1"]) == f"{path}: economy.taxes: unknown field (set by --set)"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("economy.tax_rate", "--set economy.tax_rate: expected key.path=value"),
        ("=3", "--set =3: expected key.path=value"),
        ("a..b=1", "--set a..b=1: expected key.path=value"),
        ("run.ticks=[1", "--set run.ticks=[1: value is not valid YAML"),
        (
            "population.roles.7.count=1",
            "--set population.roles.7.count=1: population.roles.7: no such list element",
        ),
        ("run.ticks.x=1", "--set run.ticks.x=1: run.ticks is not a mapping"),
    ],
)
def test_bad_set_syntax(tmp_path, override, expected):
    path = write(tmp_path, "population:\n  roles: [{name: a}]\nrun: {ticks: 3}\n")
    assert error_of(path, [override]) == expected


def test_validate_command_prints_ok_or_the_resolved_yaml(tmp_path, capsys):
    path = write(tmp_path, "run: {ticks: 3}\n")
    validate_command(path, [], dump=False)
    assert capsys.readouterr().out == f"ok: {path}\n"
    validate_command(path, ["run.seed=9"], dump=True)
    dumped = yaml.safe_load(capsys.readouterr().out)
    assert dumped["run"] == {"ticks": 3, "seed": 9, "checkpoint_every": 10}


def test_endowment_shorthand_is_a_constant_distribution(tmp_path):
    cfg = load_scenario(write(tmp_path, "economy:\n  endowment: {coin: 7}\n"))
    assert (cfg.economy.endowment["coin"].kind, cfg.economy.endowment["coin"].value) == ("constant", 7.0)


def test_role_counts_fixed_first_then_shares_by_largest_remainder():
    pop = PopulationConfig(
        count=10,
        roles=(
            RoleConfig(name="spammer", count=1, policy="spammer"),
            RoleConfig(name="a", share=0.5),
            RoleConfig(name="b", share=0.25),
            RoleConfig(name="c"),
        ),
    )
    assert role_counts(pop) == {"spammer": 1, "a": 5, "b": 2, "c": 2}
    assert sum(role_counts(pop).values()) == 10
    assert RoleConfig(name="s", policy="spammer").is_violator
    assert not RoleConfig(name="s", policy="spammer", violator=False).is_violator


def _fields(model, prefix=""):
    import typing

    from pydantic import BaseModel

    for name, f in model.model_fields.items():
        yield prefix + name
        args = [f.annotation, *typing.get_args(f.annotation)]
        args += [a for x in typing.get_args(f.annotation) for a in typing.get_args(x)]
        for t in args:
            if isinstance(t, type) and issubclass(t, BaseModel):
                yield from _fields(t, prefix + name + ".")
                break


def test_docs_document_every_field():
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "config.md").read_text()
    code = " ".join(re.findall(r"`([^`]*)`", doc))
    missing = [p for p in _fields(ScenarioConfig) if not re.search(rf"\b{p.split('.')[-1]}\b", code)]
    assert missing == []
