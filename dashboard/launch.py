"""``mesaverse dashboard``: check the flags, then serve ``dashboard/app.py`` with Streamlit."""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import signal
import socket
import subprocess
import sys
from pathlib import Path

from sim.errors import UserError

__all__ = ["APP", "check_port", "dashboard_command", "exposure_warning", "is_loopback", "streamlit_argv"]

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


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is reachable only from this machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in infos)


def exposure_warning(host: str, port: int) -> str | None:
    """The warning printed when the dashboard binds beyond loopback (None on loopback)."""
    if is_loopback(host):
        return None
    return (
        f"WARNING: the dashboard is served on {host}:{port}, beyond this machine: anyone who can reach"
        " that address reads every run in the folder (no login, no encryption). Use --host 127.0.0.1"
        " unless you mean it."
    )


def _die_with_parent() -> None:
    """In the Streamlit child: be sent SIGTERM when the ``mesaverse dashboard`` process dies (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 10.0) -> int:
    """Terminate the server (SIGTERM, then SIGKILL after ``grace_s``) and reap it."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
    return proc.returncode


def dashboard_command(*, runs: Path, port: int, host: str = "127.0.0.1") -> None:
    """Serve the dashboard until interrupted.

    A missing runs folder is fine when it is the default ``runs`` (the page says how to start a run);
    a folder the user named must exist. SIGTERM, SIGHUP and Ctrl-C stop the Streamlit server started
    here (it is also told to stop if this process is killed outright), so none is left serving.
    """
    if runs.exists() and not runs.is_dir():
        raise UserError(f"--runs: {runs} is not a folder")
    if not runs.exists() and runs != Path("runs"):
        raise UserError(f"--runs: {runs} does not exist")
    check_port(host, port)
    warning = exposure_warning(host, port)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(f"mesaverse dashboard: http://{host}:{port}  (runs: {runs.resolve()})", flush=True)
    proc = subprocess.Popen(streamlit_argv(runs, port, host), preexec_fn=_die_with_parent)

    stopping = {"signal": 0}

    def on_signal(signum: int, frame: object) -> None:
        stopping["signal"] = signum
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()

    old = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        _stop(proc)
        return
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        _stop(proc)
    if stopping["signal"]:
        return
    if code not in (0, -2, -15, 130):
        raise UserError(f"streamlit exited with status {code}")
