"""``mesaverse moderate``: apply a scenario's moderation policy to a file of messages.

One JSON object per line in (``{"text": ..., "sender": ..., "target": ...}``, optional
``"tick"``), one verdict per line out, in file order, so rate and repetition rules see the
sequence: ``{"flagged": bool, "rule": id or null, "action": ...}`` where ``action`` is
``deliver`` (nothing found), ``flag`` (a rule fired but does not block or sanction),
``block`` (blocked, no sanction), ``warn``, ``mute`` or ``ban`` (the sanction applied), or
``drop`` (the sender was already muted or banned: the message is not delivered), and
``moderated`` (flagged, or dropped: what the scores count as caught).

``--eval``: when lines carry a ``label`` (true: harmful) and optionally a ``category``, the
verdicts are scored instead of printed: precision, recall and F1 overall and per category, by
:func:`world.stats.detection_scores` (the one definition the world, the evaluation and the
dashboard share). A table first, then one JSON line with every figure.

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
from world.stats import DetectionScores, detection_scores

__all__ = ["evaluation", "format_evaluation", "moderate_command", "moderate_lines"]


def _verdict(mod: Moderator, msg: dict[str, Any], tick: int) -> dict[str, Any]:
    sender, target, text = msg["sender"], msg.get("target"), msg["text"]
    if sender in mod.banned or mod.is_muted(sender, tick):
        mod.withheld(sender, tick)
        return {"flagged": False, "rule": None, "action": "drop", "delivered": False, "moderated": True}
    d = mod.screen_message(sender, target, text, tick)
    if d is None:
        return {"flagged": False, "rule": None, "action": "deliver", "delivered": True, "moderated": False}
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
        "moderated": True,
        "severity": d.severity,
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


def moderate_lines(
    lines: Any,
    mod: Moderator,
    path: Path,
    out: TextIO | None,
    scored: list[tuple[dict[str, Any], dict[str, Any]]] | None = None,
) -> int:
    """Write one verdict per non-blank line of ``lines``; returns the number of verdicts.

    ``scored``, when given, receives ``(message, verdict)`` pairs (for ``--eval``); ``out`` may
    then be None.
    """
    n = 0
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        msg = _parse(line, path, lineno)
        tick = msg.get("tick", lineno - 1)
        verdict = _verdict(mod, msg, tick)
        if scored is not None:
            scored.append((msg, verdict))
        if out is not None:
            out.write(json.dumps(verdict) + "\n")
            out.flush()  # verdicts printed before a bad line stay printed
        n += 1
    return n


def _label(msg: dict[str, Any]) -> bool | None:
    value = msg.get("label")
    return value if isinstance(value, bool) else None


def evaluation(scored: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, DetectionScores]:
    """Scores of moderated-versus-label, ``overall`` first, then one per ``category`` (sorted)."""
    pairs = [(bool(v.get("moderated")), _label(m), str(m.get("category", ""))) for m, v in scored]
    out = {"overall": detection_scores((f, h) for f, h, _ in pairs)}
    for cat in sorted({c for _, _, c in pairs if c}):
        out[cat] = detection_scores((f, h) for f, h, c in pairs if c == cat)
    return out


def _fmt(x: float) -> str:
    return "  n/a" if x != x else f"{x:.3f}"


def format_evaluation(scores: dict[str, DetectionScores]) -> str:
    """A table (category, counts, precision, recall, F1), then one JSON line of the same figures."""
    lines = [f"{'category':<12} {'tp':>4} {'fp':>4} {'fn':>4} {'tn':>4}  precision  recall     f1"]
    for name, s in scores.items():
        lines.append(
            f"{name:<12} {s.true_pos:>4} {s.false_pos:>4} {s.false_neg:>4} {s.true_neg:>4}"
            f"      {_fmt(s.precision)}   {_fmt(s.recall)}  {_fmt(s.f1)}"
        )
    figures = {
        name: {
            "tp": s.true_pos,
            "fp": s.false_pos,
            "fn": s.false_neg,
            "tn": s.true_neg,
            "precision": None if s.precision != s.precision else round(s.precision, 4),
            "recall": None if s.recall != s.recall else round(s.recall, 4),
            "f1": None if s.f1 != s.f1 else round(s.f1, 4),
        }
        for name, s in scores.items()
    }
    lines.append(json.dumps({"eval": figures}))
    return "\n".join(lines)


def moderate_command(
    file: str | Path, config: str | Path = "configs/moderation.yaml", evaluate: bool = False
) -> None:
    """``mesaverse moderate FILE.jsonl [--config CONFIG] [--eval]``."""
    cfg = load_scenario(config)
    path = Path(file)
    scored: list[tuple[dict[str, Any], dict[str, Any]]] | None = [] if evaluate else None
    # Streamed line by line, each checked for UTF-8: a binary file stops at its first bad line.
    lines = (text for _, text in iter_user_lines(path))
    moderate_lines(lines, Moderator(cfg.moderation), path, None if evaluate else sys.stdout, scored)
    if scored is not None:
        if not any(_label(m) is not None for m, _ in scored):
            raise UserError(f"{path}: --eval needs a boolean label on the lines (true: harmful)")
        print(format_evaluation(evaluation(scored)))
