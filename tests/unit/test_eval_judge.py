"""The survey and persona consistency, with a scripted language model standing in for the pool."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from agents.lm import Choice, ChooseRequest, Completion, GenerateRequest
from sim.evaluation.judge import persona_consistency, run_survey
from sim.evaluation.metrics import load_log, summarize
from sim.evaluation.sweep import SurveyQuestion
from sim.store import EventStore

PERSONA = {
    "name": "Ada",
    "age": 30,
    "occupation": "baker",
    "traits": ["kind"],
    "goals": ["bake"],
    "values": ["honesty"],
}


class ScriptedModel:
    """Answers option ``agent_id % k`` to survey questions, and P(yes) = 0.8 / 0.4 by speaker."""

    def __init__(self) -> None:
        self.batches: list[list[ChooseRequest]] = []

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]:
        raise AssertionError("the evaluation only chooses")

    def choose(self, requests: Sequence[ChooseRequest]) -> list[Choice]:
        self.batches.append(list(requests))
        out = []
        for r in requests:
            kind, who = r.request_id.split(":")[:2]
            if kind == "survey":
                i = int(who) % len(r.options)
                probs = tuple(1.0 if j == i else 0.0 for j in range(len(r.options)))
            else:
                p = 0.8 if "Ada" in r.messages[-1].content else 0.4
                probs = (p, 1 - p)
            out.append(Choice(probs=probs, index=max(range(len(probs)), key=probs.__getitem__)))
        return out


def make_store(path: Path) -> Path:
    store = EventStore.create(path, run_id="r", scenario="s", seed=7, config={})
    store.register_agents([(1, "Ada", "llm", PERSONA), (2, "Bo", "trader", {"name": "Bo", "role": "trader"})])
    says = [
        {"kind": "say", "actor": 1, "text": "Fresh bread for everyone!", "data": {}},
        {"kind": "say", "actor": 2, "text": "Buy low, sell high.", "data": {}},
        {"kind": "say", "actor": 2, "text": "Deal?", "data": {}},
    ]
    store.write_tick(0, says, {"messages": 3}, [(1, "plaza", 0, 0, 12, {}), (2, "plaza", 0, 0, 30, {})])
    store.close()
    return path


QUESTIONS = (
    SurveyQuestion(id="fair", text="Was the market fair?", options=("no", "somewhat", "yes")),
    SurveyQuestion(id="happy", text="Are you happy?", options=("no", "yes"), scores=(0.0, 10.0)),
)


def test_every_avatar_answers_every_question_in_one_batch_stored_as_interviews(tmp_path: Path) -> None:
    db = make_store(tmp_path / "events.db")
    lm = ScriptedModel()
    assert run_survey(db, QUESTIONS, lm, run_seed=7) == 4
    assert len(lm.batches) == 1 and len(lm.batches[0]) == 4
    log = load_log(db)
    interviews = log.events[log.events["kind"] == "interview"]
    assert interviews["tick"].unique().tolist() == [1]  # one tick after the run's last
    assert interviews["text"].tolist() == ["somewhat", "yes", "yes", "no"]
    summary = summarize(log)
    # fair: Ada picks option 1 (score 2), Bo option 2 (score 3); happy: Ada 10, Bo 0
    assert summary["survey.fair"] == 2.5
    assert summary["survey.happy"] == 5.0
    assert summary["run.ticks"] == 1  # the interview tick writes no metrics: not a simulated tick


def test_survey_prompt_puts_the_persona_first_and_the_question_last(tmp_path: Path) -> None:
    lm = ScriptedModel()
    run_survey(make_store(tmp_path / "events.db"), QUESTIONS[:1], lm, run_seed=7)
    ada = lm.batches[0][0]
    assert ada.messages[1].content.startswith("You are Ada, a 30-year-old baker.")
    assert ada.messages[-1].content.endswith("Question: Was the market fair?")
    assert "You sent 1 messages" in ada.messages[-1].content
    assert "You ended with 12 coins." in ada.messages[-1].content


def test_persona_consistency_is_the_mean_probability_of_yes(tmp_path: Path) -> None:
    log = load_log(make_store(tmp_path / "events.db"))
    lm = ScriptedModel()
    assert persona_consistency(log, lm, samples=10, run_seed=7) == pytest.approx((0.8 + 0.4 + 0.4) / 3)
    assert len(lm.batches) == 1


def test_persona_consistency_samples_the_same_messages_for_the_same_seed(tmp_path: Path) -> None:
    log = load_log(make_store(tmp_path / "events.db"))
    a, b = ScriptedModel(), ScriptedModel()
    persona_consistency(log, a, samples=2, run_seed=3)
    persona_consistency(log, b, samples=2, run_seed=3)
    assert [r.request_id for r in a.batches[0]] == [r.request_id for r in b.batches[0]]
    assert len(a.batches[0]) == 2
