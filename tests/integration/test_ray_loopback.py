"""A local Ray cluster started by mesaverse listens on loopback only (GCS, raylet, workers)."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# In a fresh process (ray imported first, as the eval command and the tests' fixture do): start the
# cluster as mesaverse does, run a task so a worker is up, and list what the cluster's processes listen on.
_PROBE = """
import json, os, psutil, ray
from sim.llm.pool import ensure_ray
ensure_ray(num_cpus=1)
@ray.remote
def ping():
    return os.getpid()
worker = ray.get(ping.remote())
me = psutil.Process()
pids = {p.pid for p in me.children(recursive=True)} | {me.pid, worker}
listening = sorted(
    {c.laddr.ip for c in psutil.net_connections(kind="inet") if c.status == "LISTEN" and c.pid in pids}
)
ray.shutdown()
print(json.dumps(listening))
"""


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_local_cluster_binds_loopback_only() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE], cwd=ROOT, capture_output=True, text=True, timeout=170
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    addresses = json.loads(proc.stdout.strip().splitlines()[-1])
    assert addresses, "found no listening socket of the cluster"
    exposed = [a for a in addresses if not ipaddress.ip_address(a.removeprefix("::ffff:")).is_loopback]
    assert exposed == [], f"the cluster listens beyond loopback: {exposed}"
