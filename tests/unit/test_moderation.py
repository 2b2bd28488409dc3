"""Moderation rules on labelled messages (hits and near misses), sanctions, ground truth."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from world_fakes import make_world

from agents.lm import Choice, ChooseRequest
from sim.config import ModerationConfig
from sim.errors import UserError
from sim.moderation_judge import moderation_judge
from sim.offline_moderation import moderate_command, moderate_lines
from world import Action
from world.moderation import Moderator

RULES = [
    {"id": "insults", "kind": "words", "words": ["idiot", "worthless", "verify your account"]},
    {"id": "links", "kind": "patterns", "patterns": [r"\b\w+ dot (shop|biz)\b", r"https?://"]},
    {"id": "flood", "kind": "rate_limit", "max_messages": 3, "window": 5},
    {"id": "echo", "kind": "repeat", "threshold": 2, "window": 10},
    {"id": "bully", "kind": "harassment", "words": ["loser", "regret"], "threshold": 2, "window": 10},
]


def moderator(rules=RULES, **kw) -> Moderator:
    return Moderator(ModerationConfig.model_validate({"rules": rules}), **kw)


# (expected rule or None, text): each message from a fresh sender at its own tick.
SINGLE_MESSAGES = [
    ("insults", "you idiot"),
    ("insults", "IDIOT!!"),
    ("insults", "what a worthless pile of wheat"),
    ("insults", "please verify your account now"),
    (None, "that was an idiotic plan"),  # near miss: whole words only
    (None, "worthlessness is a word"),
    (None, "verify your accounts"),
    ("links", "cheap bread at bakery dot shop"),
    ("links", "see http://example.org"),
    (None, "the shop is open"),  # near miss: no "x dot shop"
    (None, "https is a protocol"),
    (None, "hello neighbour, fine weather"),
]


@pytest.mark.parametrize(("expected", "text"), SINGLE_MESSAGES)
def test_word_and_pattern_rules_on_labelled_messages(expected, text):
    d = moderator().screen_message(1, 2, text, 0)
    assert (d.rule if d else None) == expected


def test_rate_limit_fires_on_the_message_over_the_limit():
    m = moderator()
    rules = [m.screen_message(1, None, f"message {i}", t) for i, t in enumerate([0, 1, 2, 3])]
    assert [d.rule if d else None for d in rules] == [None, None, None, "flood"]
    assert rules[-1].evidence == {"messages": 4, "window": 5}


def test_rate_limit_near_miss_when_messages_are_spread_out():
    m = moderator()
    assert [m.screen_message(1, None, f"m{i}", t) for i, t in enumerate([0, 2, 5, 7, 10])] == [None] * 5


def test_repeat_fires_on_the_same_text_normalised():
    m = moderator()
    assert m.screen_message(1, None, "Buy now", 0) is None
    d = m.screen_message(1, None, "  buy   NOW ", 1)
    assert (d.rule, d.evidence["times"]) == ("echo", 2)


def test_repeat_near_misses_other_text_other_sender_or_outside_the_window():
    m = moderator()
    assert m.screen_message(1, None, "buy now", 0) is None
    assert m.screen_message(1, None, "buy now!", 1) is None  # different text
    assert m.screen_message(2, None, "buy now", 2) is None  # different sender
    m2 = moderator()
    assert m2.screen_message(1, None, "buy now", 0) is None
    assert m2.screen_message(1, None, "buy now", 10) is None  # the first is out of the window


def test_harassment_counts_hostile_messages_to_one_target():
    m = moderator()
    assert m.screen_message(1, 2, "you loser", 0) is None
    d = m.screen_message(1, 2, "you will regret this", 1)
    assert (d.rule, d.evidence["target"], d.evidence["hostile"]) == ("bully", 2, 2)


def test_harassment_near_miss_when_hostility_is_spread_over_targets():
    m = moderator()
    assert m.screen_message(1, 2, "you loser", 0) is None
    assert m.screen_message(1, 3, "you loser too", 1) is None
    assert m.screen_message(1, 2, "see you tomorrow", 2) is None  # not hostile


SCAMS = [
    {"id": "overpriced", "kind": "scam_price", "price_factor": 3},
    {"id": "unowned", "kind": "scam_unowned"},
    {"id": "dishonoured", "kind": "scam_dishonoured", "threshold": 2},
    {"id": "reports", "kind": "reports", "threshold": 2, "window": 10},
]


@pytest.mark.parametrize(
    ("give", "get", "held", "expected"),
    [
        ((("bread", 1),), (("coin", 16),), 5, "overpriced"),  # 16 > 3 x 5
        ((("bread", 1),), (("coin", 15),), 5, None),  # near miss: exactly 3 x market
        ((("bread", 2),), (("coin", 31),), 5, "overpriced"),
        ((("bread", 2),), (("coin", 30),), 5, None),
        ((("bread", 3),), (("coin", 3),), 2, "unowned"),
        ((("bread", 2),), (("coin", 3),), 2, None),
        ((("coin", 50),), (("bread", 1),), 50, None),  # buying is never "overpriced"
    ],
)
def test_scam_offer_rules(give, get, held, expected):
    m = moderator(SCAMS)
    d = m.screen_offer(1, give, get, 0, holds=lambda item: held, market_price=lambda item: 5, currency="coin")
    assert (d.rule if d else None) == expected


def test_dishonoured_offers_fire_at_the_threshold():
    m = moderator(SCAMS)
    assert m.on_dishonoured(1, 1) is None
    assert m.on_dishonoured(1, 2).evidence == {"dishonoured": 2}


def test_reports_need_distinct_reporters():
    m = moderator(SCAMS)
    assert m.on_report(2, 9, 0) is None
    assert m.on_report(2, 9, 1) is None  # near miss: the same reporter twice
    assert m.on_report(3, 9, 2).evidence == {"reporters": [2, 3]}


class FakeJudge:
    """A language model that answers P(yes) from a lookup (the protocol's ``choose``)."""

    def __init__(self, p_yes: dict[str, float]) -> None:
        self.p_yes = p_yes
        self.requests: list[ChooseRequest] = []

    def choose(self, requests):
        self.requests += list(requests)
        out = []
        for r in requests:
            p = next(v for k, v in self.p_yes.items() if k in r.messages[-1].content)
            out.append(Choice(probs=(p, 1 - p), index=0 if p >= 0.5 else 1))
        return out


def test_llm_rule_asks_one_batched_yes_no_question_per_message():
    judge = FakeJudge({"scheme": 0.9, "bread": 0.4})
    rules = [{"id": "judge", "kind": "llm", "probability": 0.5}]
    w = make_world(3, moderation={"rules": rules})
    w.moderator.judge_port = moderation_judge(judge)
    ev = w.resolve(
        [Action(1, "say", target=2, text="join my scheme"), Action(2, "say", target=3, text="fresh bread")]
    )
    assert [(e.kind, e.data.get("rule")) for e in ev] == [
        ("say", "judge"),
        ("moderation", "judge"),
        ("sanction", "judge"),
        ("say", None),
    ]
    assert ev[1].data["evidence"] == {"p_yes": 0.9}
    assert len(judge.requests) == 2 and judge.requests[0].options == ("yes", "no")


def test_sanctions_escalate_warn_mute_ban():
    w = make_world(2)
    say = Action(1, "say", target=2, text="you idiot")
    ev = w.resolve([say])
    assert [e.kind for e in ev] == ["say", "moderation", "sanction"]
    assert ev[0].data == {
        "flagged": True,
        "rule": "insults",
        "delivered": False,
        "violation": None,  # no scripted violators here: no ground truth
    }
    assert ev[1].data == {
        "rule": "insults",
        "evidence": {"word": "idiot"},
        "sanction": "warn",
        "ground_truth": None,
    }
    assert w.observation_for(2).messages == ()  # blocked: not delivered

    ev = w.resolve([say])
    assert ev[2].data == {"sanction": "mute", "until": 3, "rule": "insults"}
    muted = w.resolve([Action(1, "say", target=2, text="hello")])
    assert muted[0].data["reason"] == "muted until tick 3"
    assert w.resolve([Action(1, "give", target=2, item="coin")])[0].kind == "give"  # muted, not banned
    for _ in range(3):
        w.end_tick()
    ev = w.resolve([say])
    assert ev[2].data["sanction"] == "ban"
    for action in (Action(1, "rest"), Action(1, "give", target=2, item="coin")):
        assert w.resolve([action])[0].data["reason"] == "banned"
    assert w.legal_actions(1) == [] and w.observation_for(1).banned


def test_a_non_blocking_rule_flags_but_delivers():
    rules = [{"id": "mild", "kind": "words", "words": ["darn"], "block": False, "sanction": False}]
    w = make_world(2, moderation={"rules": rules})
    ev = w.resolve([Action(1, "say", target=2, text="darn it")])
    assert [e.kind for e in ev] == ["say", "moderation"]
    assert ev[0].data["delivered"] and ev[1].data["sanction"] == "none"
    assert w.observation_for(2).messages == ((0, 1, "darn it"),)


def test_reports_from_avatars_sanction_the_reported():
    w = make_world(3)
    w.resolve([Action(1, "report", target=3, text="rude")])
    ev = w.resolve([Action(2, "report", target=3, text="rude")])
    assert [e.kind for e in ev] == ["report", "moderation", "sanction"]
    assert ev[1].actor == 3 and ev[1].data["evidence"] == {"reporters": [1, 2]}


def test_blocked_scam_offer_is_not_posted():
    w = make_world(2)
    ev = w.resolve([Action(1, "offer", target=2, give=(("bread", 1),), get=(("coin", 50),))])
    assert [e.kind for e in ev] == ["offer", "moderation", "sanction"]
    assert ev[0].data["offer_id"] is None and ev[0].data["rule"] == "overpriced"
    assert w.offers.open == {}


def test_precision_recall_and_ticks_to_action_against_scripted_violators():
    w = make_world(4, roles={3: "spammer", 4: "spammer"})
    w.resolve([Action(3, "say", target=1, text="hello")])  # the spammer's first act, tick 0
    w.end_tick()
    w.resolve(
        [
            Action(3, "say", target=1, text="you idiot"),  # true positive at tick 1
            Action(1, "say", target=2, text="idiot"),  # false positive (not a scripted violator)
        ]
    )
    w.end_tick()
    m = w.metrics()
    assert m["moderation.precision"] == 0.5
    assert m["moderation.recall"] == 0.5  # spammer 4 never caught
    assert m["moderation.ticks_to_action"] == 1.0
    assert m["moderation.insults"] == 2.0 and m["moderation_actions"] == 2.0 and m["sanctions"] == 2.0


# -- offline `mesaverse moderate` -----------------------------------------------------------

LINES = [
    {"text": "hello there", "sender": "ann", "target": "bob"},
    {"text": "you idiot", "sender": "eve", "target": "bob"},
    {"text": "idiot again", "sender": "eve", "target": "bob"},
    {"text": "sorry", "sender": "eve", "target": "bob"},
    {"text": "sorry, really", "sender": "eve", "target": "bob", "tick": 10},
]


def test_offline_verdicts_follow_file_order_and_escalate():
    cfg_mod = ModerationConfig.model_validate({"rules": RULES, "sanctions": {"mute_ticks": 3}})
    out = io.StringIO()
    n = moderate_lines((json.dumps(x) + "\n" for x in LINES), Moderator(cfg_mod), Path("m.jsonl"), out)
    verdicts = [json.loads(line) for line in out.getvalue().splitlines()]
    assert n == 5
    assert [(v["flagged"], v["rule"], v["action"]) for v in verdicts] == [
        (False, None, "deliver"),
        (True, "insults", "warn"),
        (True, "insults", "mute"),  # at tick 2, muted until 5
        (False, None, "drop"),  # tick 3: muted
        (False, None, "deliver"),  # tick 10: the mute is over
    ]


def test_offline_bad_line_names_file_and_line_and_keeps_earlier_verdicts(tmp_path, capsys):
    f = tmp_path / "m.jsonl"
    f.write_text(json.dumps(LINES[0]) + "\n\n{not json\n" + json.dumps(LINES[1]) + "\n")
    with pytest.raises(UserError, match=rf"^{f}: line 3: not valid JSON"):
        moderate_command(f, Path(__file__).resolve().parents[2] / "configs/moderation.yaml")
    assert [json.loads(x)["action"] for x in capsys.readouterr().out.splitlines()] == ["deliver"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('["a"]', "line 1: expected a JSON object"),
        ('{"sender": "a"}', "line 1: text: must be a string"),
        ('{"text": "hi"}', "line 1: sender: required"),
        ('{"text": "hi", "sender": "a", "tick": -1}', "line 1: tick: must be a whole number >= 0"),
    ],
)
def test_offline_malformed_messages(tmp_path, line, message):
    f = tmp_path / "m.jsonl"
    f.write_text(line + "\n")
    with pytest.raises(UserError, match=message):
        moderate_lines(f.open(), moderator(), f, io.StringIO())
