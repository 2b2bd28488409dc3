"""``mesaverse dashboard``: flag checks (one-line errors, exit 2) and the Streamlit command it runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dashboard.launch import APP, check_port, dashboard_command, exposure_warning, streamlit_argv
from sim.errors import UserError


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from sim.cli import main; main()", "dashboard", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_runs_folder_named_by_the_user_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _cli("--runs", str(tmp_path / "nope"), "--port", "1")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"error: --runs: {tmp_path / 'nope'} does not exist"]


def test_a_file_as_runs_folder_is_a_user_error(tmp_path: Path) -> None:
    file = tmp_path / "file.txt"
    file.write_text("x")
    with pytest.raises(UserError, match="is not a folder"):
        dashboard_command(runs=file, port=8501)


def test_a_port_in_use_exits_2_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _cli("--runs", str(tmp_path), "--port", str(port))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"error: --port: {port} is already in use on 127.0.0.1 (pick another with --port)"
    ]


def test_port_out_of_range_is_a_user_error() -> None:
    with pytest.raises(UserError, match="not a port number"):
        check_port("127.0.0.1", 70000)


def test_streamlit_command_binds_loopback_headless_without_telemetry(tmp_path: Path) -> None:
    argv = streamlit_argv(tmp_path, 8600, "127.0.0.1")
    assert argv[1:5] == ["-m", "streamlit", "run", str(APP)]
    flags = dict(zip(argv[5:13:2], argv[6:13:2], strict=True))
    assert flags == {
        "--server.address": "127.0.0.1",
        "--server.port": "8600",
        "--server.headless": "true",
        "--browser.gatherUsageStats": "false",
    }
    assert argv[13:] == ["--", "--runs", str(tmp_path.resolve())]


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_hosts_bind_without_a_warning(host: str) -> None:
    assert exposure_warning(host, 8501) is None


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10"])
def test_binding_beyond_loopback_prints_a_loud_warning(host: str) -> None:
    warning = exposure_warning(host, 8501)
    assert warning is not None and warning.startswith(f"WARNING: the dashboard is served on {host}:8501")


def _serving(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.timeout(180)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_mesaverse_dashboard_stops_the_streamlit_server_it_started(
    tmp_path: Path, sig: signal.Signals
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from sim.cli import main; main()",
            "dashboard",
            "--runs",
            str(tmp_path),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the signal reaches mesaverse only, not its child: the child must be stopped by it
    )
    try:
        deadline = time.monotonic() + 90
        while not _serving(port):
            assert proc.poll() is None and time.monotonic() < deadline, "the dashboard never served"
            time.sleep(0.25)
        os.kill(proc.pid, sig)  # the parent only
        assert proc.wait(timeout=30) in (0, 130)
        deadline = time.monotonic() + 30
        while _serving(port):
            assert time.monotonic() < deadline, "streamlit still serving after mesaverse stopped"
            time.sleep(0.25)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
