"""Loading scenarios: YAML, ``--set key.path=value`` overrides, one-line errors, dumping.

Every mistake becomes one :class:`~sim.errors.UserError` line, ``path: field.path: message``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from sim.config.schema import ScenarioConfig, _check_references, _RefError
from sim.errors import UserError, open_user_file

__all__ = ["apply_overrides", "dump_yaml", "load_scenario", "validate_command"]

# -- loading ------------------------------------------------------------------------------

_TYPE_MESSAGES = {
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "string_type": "must be a string",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "missing": "required field is missing",
    "extra_forbidden": "unknown field",
    "string_too_short": "must not be empty",
}


def _format_error(err: ErrorDetails) -> tuple[str, str]:
    """(field path, message) of one pydantic error, in words a config author reads."""
    path = ".".join(str(p) for p in err["loc"]) or "(root)"
    kind = err["type"]
    if kind == "value_error":
        msg = str(err["msg"]).removeprefix("Value error, ")
    elif kind == "literal_error":
        msg = "must be " + str(err["ctx"]["expected"])
    elif kind in _TYPE_MESSAGES:
        msg = _TYPE_MESSAGES[kind]
        if kind not in ("missing", "extra_forbidden"):
            msg += f" (got {err.get('input')!r})"
    else:
        msg = str(err["msg"])
    return path, msg


def _parse_override(item: str) -> tuple[list[str], Any]:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UserError(f"--set {item}: expected key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        raise UserError(f"--set {item}: value is not valid YAML") from None
    return key.split("."), value


def apply_overrides(data: dict, overrides: Sequence[str]) -> tuple[dict, set[str]]:
    """Apply ``key.path=value`` overrides to raw config data; returns (data, keys set).

    Values are YAML scalars (``0.2``, ``5``, ``true``, ``[a, b]``); list elements are
    addressed by index (``population.roles.0.count=3``).
    """
    keys: set[str] = set()
    for item in overrides:
        parts, value = _parse_override(item)
        node: Any = data
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise UserError(f"--set {item}: {'.'.join(parts[: i + 1])}: no such list element")
                idx = int(part)
                if last:
                    node[idx] = value
                else:
                    node = node[idx]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    child = node.get(part)
                    if child is None:
                        child = node[part] = {}
                    elif not isinstance(child, dict | list):
                        raise UserError(f"--set {item}: {'.'.join(parts[: i + 1])} is not a mapping")
                    node = child
            else:
                raise UserError(f"--set {item}: {'.'.join(parts[:i])} is not a mapping")
        keys.add(".".join(parts))
    return data, keys


def load_scenario(path: str | Path, overrides: Sequence[str] = ()) -> ScenarioConfig:
    """Read, override and validate a scenario. Raises :class:`UserError` with one line."""
    path = Path(path)
    with open_user_file(path) as fh:
        text = fh.read()
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UserError(f"{path}: {where}YAML syntax error: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"{path}: (root): must be a mapping of sections")
    data, keys = apply_overrides(data, overrides)
    try:
        cfg = ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        field, msg = _format_error(exc.errors()[0])
        if any(field == k or field.startswith(k + ".") for k in keys):
            msg += " (set by --set)"
        raise UserError(f"{path}: {field}: {msg}") from None
    try:
        _check_references(cfg)
    except _RefError as exc:
        raise UserError(f"{path}: {exc.path}: {exc}") from None
    return cfg


def dump_yaml(cfg: ScenarioConfig) -> str:
    """The resolved config (every default filled in) as YAML that loads back to ``cfg``."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def validate_command(path: str | Path, overrides: Sequence[str] = (), dump: bool = False) -> None:
    """``mesaverse validate``: print ``ok: <path>``, or the resolved YAML with ``--dump``."""
    cfg = load_scenario(path, overrides)
    if dump:
        print(dump_yaml(cfg), end="")
    else:
        print(f"ok: {path}")
