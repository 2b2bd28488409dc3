"""The replica pool: N replicas on a Ray cluster, least-loaded routing, failure recovery.

- One replica per GPU (``num_gpus=1``, spread over the cluster's nodes), else one on CPU that
  reserves the CPUs its torch threads use (Ray would otherwise set OMP_NUM_THREADS=1).
- Replicas are Ray actors with ``max_restarts=-1``: Ray restarts a dead replica, and
  ``max_task_retries=-1`` replays the calls it had in flight on the restarted actor, so every
  request is answered; each request's answer comes back through exactly one call, so none is
  answered twice. If a call still fails (the actor could not come back), the pool sends that
  shard to another replica.
- Picklable: it holds only actor handles and settings, so Ray tasks (evaluation runs) can share
  one pool, and their concurrent requests batch together inside the replicas.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from sim.llm.protocol import Choice, ChooseRequest, Completion, GenerateRequest

__all__ = ["Pool", "ensure_ray"]


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Attach to ``address`` (or ``RAY_ADDRESS``), else start a small local cluster."""
    import ray

    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    env = {"TOKENIZERS_PARALLELISM": "false", "TRANSFORMERS_VERBOSITY": "error"}
    if address:
        ray.init(address=address, runtime_env={"env_vars": env}, log_to_driver=True)
    else:
        _loopback_only()
        ray.init(
            num_cpus=num_cpus or os.cpu_count() or 1,
            include_dashboard=False,
            runtime_env={"env_vars": env},
            log_to_driver=True,
        )


#: Read by Ray when it is imported: false makes a node's address loopback (ray.init turns an explicit
#: ``_node_ip_address="127.0.0.1"`` back into the machine's external address).
_RAY_LOCAL_ONLY_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _loopback_only() -> None:
    """Make the local cluster we start bind loopback only (GCS, raylet, object manager, workers).

    Ray binds its servers to the node's address; with clusters disabled that address is 127.0.0.1,
    so nothing of ours listens on an external interface (verified with ``ss -ltnp``). The variable is
    read when ray is imported, so the flag it sets is set too in case ray was imported already; worker
    processes inherit the variable.
    """
    os.environ[_RAY_LOCAL_ONLY_ENV] = "0"
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False


