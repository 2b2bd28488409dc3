"""The Mesa model: tick loop, determinism, Mesa compatibility, checkpoints, the event store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mesa
import pytest
from agents_fakes import ScriptedLanguageModel

from agents.speech import FIRST
from sim.model import MetaverseModel
from sim.store import EventStore

ROOT = Path(__file__).resolve().parents[2]
BOLTZMANN = ROOT / "configs" / "boltzmann.yaml"
TOWN = ROOT / "configs" / "town.yaml"


def _event_log(model: MetaverseModel, ticks: int) -> list[tuple]:
    log = []
    for _ in range(ticks):
        model.step()
        log += [(e.tick, e.kind, e.actor, e.target, e.place, e.text, json.dumps(e.data, sort_keys=True))
                for e in model.last_events]  # fmt: skip
    return log


def test_boltzmann_conserves_coins_and_concentrates_wealth() -> None:
    model = MetaverseModel(BOLTZMANN, population=200, ticks=30, seed=1)
    for _ in range(30):
        model.step()
    assert model.last_metrics["coins_total"] == 200.0
    assert model.last_metrics["gini"] > 0.3
    assert model.last_metrics["invalid_actions"] == 0.0
    assert not model.running


def test_same_seed_gives_the_same_event_log() -> None:
    a = _event_log(MetaverseModel(BOLTZMANN, population=100, seed=3), 5)
    b = _event_log(MetaverseModel(BOLTZMANN, population=100, seed=3), 5)
    c = _event_log(MetaverseModel(BOLTZMANN, population=100, seed=4), 5)
    assert a == b
    assert a != c


def test_seed_defaults_to_the_scenario_run_seed() -> None:
    model = MetaverseModel(BOLTZMANN, population=10)
    assert model.run_seed == 42
    assert model._seed == 42


def test_avatars_are_mesa_agents_with_mesa_ids() -> None:
    model = MetaverseModel(BOLTZMANN, population=10, seed=0)
    assert len(model.agents) == 10
    assert sorted(a.unique_id for a in model.agents) == list(range(1, 11))
    assert model.avatar_ids == list(range(1, 11))
    assert all(isinstance(a, mesa.Agent) for a in model.avatars)


def test_datacollector_collects_every_tick() -> None:
    model = MetaverseModel(BOLTZMANN, population=50, ticks=4, seed=1)
    while model.running:
        model.step()
    df = model.datacollector.get_model_vars_dataframe()
    assert len(df) == 5  # the initial state, then one row per tick
    assert list(df["population"]) == [50.0] * 5
    assert df["gini"].iloc[0] == 0.0
    assert df["gini"].iloc[-1] > 0


def test_mesa_batch_run_sweeps_the_boltzmann_scenario() -> None:
    results = mesa.batch_run(
        MetaverseModel,
        parameters={"config": str(BOLTZMANN), "population": [20, 40], "ticks": 3},
        iterations=1,
        max_steps=10,
        display_progress=False,
    )
    # Mesa 3.3's batch_run labels the final collection ``model.steps - 1``: 3 ticks -> Step 2.
    assert sorted((r["population"], r["Step"]) for r in results) == [(20, 2), (40, 2)]
    assert all(0.0 <= r["gini"] <= 1.0 for r in results)


def test_rule_only_model_imports_neither_torch_nor_ray() -> None:
    code = (
        "import sys; from sim.model import MetaverseModel; "
        f"m = MetaverseModel({str(BOLTZMANN)!r}, population=20); m.step(); "
        "print(sorted(k for k in ('torch', 'ray', 'transformers') if k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_a_scenario_with_llm_avatars_needs_a_language_model() -> None:
    with pytest.raises(ValueError, match="has LLM avatars: pass a language model"):
        MetaverseModel(TOWN)


def test_restoring_a_checkpoint_continues_exactly() -> None:
    whole = MetaverseModel(TOWN, overrides=["population.llm_share=0"], seed=9)
    log = _event_log(whole, 8)
    first = MetaverseModel(TOWN, overrides=["population.llm_share=0"], seed=9)
    head = _event_log(first, 4)
    state = json.loads(json.dumps(first.get_state()))  # what a checkpoint file holds
    second = MetaverseModel(TOWN, overrides=["population.llm_share=0"], seed=9)
    second.set_state(state)
    assert second.tick == 4
    assert head + _event_log(second, 4) == log


def test_checkpoint_of_another_seed_is_refused() -> None:
    state = MetaverseModel(BOLTZMANN, population=10, seed=1).get_state()
    with pytest.raises(ValueError, match="checkpoint is of 'boltzmann' seed 1"):
        MetaverseModel(BOLTZMANN, population=10, seed=2).set_state(state)


def test_every_tick_is_recorded_in_the_event_store(tmp_path: Path) -> None:
    store = EventStore.create(tmp_path / "events.db", run_id="r", scenario="boltzmann", seed=1, config={})
    model = MetaverseModel(BOLTZMANN, population=30, ticks=3, store=store, seed=1)
    while model.running:
        model.step()
    assert list(store.rows("SELECT count(*) FROM agents")) == [(30,)]
    assert list(store.rows("SELECT DISTINCT tick FROM metrics ORDER BY tick")) == [(0,), (1,), (2,)]
    assert list(store.rows("SELECT count(*) FROM agent_state")) == [(90,)]
    (gives,) = next(store.rows("SELECT count(*) FROM events WHERE kind = 'give'"))
    (ledger,) = next(store.rows("SELECT count(*) FROM ledger WHERE memo != 'endowment'"))
    assert gives > 0 and ledger >= gives
    (data,) = next(store.rows("SELECT data_json FROM agent_state WHERE agent_id = 1 AND tick = 2"))
    assert json.loads(data)["policy"] == "random_give"


def lonely(model: MetaverseModel) -> MetaverseModel:
    """Make every LLM avatar lonely: a reason to talk from the first tick."""
    from world.needs import LONELINESS

    for aid in model.llm_avatars:
        model.world.needs.change(aid, LONELINESS, 0.6, 0)
    return model


def test_llm_requests_of_a_tick_go_to_the_model_together() -> None:
    lm = ScriptedLanguageModel(prefer=("talk",), lines=("Hi, want to trade bread?", "Sure. Goodbye!"))
    model = lonely(MetaverseModel(TOWN, llm=lm, seed=1))
    calls = []
    for _ in range(3):
        before = (len(lm.choose_batches), len(lm.generate_batches))
        model.step()
        calls.append((len(lm.choose_batches) - before[0], len(lm.generate_batches) - before[1]))
        says = [e for e in model.last_events if e.kind == "say"]
        choose = len(lm.choose_batches[-1]) if calls[-1][0] else 0
        # Each line is drawn from FIRST samples, and up to speech_candidates when those can be bettered.
        samples = model.config.llm.speech_candidates
        assert (
            choose + FIRST * len(says) <= model.last_metrics["llm.requests"] <= choose + samples * len(says)
        )
        assert all(e.text in lm.lines for e in says)
        assert all("conversation_id" in e.data for e in says if e.data.get("delivered", True))
    assert all(c <= 1 and g <= 2 for c, g in calls)  # one choose call, at most two speech rounds a tick
    assert calls[0] == (1, 1) and len(lm.choose_batches[0]) == 12  # every avatar's choice together
    assert model.last_metrics["messages"] == len([e for e in model.last_events if e.kind == "say"])


def test_llm_avatars_remember_what_happened_to_them() -> None:
    lm = ScriptedLanguageModel(prefer=("talk",), lines=("Hello neighbour!",))
    model = lonely(MetaverseModel(TOWN, llm=lm, seed=1))
    for _ in range(3):
        model.step()
    remembered = [m for a in model.llm_avatars.values() for m in a.recent_memories(5)]
    assert any("Hello neighbour!" in m for m in remembered)
    limit = 2 * model.config.llm.context_tokens
    assert all(a.memory.tokens <= limit for a in model.llm_avatars.values())


def test_conversation_ids_are_the_sims_ints_for_every_say() -> None:
    # The world used to write "1-2" / "place:plaza" strings that the model overwrote with ints for
    # delivered speech only, so the store held both types.
    model = MetaverseModel(ROOT / "configs" / "moderation.yaml", overrides=["population.llm_share=0"], seed=1)
    says = []
    for _ in range(12):
        model.step()
        says += [e for e in model.last_events if e.kind == "say"]
    assert says and any(not e.data["delivered"] for e in says)
    for e in says:
        cid = e.data["conversation_id"]
        assert (type(cid) is int) if e.data["delivered"] else cid is None
