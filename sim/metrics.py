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
class PhaseUsage:
    """Model use of one phase (choose, speech, moderation) over a whole run."""

    calls: int = 0  # batched calls to the model
    requests: int = 0
    prompt_tokens: int = 0
    cached_tokens: int = 0  # of the prompt tokens, those served from the prefix cache
    completion_tokens: int = 0
    failed: int = 0  # requests that got no answer (deadline, lost replica)
    seconds: float = 0.0  # wall time spent waiting on the model

    def as_dict(self) -> dict[str, float]:
        """JSON form, with ``computed_tokens`` (prompt tokens the model had to compute)."""
        return {
            "calls": self.calls,
            "requests": self.requests,
            "prompt_tokens": self.prompt_tokens,
            "cached_tokens": self.cached_tokens,
            "computed_tokens": self.prompt_tokens - self.cached_tokens,
            "completion_tokens": self.completion_tokens,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
        }


PHASES = ("choose", "speech", "moderation")


@dataclass
class Usage:
    """A run's model use by phase, and per LLM avatar-tick: what ``usage.json`` holds.

    ``avatar_ticks`` counts LLM avatars times ticks simulated; ``calls_per_avatar_tick`` is
    the choose and speech requests per LLM avatar-tick (each a model call for that avatar);
    ``fallbacks`` the decisions taken by the rule policy because no answer came.
    """

    phases: dict[str, PhaseUsage] = field(default_factory=lambda: {p: PhaseUsage() for p in PHASES})
    avatar_ticks: int = 0
    ticks: int = 0
    fallbacks: int = 0

    def record(self, phase: str, seconds: float, answers: Sequence[Choice] | Sequence[Completion]) -> None:
        """Account one batched call of ``phase``."""
        u = self.phases[phase]
        u.calls += 1
        u.seconds += seconds
        for a in answers:
            u.requests += 1
            u.prompt_tokens += a.prompt_tokens
            u.cached_tokens += a.cached_tokens
            u.completion_tokens += getattr(a, "completion_tokens", 0)
            u.failed += 1 if a.error else 0

    def as_dict(self) -> dict[str, object]:
        """The JSON written to ``usage.json``."""
        per = self.phases["choose"].requests + self.phases["speech"].requests
        total = PhaseUsage()
        for u in self.phases.values():
            for name in (
                "calls",
                "requests",
                "prompt_tokens",
                "cached_tokens",
                "completion_tokens",
                "failed",
            ):
                setattr(total, name, getattr(total, name) + getattr(u, name))
            total.seconds += u.seconds
        return {
            "ticks": self.ticks,
            "llm_avatar_ticks": self.avatar_ticks,
            "calls_per_avatar_tick": round(per / self.avatar_ticks, 4) if self.avatar_ticks else 0.0,
            "fallbacks": self.fallbacks,
            "total": total.as_dict(),
            "by_phase": {p: u.as_dict() for p, u in self.phases.items()},
        }

    def summary(self) -> str:
        """One line for the end of ``mesaverse run``."""
        d = self.as_dict()
        t = d["total"]
        assert isinstance(t, dict)
        cached = t["cached_tokens"] / t["prompt_tokens"] if t["prompt_tokens"] else 0.0
        return (
            f"model use: {t['requests']} requests in {t['calls']} calls "
            f"({d['calls_per_avatar_tick']} per LLM avatar-tick), {t['prompt_tokens']} prompt tokens "
            f"({cached:.0%} cached), {t['completion_tokens']} generated, {t['seconds']:.1f} s in the model, "
            f"{d['fallbacks']} fallbacks"
        )

    def get_state(self) -> dict[str, object]:
        """JSON-safe state (checkpoints carry it, so a resumed run's totals continue)."""
        return {
            "phases": {
                p: {k: getattr(u, k) for k in PhaseUsage.__dataclass_fields__} for p, u in self.phases.items()
            },
            "avatar_ticks": self.avatar_ticks,
            "ticks": self.ticks,
            "fallbacks": self.fallbacks,
        }

    def set_state(self, state: Mapping[str, object]) -> None:
        """Restore :meth:`get_state`'s output."""
        phases = state.get("phases", {})
        assert isinstance(phases, Mapping)
        self.phases = {p: PhaseUsage(**phases.get(p, {})) for p in PHASES}
        self.avatar_ticks = _count(state.get("avatar_ticks"))
        self.ticks = _count(state.get("ticks"))
        self.fallbacks = _count(state.get("fallbacks"))


def _count(value: object) -> int:
    return value if isinstance(value, int) else 0


@dataclass
class LLMMeter:
    """Counts one tick's LLM calls as the model makes them, then reports ``llm.*`` metrics; the
    run's totals by phase accumulate in :attr:`usage`.

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
    usage: Usage = field(default_factory=Usage)

    def reset(self) -> None:
        """Start a new tick."""
        self.requests = self.prompt_tokens = self.completion_tokens = self.cached_tokens = 0
        self.seconds = 0.0
        self.latencies = []

    def start(self) -> float:
        """A timestamp to pass to :meth:`record_choices` / :meth:`record_completions`."""
        return time.perf_counter()

    def record_choices(self, started: float, choices: Sequence[Choice], phase: str = "choose") -> None:
        """Account a finished ``choose`` call."""
        dt = time.perf_counter() - started
        self.seconds += dt
        self.requests += len(choices)
        self.prompt_tokens += sum(c.prompt_tokens for c in choices)
        self.cached_tokens += sum(c.cached_tokens for c in choices)
        self.latencies += [dt] * len(choices)
        self.usage.record(phase, dt, choices)

    def record_completions(
        self, started: float, completions: Sequence[Completion], phase: str = "speech"
    ) -> None:
        """Account a finished ``generate`` call."""
        dt = time.perf_counter() - started
        self.seconds += dt
        self.requests += len(completions)
        self.prompt_tokens += sum(c.prompt_tokens for c in completions)
        self.completion_tokens += sum(c.completion_tokens for c in completions)
        self.cached_tokens += sum(c.cached_tokens for c in completions)
        self.latencies += [dt] * len(completions)
        self.usage.record(phase, dt, completions)

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
