"""Moderation: rules from the scenario, each with an id, and escalating sanctions.

Rule kinds (parameters in docs/config.md):

- ``words``: any listed word or phrase, matched as whole words, case-insensitively;
- ``patterns``: any regular expression (case-insensitive) found in the text;
- ``rate_limit``: more than ``max_messages`` messages from one sender within ``window`` ticks;
- ``repeat``: the same text (normalised) ``threshold`` times within ``window`` ticks;
- ``harassment``: ``threshold`` hostile messages (containing a listed word) from one sender
  to one target within ``window`` ticks;
- ``scam_price``: an offer asking more than ``price_factor`` times the market price;
- ``scam_unowned``: an offer of goods the sender does not hold;
- ``scam_dishonoured``: ``threshold`` of a sender's offers failed on acceptance;
- ``reports``: ``threshold`` distinct avatars reported the same one within ``window`` ticks;
- ``offensive``, ``threat``, ``scam_request``, ``spam``: a text detector of :mod:`world.detectors`
  scores the message in [0, 1]; the rule fires at ``min_score``, with the score and the evidence;
- ``near_duplicate``: the same message (word-set similarity >= ``similarity``) from ``threshold``
  distinct senders within ``window`` ticks (messages of at least ``min_words`` words);
- ``llm``: a language model answers a yes/no question about the message (P(yes) >= probability);
  with ``borderline`` set, only messages a detector scored in [borderline, its min_score) are asked:
  a second opinion where the detectors are unsure, not a model call per message.

The first rule that fires decides. A decision on a sanctionable rule moves the avatar one
step up the ladder of the rule's ``severity`` (``sanctions.ladders``, else ``sanctions.ladder``:
warn, mute for N ticks, ban by default), so a threat can mute at once. A muted avatar's messages
and offers are not delivered (a message withheld that way counts as moderated in the scores);
a banned avatar can no longer act. Where the scenario marks
ground truth (scripted violators), precision, recall and ticks-to-action are kept.

The ``llm`` rule asks a :data:`Judge`: a port this module defines, a plain callable
``judge(question, texts, seed) -> [P(yes) or None per text]`` that the simulation wires to its
language model. The world itself imports no model code.

Ground truth and scores are per message: a message is harmful when its sender is a scripted
violator (:data:`VIOLATOR_POLICIES`, or a role marked ``violator``), flagged when a rule fired on
it; precision and recall come from :func:`world.stats.detection_scores`.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from world import detectors
from world.detectors import Finding, NearDuplicates, Text
from world.stats import DetectionScores

__all__ = ["VIOLATOR_POLICIES", "Decision", "Judge", "Moderator", "normalise"]

#: Rule policies whose avatars are scripted violators (the moderation ground truth).
VIOLATOR_POLICIES: tuple[str, ...] = ("spammer", "scammer", "harasser")

#: The port of the ``llm`` rule: ``judge(question, texts, seed)`` -> P(yes) per text (None: no answer).
Judge = Callable[[str, Sequence[str], int], Sequence[float | None]]

_WORD = re.compile(r"\w+")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Lower case, single spaces, no surrounding blanks: what ``repeat`` compares."""
    return _SPACES.sub(" ", text.strip().lower())


class Decision:
    """A rule fired: its id, the evidence, its severity, and whether it blocks and sanctions.

    Detector rules put their score in the evidence (``{"score": 0.9, ...}``).
    """

    __slots__ = ("block", "evidence", "rule", "sanctions", "severity")

    def __init__(self, rule: Any, evidence: dict[str, Any]) -> None:
        self.rule = rule.id
        self.evidence = evidence
        self.block = rule.block
        self.sanctions = rule.sanction
        self.severity = getattr(rule, "severity", "medium")


#: Detector rule kinds and the function that scores a prepared message.
DETECTORS: dict[str, Callable[[Text], Finding | None]] = {
    "offensive": detectors.offensive,
    "threat": detectors.threat,
    "scam_request": detectors.scam,
    "spam": detectors.spam,
}


class _Findings(dict[str, "Finding | None"]):
    """Findings of one prepared text by detector kind, each computed on first read."""

    def __init__(self, text: Text) -> None:
        super().__init__()
        self.text = text

    def __missing__(self, kind: str) -> Finding | None:
        f = self[kind] = DETECTORS[kind](self.text)
        return f


