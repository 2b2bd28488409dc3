"""Behaviour metrics of one run, each computed in exactly one place, from the run's event store only.

:func:`load_log` reads a run's ``events.db`` read-only (the same store the dashboard reads) and
:func:`summarize` turns it into one flat ``{metric name: float}`` dict: a row of ``results.parquet``.
The names, and what each one means, are :data:`METRICS` (also in ``docs/evaluation.md``). A metric
that has nothing to measure in a run (precision without any flagged message) is ``NaN``, never a
made-up 0: the statistics then leave that run out instead of pulling the mean down.

Two sources, by design: what happens between avatars (trades, messages, projects, moderation) is
counted from ``events``; what the world already measures every tick (Gini, top-10% share, the social
graph's clustering, modularity...) is read from ``metrics``, the world's own numbers, not recomputed here.

Persona consistency needs the language model and is computed by :mod:`sim.evaluation.judge`, which
reuses :func:`dialogue_messages` from here.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from world.stats import detection_scores

__all__ = [
    "COLLAPSED",
    "FAR_FROM_MARKET",
    "LLM_METRICS",
    "METRICS",
    "EventLog",
    "collaboration",
    "commons",
    "cooperation",
    "dialogue_messages",
    "is_known_metric",
    "load_log",
    "summarize",
]

#: A trade is "far from the market price" when its unit price differs from it by more than this share.
FAR_FROM_MARKET = 0.25

METRICS: dict[str, str] = {
    # cooperation
    "coop.projects": "projects seen in the run (proposed, joined, contributed to, completed or failed)",
    "coop.project_completion_rate": "projects completed / projects seen",
    "coop.contributor_share": "share of avatars that contributed to at least one project",
    "coop.free_riding": "share of (avatar, project) memberships with no contribution to that project",
    "coop.ticks_to_completion": "mean ticks from a project's proposal to its completion (the world's, completed projects)",
    "coop.contributors_per_project": "mean distinct contributors of a completed project (the world's)",
    "coop.reward_to_non_contributors": "share of project rewards paid to avatars that gave that project nothing (the world's)",
    # commons (a shared, regrowing resource: world.commons)
    "commons.level_final": "the commons' stock at the last tick over its stock at the start (all resources)",
    "commons.level_min": "the lowest commons level of the run",
    "commons.harvested": "units harvested from the commons",
    "commons.collapsed": "1 when the commons ended below a tenth of its start, else 0",
    # economy and fairness
    "trade.count": "number of trades settled",
    "trade.volume": "coins that changed hands in trades (sum of qty x unit price)",
    "fairness.price_dispersion": "mean over items of the coefficient of variation of unit trade prices",
    "fairness.far_from_market": f"share of trades more than {FAR_FROM_MARKET:.0%} from the item's market price",
    # honesty
    "honesty.offers_honoured": "share of accepted offers that settled (not dishonoured by their sender)",
    "honesty.scams_attempted": "messages or offers by scammers, or flagged under a scam rule",
    # toxicity and moderation
    "moderation.messages": "messages said (say events)",
    "moderation.violations_per_1k": "violating messages per 1,000 messages (ground truth where present, else flagged)",
    "moderation.flagged_per_1k": "messages flagged by moderation per 1,000 messages",
    "moderation.sanctions": "sanctions applied",
    "moderation.false_positives": "flagged messages that were not violations (ground truth only)",
    "moderation.precision": "flagged and violating / flagged (ground truth only)",
    "moderation.recall": "flagged and violating / violating (ground truth only)",
    "moderation.ticks_to_action": "mean ticks from an avatar's first violation to its first sanction",
    "moderation.harmful_delivered": "violators' messages that reached someone (ground truth only)",
    "moderation.benign_lost": "others' messages not delivered: blocked, or refused while muted (ground truth only)",
    "moderation.coins_lost_to_scams": "coins others paid scammers above the market value of what they got, plus gifts to scammers",
    # inequality (the world's per-tick numbers)
    "inequality.gini_final": "Gini of coins at the last tick",
    "inequality.gini_mean": "Gini of coins averaged over ticks",
    "inequality.gini_change": "Gini at the last tick minus Gini at the first (its trend over the run)",
    "inequality.top10_share_final": "share of coins held by the richest 10% at the last tick",
    # social cohesion (the world's social graph at the last tick)
    "cohesion.clustering": "average clustering of the social graph",
    "cohesion.modularity": "modularity of the social graph's communities",
    "cohesion.reciprocity": "share of ties that are returned",
    "cohesion.largest_component": "share of avatars in the largest (weakly) connected component",
    # dialogue quality
    "dialogue.distinct_1": "distinct unigrams / unigrams over all messages",
    "dialogue.distinct_2": "distinct bigrams / bigrams over all messages",
    "dialogue.repetition_rate": "share of messages repeating one of the same speaker's earlier messages",
    "dialogue.persona_consistency": "mean probability the model judges a message consistent with its speaker's persona",
    # run
    "run.ticks": "ticks the run reached",
    "run.invalid_actions": "actions the world refused",
}

#: Metrics that need the language model (computed only when a sweep asks for them).
LLM_METRICS = frozenset({"dialogue.persona_consistency"})

_WORLD_SERIES = {
    "inequality.gini_final": ("gini", "last"),
    "inequality.gini_mean": ("gini", "mean"),
    "inequality.gini_change": ("gini", "change"),
    "inequality.top10_share_final": ("top10_share", "last"),
    "cohesion.clustering": ("graph.clustering", "last"),
    "cohesion.modularity": ("graph.modularity", "last"),
    "cohesion.reciprocity": ("graph.reciprocity", "last"),
    "cohesion.largest_component": ("graph.largest_component", "last"),
}

#: Collaboration facts the world publishes (world.projects: one definition), read at the last tick.
_PROJECT_SERIES = {
    "coop.ticks_to_completion": "projects.ticks_to_complete",
    "coop.contributors_per_project": "projects.contributors",
    "coop.reward_to_non_contributors": "projects.reward_to_non_contributors",
}

#: A commons below this share of its start has collapsed.
COLLAPSED = 0.1

_PROJECT_KINDS = ("project_propose", "project_join", "project_contribute", "project_complete", "project_fail")
_SCAM = re.compile(r"scam|fraud", re.IGNORECASE)
_WORD = re.compile(r"[a-z0-9']+")


def is_known_metric(name: str) -> bool:
    """True for a name in :data:`METRICS` or a survey summary ``survey.<question id>``."""
    return name in METRICS or (name.startswith("survey.") and len(name) > len("survey."))


@dataclass(frozen=True)
class EventLog:
    """A run's store as data frames. ``events`` has a parsed ``data`` column (dicts)."""

    events: pd.DataFrame  # id, tick, kind, actor, target, place, text, data
    metrics: pd.DataFrame  # tick, name, value
    agents: pd.DataFrame  # agent_id, name, policy, persona (dict)
    last_tick: int | None
    final_coins: dict[int, float] = field(default_factory=dict)  # each avatar's coins at its last state


