"""Run by test_multinode.py in its own process: a real two-node Ray cluster on this machine.

Prints one JSON line with what it saw. A separate process because a cluster of several nodes
needs its own ``ray.init``, and the test session already holds a local one.
"""

from __future__ import annotations

import json
import sys

import ray
from ray.cluster_utils import Cluster

from agents.lm import ChooseRequest, Message
from sim.llm.pool import Pool


def _requests(tag: str, routes: range) -> list[ChooseRequest]:
    return [
        ChooseRequest(
            (Message("user", f"Avatar {r}: pick one."),), ("yes", "no"), request_id=f"{tag}-{r}", route=r
        )
        for r in routes
    ]


def main() -> int:
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    second = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address)
    pool = Pool.start(replicas=2, device="cpu", dtype="float32", cpus_per_replica=1, max_batch_size=8)
    out: dict = {}
    try:
        nodes = ray.get([h.node.remote() for h in pool._handles])
        out["replica_nodes"] = nodes
        out["second_node"] = second.node_id
        routes = range(12)
        owner = {r: pool.replica_for(r) for r in routes}
        before = [p["requests"] for p in pool.telemetry()["replicas"]]
        answers = pool.choose(_requests("a", routes))
        after = [p["requests"] for p in pool.telemetry()["replicas"]]
        out["answered"] = [a.request_id for a in answers if not a.error]
        out["served"] = [a - b for a, b in zip(after, before, strict=True)]
        out["expected"] = [sum(1 for r in routes if owner[r] == i) for i in range(2)]
        out["sticky"] = all(pool.replica_for(r) == owner[r] for r in routes)
        # A spare node, then the second node goes away with its replica: Ray restarts that replica
        # on the spare node and replays its calls, so every request is still answered once.
        cluster.add_node(num_cpus=1)
        moving = nodes.index(second.node_id) if second.node_id in nodes else None
        cluster.remove_node(second)
        pool.deadline_s = 240.0
        answers = pool.choose(_requests("b", routes))
        out["after_removal"] = [a.request_id for a in answers if not a.error]
        out["errors"] = [a.error for a in answers if a.error]
        out["moved_to"] = ray.get(pool._handles[moving].node.remote()) if moving is not None else None
    finally:
        pool.shutdown()
        ray.shutdown()
        cluster.shutdown()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
