"""Loading scenarios: YAML, ``--set key.path=value`` overrides, one-line errors, dumping.

Every mistake becomes one :class:`~sim.errors.UserError` line, ``path: field.path: message``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from sim.config.schema import ScenarioConfig, _check_references, _RefError
from sim.errors import UserError, load_user_yaml, parse_user_yaml, short_repr

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
    "string_too_long": "is too long",
    "finite_number": "must be a finite number",
}


def _format_error(err: ErrorDetails) -> tuple[str, str]:
    """(field path, message) of one pydantic error, in words a config author reads."""
    # A key can be user text of any length (a place name): each part of the path is cut short.
    path = ".".join(p if len(p) <= 40 else p[:37] + "..." for p in map(str, err["loc"])) or "(root)"
    kind = err["type"]
    if kind == "value_error":
        msg = str(err["msg"]).removeprefix("Value error, ")
    elif kind == "string_pattern_mismatch" and path == "name":
        msg = (
            "must be a short slug (letters, digits, - and _, at most 64, starting with a letter or digit;"
            f" got {short_repr(err.get('input'))})"
        )
    elif kind == "string_too_long":
        msg = f"is too long (at most {err['ctx']['max_length']:,} characters)"
    elif kind == "literal_error":
        msg = "must be " + str(err["ctx"]["expected"])
    elif kind in _TYPE_MESSAGES:
        msg = _TYPE_MESSAGES[kind]
        if kind not in ("missing", "extra_forbidden"):
            msg += f" (got {short_repr(err.get('input'))})"
    else:
        msg = str(err["msg"])
    return path, msg


def _parse_override(item: str) -> tuple[list[str], Any]:
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise UserError(f"--set {item}: expected key.path=value")
    if not raw.strip():
        return key.split("."), ""
    try:
        value = parse_user_yaml(raw, f"--set {key}", what="value", allow_empty=True)
    except UserError:
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


def load_scenario(
    path: str | Path, overrides: Sequence[str] = (), flags: Mapping[str, str] | None = None
) -> ScenarioConfig:
    """Read, override and validate a scenario. Raises :class:`UserError` with one line.

    ``flags`` maps a field set by a command-line flag (``run.seed``) to that flag (``--seed``): an error in
    that field then names the flag, ``--seed: run.seed: must be at least 0``.
    """
    path = Path(path)
    flags = flags or {}
    data = load_user_yaml(path, what="scenario file")
    if not isinstance(data, dict):
        raise UserError(f"{path}: (root): must be a mapping of sections")
    data, keys = apply_overrides(data, overrides)
    try:
        cfg = ScenarioConfig.model_validate(data)
    except ValidationError as exc:
        field, msg = _format_error(exc.errors()[0])
        flag = next((f for k, f in flags.items() if field == k or field.startswith(k + ".")), None)
        if flag is not None:
            raise UserError(f"{flag}: {field}: {msg}") from None
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