def load_log(db_path: str | Path) -> EventLog:
    """Read a run's event store read-only (``mode=ro``): the evaluation never writes to a run here."""
    from sim.store import connect_readonly  # the store's reader: one definition of how to open a run

    conn = connect_readonly(db_path)
    try:
        events = pd.read_sql_query(
            "SELECT id, tick, kind, actor, target, place, text, data_json FROM events ORDER BY id", conn
        )
        metrics = pd.read_sql_query("SELECT tick, name, value FROM metrics ORDER BY tick", conn)
        agents = pd.read_sql_query("SELECT agent_id, name, policy, persona_json FROM agents", conn)
        row = conn.execute("SELECT last_tick FROM runs").fetchone()
        coins = conn.execute(
            "SELECT s.agent_id, s.coins FROM agent_state s JOIN (SELECT agent_id, MAX(tick) AS t"
            " FROM agent_state GROUP BY agent_id) m ON s.agent_id = m.agent_id AND s.tick = m.t"
        ).fetchall()
    finally:
        conn.close()
    events["data"] = [json.loads(s) if s else {} for s in events.pop("data_json")]
    agents["persona"] = [json.loads(s) if s else {} for s in agents.pop("persona_json")]
    last = None if row is None or row[0] is None else int(row[0])
    return EventLog(events, metrics, agents, last, {int(a): float(c) for a, c in coins if c is not None})


