"""Replicas on a real two-node Ray cluster made on this machine (ray.cluster_utils.Cluster)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


def test_replicas_spread_over_nodes_routing_sticks_and_a_removed_nodes_avatars_move():
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE.parents[1]), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, str(HERE / "multinode_check.py")],
        capture_output=True, text=True, timeout=600, env=env, cwd=HERE.parents[1],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(set(seen["replica_nodes"])) == 2  # one replica per node (SPREAD)
    assert seen["sticky"]
    assert sorted(seen["answered"]) == sorted(f"a-{r}" for r in range(12))  # every request, once
    assert seen["served"] == seen["expected"]  # each avatar's request went to its own replica
    assert sorted(seen["after_removal"]) == sorted(f"b-{r}" for r in range(12)) and not seen["errors"]
    assert seen["moved_to"] not in (None, seen["second_node"])  # that replica now lives elsewhere
