"""Fakes for unit tests of avatar and model logic (never for the paths the real model covers).

``ScriptedLanguageModel`` answers ``choose`` with a fixed preference (the option whose label
contains a wanted word, else the first) and ``generate`` with canned lines, recording every
batch it was sent, so tests can assert on batching and on prompts.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.lm import Choice, ChooseRequest, Completion, GenerateRequest


class ScriptedLanguageModel:
    """A deterministic stand-in for the pool: prefers options containing ``prefer`` words."""

    def __init__(self, prefer: Sequence[str] = ("talk",), lines: Sequence[str] = ("Hello there!",)) -> None:
        self.prefer = tuple(prefer)
        self.lines = tuple(lines)
        self.choose_batches: list[list[ChooseRequest]] = []
        self.generate_batches: list[list[GenerateRequest]] = []

    def choose(self, requests: Sequence[ChooseRequest]) -> list[Choice]:
        self.choose_batches.append(list(requests))
        out = []
        for r in requests:
            index = 0
            for word in self.prefer:
                hits = [i for i, o in enumerate(r.options) if word in o]
                if hits:
                    index = hits[0]
                    break
            probs = tuple(1.0 if i == index else 0.0 for i in range(len(r.options)))
            out.append(Choice(probs=probs, index=index, prompt_tokens=100, request_id=r.request_id))
        return out

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        self.generate_batches.append(list(requests))
        return [
            Completion(
                text=self.lines[i % len(self.lines)],
                prompt_tokens=120,
                completion_tokens=8,
                finish_reason="stop",
                request_id=r.request_id,
            )
            for i, r in enumerate(requests)
        ]


class ScriptedWorld:
    """A world stand-in for policy unit tests: fixed observations and legal options per avatar."""

    def __init__(self, observations: dict, options: dict, coins: dict | None = None) -> None:
        self.observations = observations
        self.options = options
        self.coins = coins or {}

    def observation_for(self, avatar_id: int):
        return self.observations[avatar_id]

    def legal_actions(self, avatar_id: int, limit: int = 26):
        return list(self.options.get(avatar_id, ()))[:limit]

    def balance(self, avatar_id: int) -> int:
        return self.coins.get(avatar_id, 0)