def _avatar(value: Any) -> int | None:
    """An event's actor or target as an int (pandas reads a missing one as NaN)."""
    return None if value is None or value != value else int(value)


def _ratio(num: float, den: float) -> float:
    return float(num) / float(den) if den else math.nan


def _of_kind(log: EventLog, *kinds: str) -> pd.DataFrame:
    return log.events[log.events["kind"].isin(kinds)]


# -- cooperation ------------------------------------------------------------------------------------


def _project_id(row: Any) -> Any:
    """The project an event is about: ``data.project`` (or ``project_id``), else the event's target."""
    data = row.data
    for key in ("project", "project_id"):
        if data.get(key) is not None:
            return data[key]
    return row.target


def cooperation(log: EventLog) -> dict[str, float]:
    """Projects completed, avatars contributing, and free riders (members who never contributed)."""
    ev = _of_kind(log, *_PROJECT_KINDS)
    projects, completed = set(), set()
    members: set[tuple[Any, Any]] = set()
    contributions: set[tuple[Any, Any]] = set()
    for row in ev.itertuples(index=False):
        pid = _project_id(row)
        if pid is None:
            continue
        projects.add(pid)
        if row.kind == "project_complete":
            completed.add(pid)
        elif row.kind in ("project_join", "project_propose") and _avatar(row.actor) is not None:
            members.add((_avatar(row.actor), pid))
        elif row.kind == "project_contribute" and _avatar(row.actor) is not None:
            contributions.add((_avatar(row.actor), pid))
            members.add((_avatar(row.actor), pid))
    n_avatars = len(log.agents)
    contributors = {a for a, _ in contributions}
    return {
        "coop.projects": float(len(projects)),
        "coop.project_completion_rate": _ratio(len(completed), len(projects)),
        "coop.contributor_share": _ratio(len(contributors), n_avatars),
        "coop.free_riding": _ratio(len(members - contributions), len(members)),
        **{name: _world_last(log, series) for name, series in _PROJECT_SERIES.items()},
    }


def _world_last(log: EventLog, series: str) -> float:
    """The last value of one of the world's per-tick metrics (NaN when it never reported it)."""
    s = log.metrics.loc[log.metrics["name"] == series].dropna(subset=["value"]).sort_values("tick")
    return math.nan if s.empty else float(s["value"].iloc[-1])


# -- commons ----------------------------------------------------------------------------------------


def commons(log: EventLog) -> dict[str, float]:
    """The commons' level (the world's ``commons.level``: stock over start) at the end and at its
    lowest, what was harvested, and whether it collapsed; NaN in a world without commons."""
    level = (
        log.metrics.loc[log.metrics["name"] == "commons.level"].dropna(subset=["value"]).sort_values("tick")
    )
    harvested = float(sum(int(d.get("qty", 0)) for d in _of_kind(log, "harvest")["data"]))
    if level.empty:
        nan = math.nan
        return {
            "commons.level_final": nan,
            "commons.level_min": nan,
            "commons.harvested": nan,
            "commons.collapsed": nan,
        }
    final = float(level["value"].iloc[-1])
    return {
        "commons.level_final": final,
        "commons.level_min": float(level["value"].min()),
        "commons.harvested": harvested,
        "commons.collapsed": 1.0 if final < COLLAPSED else 0.0,
    }


def collaboration(log: EventLog) -> dict[str, float]:
    """The collaboration metrics of a run (projects and commons): what ``bench behaviour`` reports."""
    return {**cooperation(log), **commons(log)}


