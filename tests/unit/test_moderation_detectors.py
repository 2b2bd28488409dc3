"""Layered moderation detectors: de-obfuscation, each detector's hits and hard negatives, severity
ladders, the llm rule as a second opinion on borderline scores, and ``moderate --eval``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sim.config import ModerationConfig
from sim.offline_moderation import evaluation, format_evaluation, moderate_command, moderate_lines
from world.detectors import NearDuplicates, deobfuscate, offensive, prepare, scam, spam, threat
from world.moderation import Moderator

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "moderation"

LAYERED = [
    {"id": "threats", "kind": "threat", "severity": "high"},
    {"id": "scams", "kind": "scam_request", "severity": "high"},
    {"id": "abuse", "kind": "offensive"},
    {"id": "spam", "kind": "spam", "severity": "low"},
    {"id": "copies", "kind": "near_duplicate", "threshold": 3, "window": 10, "severity": "low"},
]


def moderator(rules=LAYERED, sanctions=None, **kw) -> Moderator:
    cfg = {"rules": rules}
    if sanctions is not None:
        cfg["sanctions"] = sanctions
    return Moderator(ModerationConfig.model_validate(cfg), **kw)


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("m0r0n", "moron"),
        ("b!tch", "bitch"),
        ("a$$hole", "asshole"),
        ("s h i t", "shit"),
        ("S.T.U.P.I.D", "stupid"),
        ("5 coins", "5 coins"),  # a number stays a number
    ],
)
def test_deobfuscate_reads_leetspeak_and_spaced_letters(written, read):
    assert deobfuscate(written) == read


@pytest.mark.parametrize("text", ["f*** you", "what a piece of sh*t", "you a**hole", "fuuuuck off"])
def test_masked_and_flooded_profanity_is_offensive_with_the_written_form_in_evidence(text):
    f = offensive(prepare(text))
    assert f is not None and f.score >= 0.9
    if "*" in text:
        assert f.evidence["deobfuscated"]


@pytest.mark.parametrize(
    "text",
    ["You stupid cow.", "Get lost, imbecile.", "Moron.", "scum like you", "Nobody here likes you, Cora."],
)
def test_insults_aimed_at_someone_are_offensive(text):
    assert offensive(prepare(text)).score >= 0.7


@pytest.mark.parametrize(
    "text",
    [
        "I was such an idiot to forget my coins.",
        "That's a stupid price for wood, can we talk?",
        "The pig escaped from the farm again.",
        "The bloody rain soaked my wood.",
        "Pass the Scunthorpe sausages.",
    ],
)
def test_insult_words_not_aimed_at_anyone_stay_below_the_threshold(text):
    f = offensive(prepare(text))
    assert f is None or f.score < 0.7


@pytest.mark.parametrize(
    "text",
    [
        "I will hurt you.",
        "I'll break your legs.",
        "I know where you live.",
        "Watch your back on the forest road.",
        "Shame if something happened to your stall.",
    ],
)
def test_threats_direct_and_veiled(text):
    assert threat(prepare(text)).score >= 0.7


@pytest.mark.parametrize(
    "text",
    [
        "I'd kill for a loaf of bread.",
        "That's a killer deal!",
        "I'll beat you to the market!",
        "I won't hurt your feelings, the bread is just dry.",
        "I'll hurt my back carrying all this wood.",
    ],
)
def test_idioms_and_negations_are_not_threats(text):
    f = threat(prepare(text))
    assert f is None or f.score < 0.7


def test_a_veiled_phrase_in_friendly_context_is_borderline_not_flagged():
    f = threat(prepare("I know where you live, I delivered your wood last week, remember?"))
    assert 0.4 <= f.score < 0.7 and f.evidence["friendly_context"] == "delivered"


def test_scam_needs_a_request_and_a_lure_and_names_both():
    f = scam(prepare("Send me 10 coins now and I'll double them by tomorrow."))
    assert f.score >= 0.7
    assert f.evidence["request"] and set(f.evidence["lures"]) >= {"promise", "urgency"}
    assert scam(prepare("Tell me your password.")).evidence["request"] == "credentials"
    # An offer of the speaker's own does not hide the request that follows it.
    f = scam(prepare("I will give you double if you send 3 coins to me today"))
    assert f.score >= 0.7 and f.evidence["request"] == "send 3 coins"


@pytest.mark.parametrize(
    "text",
    [
        "Is this a scam? No, it's fair: 2 coins a loaf.",
        "Guaranteed fresh fish every morning at my stall!",
        "Give me 5 coins and the bread is yours.",
        "Someone told me to send coins for a prize. Sounds like a scam, right?",
        # The speaker offers to give or pay: nobody is asked for anything.
        "I can give back 10 coins to the merchant. We will be happy and thank you.",
        "We'll pay 5 coins for your wheat today, I promise.",
    ],
)
def test_fair_trades_and_warnings_are_not_scams(text):
    f = scam(prepare(text))
    assert f is None or f.score < 0.7


@pytest.mark.parametrize(
    ("text", "signal"),
    [
        ("Visit cheapbread.shop for deals", "link"),
        ("DM me for free coins", "contact"),
        ("BUY MY BREAD NOW EVERYONE", "caps"),
        ("Who wants wheat ??????", "punctuation"),
        ("cheap cheap cheap bread", "repeated"),
    ],
)
def test_spam_signals(text, signal):
    f = spam(prepare(text))
    assert f.score >= 0.7 and signal in f.evidence


def test_shouting_without_selling_is_borderline_not_spam():
    # A garbled all-capitals line from the model in the real town.
    f = spam(prepare("(XLEMANE, FELLOC - SUGARBREAKFISHER'S CONVERSATION WITH HALAYAHI - 2"))
    assert f.score < 0.7 and "caps" in f.evidence
    assert spam(prepare("EVERYONE COME TO MY STALL, CHEAP TOOLS")).score >= 0.7


@pytest.mark.parametrize(
    "text", ["Wow!! The bridge is done!", "HELP! My cart tipped over.", "Send me a message later."]
)
def test_excitement_is_not_spam(text):
    f = spam(prepare(text))
    assert f is None or f.score < 0.7


def test_near_duplicates_count_distinct_senders_within_the_window():
    nd = NearDuplicates(window=5)
    ad = ["fresh", "tools", "at", "the", "old", "mill", "bring", "coins", "ask", "for", "bram"]
    assert nd.add(1, 0, ad) is None
    assert nd.add(1, 1, ad) is None  # the same sender again: the repeat rule's business
    assert nd.add(2, 2, [*ad, "today"]).evidence["senders"] == 2
    assert nd.add(3, 3, ad).evidence["senders"] == 3
    assert nd.add(4, 20, ad) is None  # the window has passed
    assert nd.add(5, 20, ["good", "morning", "to", "you"]) is None  # too short to be a copy


def test_near_duplicate_state_round_trips():
    a = NearDuplicates(window=10)
    ad = ["fresh", "tools", "at", "the", "old", "mill", "bring", "coins", "ask", "for", "bram"]
    a.add(1, 0, ad)
    b = NearDuplicates(window=10)
    b.set_state(json.loads(json.dumps(a.get_state())))
    assert b.add(2, 1, ad).evidence["senders"] == 2


def test_a_threat_mutes_at_once_on_the_high_ladder_and_evidence_has_the_score():
    m = moderator(sanctions={"ladder": ["warn", "mute", "ban"], "ladders": {"high": ["mute", "ban"]}})
    d = m.screen_message(1, 2, "I will hurt you", 0)
    assert (d.rule, d.severity) == ("threats", "high") and d.evidence["score"] >= 0.7
    assert m.decide(1, d, 0) == ("mute", 5)
    d2 = m.screen_message(3, None, "visit cheapbread.shop now", 0)
    assert m.decide(3, d2, 0) == ("warn", None)  # low severity: the default ladder


def test_a_withheld_message_of_a_muted_violator_counts_as_moderated():
    m = moderator(violators={1})
    m.withheld(1, 0)
    assert m.message_scores().true_pos == 1


def test_the_llm_rule_is_asked_only_about_borderline_messages():
    asked: list[str] = []

    def judge(question, texts, seed):
        asked.extend(texts)
        return [0.9] * len(texts)

    rules = [*LAYERED, {"id": "second", "kind": "llm", "borderline": 0.4, "probability": 0.8}]
    m = moderator(rules, judge=judge)
    borderline = "I know where you live, I delivered your wood last week, remember?"
    texts = ["Good morning!", "I will hurt you", borderline]
    p = m.judge(texts)
    assert asked == [borderline] and p == [None, None, 0.9]
    d = m.screen_message(1, 2, borderline, 0, p[2])
    assert d.rule == "second" and d.evidence["second_opinion_on"] == {"threats": 0.5}


def test_moderate_eval_reports_overall_and_per_category(capsys):
    lines = [
        json.dumps({"text": "I will hurt you", "sender": "a", "category": "threat", "label": True}),
        json.dumps({"text": "I'd kill for a loaf", "sender": "b", "category": "threat", "label": False}),
        json.dumps({"text": "hello", "sender": "c", "category": "benign", "label": False}),
    ]
    scored: list = []
    mod = Moderator(ModerationConfig.model_validate({"rules": LAYERED}))
    moderate_lines(lines, mod, Path("x.jsonl"), None, scored)
    scores = evaluation(scored)
    assert list(scores) == ["overall", "benign", "threat"]
    assert (scores["overall"].true_pos, scores["overall"].false_pos, scores["overall"].true_neg) == (1, 0, 2)
    last = json.loads(format_evaluation(scores).splitlines()[-1])
    assert last["eval"]["threat"]["recall"] == 1.0


@pytest.mark.parametrize("name", ["dev", "heldout"])
def test_town_config_meets_the_targets_on_the_labelled_sets(name, capsys):
    moderate_command(DATA / f"{name}.jsonl", config=ROOT / "configs" / "moderation.yaml", evaluate=True)
    figures = json.loads(capsys.readouterr().out.splitlines()[-1])["eval"]["overall"]
    assert figures["precision"] >= 0.9 and figures["recall"] >= 0.9


def test_the_labelled_sets_are_big_enough_and_labelled():
    rows = [json.loads(x) for f in ("dev", "heldout") for x in (DATA / f"{f}.jsonl").read_text().splitlines()]
    assert len(rows) >= 300
    assert all(isinstance(r["label"], bool) and r["category"] for r in rows)
    assert {r["category"] for r in rows} == {"benign", "offensive", "scam", "spam", "threat"}


def test_moderate_eval_without_labels_is_a_user_error(tmp_path):
    from sim.errors import UserError

    f = tmp_path / "m.jsonl"
    f.write_text(json.dumps({"text": "hi", "sender": 1}) + "\n")
    with pytest.raises(UserError, match="label"):
        moderate_command(f, config=ROOT / "configs" / "moderation.yaml", evaluate=True)


def test_verdicts_say_whether_the_message_was_moderated():
    out = io.StringIO()
    lines = [json.dumps({"text": "I will hurt you", "sender": 1}), json.dumps({"text": "hi", "sender": 1})]
    mod = moderator(sanctions={"ladders": {"high": ["mute"]}})
    moderate_lines(lines, mod, Path("x.jsonl"), out)
    first, second = (json.loads(x) for x in out.getvalue().splitlines())
    assert (first["action"], first["moderated"], first["severity"]) == ("mute", True, "high")
    assert (second["action"], second["moderated"]) == ("drop", True)
