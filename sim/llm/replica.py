"""A replica: a Ray async actor that owns one :class:`~sim.llm.engine.Engine`.

Requests from concurrent callers (several simulations of an evaluation, or several shards
of one tick) wait in one queue; the batching loop takes up to ``max_batch_size`` requests of
one kind, waiting at most ``max_wait_ms`` for more, and runs them as one batch in a worker
thread so that the event loop keeps accepting requests meanwhile.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sim.metrics import percentile

__all__ = ["ReplicaServer"]


@dataclass
class _Pending:
    kind: str  # "generate" or "choose"
    request: object
    future: asyncio.Future
    enqueued: float = field(default_factory=time.perf_counter)


class ReplicaServer:
    """The actor's class (wrapped with ``ray.remote`` by the pool; plain Python here for tests)."""

    def __init__(self, engine_kwargs: dict, max_batch_size: int = 64, max_wait_ms: float = 10.0) -> None:
        from sim.llm.engine import Engine

        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms: must be >= 0, got {max_wait_ms}")
        self.engine = Engine(max_batch_size=max_batch_size, **engine_kwargs)
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000.0
        self._queue: deque[_Pending] = deque()
        self._arrived: asyncio.Event | None = None
        self._loop_task: asyncio.Task | None = None
        self._latencies: deque[float] = deque(maxlen=4096)
        self._batch_sizes: deque[int] = deque(maxlen=4096)
        self._started = time.time()

    # ------------------------------------------------------------------ public actor methods
    async def generate(self, requests: Sequence) -> list:
        return await self._submit("generate", requests)

    async def choose(self, requests: Sequence) -> list:
        return await self._submit("choose", requests)

    async def ready(self) -> dict:
        return self.engine.info()

    async def pid(self) -> int:
        return os.getpid()

    async def node(self) -> str:
        """The Ray node this replica runs on."""
        import ray

        return str(ray.get_runtime_context().get_node_id())

    async def stats(self) -> dict:
        s = dict(self.engine.stats)
        s.update(
            pid=os.getpid(),
            queue_depth=len(self._queue),
            latency_p50=percentile(self._latencies, 50),
            latency_p95=percentile(self._latencies, 95),
            batch_size_mean=(sum(self._batch_sizes) / len(self._batch_sizes)) if self._batch_sizes else 0.0,
            batch_size_max=max(self._batch_sizes, default=0),
            tokens_per_s=s["computed_tokens"] / s["busy_s"] if s["busy_s"] else 0.0,
            uptime_s=time.time() - self._started,
            **{f"engine_{k}": v for k, v in self.engine.info().items()},
        )
        if self.engine.prefix_cache is not None:
            pc = self.engine.prefix_cache
            s.update(prefix_cache_entries=len(pc), prefix_cache_bytes=pc.bytes, prefix_cache_hits=pc.hits)
        return s

    # ------------------------------------------------------------------ batching loop
    async def _submit(self, kind: str, requests: Sequence) -> list:
        loop = asyncio.get_running_loop()
        if self._arrived is None:
            self._arrived = asyncio.Event()
            self._loop_task = loop.create_task(self._serve())
        pending = [_Pending(kind, r, loop.create_future()) for r in requests]
        self._queue.extend(pending)
        self._arrived.set()
        return list(await asyncio.gather(*(p.future for p in pending)))

    def _take_batch(self) -> list[_Pending]:
        kind = self._queue[0].kind  # oldest first; one kind per batch
        batch: list[_Pending] = []
        rest: deque[_Pending] = deque()
        while self._queue and len(batch) < self.max_batch_size:
            p = self._queue.popleft()
            (batch if p.kind == kind else rest).append(p)
        self._queue.extendleft(reversed(rest))
        return batch

    async def _serve(self) -> None:
        assert self._arrived is not None
        while True:
            if not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
            # Wait a little for more requests unless a full batch is already here.
            deadline = time.perf_counter() + self.max_wait
            while len(self._queue) < self.max_batch_size and (left := deadline - time.perf_counter()) > 0:
                self._arrived.clear()
                try:
                    await asyncio.wait_for(self._arrived.wait(), timeout=left)
                except TimeoutError:
                    break
            batch = self._take_batch()
            fn: Callable[[list[Any]], list[Any]] = (
                self.engine.generate if batch[0].kind == "generate" else self.engine.choose
            )
            try:
                results = await asyncio.to_thread(fn, [p.request for p in batch])
            except Exception as exc:  # a bad request fails its batch's callers, not the replica
                for p in batch:
                    if not p.future.done():
                        p.future.set_exception(exc)
                continue
            now = time.perf_counter()
            self._batch_sizes.append(len(batch))
            for p, r in zip(batch, results, strict=True):
                self._latencies.append(now - p.enqueued)
                if not p.future.done():
                    p.future.set_result(r)