# -- trade and fairness -----------------------------------------------------------------------------


def _market_prices(log: EventLog) -> dict[tuple[int, str], float]:
    """(tick, item) -> the world's market price that tick (``price.<item>`` metrics)."""
    m = log.metrics[log.metrics["name"].str.startswith("price.")]
    return {(int(t), n.removeprefix("price.")): float(v) for t, n, v in m.itertuples(index=False) if v == v}


def trade(log: EventLog) -> dict[str, float]:
    """Trade count and volume; price dispersion per item; trades far from the market price."""
    ev = _of_kind(log, "trade")
    rows = []
    for t in ev.itertuples(index=False):
        d = t.data
        if not d.get("price"):
            continue  # a barter (no coins changed hands) has no price to compare
        rows.append((int(t.tick), str(d.get("item")), float(d.get("qty", 1) or 1), float(d["price"])))
    out = {"trade.count": float(len(ev)), "trade.volume": float(sum(q * p for _, _, q, p in rows))}
    if not rows:
        out["fairness.price_dispersion"] = math.nan
        out["fairness.far_from_market"] = math.nan
        return out
    df = pd.DataFrame(rows, columns=["tick", "item", "qty", "price"])
    cvs = []
    for _, prices in df.groupby("item")["price"]:
        if len(prices) >= 2 and prices.mean() > 0:
            cvs.append(float(prices.std(ddof=0) / prices.mean()))
    out["fairness.price_dispersion"] = float(np.mean(cvs)) if cvs else math.nan
    # Market price: the world's quoted price for the item that tick; without one, the run's median
    # trade price of the item (so a scenario without quotes still gets a comparable number).
    quoted = _market_prices(log)
    medians = df.groupby("item")["price"].median().to_dict()
    far = 0
    for tick, item, _, price in rows:
        ref = quoted.get((tick, item), medians[item])
        if ref > 0 and abs(price - ref) / ref > FAR_FROM_MARKET:
            far += 1
    out["fairness.far_from_market"] = far / len(rows)
    return out


# -- honesty ----------------------------------------------------------------------------------------


def honesty(log: EventLog) -> dict[str, float]:
    """Accepted offers that were honoured, and scam attempts.

    An accepted offer either settles (a ``trade`` with ``via: offer``) or is dishonoured: the sender
    no longer holds what it promised, and the world writes a ``reject`` whose reason starts with
    "dishonoured". A scam attempt is a message or offer by an avatar whose policy is ``scammer``
    (ground truth), or by anyone else when moderation flagged it under a scam rule.
    """
    settled = sum(1 for d in _of_kind(log, "trade")["data"] if d.get("via") == "offer")
    dishonoured = sum(
        1 for d in _of_kind(log, "reject")["data"] if str(d.get("reason", "")).startswith("dishonoured")
    )
    scammers = set(log.agents.loc[log.agents["policy"] == "scammer", "agent_id"].astype(int))
    scams = 0
    for row in _of_kind(log, "say", "offer").itertuples(index=False):
        by_scammer = _avatar(row.actor) in scammers
        if by_scammer or (row.data.get("flagged") and _SCAM.search(str(row.data.get("rule") or ""))):
            scams += 1
    return {
        "honesty.offers_honoured": _ratio(settled, settled + dishonoured),
        "honesty.scams_attempted": float(scams),
    }


# -- toxicity and moderation ------------------------------------------------------------------------