class Pool:
    """A :class:`~sim.llm.protocol.LanguageModel` backed by replica actors."""

    def __init__(
        self, handles: list, *, max_batch_size: int, replica_options: dict, engine_kwargs: dict
    ) -> None:
        self._handles = list(handles)
        self._inflight = [0] * len(handles)
        self.max_batch_size = max_batch_size
        self._replica_options = replica_options
        self._engine_kwargs = engine_kwargs
        self.info: list[dict] = []

    # ------------------------------------------------------------------ life cycle
    @classmethod
    def start(
        cls,
        replicas: int | None = None,
        model: str = "smollm2-135m",
        device: str = "auto",
        dtype: str = "auto",
        ray_address: str | None = None,
        max_batch_size: int = 64,
        max_wait_ms: float = 10.0,
        cpus_per_replica: int | None = None,
        prefix_cache_mb: int = 1024,
    ) -> Pool:
        """Start replicas (validating the model spec first, so a typo fails before Ray starts)."""
        import ray

        from sim.llm.engine import pick_device
        from sim.llm.models import resolve
        from sim.llm.replica import ReplicaServer

        resolve(model)  # ValueError naming `model` for an unknown spec
        if replicas is not None and replicas < 1:
            raise ValueError(f"replicas: must be >= 1, got {replicas}")
        if device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device: must be auto, cpu or cuda, got {device!r}")
        ensure_ray(ray_address)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        use_gpu = device == "cuda" or (device == "auto" and gpus > 0)
        if use_gpu and gpus == 0:
            pick_device("cuda")  # raises the clear "no CUDA device" error
        n = replicas or (gpus if use_gpu else 1)
        if use_gpu:
            options = {"num_gpus": 1, "num_cpus": 1}
            engine_kwargs = {"device": "cuda"}
        else:
            cpus = cpus_per_replica or max(1, int(ray.cluster_resources().get("CPU", 1)) // n)
            options = {"num_cpus": cpus}
            engine_kwargs = {"device": "cpu", "threads": cpus}
        engine_kwargs.update(model=model, dtype=dtype, prefix_cache_mb=prefix_cache_mb)
        options.update(max_restarts=-1, max_task_retries=-1, scheduling_strategy="SPREAD")
        actor = ray.remote(ReplicaServer)
        handles = [
            actor.options(**options).remote(engine_kwargs, max_batch_size, max_wait_ms) for _ in range(n)
        ]
        pool = cls(
            handles, max_batch_size=max_batch_size, replica_options=options, engine_kwargs=engine_kwargs
        )
        pool.info = ray.get([h.ready.remote() for h in handles])
        return pool

    def shutdown(self) -> None:
        import ray

        for h in self._handles:
            ray.kill(h, no_restart=True)
        self._handles = []

    @property
    def replicas(self) -> int:
        return len(self._handles)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_inflight"] = [0] * len(self._handles)  # load counts are per process
        return state

    # ------------------------------------------------------------------ the protocol
    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        return self._call("generate", requests)

    def choose(self, requests: Sequence[ChooseRequest]) -> list[Choice]:
        return self._call("choose", requests)

    def _call(self, kind: str, requests: Sequence) -> list:
        import ray
        from ray.exceptions import RayActorError

        if not requests:
            return []
        if not self._handles:
            raise RuntimeError("pool: shut down")
        # Shards of at most one batch each, each to the least-loaded replica at that moment.
        shards = [list(range(s, min(s + self.max_batch_size, len(requests)))) for s in
                  range(0, len(requests), self.max_batch_size)]  # fmt: skip
        results: list = [None] * len(requests)
        pending: dict = {}
        for shard in shards:
            pending[self._send(kind, [requests[i] for i in shard])] = shard
        attempts = 0
        while pending:
            ref = next(iter(pending))
            shard = pending.pop(ref)
            replica, ref_ = ref
            try:
                answers = ray.get(ref_)
            except RayActorError:
                attempts += 1
                if attempts > 4 * len(shards) + 8:
                    raise
                pending[self._send(kind, [requests[i] for i in shard], avoid=replica)] = shard
                continue
            finally:
                self._inflight[replica] = max(0, self._inflight[replica] - len(shard))
            for i, a in zip(shard, answers, strict=True):
                results[i] = a
        return results

    def _send(self, kind: str, batch: list, avoid: int | None = None) -> tuple[int, object]:
        order = sorted(range(len(self._handles)), key=lambda i: (i == avoid, self._inflight[i]))
        replica = order[0]
        self._inflight[replica] += len(batch)
        return replica, getattr(self._handles[replica], kind).remote(batch)

    # ------------------------------------------------------------------ telemetry
    def replica_pids(self) -> list[int]:
        import ray

        return ray.get([h.pid.remote() for h in self._handles])

    def telemetry(self) -> dict:
        """Totals over replicas plus one dict per replica (see docs/llm.md for the fields)."""
        import ray

        per = ray.get([h.stats.remote() for h in self._handles])
        total: dict = {"replicas": per}
        for key in ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "computed_tokens",
                    "batches", "queue_depth"):  # fmt: skip
            total[key] = sum(p[key] for p in per)
        busy = max((p["busy_s"] for p in per), default=0.0)
        total["busy_s"] = busy
        total["tokens_per_s"] = sum(p["tokens_per_s"] for p in per)
        total["latency_p50"] = max((p["latency_p50"] for p in per), default=0.0)
        total["latency_p95"] = max((p["latency_p95"] for p in per), default=0.0)
        total["batch_size_mean"] = (
            sum(p["batch_size_mean"] * p["batches"] for p in per) / total["batches"]
            if total["batches"]
            else 0.0
        )
        return total
