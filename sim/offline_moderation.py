"""``mesaverse moderate``: apply a scenario's moderation policy to a file of messages.

One JSON object per line in (``{"text": ..., "sender": ..., "target": ...}``, optional
``"tick"``), one verdict per line out, in file order, so rate and repetition rules see the
sequence: ``{"flagged": bool, "rule": id or null, "action": ...}`` where ``action`` is
``deliver`` (nothing found), ``flag`` (a rule fired but does not block or sanction),
``block`` (blocked, no sanction), ``warn``, ``mute`` or ``ban`` (the sanction applied), or
``drop`` (the sender was already muted or banned: the message is not delivered).

Without a ``tick`` key, line *n* (counting from 0) happens at tick *n*: windows are in
ticks, so a sender writing on every line sends one message per tick. An ``llm`` rule needs
a model and is skipped offline. A bad line stops with a one-line error naming the file
and line; the verdicts already printed stay printed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

from sim.config import load_scenario
from sim.errors import UserError, iter_user_lines
from world.moderation import Moderator

__all__ = ["moderate_command", "moderate_lines"]


def _verdict(mod: Moderator, msg: dict[str, Any], tick: int) -> dict[str, Any]:
    sender, target, text = msg["sender"], msg.get("target"), msg["text"]
    if sender in mod.banned or mod.is_muted(sender, tick):
        return {"flagged": False, "rule": None, "action": "drop", "delivered": False}
    d = mod.screen_message(sender, target, text, tick)
    if d is None:
        return {"flagged": False, "rule": None, "action": "deliver", "delivered": True}
    sanction, until = mod.decide(sender, d, tick)
    if sanction == "none":
        action = "block" if d.block else "flag"
    else:
        action = sanction
    out = {
        "flagged": True,
        "rule": d.rule,
        "action": action,
        "delivered": not d.block,
        "evidence": d.evidence,
    }
    if until is not None:
        out["until"] = until
    return out


def _parse(line: str, path: Path, lineno: int) -> dict[str, Any]:
    try:
        msg = json.loads(line)
    except json.JSONDecodeError as exc:
        raise UserError(f"{path}: line {lineno}: not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise UserError(f"{path}: line {lineno}: JSON nested too deeply") from None
    if not isinstance(msg, dict):
        raise UserError(f"{path}: line {lineno}: expected a JSON object")
    if not isinstance(msg.get("text"), str):
        raise UserError(f"{path}: line {lineno}: text: must be a string")
    if "sender" not in msg or isinstance(msg["sender"], bool | dict | list) or msg["sender"] is None:
        raise UserError(f"{path}: line {lineno}: sender: required (a name or an id)")
    if isinstance(msg.get("target"), bool | dict | list):
        raise UserError(f"{path}: line {lineno}: target: must be a name, an id or null")
    tick = msg.get("tick")
    if tick is not None and (type(tick) is not int or tick < 0):
        raise UserError(f"{path}: line {lineno}: tick: must be a whole number >= 0")
    return msg


def moderate_lines(lines: Any, mod: Moderator, path: Path, out: TextIO) -> int:
    """Write one verdict per non-blank line of ``lines``; returns the number of verdicts."""
    n = 0
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        msg = _parse(line, path, lineno)
        tick = msg.get("tick", lineno - 1)
        out.write(json.dumps(_verdict(mod, msg, tick)) + "\n")
        out.flush()  # verdicts printed before a bad line stay printed
        n += 1
    return n


def moderate_command(file: str | Path, config: str | Path = "configs/moderation.yaml") -> None:
    """``mesaverse moderate FILE.jsonl [--config CONFIG]``."""
    cfg = load_scenario(config)
    path = Path(file)
    # Streamed line by line, each checked for UTF-8: a binary file stops at its first bad line.
    lines = (text for _, text in iter_user_lines(path))
    moderate_lines(lines, Moderator(cfg.moderation), path, sys.stdout)
