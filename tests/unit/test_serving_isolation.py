"""Sticky routing, deadlines that fall back to rule policies, and usage accounting (no Ray here:
the pool's routing is plain Python; the real replica that hangs is in tests/integration)."""

from __future__ import annotations

import json
from pathlib import Path

from agents_fakes import ScriptedLanguageModel
from test_model import lonely

from agents.lm import Choice, Completion
from sim.llm.pool import Pool
from sim.model import MetaverseModel
from sim.runner import run_loop

ROOT = Path(__file__).resolve().parents[2]
TOWN = ROOT / "configs" / "town.yaml"


def _pool(n: int) -> Pool:
    return Pool([object()] * n, max_batch_size=8, replica_options={}, engine_kwargs={})


def test_routed_requests_stick_to_one_replica_and_only_a_lost_replicas_avatars_move() -> None:
    pool = _pool(3)
    before = {avatar: pool.replica_for(avatar) for avatar in range(300)}
    assert set(before.values()) == {0, 1, 2}  # spread over every replica
    assert before == {avatar: pool.replica_for(avatar) for avatar in range(300)}  # sticky
    pool._hung[1] = object()  # replica 1 stops answering
    after = {avatar: pool.replica_for(avatar) for avatar in range(300)}
    moved = {a for a in before if before[a] != after[a]}
    assert moved == {a for a in before if before[a] == 1}
    assert 1 not in after.values()


class LateLanguageModel(ScriptedLanguageModel):
    """Answers nobody in time: what the pool returns when its deadline passes."""

    def choose(self, requests):
        self.choose_batches.append(list(requests))
        return [Choice.failed("no answer within 5 s", r.request_id) for r in requests]

    def generate(self, requests):
        self.generate_batches.append(list(requests))
        return [Completion.failed("no answer within 5 s", r.request_id) for r in requests]


def test_an_unanswered_avatar_takes_its_rule_policys_action_logged_as_llm_fallback() -> None:
    lm = LateLanguageModel()
    model = MetaverseModel(TOWN, llm=lm, seed=1)
    model.step()
    falls = [e for e in model.last_events if e.kind == "llm_fallback"]
    asked = [int(r.request_id.split(":")[1]) for r in lm.choose_batches[0]]
    assert asked and sorted(e.actor for e in falls) == sorted(asked)  # everyone asked fell back, once
    assert all(e.data["phase"] == "choose" and e.data["reason"] == "no answer within 5 s" for e in falls)
    acted = {a.actor for a in model.last_record.actions}
    for e in falls:
        if e.data["action"] is not None:  # the rule policy's pick, resolved by the world
            assert e.actor in acted
    assert model.meter.usage.fallbacks == len(falls)


class SilentSpeech(ScriptedLanguageModel):
    """Chooses to talk, but no text comes back."""

    def generate(self, requests):
        self.generate_batches.append(list(requests))
        return [Completion.failed("replica 0 lost: RayActorError", r.request_id) for r in requests]


def test_a_speaker_without_text_acts_otherwise_and_says_nothing() -> None:
    model = lonely(MetaverseModel(TOWN, llm=SilentSpeech(prefer=("talk",)), seed=1))
    model.step()
    says = [e for e in model.last_events if e.kind == "say"]
    falls = [e for e in model.last_events if e.kind == "llm_fallback"]
    assert not says and falls and all(e.data["phase"] == "speech" for e in falls)
    assert all(e.data["action"] is None or e.data["action"]["kind"] != "say" for e in falls)


def test_usage_json_counts_model_use_by_phase_and_per_avatar_tick(tmp_path: Path) -> None:
    lm = ScriptedLanguageModel(prefer=("talk",), lines=("Hi!",))
    model = MetaverseModel(TOWN, llm=lm, ticks=3, seed=1)
    (tmp_path / "checkpoints").mkdir()
    assert run_loop(model, tmp_path / "checkpoints", every=2) == "finished"
    usage = json.loads((tmp_path / "usage.json").read_text())
    choose = sum(len(b) for b in lm.choose_batches)
    speech = sum(len(b) for b in lm.generate_batches)
    assert usage["by_phase"]["choose"]["requests"] == choose
    assert usage["by_phase"]["speech"]["requests"] == speech
    assert usage["by_phase"]["choose"]["calls"] == len(lm.choose_batches)
    assert usage["llm_avatar_ticks"] == 3 * len(model.llm_avatars)
    assert usage["calls_per_avatar_tick"] == round((choose + speech) / (3 * len(model.llm_avatars)), 4)
    assert usage["total"]["prompt_tokens"] == 100 * choose + 120 * speech
    assert usage["total"]["computed_tokens"] == usage["total"]["prompt_tokens"]  # the fake caches nothing
    # The totals ride in checkpoints, so a resumed run's usage continues.
    twin = MetaverseModel(TOWN, llm=lm, ticks=3, seed=1)
    twin.set_state(model.get_state())
    assert twin.meter.usage.as_dict() == model.meter.usage.as_dict()
