"""Checkpoints: the whole simulation state as one JSON file, written atomically.

A checkpoint holds the world's state, the avatars' memories, the conversations, every RNG's
state and the tick - everything a model rebuilt from the same config and seed needs to carry
on exactly where the original left off. Files are written to a temp file in the same folder,
fsync'ed, then renamed over the target (and the folder fsync'ed): a crash leaves either the old
checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

__all__ = [
    "CheckpointError",
    "checkpoint_files",
    "checkpoint_path",
    "latest_checkpoint",
    "load_checkpoint",
    "newest_checkpoint",
    "read_checkpoint",
    "save_checkpoint",
]

_NAME = re.compile(r"^tick-(\d{8})\.json$")
KEEP = 3  # older checkpoints are deleted; a few are kept in case the newest is unreadable


def checkpoint_path(folder: str | Path, tick: int) -> Path:
    """``folder/tick-00000010.json``: names sort by tick."""
    return Path(folder) / f"tick-{tick:08d}.json"


def save_checkpoint(folder: str | Path, tick: int, state: dict[str, Any], keep: int = KEEP) -> Path:
    """Write ``state`` atomically as the checkpoint of ``tick``; prune all but the newest ``keep``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = checkpoint_path(folder, tick)
    tmp = path.with_name(f".{path.name}.tmp")
    data = json.dumps(state, separators=(",", ":"), allow_nan=False)
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(folder)
    for old in sorted(_ticks(folder))[:-keep] if keep > 0 else []:
        checkpoint_path(folder, old).unlink(missing_ok=True)
    return path


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest readable checkpoint in ``folder`` (None when there is none)."""
    for tick in sorted(_ticks(Path(folder)), reverse=True):
        path = checkpoint_path(folder, tick)
        try:
            json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # cannot happen with atomic writes, but a damaged disk should not stop a resume
        return path
    return None


class CheckpointError(ValueError):
    """A checkpoint file that cannot be what :func:`save_checkpoint` wrote (damaged or edited)."""


def checkpoint_files(folder: str | Path) -> list[Path]:
    """Every checkpoint file in ``folder``, oldest first (by the tick in the name)."""
    return [checkpoint_path(folder, t) for t in sorted(_ticks(Path(folder)))]


def newest_checkpoint(folder: str | Path) -> Path | None:
    """The checkpoint of the highest tick in ``folder``, readable or not (None when there is none)."""
    files = checkpoint_files(folder)
    return files[-1] if files else None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint, checked for its shape: a JSON object whose ``tick`` is the one in its name.

    Raises :class:`CheckpointError` with a short reason. Whether its content fits the run is checked by
    restoring it (``MetaverseModel.set_state``).
    """
    path = Path(path)
    try:
        state = json.loads(path.read_bytes())
    except OSError as exc:
        raise CheckpointError(f"unreadable checkpoint ({exc.strerror or exc})") from None
    except (ValueError, RecursionError):
        raise CheckpointError("not a valid checkpoint (damaged JSON)") from None
    match = _NAME.match(path.name)
    if not isinstance(state, dict) or type(state.get("tick")) is not int:
        raise CheckpointError("not a valid checkpoint (no tick)")
    if match is not None and int(match.group(1)) != state["tick"]:
        raise CheckpointError(f"not a valid checkpoint (it holds tick {state['tick']}, its name another)")
    return state


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _ticks(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    return [int(m.group(1)) for p in folder.iterdir() if (m := _NAME.match(p.name))]


def _fsync_dir(folder: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
