"""Intentions: chosen work carries on without model calls until something interrupts it."""

from __future__ import annotations

from pathlib import Path

from agents_fakes import ScriptedLanguageModel

from agents.intentions import HOLD_TICKS, Intention, carry_on, intend
from sim.model import MetaverseModel
from world.types import Action, Heard, Observation, Offer

ROOT = Path(__file__).resolve().parents[2]
GATHER = Action(1, "gather", item="wheat")


def _obs(tick: int = 5, **kw) -> Observation:
    base = dict(
        avatar_id=1, tick=tick, name="Ada", place="farm", travelling_to=None, coins=5, inventory={},
        needs={"hunger": 0.2, "tiredness": 0.3, "loneliness": 0.4}, nearby=(), messages=(), offers=(),
        prices={},
    )  # fmt: skip
    base.update(kw)
    return Observation(**base)


def test_work_starts_an_intention_and_talk_does_not() -> None:
    assert intend(GATHER, 4) == Intention(GATHER, since=4, until=4 + HOLD_TICKS)
    assert intend(Action(1, "say", target=2), 4) is None


def test_an_intention_carries_on_with_the_worlds_own_option() -> None:
    held = intend(GATHER, 4)
    options = [Action(1, "rest"), GATHER]
    assert carry_on(held, _obs(tick=5), options) is options[1]
    assert carry_on(held, _obs(tick=4 + HOLD_TICKS + 1), options) is None  # done
    assert carry_on(held, _obs(tick=5), [Action(1, "rest")]) is None  # no longer legal: ask again


def test_speech_offers_and_urgent_needs_interrupt() -> None:
    held = intend(GATHER, 4)
    options = [GATHER, Action(1, "rest")]
    assert carry_on(held, _obs(messages=(Heard(4, 2, "Ada, a word?"),)), options) is None
    assert carry_on(held, _obs(messages=(Heard(3, 2, "old news"),)), options) is GATHER  # before it began
    offer = Offer(7, 2, 1, (("bread", 1),), (("coin", 3),), 5, 8)
    assert carry_on(held, _obs(offers=(offer,)), options) is None
    assert carry_on(held, _obs(needs={"hunger": 0.85, "tiredness": 0.1, "loneliness": 0.1}), options) is None


def test_intention_round_trips_through_a_checkpoint() -> None:
    held = Intention(Action(3, "craft", recipe="bread"), since=2, until=5)
    assert Intention.from_dict(held.as_dict()) == held


def test_a_working_llm_avatar_asks_the_model_less_often() -> None:
    lm = ScriptedLanguageModel(prefer=("gather",), lines=("Hi.",))
    model = MetaverseModel(ROOT / "configs" / "town.yaml", llm=lm, seed=1, ticks=6)
    gatherers = {a.avatar_id for a in model.avatars if a.role == "gatherer"}
    gathered = 0
    while model.running:
        model.step()
        gathered += sum(1 for e in model.last_events if e.kind == "gather" and e.actor in gatherers)
    asked = sum(1 for b in lm.choose_batches for r in b if int(r.request_id.split(":")[1]) in gatherers)
    # Work carries on without asking: gatherers gathered far more often than they were asked.
    assert gathered >= 2 * len(gatherers) and asked < gathered
    assert any(a.intention is not None for a in model.avatars)
    state = model.get_state()
    twin = MetaverseModel(ROOT / "configs" / "town.yaml", llm=lm, seed=1, ticks=6)
    twin.set_state(state)
    assert [a.intention for a in twin.avatars] == [a.intention for a in model.avatars]
