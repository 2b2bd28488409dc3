"""``mesaverse dashboard``: check the flags, then serve ``dashboard/app.py`` with Streamlit."""

from __future__ import annotations

import errno
import socket
import subprocess
import sys
from pathlib import Path

from sim.errors import UserError

__all__ = ["APP", "check_port", "dashboard_command", "streamlit_argv"]

APP = Path(__file__).resolve().parent / "app.py"


def check_port(host: str, port: int) -> None:
    """Raise ``UserError`` if ``port`` is out of range or already taken on ``host``.

    Streamlit would otherwise silently pick the next free port, or fail with a traceback.
    """
    if not 1 <= port <= 65535:
        raise UserError(f"--port: {port} is not a port number (1-65535)")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UserError(
                    f"--port: {port} is already in use on {host} (pick another with --port)"
                ) from None
            raise UserError(f"--host: cannot serve on {host}:{port} ({exc.strerror or exc})") from None


def streamlit_argv(runs: Path, port: int, host: str) -> list[str]:
    """The command that serves the app (the runs folder goes to the app after ``--``)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address",
        host,
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--",
        "--runs",
        str(runs.resolve()),
    ]


def dashboard_command(*, runs: Path, port: int, host: str = "127.0.0.1") -> None:
    """Serve the dashboard until interrupted.

    A missing runs folder is fine when it is the default ``runs`` (the page says how to start a run);
    a folder the user named must exist.
    """
    if runs.exists() and not runs.is_dir():
        raise UserError(f"--runs: {runs} is not a folder")
    if not runs.exists() and runs != Path("runs"):
        raise UserError(f"--runs: {runs} does not exist")
    check_port(host, port)
    print(f"mesaverse dashboard: http://{host}:{port}  (runs: {runs.resolve()})", flush=True)
    try:
        completed = subprocess.run(streamlit_argv(runs, port, host), check=False)
    except KeyboardInterrupt:
        return
    if completed.returncode not in (0, -2, 130):
        raise UserError(f"streamlit exited with status {completed.returncode}")
