"""Sweep files (``configs/eval/*.yaml``): which runs an evaluation makes, and what it reports.

A sweep is one or more base scenarios, a grid of overrides on dotted keys (and/or named settings),
seeds, ticks, the metrics to report and optional survey questions. It is validated like a scenario:
frozen pydantic models with ``extra="forbid"``, and any mistake is one line,
``configs/eval/x.yaml: grid.economy.tax_rate: must be a non-empty list``, raised as
:class:`~sim.errors.UserError`.

:func:`expand` turns a sweep into :class:`RunSpec` s, one per (scenario, setting, seed). Each spec has a
stable key made from what defines the run, so a resumed evaluation recognises its finished runs and a
changed sweep never mistakes an old run for a new one.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails

from sim.errors import UserError, load_user_yaml
from sim.evaluation.metrics import METRICS, is_known_metric

__all__ = [
    "LLMSettings",
    "NamedSetting",
    "RunSpec",
    "SurveyQuestion",
    "Sweep",
    "expand",
    "format_override",
    "load_sweep",
]

Scalar = bool | int | float | str


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SurveyQuestion(_Frozen):
    """A question every avatar answers at the end of a run, by picking one of ``options``.

    Answers are scored (``scores``, default 1..k in option order, so a Likert scale reads as a mean),
    stored as ``interview`` events and summarised as ``survey.<id>`` (mean score).
    """

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)
    text: str = Field(min_length=1)
    options: tuple[str, ...] = Field(min_length=2, max_length=26)
    scores: tuple[float, ...] | None = None

    @model_validator(mode="after")
    def _scores_match_options(self) -> SurveyQuestion:
        if self.scores is not None and len(self.scores) != len(self.options):
            raise ValueError(
                f"scores: need one score per option ({len(self.options)}), got {len(self.scores)}"
            )
        return self

    def score(self, index: int) -> float:
        """The score of option ``index`` (0-based)."""
        return float(self.scores[index]) if self.scores is not None else float(index + 1)


class NamedSetting(_Frozen):
    """A named bundle of overrides (``lenient``: three keys at once), for settings a grid cannot express."""

    name: str = Field(min_length=1, max_length=40)
    set: dict[str, Scalar | list[Any] | dict[str, Any]] = Field(default_factory=dict)


class LLMSettings(_Frozen):
    """The one pool every run of the sweep shares (unset: the first scenario's ``llm`` section)."""

    replicas: int | None = Field(default=None, ge=1)
    model: str | None = None
    device: str | None = Field(default=None, pattern=r"^(auto|cpu|cuda)$")


class Sweep(_Frozen):
    """A validated sweep file. Paths in ``scenarios`` are relative to the working directory or the sweep."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$")  # the default folder is evals/<name>
    description: str = ""
    scenarios: tuple[str, ...] = Field(min_length=1)
    grid: dict[str, list[Scalar]] = Field(default_factory=dict)
    settings: tuple[NamedSetting, ...] = ()
    set: dict[str, Scalar | list[Any] | dict[str, Any]] = Field(default_factory=dict)
    seeds: tuple[int, ...] = Field(min_length=1)
    ticks: int = Field(ge=1, le=100_000)
    metrics: tuple[str, ...] = Field(min_length=1)
    survey: tuple[SurveyQuestion, ...] = ()
    persona_samples: int = Field(default=12, ge=0, le=500)
    llm: LLMSettings = LLMSettings()
    parallel: int = Field(default=4, ge=1, le=256)
    task_cpus: float = Field(default=0.25, gt=0, le=64)
    test: str = Field(default="welch", pattern=r"^(welch|mannwhitney)$")
    paired: bool = False  # report each setting minus the first, seed by seed, with a 95% CI

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds_from_count(cls, value: Any) -> Any:
        # ``seeds: 5`` is shorthand for seeds 0..4.
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 1:
                raise ValueError("must be a positive count or a list of integers")
            return tuple(range(value))
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds_unique(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= seed <= 2**63 - 1 for seed in value):
            raise ValueError("seeds must be between 0 and 2**63 - 1")
        if len(set(value)) != len(value):
            raise ValueError("seeds must be distinct")
        return value

    @field_validator("grid")
    @classmethod
    def _grid_lists(cls, value: dict[str, list[Scalar]]) -> dict[str, list[Scalar]]:
        for key, values in value.items():
            if not values:
                raise ValueError(f"{key}: must be a non-empty list")
            if len({json.dumps(v) for v in values}) != len(values):
                raise ValueError(f"{key}: values must be distinct")
        return value

    @field_validator("metrics")
    @classmethod
    def _metrics_known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not is_known_metric(name):
                raise ValueError(
                    f"unknown metric {name!r} (see docs/evaluation.md; e.g. {sorted(METRICS)[0]})"
                )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Sweep:
        names = [s.name for s in self.settings]
        if len(set(names)) != len(names):
            raise ValueError("settings: names must be distinct")
        ids = [q.id for q in self.survey]
        if len(set(ids)) != len(ids):
            raise ValueError("survey: question ids must be distinct")
        for name in self.metrics:
            if name.startswith("survey.") and name.removeprefix("survey.") not in ids:
                raise ValueError(f"metrics: {name} names no survey question")
        return self

    @property
    def swept_parameters(self) -> list[str]:
        """What varies between settings: the grid keys, ``setting`` for named settings, ``scenario`` if several."""
        params = list(self.grid)
        if self.settings:
            params.insert(0, "setting")
        if len(self.scenarios) > 1:
            params.insert(0, "scenario")
        return params


def format_override(key: str, value: Any) -> str:
    """``key=value`` as ``sim.config.load_scenario`` reads it: the value written as YAML flow text."""
    if isinstance(value, str):
        return f"{key}={value}"
    # One line however long (a list of roles): keys and report labels must not wrap.
    text = yaml.safe_dump(value, default_flow_style=True, sort_keys=True, width=1 << 30).strip()
    text = text.removesuffix("...").strip()  # safe_dump ends a bare scalar with a document marker
    return f"{key}={text}"


@dataclass(frozen=True)
class RunSpec:
    """One simulation of a sweep: a scenario, its setting (overrides), a seed and a tick count."""

    key: str  # stable folder name under <eval>/runs/
    scenario: str  # path to the base scenario file
    scenario_name: str  # its stem, used in tables
    setting: str  # a readable label of the setting (what varies), e.g. "economy.tax_rate=0.1"
    params: dict[str, Any]  # swept parameter -> value for this run (the plot axes)
    overrides: tuple[str, ...]  # every ``key=value`` handed to load_scenario, fixed ones first
    seed: int
    ticks: int

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (stored beside the run's result so a resume can check it)."""
        return {
            "key": self.key,
            "scenario": self.scenario,
            "scenario_name": self.scenario_name,
            "setting": self.setting,
            "params": self.params,
            "overrides": list(self.overrides),
            "seed": self.seed,
            "ticks": self.ticks,
        }


def _resolve_scenario(path: str, sweep_path: Path) -> str:
    """A scenario path as given when it exists from the working directory, else relative to the sweep."""
    candidate = Path(path)
    if candidate.exists() or candidate.is_absolute():
        return str(candidate)
    beside = sweep_path.parent / candidate
    return str(beside) if beside.exists() else str(candidate)


def expand(sweep: Sweep, sweep_path: Path = Path(".")) -> list[RunSpec]:
    """Every (scenario, setting, seed) of ``sweep``, in a stable order (scenario, setting, seed)."""
    fixed = [format_override(k, v) for k, v in sweep.set.items()]
    named = sweep.settings or (None,)
    grid_keys = list(sweep.grid)
    combos = list(itertools.product(*(sweep.grid[k] for k in grid_keys))) if grid_keys else [()]
    specs: list[RunSpec] = []
    for scenario in sweep.scenarios:
        path = _resolve_scenario(scenario, sweep_path)
        stem = Path(scenario).stem
        for setting_i, (named_setting, combo) in enumerate(itertools.product(named, combos)):
            params: dict[str, Any] = {}
            overrides = list(fixed)
            labels = []
            if named_setting is not None:
                params["setting"] = named_setting.name
                overrides += [format_override(k, v) for k, v in named_setting.set.items()]
                labels.append(named_setting.name)
            for key, value in zip(grid_keys, combo, strict=True):
                params[key] = value
                overrides.append(format_override(key, value))
                labels.append(format_override(key, value))
            if len(sweep.scenarios) > 1:
                params = {"scenario": stem, **params}
            label = ", ".join(labels) or "base"
            for seed in sweep.seeds:
                ident = json.dumps([path, overrides, seed, sweep.ticks], sort_keys=True)
                digest = hashlib.sha1(ident.encode()).hexdigest()[:8]
                key = f"{stem}-{setting_i:02d}-s{seed}-{digest}"
                specs.append(
                    RunSpec(key, path, stem, label, dict(params), tuple(overrides), seed, sweep.ticks)
                )
    return specs


def _error_path(error: ErrorDetails) -> str:
    return ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-after"))


def load_sweep(path: str | Path) -> Sweep:
    """Read and validate a sweep file; any problem is one ``UserError`` line naming the file and field."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: no such sweep file")
    data = load_user_yaml(path, what="sweep file")
    if not isinstance(data, dict):
        raise UserError(f"{path}: a sweep must be a mapping of fields")
    try:
        return Sweep.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _error_path(first)
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = "unknown field"
        # Errors of the whole sweep (cross-field checks) name their field in the message already.
        raise UserError(f"{path}: {field}: {message}" if field else f"{path}: {message}") from None
