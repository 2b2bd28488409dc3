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

import contextlib
import hashlib
import os
import time
from collections.abc import Sequence
from typing import Any

from agents.lm import Choice, ChooseRequest, Completion, GenerateRequest

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


def _empty_stats() -> dict[str, Any]:
    """Telemetry of a replica that has not answered yet."""
    keys = ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "computed_tokens", "batches",
            "queue_depth", "busy_s", "tokens_per_s", "latency_p50", "latency_p95", "batch_size_mean")  # fmt: skip
    return dict.fromkeys(keys, 0)


def _weight(route: int, replica: int) -> int:
    """Rendezvous-hash weight of a (route, replica) pair: the same in every process."""
    return int.from_bytes(hashlib.blake2b(f"{route}:{replica}".encode(), digest_size=8).digest(), "little")


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
    """A :class:`~agents.lm.LanguageModel` backed by replica actors."""

    def __init__(
        self, handles: list, *, max_batch_size: int, replica_options: dict, engine_kwargs: dict
    ) -> None:
        self._handles = list(handles)
        self._inflight = [0] * len(handles)
        self._hung: dict[int, Any] = {}  # replica -> the call it has not answered in time
        #: Seconds a call may take before its unanswered requests come back failed (None: no limit).
        self.deadline_s: float | None = None
        self.telemetry_timeout_s = 5.0
        self._last_stats: dict[int, dict[str, Any]] = {}
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

        from sim.llm.device import parse_device
        from sim.llm.engine import pick_device
        from sim.llm.models import resolve
        from sim.llm.replica import ReplicaServer

        resolve(model)  # ValueError naming `model` for an unknown spec
        if replicas is not None and replicas < 1:
            raise ValueError(f"replicas: must be >= 1, got {replicas}")
        try:
            device = parse_device(device)
        except ValueError as exc:
            raise ValueError(f"device: {exc}") from None
        ensure_ray(ray_address)
        gpus = int(ray.cluster_resources().get("GPU", 0))
        # cuda:N means "on GPUs" here: Ray gives each replica its own whole GPU (see parse_device).
        use_gpu = device.startswith("cuda") or (device == "auto" and gpus > 0)
        if use_gpu and gpus == 0:
            pick_device("cuda")  # raises the clear "no CUDA device" error
        n = replicas or (gpus if use_gpu else 1)
        if use_gpu:
            options: dict[str, Any] = {"num_gpus": 1, "num_cpus": 1}
            engine_kwargs: dict[str, Any] = {"device": "cuda"}
        else:
            cpus = cpus_per_replica or max(1, int(ray.cluster_resources().get("CPU", 1)) // n)
            options = {"num_cpus": cpus}
            engine_kwargs = {"device": "cpu", "threads": cpus}
        engine_kwargs.update(model=model, dtype=dtype, prefix_cache_mb=prefix_cache_mb)
        options.update(max_restarts=-1, max_task_retries=-1, scheduling_strategy="SPREAD")
        # Any: ray.remote's stubs type a decorated class as one of its methods; the handle is dynamic.
        actor: Any = ray.remote(ReplicaServer)
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
        state["_hung"] = {}
        state["_last_stats"] = {}
        return state

    # ------------------------------------------------------------------ the protocol
    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        return self._call("generate", requests)

    def choose(self, requests: Sequence[ChooseRequest]) -> list[Choice]:
        return self._call("choose", requests)

    def _call(self, kind: str, requests: Sequence[Any]) -> list[Any]:
        """Send ``requests`` to the replicas and gather one answer per request, in order.

        Requests with a ``route`` key go to that key's replica (rendezvous hashing over the
        replicas that answer, so a lost replica's avatars move and nobody else's do); the rest
        go to the least-loaded replica. An answer that has not come within ``deadline_s``, or
        whose replica could not be reached after retries, comes back as ``Choice.failed`` /
        ``Completion.failed`` with the reason: a tick never hangs on a model call. A replica
        that missed a deadline gets no new requests until its late answer arrives.
        """
        import ray
        from ray.exceptions import GetTimeoutError, RayActorError

        if not requests:
            return []
        if not self._handles:
            raise RuntimeError("pool: shut down")
        self._recover_hung()
        results: list[Any] = [None] * len(requests)
        pending: dict[Any, tuple[int, list[int]]] = {}  # ref -> (replica, request indices)
        for replica, idx in self._route(requests):
            for s in range(0, len(idx), self.max_batch_size):
                shard = idx[s : s + self.max_batch_size]
                pending[self._send(kind, replica, [requests[i] for i in shard])] = (replica, shard)
        deadline = None if self.deadline_s is None else time.monotonic() + self.deadline_s
        attempts = 0
        while pending:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _ = ray.wait(list(pending), num_returns=1, timeout=left)
            if not ready:  # the deadline passed: whatever is still out gets no answer this tick
                for ref, (replica, shard) in pending.items():
                    self._hung[replica] = ref
                    self._inflight[replica] = max(0, self._inflight[replica] - len(shard))
                    for i in shard:
                        results[i] = self._failed(
                            kind, requests[i], f"no answer within {self.deadline_s:g} s"
                        )
                break
            ref = ready[0]
            replica, shard = pending.pop(ref)
            self._inflight[replica] = max(0, self._inflight[replica] - len(shard))
            try:
                answers = ray.get(ref, timeout=0)
            except (RayActorError, GetTimeoutError) as e:
                attempts += 1
                others = [i for i in range(len(self._handles)) if i != replica and i not in self._hung]
                if attempts > 4 * len(self._handles) + 8 or not others:
                    for i in shard:
                        results[i] = self._failed(
                            kind, requests[i], f"replica {replica} lost: {type(e).__name__}"
                        )
                    continue
                target = min(others, key=lambda i: self._inflight[i])
                pending[self._send(kind, target, [requests[i] for i in shard])] = (target, shard)
                continue
            for i, a in zip(shard, answers, strict=True):
                results[i] = a
        return results

    @staticmethod
    def _failed(kind: str, request: Any, reason: str) -> Any:
        rid = getattr(request, "request_id", "")
        return Choice.failed(reason, rid) if kind == "choose" else Completion.failed(reason, rid)

    def _live(self) -> list[int]:
        """Replicas that get new requests: all but those still owing a late answer (if any remain)."""
        live = [i for i in range(len(self._handles)) if i not in self._hung]
        return live or list(range(len(self._handles)))

    def _recover_hung(self) -> None:
        """A replica whose late answer has arrived is back in the rotation."""
        if not self._hung:
            return
        import ray

        refs = list(self._hung.values())
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        for replica in [r for r, ref in self._hung.items() if ref in done]:
            del self._hung[replica]

    def replica_for(self, route: int) -> int:
        """The replica that serves ``route`` now (rendezvous hashing over the live replicas)."""
        return max(self._live(), key=lambda i: _weight(route, i))

    def _route(self, requests: Sequence[Any]) -> list[tuple[int, list[int]]]:
        """Request indices grouped by replica: sticky for routed requests, least-loaded for the rest."""
        groups: dict[int, list[int]] = {}
        unrouted: list[int] = []
        for i, r in enumerate(requests):
            key = getattr(r, "route", None)
            if key is None:
                unrouted.append(i)
            else:
                groups.setdefault(self.replica_for(key), []).append(i)
        if unrouted:
            live = self._live()
            load = {i: self._inflight[i] + len(groups.get(i, ())) for i in live}
            for s in range(0, len(unrouted), self.max_batch_size):
                target = min(live, key=lambda i: load[i])
                shard = unrouted[s : s + self.max_batch_size]
                groups.setdefault(target, []).extend(shard)
                load[target] += len(shard)
        return sorted(groups.items())

    def _send(self, kind: str, replica: int, batch: list[Any]) -> Any:
        self._inflight[replica] += len(batch)
        return getattr(self._handles[replica], kind).remote(batch)

    # ------------------------------------------------------------------ telemetry
    def replica_pids(self) -> list[int]:
        import ray

        return ray.get([h.pid.remote() for h in self._handles])

    def telemetry(self) -> dict:
        """Totals over replicas plus one dict per replica (see docs/llm.md for the fields)."""
        import ray

        # Bounded like every call: a replica that does not answer within the telemetry timeout
        # (hung, restarting) reports its last known figures, so a tick never waits on it.
        refs = [None if i in self._hung else h.stats.remote() for i, h in enumerate(self._handles)]
        asked = [r for r in refs if r is not None]
        done, _ = (
            ray.wait(asked, num_returns=len(asked), timeout=self.telemetry_timeout_s) if asked else ([], [])
        )
        per = []
        for i, ref in enumerate(refs):
            if ref is not None and ref in done:
                # A replica lost mid-call keeps its last figures.
                with contextlib.suppress(Exception):
                    self._last_stats[i] = ray.get(ref, timeout=0)
            per.append(self._last_stats.get(i) or _empty_stats())
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
