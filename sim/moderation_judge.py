"""Wires the world's moderation judge port (:data:`world.moderation.Judge`) to a language model.

The world asks ``judge(question, texts, seed)`` for P(yes) per message; this asks the model one
yes/no ``choose`` question per message, all in one batched call.
"""

from __future__ import annotations

from collections.abc import Sequence

from agents.lm import ChooseRequest, LanguageModel, Message
from sim.metrics import LLMMeter
from world.moderation import Judge

__all__ = ["moderation_judge"]


def moderation_judge(llm: LanguageModel, meter: LLMMeter | None = None) -> Judge:
    """A :data:`~world.moderation.Judge` that asks ``llm`` (its calls counted by ``meter``, phase
    "moderation"). A message whose answer did not come is judged None (no opinion)."""

    def judge(question: str, texts: Sequence[str], seed: int) -> list[float | None]:
        requests = [
            ChooseRequest(
                messages=(
                    Message("system", question),
                    Message("user", f"Message: {text}\nAnswer yes or no."),
                ),
                options=("yes", "no"),
                seed=seed + i,
            )
            for i, text in enumerate(texts)
        ]
        started = meter.start() if meter is not None else 0.0
        answers = llm.choose(requests)
        if meter is not None:
            meter.record_choices(started, answers, phase="moderation")
        return [float(c.probs[0]) if c.probs and not c.error else None for c in answers]

    return judge
