"""A quiet console for ``mesaverse run``: third-party chatter goes to the run folder's ``run.log``.

The console shows mesaverse's own progress and results. Python warnings (torch's and
transformers' deprecations), the loggers of Ray, transformers and torch, and where the replicas'
own output went (Ray's session logs: their weight-loading bars, for example) are written to
``run.log`` instead. The pool may start before the run folder exists (a bad device must fail
before anything is written), so records wait in memory until :meth:`RunLog.open` names the file.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

__all__ = ["THIRD_PARTY_LOGGERS", "RunLog", "quiet_console"]

THIRD_PARTY_LOGGERS = ("py.warnings", "ray", "transformers", "torch", "accelerate", "filelock", "urllib3")


class RunLog(logging.Handler):
    """A handler that buffers until the run folder exists, then appends to its ``run.log``."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        self._buffer: list[str] = []
        self._file: TextIO | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:  # a bad record from a third party must not stop the run
            return
        if self._file is None:
            self._buffer.append(line)
        else:
            self._file.write(line)
            self._file.flush()

    def note(self, text: str) -> None:
        """A line of our own (where the replicas' logs are, say)."""
        self.emit(logging.LogRecord("mesaverse", logging.INFO, "", 0, text, None, None))

    def open(self, path: Path) -> None:
        """Start writing to ``path``, beginning with what was buffered."""
        self._file = path.open("a", encoding="utf-8")
        self._file.writelines(self._buffer)
        self._file.flush()
        self._buffer = []

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        super().close()


@contextlib.contextmanager
def quiet_console() -> Iterator[RunLog]:
    """Route warnings and third-party loggers to a :class:`RunLog` while the block runs."""
    log = RunLog()
    saved = []
    for name in THIRD_PARTY_LOGGERS:
        lg = logging.getLogger(name)
        saved.append((lg, list(lg.handlers), lg.propagate, lg.level))
        lg.handlers = [log]
        lg.propagate = False
        lg.setLevel(logging.INFO)
    logging.captureWarnings(True)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            yield log
    finally:
        logging.captureWarnings(False)
        for lg, handlers, propagate, level in saved:
            lg.handlers = handlers
            lg.propagate = propagate
            lg.setLevel(level)
        log.close()
