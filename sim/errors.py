"""The one exception type that means "the user got something wrong".

The CLI prints a ``UserError`` as a single line and exits with status 2; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = ["UserError"]


class UserError(Exception):
    """A mistake in user input (config field, CLI flag, file). The message is one line naming it."""
