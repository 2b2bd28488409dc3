"""``mesaverse dashboard``: flag checks (one-line errors, exit 2) and the Streamlit command it runs."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dashboard.launch import APP, check_port, dashboard_command, streamlit_argv
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