_NO_FINDINGS: dict[str, Finding | None] = {}
_MESSAGE_KINDS = (
    "words",
    "patterns",
    "rate_limit",
    "repeat",
    "harassment",
    "llm",
    "near_duplicate",
    *DETECTORS,
)


class _Vocabulary:
    """Whole-word matching of single words (a set lookup) and phrases (a regex)."""

    def __init__(self, words: Sequence[str]) -> None:
        self.single = {w.lower() for w in words if _WORD.fullmatch(w)}
        phrases = [w for w in words if not _WORD.fullmatch(w)]
        self.phrase = (
            re.compile("|".join(rf"(?<!\w){re.escape(p.lower())}(?!\w)" for p in phrases))
            if phrases
            else None
        )

    def find(self, text: str) -> str | None:
        low = text.lower()
        for tok in _WORD.findall(low):
            if tok in self.single:
                return str(tok)
        if self.phrase is not None:
            m = self.phrase.search(low)
            if m:
                return m.group(0)
        return None


class Moderator:
    """Applies the policy; holds the sliding windows, strikes, mutes and bans."""

    def __init__(
        self,
        cfg: Any,
        *,
        judge: Judge | None = None,
        violators: set[int] | None = None,
    ) -> None:
        self.cfg = cfg
        self.enabled = bool(cfg.enabled)
        self.rules = list(cfg.rules) if self.enabled else []
        self.judge_port = judge
        self._vocab = {r.id: _Vocabulary(r.words) for r in self.rules if r.words}
        self._patterns = {
            r.id: [re.compile(p, re.IGNORECASE) for p in r.patterns] for r in self.rules if r.patterns
        }
        self.message_rules = [r for r in self.rules if r.kind in _MESSAGE_KINDS]
        self.detector_rules = [r for r in self.rules if r.kind in DETECTORS]
        self._dups = {
            r.id: NearDuplicates(r.window, r.similarity, r.min_words)
            for r in self.rules
            if r.kind == "near_duplicate"
        }
        self.offer_rules = [r for r in self.rules if r.kind in ("scam_price", "scam_unowned")]
        self._by_kind = {r.kind: r for r in self.rules}
        self._horizon = max([r.window for r in self.rules] + [1])
        self.violators: set[int] = set(violators or ())
        self.reset_state()

    def reset_state(self) -> None:
        """Forget every window, strike, sanction and statistic."""
        self.sent: dict[int, deque[int]] = {}  # sender -> ticks of messages
        self.texts: dict[int, deque[tuple[int, str]]] = {}  # sender -> (tick, normalised text)
        self.hostile: dict[str, deque[int]] = {}  # "sender>target" -> ticks of hostile messages
        self.reports: dict[int, deque[tuple[int, int]]] = {}  # target -> (tick, reporter)
        self.strikes: dict[int, int] = {}
        self.muted_until: dict[int, int] = {}
        self.banned: set[int] = set()
        self.first_act: dict[int, int] = {}  # violator -> tick of its first message or offer
        self.first_flag: dict[int, int] = {}  # avatar -> tick of its first decision
        self.true_pos = 0  # decisions (messages, offers, reports) on violators
        self.false_pos = 0  # decisions on everyone else
        # Screened messages with ground truth: [flagged harmful, flagged benign, missed harmful, passed benign].
        self.message_tally = [0, 0, 0, 0]
        self.counts: dict[str, int] = {}  # decisions per rule, this tick
        self.sanction_count = 0  # sanctions this tick
        self._scored: dict[str, tuple[Text, _Findings]] = {}  # this tick's texts
        for dup in self._dups.values():
            dup.set_state([])

    # -- status -------------------------------------------------------------------------

    def is_muted(self, avatar: int, tick: int) -> bool:
        """Whether ``avatar``'s messages and offers are withheld at ``tick``."""
        until = self.muted_until.get(avatar)
        return until is not None and tick < until

    def note_act(self, avatar: int, tick: int) -> None:
        """A message or offer by ``avatar``: the clock of ticks-to-action starts at a violator's first."""
        if avatar in self.violators and avatar not in self.first_act:
            self.first_act[avatar] = tick

    # -- screening ----------------------------------------------------------------------

    def _window(self, store: dict[Any, deque[Any]], key: Any, tick: int, item: Any = None) -> deque[Any]:
        q = store.get(key)
        if q is None:
            q = store[key] = deque()
        q.append(tick if item is None else (tick, item))
        # Keep only what the longest window can still see: memory stays bounded.
        while q and (q[0] if item is None else q[0][0]) <= tick - self._horizon:
            q.popleft()
        return q

    def screen_message(
        self, sender: int, target: int | None, text: str, tick: int, llm_yes: float | None = None
    ) -> Decision | None:
        """Record a message and return the first rule it breaks (or None).

        ``llm_yes`` is the model's P(yes) for this text when an ``llm`` rule is configured
        (computed in a batch beforehand by :meth:`judge`).
        """
        if not self.message_rules:
            return None
        d = self._first_breach(sender, target, text, tick, llm_yes)
        if self.violators:
            harmful = sender in self.violators
            self.message_tally[(0 if d is not None else 2) + (0 if harmful else 1)] += 1
        return d

    def withheld(self, sender: int, tick: int) -> None:
        """A message of a muted ``sender`` was not delivered: it counts as moderated in the scores."""
        self.note_act(sender, tick)
        if self.violators:
            self.message_tally[0 if sender in self.violators else 1] += 1

    def scores(self, text: str) -> tuple[Text, _Findings]:
        """The prepared text and its findings by detector kind, each computed when first read
        (``found[kind]``) and cached for the tick."""
        hit = self._scored.get(text)
        if hit is None:
            t = detectors.prepare(text)
            hit = (t, _Findings(t))
            if len(self._scored) < 4096:
                self._scored[text] = hit
        return hit

    def message_scores(self) -> DetectionScores:
        """Per-message precision and recall so far (messages of runs with ground truth)."""
        tp, fp, fn, tn = self.message_tally
        return DetectionScores(tp, fp, fn, tn)

    def _first_breach(
        self, sender: int, target: int | None, text: str, tick: int, llm_yes: float | None
    ) -> Decision | None:
        self.note_act(sender, tick)
        sent = self._window(self.sent, sender, tick)
        norm = normalise(text)
        texts = self._window(self.texts, sender, tick, norm)
        hostile_word = None
        h = self._by_kind.get("harassment")
        if h is not None and target is not None:
            hostile_word = self._vocab[h.id].find(text)
        if hostile_word is not None:
            hq = self._window(self.hostile, f"{sender}>{target}", tick)
        prepared: Text | None = None
        found: dict[str, Finding | None] = _NO_FINDINGS
        if self.detector_rules or self._dups:
            prepared, found = self.scores(text)
        dups = {rid: d.add(sender, tick, prepared.tokens) for rid, d in self._dups.items() if prepared}
        for r in self.message_rules:
            k = r.kind
            if k in DETECTORS:
                f = found[k]
                if f is not None and f.score >= r.min_score:
                    return Decision(r, {"score": f.score, **f.evidence})
            elif k == "near_duplicate":
                f = dups.get(r.id)
                if f is not None and f.evidence["senders"] >= r.threshold:
                    return Decision(r, {"score": f.score, **f.evidence, "window": r.window})
            elif k == "words":
                w = self._vocab[r.id].find(text)
                if w is not None:
                    return Decision(r, {"word": w})
            elif k == "patterns":
                for pat in self._patterns[r.id]:
                    m = pat.search(text)
                    if m:
                        return Decision(r, {"pattern": pat.pattern, "match": m.group(0)})
            elif k == "rate_limit":
                n = sum(1 for t in sent if t > tick - r.window)
                if n > r.max_messages:
                    return Decision(r, {"messages": n, "window": r.window})
            elif k == "repeat":
                n = sum(1 for t, x in texts if x == norm and t > tick - r.window)
                if n >= r.threshold:
                    return Decision(r, {"text": norm, "times": n, "window": r.window})
            elif k == "harassment":
                if hostile_word is not None:
                    n = sum(1 for t in hq if t > tick - r.window)
                    if n >= r.threshold:
                        return Decision(r, {"target": target, "hostile": n, "word": hostile_word})
            elif k == "llm" and llm_yes is not None and llm_yes >= r.probability:
                ev: dict[str, Any] = {"p_yes": round(llm_yes, 4)}
                if r.borderline is not None:
                    ev["second_opinion_on"] = self._borderline_of(found, r)
                return Decision(r, ev)
        return None

    def _borderline_of(self, found: dict[str, Finding | None], llm_rule: Any) -> dict[str, float]:
        """Detector rules whose score is borderline for ``llm_rule``: rule id -> score."""
        out = {}
        for r in self.detector_rules:
            f = found[r.kind]
            if f is not None and llm_rule.borderline <= f.score < r.min_score:
                out[r.id] = f.score
        return out

    def is_hostile(self, text: str) -> bool:
        """Whether ``text`` uses the harassment rule's (or a words rule's) vocabulary, or an
        ``offensive`` or ``threat`` rule would flag it."""
        for r in self.rules:
            if r.kind in ("harassment", "words") and self._vocab[r.id].find(text) is not None:
                return True
            if r.kind in ("offensive", "threat"):
                f = self.scores(text)[1][r.kind]
                if f is not None and f.score >= r.min_score:
                    return True
        return False

    @property
    def wants_judge(self) -> bool:
        """Whether an ``llm`` rule is configured and a judge is wired in."""
        return self.judge_port is not None and "llm" in self._by_kind

    def judge(self, texts: Sequence[str], seed: int = 0) -> list[float | None]:
        """P(yes) of the ``llm`` rule for each text, in one call of the judge port.

        None everywhere when no ``llm`` rule is configured or no judge was given.
        """
        rule = self._by_kind.get("llm")
        if rule is None or self.judge_port is None or not texts:
            return [None] * len(texts)
        if rule.borderline is None:
            asked = list(range(len(texts)))
        else:
            # A second opinion only where a detector is unsure: the model sees few messages.
            asked = [i for i, x in enumerate(texts) if self._borderline_of(self.scores(x)[1], rule)]
        out: list[float | None] = [None] * len(texts)
        if not asked:
            return out
        answers = list(self.judge_port(rule.question, [texts[i] for i in asked], seed))
        if len(answers) != len(asked):
            raise ValueError(f"the moderation judge answered {len(answers)} of {len(asked)} messages")
        for i, p in zip(asked, answers, strict=True):
            out[i] = None if p is None else float(p)
        return out

    def screen_offer(
        self,
        sender: int,
        give: Sequence[tuple[str, int]],
        get: Sequence[tuple[str, int]],
        tick: int,
        holds: Callable[[str], int],
        market_price: Callable[[str], int],
        currency: str,
    ) -> Decision | None:
        """The first scam rule an offer breaks (or None). ``holds(item)`` is the sender's holding."""
        self.note_act(sender, tick)
        for r in self.offer_rules:
            if r.kind == "scam_unowned":
                for item, q in give:
                    have = holds(item)
                    if have < q:
                        return Decision(r, {"item": item, "offered": q, "held": have})
            elif r.kind == "scam_price":
                coins = sum(q for i, q in get if i == currency)
                goods = [(i, q) for i, q in give if i != currency]
                if coins and len(goods) == 1:
                    item, q = goods[0]
                    market = market_price(item)
                    if market > 0 and coins > r.price_factor * market * q:
                        return Decision(r, {"item": item, "asked": coins // q, "market": market})
        return None

    def on_dishonoured(self, sender: int, count: int) -> Decision | None:
        """An offer of ``sender`` failed on acceptance (``count`` so far)."""
        r = self._by_kind.get("scam_dishonoured")
        if r is not None and count >= r.threshold:
            return Decision(r, {"dishonoured": count})
        return None

    def on_report(self, reporter: int, target: int, tick: int) -> Decision | None:
        """``reporter`` reported ``target``; fires ``reports`` when enough distinct avatars did."""
        r = self._by_kind.get("reports")
        q = self._window(self.reports, target, tick, reporter)
        if r is None:
            return None
        who = sorted({a for t, a in q if t > tick - r.window})
        if len(who) >= r.threshold:
            q.clear()  # one decision per wave of reports
            return Decision(r, {"reporters": who})
        return None

    # -- sanctions ----------------------------------------------------------------------

    def decide(self, avatar: int, decision: Decision, tick: int) -> tuple[str, int | None]:
        """Count the decision and apply the next sanction; returns (sanction, mute end or None).

        The sanction is "none" for rules that do not sanction.
        """
        self.counts[decision.rule] = self.counts.get(decision.rule, 0) + 1
        if avatar in self.violators:
            self.true_pos += 1
        else:
            self.false_pos += 1
        self.first_flag.setdefault(avatar, tick)
        if not decision.sanctions:
            return "none", None
        n = self.strikes.get(avatar, 0)
        self.strikes[avatar] = n + 1
        ladder = self.cfg.sanctions.ladders.get(decision.severity) or self.cfg.sanctions.ladder
        if not ladder:
            return "none", None
        action = ladder[min(n, len(ladder) - 1)]
        self.sanction_count += 1
        if action == "mute":
            until = tick + self.cfg.sanctions.mute_ticks
            self.muted_until[avatar] = until
            return action, until
        if action == "ban":
            self.banned.add(avatar)
        return action, None

    # -- metrics and state ----------------------------------------------------------------

    def metrics(self) -> dict[str, float]:
        """This tick's decisions per rule, and the ground-truth scores where violators are known."""
        out = {f"moderation.{r.id}": float(self.counts.get(r.id, 0)) for r in self.rules}
        out["moderation_actions"] = float(sum(self.counts.values()))
        out["sanctions"] = float(self.sanction_count)
        if self.violators:
            scores = self.message_scores()
            if scores.true_pos + scores.false_pos:
                out["moderation.precision"] = scores.precision
            if scores.true_pos + scores.false_neg:
                out["moderation.recall"] = scores.recall
            caught = [a for a in self.violators if a in self.first_flag]
            delays = [self.first_flag[a] - self.first_act[a] for a in caught if a in self.first_act]
            if delays:
                out["moderation.ticks_to_action"] = sum(delays) / len(delays)
        return out

    def end_tick(self) -> None:
        """Reset the per-tick counters."""
        self.counts = {}
        self.sanction_count = 0
        self._scored = {}

    def get_state(self) -> dict[str, Any]:
        """JSON-safe state: windows, strikes, mutes, bans and scores."""

        def pairs(d: dict[Any, deque[Any]]) -> list[Any]:
            return [[k, [list(x) if isinstance(x, tuple) else x for x in q]] for k, q in d.items()]

        return {
            "sent": pairs(self.sent),
            "texts": pairs(self.texts),
            "hostile": pairs(self.hostile),
            "reports": pairs(self.reports),
            "strikes": [[a, n] for a, n in self.strikes.items()],
            "muted_until": [[a, t] for a, t in self.muted_until.items()],
            "banned": sorted(self.banned),
            "first_act": [[a, t] for a, t in self.first_act.items()],
            "first_flag": [[a, t] for a, t in self.first_flag.items()],
            "true_pos": self.true_pos,
            "false_pos": self.false_pos,
            "message_tally": list(self.message_tally),
            "counts": dict(self.counts),
            "sanction_count": self.sanction_count,
            "violators": sorted(self.violators),
            "near_duplicates": {rid: d.get_state() for rid, d in self._dups.items()},
        }

    def set_state(self, s: dict[str, Any]) -> None:
        """Restore :meth:`get_state`'s output."""

        def unpairs(rows: list[Any], tup: bool) -> dict[Any, deque[Any]]:
            return {k: deque(tuple(x) if tup else x for x in q) for k, q in rows}

        self.sent = unpairs(s["sent"], False)
        self.texts = unpairs(s["texts"], True)
        self.hostile = unpairs(s["hostile"], False)
        self.reports = unpairs(s["reports"], True)
        self.strikes = {a: n for a, n in s["strikes"]}
        self.muted_until = {a: t for a, t in s["muted_until"]}
        self.banned = set(s["banned"])
        self.first_act = {a: t for a, t in s["first_act"]}
        self.first_flag = {a: t for a, t in s["first_flag"]}
        self.true_pos = s["true_pos"]
        self.false_pos = s["false_pos"]
        self.message_tally = list(s.get("message_tally", (0, 0, 0, 0)))
        self.counts = dict(s["counts"])
        self.sanction_count = s["sanction_count"]
        self.violators = set(s["violators"])
        for rid, rows in s.get("near_duplicates", {}).items():
            if rid in self._dups:
                self._dups[rid].set_state(rows)
