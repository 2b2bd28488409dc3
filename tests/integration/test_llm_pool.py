"""The replica pool on a real local Ray cluster: batching, routing, failure recovery, telemetry."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from agents.lm import ChooseRequest, GenerateRequest, Message
from sim.llm.pool import Pool

pytestmark = pytest.mark.slow

RULES = "Rules of the town: trade fairly, speak briefly, help your neighbours. " * 4


def _req(i: int, tag: str, n: int = 12) -> GenerateRequest:
    msgs = (
        Message("system", RULES),
        Message("user", f"You are avatar {i}."),
        Message("user", f"{tag}: say hi."),
    )
    return GenerateRequest(msgs, max_new_tokens=n, temperature=0.0, request_id=f"{tag}-{i}")


@pytest.fixture(scope="module")
def pool(ray_cluster):
    p = Pool.start(replicas=1, device="cpu", dtype="float32", max_batch_size=16, max_wait_ms=20)
    yield p
    p.shutdown()


def test_pool_answers_like_the_engine_and_keeps_request_order(pool, engine_fp32):
    reqs = [_req(i, "order") for i in range(6)]
    got = pool.generate(reqs)
    assert [c.request_id for c in got] == [r.request_id for r in reqs]
    assert [c.text for c in got] == [c.text for c in engine_fp32.generate(reqs)]


def test_concurrent_callers_are_batched_together(pool):
    before = pool.telemetry()
    results: dict[int, list] = {}

    def call(k: int) -> None:
        results[k] = pool.choose(
            [ChooseRequest((Message("user", f"Caller {k} is hungry."),), ("eat", "sleep"))]
        )

    threads = [threading.Thread(target=call, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    after = pool.telemetry()
    assert sorted(results) == list(range(8))
    assert after["requests"] - before["requests"] == 8
    assert after["batches"] - before["batches"] < 8  # some callers shared a batch


def test_killing_a_replica_mid_batch_answers_every_request_exactly_once(pool):
    pid = pool.replica_pids()[0]
    reqs = [_req(i, "kill", n=24) for i in range(24)]
    out: dict[str, list] = {}
    worker = threading.Thread(target=lambda: out.setdefault("answers", pool.generate(reqs)))
    worker.start()
    deadline = time.monotonic() + 120
    while pool.telemetry()["replicas"][0]["queue_depth"] == 0 and time.monotonic() < deadline:
        pass  # poll until the batch is in the replica (telemetry itself takes a round trip)
    os.kill(pid, signal.SIGKILL)
    worker.join(timeout=300)
    answers = out["answers"]
    assert [a.request_id for a in answers] == [r.request_id for r in reqs]  # all, once each, in order
    assert all(a.completion_tokens >= 1 for a in answers)
    assert pool.replica_pids()[0] != pid  # Ray restarted the replica


def test_telemetry_reports_tokens_batches_and_latency(pool):
    pool.generate([_req(i, "tele") for i in range(4)])
    t = pool.telemetry()
    for key in ("requests", "prompt_tokens", "completion_tokens", "cached_tokens", "tokens_per_s", "latency_p50",
                "latency_p95", "batch_size_mean", "queue_depth"):  # fmt: skip
        assert key in t
    assert t["completion_tokens"] > 0 and t["latency_p95"] >= t["latency_p50"] > 0
    assert len(t["replicas"]) == 1 and t["replicas"][0]["engine_dtype"] == "float32"


def test_unknown_model_spec_fails_before_any_replica_starts(ray_cluster):
    with pytest.raises(ValueError, match=r"^model:"):
        Pool.start(model="definitely-not-a-model")


def test_bad_request_fails_the_call_but_not_the_replica(pool):
    with pytest.raises(Exception, match="requests"):
        pool.generate([ChooseRequest((Message("user", "x"),), ("a", "b"))])
    assert pool.generate([_req(0, "after")])[0].completion_tokens >= 1


def test_a_hung_replica_costs_one_deadline_and_its_avatars_fall_back_to_rule_policies(pool):
    from pathlib import Path

    from sim.model import MetaverseModel

    town = Path(__file__).resolve().parents[2] / "configs" / "town.yaml"
    asked: set[int] = set()

    class Asking:  # the pool, noting who asked it to choose
        def choose(self, requests):
            asked.update(int(r.request_id.split(":")[1]) for r in requests)
            return pool.choose(requests)

        def __getattr__(self, name):
            return getattr(pool, name)

    model = MetaverseModel(town, llm=Asking(), seed=1, ticks=2)
    pid = pool.replica_pids()[0]
    pool.deadline_s = 3.0
    os.kill(pid, signal.SIGSTOP)  # a real hang: the process stops answering, Ray still sees it alive
    try:
        model.step()
        falls = [e for e in model.last_events if e.kind == "llm_fallback"]
        assert asked and {e.actor for e in falls} >= asked - {
            e.actor for e in model.last_events if e.kind == "say"
        }
        assert falls and all("no answer within 3 s" in e.data["reason"] for e in falls)
        assert 0 in pool._hung  # no new work for it until its late answer arrives
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 120
    while pool._hung and time.monotonic() < deadline:
        pool._recover_hung()  # poll the late answer, bounded
    assert not pool._hung
    pool.deadline_s = None
    (answer,) = pool.choose(
        [ChooseRequest((Message("user", "Pick one."),), ("yes", "no"), request_id="after")]
    )
    assert not answer.error and len(answer.probs) == 2