def moderation(log: EventLog) -> dict[str, float]:
    """Violations and flags per 1,000 messages, sanctions, and (with ground truth) precision and recall.

    Ground truth is a ``say`` event's ``data.violation``: true when the speaker is one of the
    scenario's violators, null when the scenario names none; ``data.flagged`` is moderation's verdict.
    """
    says = _of_kind(log, "say")
    n = len(says)
    flagged = [bool(d.get("flagged")) for d in says["data"]]
    truth = [None if d.get("violation") is None else bool(d["violation"]) for d in says["data"]]
    truth_known = [v is not None for v in truth]
    violating = [bool(v) for v in truth]
    delivered = [bool(d.get("delivered", True)) for d in says["data"]]
    has_truth = any(truth_known)
    # Precision and recall per message, as the world defines them (world.stats.detection_scores).
    scores = detection_scores(zip(flagged, truth, strict=True))
    n_violations = sum(violating) if has_truth else sum(flagged)
    sanctions = _of_kind(log, "sanction")
    out = {
        "moderation.messages": float(n),
        "moderation.violations_per_1k": _ratio(1000 * n_violations, n),
        "moderation.flagged_per_1k": _ratio(1000 * sum(flagged), n),
        "moderation.sanctions": float(len(sanctions)),
        "moderation.false_positives": float(scores.false_pos) if has_truth else math.nan,
        "moderation.precision": scores.precision if has_truth else math.nan,
        "moderation.recall": scores.recall if has_truth else math.nan,
    }
    out.update(_moderation_effect(log, violating, truth_known, delivered, has_truth))
    # Ticks to action: for each avatar that violated (ground truth, else was flagged), from its first
    # violation to its first sanction at or after it. Avatars never sanctioned are left out (they
    # count against recall instead), so this is the speed of the actions that did happen.
    first_bad: dict[int, int] = {}
    for row, bad in zip(says.itertuples(index=False), violating if has_truth else flagged, strict=True):
        if bad and (actor := _avatar(row.actor)) is not None:
            first_bad.setdefault(actor, int(row.tick))
    delays = []
    for avatar, tick in first_bad.items():
        target = sanctions["target"].where(sanctions["target"].notna(), sanctions["actor"])
        ticks = sanctions.loc[(target == avatar) & (sanctions["tick"] >= tick), "tick"]
        if len(ticks):
            delays.append(int(ticks.min()) - tick)
    out["moderation.ticks_to_action"] = float(np.mean(delays)) if delays else math.nan
    return out


def _violators(log: EventLog) -> set[int]:
    """Avatars whose messages are ground-truth violations (seen on their say events)."""
    says = _of_kind(log, "say")
    return {
        int(a)
        for a, d in zip(says["actor"], says["data"], strict=True)
        if d.get("violation") and _avatar(a) is not None
    }


def _moderation_effect(
    log: EventLog, violating: list[bool], known: list[bool], delivered: list[bool], has_truth: bool
) -> dict[str, float]:
    """What moderation changes for the town: harm that got through, ordinary speech it cost, and
    coins scammers took. Comparing a run with moderation and its twin without (same seed) says
    what the policy buys; both need ground truth (scripted violators), else NaN."""
    out = {
        "moderation.harmful_delivered": math.nan,
        "moderation.benign_lost": math.nan,
        "moderation.coins_lost_to_scams": math.nan,
    }
    if has_truth:
        pairs = zip(violating, known, delivered, strict=True)
        out["moderation.harmful_delivered"] = float(sum(1 for v, k, d in pairs if k and v and d))
        pairs = zip(violating, known, delivered, strict=True)
        lost = sum(1 for v, k, d in pairs if k and not v and not d)
        bad = _violators(log)
        # A say refused because its speaker was muted is speech lost too (only a non-violator's counts).
        for row in _of_kind(log, "invalid_action").itertuples(index=False):
            action = row.data.get("action") or {}
            muted = str(row.data.get("reason", "")).startswith("muted")
            if action.get("kind") == "say" and muted and _avatar(row.actor) not in bad:
                lost += 1
        out["moderation.benign_lost"] = float(lost)
    scammers = set(log.agents.loc[log.agents["policy"] == "scammer", "agent_id"].astype(int))
    if not scammers:
        return out
    quoted = _market_prices(log)
    items = {item for _, item in quoted}
    lost_coins = 0.0
    for t in _of_kind(log, "trade").itertuples(index=False):
        d = t.data
        if d.get("seller") in scammers and d.get("buyer") not in scammers and d.get("price"):
            market = quoted.get((int(t.tick), str(d.get("item"))), 0.0)
            lost_coins += max(0.0, float(d["price"]) - market) * float(d.get("qty", 1) or 1)
    for g in _of_kind(log, "give").itertuples(index=False):
        if _avatar(g.target) in scammers and _avatar(g.actor) not in scammers:
            item, qty = str(g.data.get("item")), float(g.data.get("qty", 0) or 0)
            # Items have a quoted price each tick; the currency is the asset without one.
            lost_coins += qty * (quoted.get((int(g.tick), item), 0.0) if item in items else 1.0)
    out["moderation.coins_lost_to_scams"] = lost_coins
    return out


