"""The sim's own per-tick metrics: speech, and the language model's load.

The world computes the economy, social, moderation and project metrics (``world.metrics()``);
this module adds what only the sim sees - messages and conversations, LLM requests, tokens,
throughput and latency. Inequality is defined once, in :mod:`world.stats`. Every
name is documented in docs/simulation.md. One metric, one place: nothing here recomputes a
world metric.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from agents.lm import Choice, Completion
from world.types import Event

__all__ = ["LLMMeter", "percentile", "speech_metrics"]


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``; 0 when empty.

    The one definition of a latency percentile: the tick's ``llm.latency_p*`` metrics here and a
    replica's telemetry (:mod:`sim.llm.replica`) both use it.
    """
    ordered = sorted(values)
    if not ordered:
        return 0.0
    k = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return float(ordered[k])


def speech_metrics(says: Sequence[Event], conversations_active: int) -> dict[str, float]:
    """``messages``: the tick's say events (delivered or not); ``conversations``: conversations
    that had a turn this tick."""
    messages = len(says)
    return {"messages": float(messages), "conversations": float(conversations_active)}


@dataclass
class LLMMeter:
    """Counts one tick's LLM calls as the model makes them, then reports ``llm.*`` metrics.

    Per-request latency is the wall time of the batched call that carried it (the caller
    cannot see finer); when the language model offers ``telemetry()`` (the pool does), its
    own latency percentiles, batch sizes, queue depth and per-replica throughput are used.
    """

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    def reset(self) -> None:
        """Start a new tick."""
        self.requests = self.prompt_tokens = self.completion_tokens = self.cached_tokens = 0
        self.seconds = 0.0
        self.latencies = []

    def start(self) -> float:
        """A timestamp to pass to :meth:`record_choices` / :meth:`record_completions`."""
        return time.perf_counter()

    def record_choices(self, started: float, choices: Sequence[Choice]) -> None:
        """Account a finished ``choose`` call."""
        dt = time.perf_counter() - started
        self.seconds += dt
        self.requests += len(choices)
        self.prompt_tokens += sum(c.prompt_tokens for c in choices)
        self.cached_tokens += sum(c.cached_tokens for c in choices)
        self.latencies += [dt] * len(choices)

    def record_completions(self, started: float, completions: Sequence[Completion]) -> None:
        """Account a finished ``generate`` call."""
        dt = time.perf_counter() - started
        self.seconds += dt
        self.requests += len(completions)
        self.prompt_tokens += sum(c.prompt_tokens for c in completions)
        self.completion_tokens += sum(c.completion_tokens for c in completions)
        self.cached_tokens += sum(c.cached_tokens for c in completions)
        self.latencies += [dt] * len(completions)

    def metrics(self, telemetry: Mapping[str, object] | None = None) -> dict[str, float]:
        """The ``llm.*`` metrics of the tick.

        ``llm.tokens_per_s`` is prompt plus completion tokens of the tick over the seconds the
        tick spent waiting on the model (0 when it made no call).
        """
        tokens = self.prompt_tokens + self.completion_tokens
        out = {
            "llm.requests": float(self.requests),
            "llm.prompt_tokens": float(self.prompt_tokens),
            "llm.completion_tokens": float(self.completion_tokens),
            "llm.cached_tokens": float(self.cached_tokens),
            "llm.tokens_per_s": tokens / self.seconds if self.seconds > 0 else 0.0,
            "llm.latency_p50": percentile(self.latencies, 50),
            "llm.latency_p95": percentile(self.latencies, 95),
        }
        if telemetry:
            for key in ("latency_p50", "latency_p95", "batch_size_mean", "queue_depth"):
                value = telemetry.get(key)
                if isinstance(value, int | float):
                    out[f"llm.{key}"] = float(value)
            replicas = telemetry.get("replicas")
            for i, rep in enumerate(replicas if isinstance(replicas, Sequence) else ()):
                if isinstance(rep, Mapping) and isinstance(rep.get("tokens_per_s"), int | float):
                    out[f"llm.replica.{i}.tokens_per_s"] = float(rep["tokens_per_s"])
        return out
