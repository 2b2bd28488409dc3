"""The one exception type that means "the user got something wrong".

The CLI prints a ``UserError`` as a single line and exits with status 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

__all__ = ["UserError", "open_user_file"]


class UserError(Exception):
    """A mistake in user input (config field, CLI flag, file). The message is one line naming it."""


def open_user_file(path: str | Path) -> TextIO:
    """Open a file the user named, for reading text; a missing or unreadable one is a ``UserError``."""
    path = Path(path)
    try:
        return path.open(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: file not found") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}") from None