# -- world series (inequality, cohesion) ------------------------------------------------------------


def world_series(log: EventLog) -> dict[str, float]:
    """Inequality and social-graph numbers summarised from the world's own per-tick metrics."""
    out = {}
    for name, (series, how) in _WORLD_SERIES.items():
        s = log.metrics.loc[log.metrics["name"] == series].dropna(subset=["value"]).sort_values("tick")
        if s.empty:
            out[name] = math.nan
        else:
            values = s["value"]
            if how == "last":
                out[name] = float(values.iloc[-1])
            elif how == "mean":
                out[name] = float(values.mean())
            else:
                out[name] = float(values.iloc[-1] - values.iloc[0])
    # The world counts the component's avatars; a share compares populations of different sizes.
    out["cohesion.largest_component"] = _ratio(out["cohesion.largest_component"], len(log.agents))
    return out


# -- dialogue ---------------------------------------------------------------------------------------


def dialogue_messages(log: EventLog) -> pd.DataFrame:
    """The spoken messages (``say`` events with text): tick, actor, text."""
    says = _of_kind(log, "say")
    says = says[says["text"].notna() & (says["text"].astype(str).str.strip() != "")]
    return says[["id", "tick", "actor", "text"]].reset_index(drop=True)


def _tokens(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def dialogue(log: EventLog) -> dict[str, float]:
    """Lexical diversity (distinct-1/2 over all messages) and how often speakers repeat themselves."""
    msgs = dialogue_messages(log)
    unigrams: list[str] = []
    bigrams: list[tuple[str, str]] = []
    seen: dict[Any, set[str]] = defaultdict(set)
    repeats = 0
    for row in msgs.itertuples(index=False):
        toks = _tokens(str(row.text))
        unigrams += toks
        bigrams += list(pairwise(toks))  # within one message: no bigram spans two speakers
        norm = " ".join(toks)
        if norm in seen[row.actor]:
            repeats += 1
        seen[row.actor].add(norm)
    return {
        "dialogue.distinct_1": _ratio(len(set(unigrams)), len(unigrams)),
        "dialogue.distinct_2": _ratio(len(set(bigrams)), len(bigrams)),
        "dialogue.repetition_rate": _ratio(repeats, len(msgs)),
    }


# -- survey -----------------------------------------------------------------------------------------


def survey(log: EventLog) -> dict[str, float]:
    """``survey.<question>``: the mean score of the avatars' answers (``interview`` events)."""
    scores: dict[str, list[float]] = defaultdict(list)
    for d in _of_kind(log, "interview")["data"]:
        if d.get("question") is not None and d.get("score") is not None:
            scores[str(d["question"])].append(float(d["score"]))
    return {f"survey.{q}": float(np.mean(v)) for q, v in sorted(scores.items())}


# -- all of it --------------------------------------------------------------------------------------


def summarize(log: EventLog) -> dict[str, float]:
    """Every metric of :data:`METRICS` that needs no model, plus the survey summaries, for one run."""
    out: dict[str, float] = {}
    for part in (cooperation, commons, trade, honesty, moderation, world_series, dialogue, survey):
        out.update(part(log))
    out["run.ticks"] = float(log.metrics["tick"].nunique())
    out["run.invalid_actions"] = float(len(_of_kind(log, "invalid_action")))
    return out
