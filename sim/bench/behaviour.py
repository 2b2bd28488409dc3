"""``mesaverse bench behaviour``: do the avatars make sense? Three parts, one run.

(a) Clear cases. A labelled suite (``sim/bench/data/behaviour_cases.yaml``) of town situations,
    each built through the real world of ``configs/town.yaml`` (a :class:`~world.World` in that
    state, its legal options, the LLM policy's real prompt), with the options a sensible person
    would pick (``sensible``: fnmatch patterns over option labels; or ``avoid``: every option
    but these). Reported: accuracy (the argmax is sensible), the mean probability on the
    sensible set, chance (sensible share of the world's legal options) and the same by category.
    A case the policy decides without the model (one option left, a conversation turn) counts
    with probability 1 on what it did.
(b) The town. The default scenario for 30 ticks on the same model: actions per role, trades,
    crafted goods, project progress, avatars who went hungry while holding food, sanctions of
    ordinary avatars, and the share of actions that are talk. Read from the run's event store
    (:func:`town_metrics`), so any finished run folder can be scored the same way.
(c) Speech, over every line of an LLM avatar in (b) (:func:`speech_quality`).

The figures print as a table and, with ``--json``, are written with the keys ``suite``,
``town`` and ``speech``.
"""

from __future__ import annotations

import fnmatch
import json
import random
import tempfile
import time
from collections import Counter, defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from sim.bench.speech import (
    _agents,
    _config,
    _connect,
    distinct_n,
    grounding_rate,
    is_stage_direction,
    reply_relevance,
    speech_quality,
    verbatim_repeat_rate,
)
from sim.errors import UserError

__all__ = [
    "CASES",
    "HUNGRY",
    "Case",
    "bench_behaviour_command",
    "build_case",
    "distinct_n",
    "grounding_rate",
    "is_stage_direction",
    "load_cases",
    "reply_relevance",
    "run_suite",
    "sensible_options",
    "sensible_share",
    "speech_quality",
    "town_metrics",
    "verbatim_repeat_rate",
]

ROOT = Path(__file__).resolve().parents[2]
TOWN = ROOT / "configs" / "town.yaml"
CASES = Path(__file__).resolve().parent / "data" / "behaviour_cases.yaml"
#: The tick the suite's situations are set at (needs are set to the case's levels at it).
CASE_TICK = 6
#: Hunger at which the world lists eating first (world.actions.body.HUNGRY): "hungry" here.
HUNGRY = 0.5
#: Ticks in a row hungry while holding food before an avatar counts as "went hungry with food".
HUNGRY_TICKS = 3
#: Action kinds that are talk.
TALK = ("say",)
#: Event kinds that are an avatar's action (the rest - trade, moderation... - are outcomes).
ACTION_KINDS = (
    "say", "move", "give", "offer", "accept", "reject", "order", "gather", "craft", "consume",
    "rest", "project_propose", "project_join", "project_contribute", "report",
)  # fmt: skip
#: The role work that issue 12 asks of each role in the town: at least one such action each.
ROLE_WORK = {"gatherer": ("gather",), "crafter": ("craft",), "trader": ("trade",)}


# ------------------------------------------------------------------------------------------ the suite


@dataclass(frozen=True)
class Case:
    """One situation of the suite (the YAML's fields; see the data file's header)."""

    id: str
    category: str
    name: str
    role: str
    place: str
    needs: Mapping[str, float] = field(default_factory=dict)
    coins: int = 10
    inventory: Mapping[str, int] = field(default_factory=dict)
    others: tuple[Mapping[str, Any], ...] = ()
    heard: tuple[Mapping[str, str], ...] = ()
    offers: tuple[Mapping[str, Any], ...] = ()
    projects: tuple[Mapping[str, Any], ...] = ()
    friends: tuple[str, ...] = ()
    sensible: tuple[str, ...] = ()
    avoid: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.sensible and not self.avoid:
            raise ValueError(f"case {self.id}: needs `sensible` or `avoid` patterns")


def load_cases(path: str | Path = CASES) -> list[Case]:
    """The suite's cases, in file order."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or []
    out = []
    for d in raw:
        d = dict(d)
        for key in ("others", "heard", "offers", "projects", "friends", "sensible", "avoid"):
            d[key] = tuple(d.get(key) or ())
        out.append(Case(**d))
    ids = [c.id for c in out]
    if len(set(ids)) != len(ids):
        raise ValueError("behaviour cases: duplicate ids")
    return out


def sensible_options(case: Case, labels: Sequence[str]) -> list[bool]:
    """Which of ``labels`` are sensible for ``case``."""
    out = []
    for label in labels:
        bad = any(fnmatch.fnmatchcase(label, p) for p in case.avoid)
        good = any(fnmatch.fnmatchcase(label, p) for p in case.sensible) if case.sensible else True
        out.append(good and not bad)
    return out


def _cfg() -> Any:
    from sim.config import load_scenario

    return load_scenario(TOWN)


def _goods(d: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
    return tuple((str(k), int(v)) for k, v in d.items())


def _set_holdings(w: Any, a: int, coins: int, inventory: Mapping[str, int]) -> None:
    want = {w.currency: coins, **{i: 0 for i in w.item_names}, **dict(inventory)}
    for asset, q in want.items():
        have = w.ledger.balance(a, asset)
        if q > have:
            w.ledger.transfer("mint", a, asset, q - have, "suite")
        elif q < have:
            w.ledger.transfer(a, "sink", asset, have - q, "suite")


def build_case(case: Case, cfg: Any = None) -> tuple[Any, Any, Any, list[Any], Any]:
    """``(world, avatar, observation, options, ctx)`` of ``case``, built through the real world.

    The avatar is id 0; the others follow in the case's order. Needs are set at
    :data:`CASE_TICK`; messages heard arrive at the tick before; offers are addressed to the
    avatar and open for 5 ticks; projects are proposed by the named avatar.
    """
    from agents.persona import Persona
    from agents.policy import TickContext
    from world import World
    from world.needs import NEEDS
    from world.types import Heard

    cfg = cfg or _cfg()
    w = World(cfg, random.Random(0))
    people = [{"name": case.name, "role": case.role, "place": case.place}]
    people += [{"place": case.place, **o} for o in case.others]
    ids = {}
    for i, p in enumerate(people):
        w.add_avatar(i, p["name"], role=p.get("role", ""), place=p["place"])
        ids[p["name"]] = i
        _set_holdings(w, i, 10, {"bread": 1, "wheat": 2, "wood": 2, "tools": 1} if i else {})
    me = 0
    _set_holdings(w, me, case.coins, case.inventory)
    w.observation_for(me)  # lays the social graph down now, so what follows is not redrawn
    w.tick = CASE_TICK
    for a in ids.values():
        for n, need in enumerate(NEEDS):
            level = case.needs.get(need, 0.05) if a == me else 0.1
            w.needs.change(a, n, level - w.needs.level(a, n, w.tick), w.tick)
    for f in case.friends:
        for _ in range(3):
            w.social.interact(me, ids[f], "conversation", w.tick - 1)
    box = w.inbox.setdefault(me, deque(maxlen=w.inbox_size))
    for h in case.heard:
        box.append(Heard(w.tick - 1, ids[h["from"]], h["text"]))
    for o in case.offers:
        sender = ids[o["from"]]
        give = _goods(o["give"])
        for item, q in give:  # the sender can deliver what it offers
            if w.ledger.balance(sender, item) < q:
                w.ledger.transfer("mint", sender, item, q - w.ledger.balance(sender, item), "suite")
        w.offers.post(sender, me, give, _goods(o["get"]), w.tick - 1, w.tick + 4)
    for spec in case.projects:
        proj = w.projects.propose(ids[spec["proposer"]], spec["template"], w.tick - 2)
        if spec.get("member"):
            w.projects.join(me, proj.id)
    obs, options = w.observe(me)
    from agents.persona import DEFAULT_TEMPLATES

    occupation = (DEFAULT_TEMPLATES.role_occupations.get(case.role) or ("townsperson",))[0]
    goals = (DEFAULT_TEMPLATES.role_goals.get(case.role) or ("make a good living",))[:1]
    persona = Persona(case.name, 34, occupation, ("kind", "practical"), goals, ("honesty", "hard work"))
    avatar = SimpleNamespace(
        avatar_id=me, persona=persona, role=case.role, memory=None, name=case.name, intention=None
    )
    ctx = TickContext(
        tick=w.tick,
        random=random.Random(0),
        avatar_ids=list(ids.values()),
        names=w.names,
        balance=w.coins,
        currency=w.currency,
        run_seed=0,
        conversations=None,
    )
    return w, avatar, obs, options, ctx


def run_suite(llm: Any, cases: Sequence[Case] | None = None, make_policy: Any = None) -> dict[str, Any]:
    """Part (a): every case decided by the LLM policy on ``llm`` (one batched ``choose``).

    ``make_policy(cfg)`` builds the policy (default: the town's own); a fresh one per case, as
    every case's avatar is id 0 and a policy caches each avatar's persona.
    """
    from agents.policy import PendingChoice

    if make_policy is None:
        from sim.policy_setup import llm_policy_for as make_policy

    cfg = _cfg()
    cases = list(cases) if cases is not None else load_cases()
    rows: list[dict[str, Any]] = []
    pending: list[tuple[int, PendingChoice]] = []
    for case in cases:
        _, avatar, obs, options, ctx = build_case(case, cfg)
        legal = [o.label for o in options]
        legal_ok = sensible_options(case, legal)
        row: dict[str, Any] = {"id": case.id, "category": case.category, "chance": sum(legal_ok) / len(legal)}
        d = make_policy(cfg).decide(avatar, obs, options, ctx)
        if isinstance(d, PendingChoice):
            row["labels"] = [o.label for o in d.options]
            pending.append((len(rows), d))
        else:
            row["labels"] = [d.label] if d is not None else ["(nothing)"]
            row["probs"] = [1.0]
            row["model"] = False
        rows.append(row)
    t0 = time.perf_counter()
    choices = llm.choose([p.request for _, p in pending]) if pending else []
    seconds = time.perf_counter() - t0
    for (i, _), c in zip(pending, choices, strict=True):
        rows[i]["probs"] = list(c.probs)
        rows[i]["model"] = True
        if c.extra:
            rows[i]["extra"] = {k: v for k, v in c.extra.items() if isinstance(v, list | float | int)}
    by_case = {c.id: c for c in cases}
    for row in rows:
        ok = sensible_options(by_case[row["id"]], row["labels"])
        row["ok"] = ok
        probs = row["probs"]
        best = max(range(len(probs)), key=probs.__getitem__)
        row["pick"] = row["labels"][best]
        row["correct"] = bool(ok[best])
        row["p_sensible"] = float(sum(p for p, g in zip(probs, ok, strict=True) if g))
    return {**_summary(rows), "by_category": _by_category(rows), "seconds": seconds, "cases": rows}


def _summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    n = len(rows)
    return {
        "n": n,
        "accuracy": sum(r["correct"] for r in rows) / n if n else 0.0,
        "p_sensible": sum(r["p_sensible"] for r in rows) / n if n else 0.0,
        "chance": sum(r["chance"] for r in rows) / n if n else 0.0,
        "decided_by_model": sum(bool(r.get("model")) for r in rows),
        # The accuracy where the model chose among several options (the rest the policy's agenda
        # and filters decided alone), and the chance there.
        "model_accuracy": _mean([r["correct"] for r in rows if r.get("model")]),
        "model_chance": _mean([sensible_share(r) for r in rows if r.get("model")]),
    }


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def sensible_share(row: Mapping[str, Any]) -> float:
    """The share of the options put to the model that were sensible (its chance there)."""
    ok = row.get("ok") or []
    return sum(ok) / len(ok) if ok else 0.0


def _by_category(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[r["category"]].append(r)
    return {k: _summary(v) for k, v in sorted(groups.items())}


# ------------------------------------------------------------------------------------------ the town


def town_metrics(db: str | Path) -> dict[str, Any]:
    """Part (b) of a finished run's event store.

    - ``actions_by_role``: role -> action kind -> count (actions: :data:`ACTION_KINDS`);
    - ``trades`` (``trade`` events), ``crafted`` (goods made by ``craft`` events, summed);
    - ``projects``: proposed, joined, contributions, completed, failed;
    - ``hungry_with_food``: avatars that were hungry (hunger >= :data:`HUNGRY`) while holding
      food for :data:`HUNGRY_TICKS` ticks in a row (from ``agent_state``), with their names;
    - ``ordinary_sanctions``: sanctions of avatars whose role is not a violator's, by rule;
    - ``talk_share``: talk actions over all actions;
    - ``roles_working``: role -> whether its work happened (gatherers gather, crafters craft,
      traders take part in a trade) and ``all_roles_work``.
    """
    from world.moderation import VIOLATOR_POLICIES

    conn = _connect(db)
    try:
        agents = _agents(conn)
        cfg = _config(conn)
        roles_cfg = {r["name"]: r for r in cfg.get("population", {}).get("roles", [])}
        violators = {
            a
            for a, info in agents.items()
            if roles_cfg.get(info["role"], {}).get("policy") in VIOLATOR_POLICIES
            or roles_cfg.get(info["role"], {}).get("violator")
        }
        foods = {
            i for i, c in cfg.get("economy", {}).get("items", {}).items() if (c or {}).get("food", 0) > 0
        }
        by_role: dict[str, Counter[str]] = defaultdict(Counter)
        traded_roles: Counter[str] = Counter()
        trades = crafted = 0
        projects: Counter[str] = Counter()
        sanctions: Counter[str] = Counter()
        sanctioned: set[str] = set()
        for kind, actor, target, data in conn.execute("SELECT kind, actor, target, data_json FROM events"):
            role = agents.get(actor, {}).get("role", "") if actor is not None else ""
            if kind in ACTION_KINDS and actor in agents:
                by_role[role][kind] += 1
            if kind == "trade":
                trades += 1
                traded_roles[role] += 1
                if target in agents:
                    traded_roles[agents[target]["role"]] += 1
            elif kind == "craft":
                crafted += sum(int(q) for q in json.loads(data).get("outputs", {}).values())
            elif kind.startswith("project_"):
                projects[kind.removeprefix("project_")] += 1
            elif kind == "sanction" and actor in agents and actor not in violators:
                sanctions[json.loads(data).get("rule") or "?"] += 1
                sanctioned.add(agents[actor]["name"])
        hungry: set[str] = set()
        streak: Counter[int] = Counter()
        for _tick, aid, data in conn.execute(
            "SELECT tick, agent_id, data_json FROM agent_state ORDER BY tick"
        ):
            d = json.loads(data)
            holds = any(d.get("inventory", {}).get(f, 0) > 0 for f in foods)
            if d.get("needs", {}).get("hunger", 0.0) >= HUNGRY and holds:
                streak[aid] += 1
                if streak[aid] >= HUNGRY_TICKS and aid in agents:
                    hungry.add(agents[aid]["name"])
            else:
                streak[aid] = 0
    finally:
        conn.close()
    total = sum(sum(c.values()) for c in by_role.values())
    talk = sum(c[k] for c in by_role.values() for k in TALK)
    working = {}
    for role, kinds in ROLE_WORK.items():
        if role in by_role or role in traded_roles:
            done = sum(traded_roles[role] if k == "trade" else by_role[role][k] for k in kinds)
            working[role] = done > 0
    return {
        "actions_by_role": {r: dict(sorted(c.items())) for r, c in sorted(by_role.items())},
        "actions": total,
        "trades": trades,
        "crafted": crafted,
        "projects": dict(sorted(projects.items())),
        "hungry_with_food": len(hungry),
        "hungry_with_food_names": sorted(hungry),
        "ordinary_sanctions": sum(sanctions.values()),
        "ordinary_sanctions_by_rule": dict(sanctions),
        "ordinary_sanctioned": sorted(sanctioned),
        "talk_share": talk / total if total else 0.0,
        "roles_working": working,
        "all_roles_work": all(working.values()) if working else False,
    }


# ------------------------------------------------------------------------------------------ speech

TARGETS = {
    "suite.accuracy": (">=", 0.85),
    "town.trades": (">=", 12),
    "town.crafted": (">=", 6),
    "town.hungry_with_food": ("<=", 0),
    "town.talk_share": ("<=", 0.5),
    "town.ordinary_sanctions": ("<=", 0),
    "town.all_roles_work": ("==", True),
    "speech.stage_direction_rate": ("<=", 0.05),
    "speech.reply_relevance": (">=", 0.6),
    "speech.verbatim_repeats": ("<=", 0.05),
    "speech.distinct_2": (">=", 0.5),
    "speech.grounding": (">=", 0.6),
}


def check_targets(figures: Mapping[str, Any]) -> dict[str, bool]:
    """Each target of issue 12 -> met or not (only for the parts that ran)."""
    out = {}
    for key, (op, bound) in TARGETS.items():
        part, name = key.split(".")
        if part not in figures or name not in figures[part]:
            continue
        v = figures[part][name]
        out[key] = bool(v >= bound if op == ">=" else v <= bound if op == "<=" else v == bound)
    return out


def run_town(llm: Any, out_dir: Path, ticks: int = 30, seed: int | None = None) -> Path:
    """Part (b)'s run: the default town on ``llm``, recorded in ``out_dir/events.db``."""
    from sim.config import load_scenario
    from sim.model import MetaverseModel
    from sim.store import EventStore

    extra = [f"run.ticks={ticks}", *([f"run.seed={seed}"] if seed is not None else [])]
    cfg = load_scenario(TOWN, extra)
    db = out_dir / "events.db"
    store = EventStore.create(
        db, run_id=out_dir.name, scenario=cfg.name, seed=cfg.run.seed, config=cfg.model_dump(mode="json")
    )
    model = MetaverseModel(cfg, llm=llm, store=store)
    while model.running:
        model.step()
    store.set_status("finished")
    store.close()
    return db


def bench_behaviour_command(
    *,
    json_path: Path | None = None,
    model: str = "smollm2-135m",
    device: str = "auto",
    ticks: int = 30,
    parts: str = "suite,town",
    run_dir: Path | None = None,
    store: Path | None = None,
) -> dict[str, Any]:
    """Run the parts asked for (``suite``, ``town``; speech comes with the town) and print them.

    ``store``: score an existing run's ``events.db`` for (b) and (c) instead of running the town.
    """
    wanted = {p.strip() for p in parts.split(",") if p.strip()}
    if not wanted <= {"suite", "town"}:
        raise UserError(f"--parts: must be suite and/or town, got {parts!r}")
    figures: dict[str, Any] = {"model": model}
    llm = None
    if "suite" in wanted or ("town" in wanted and store is None):
        from sim.llm.engine import Engine

        llm = Engine(model, device=device)
        figures["engine"] = llm.info()
    if "suite" in wanted:
        figures["suite"] = run_suite(llm)
        _print_suite(figures["suite"])
    if "town" in wanted:
        t0 = time.perf_counter()
        if store is None:
            folder = run_dir or Path(tempfile.mkdtemp(prefix="behaviour-town-"))
            folder.mkdir(parents=True, exist_ok=True)
            store = run_town(llm, folder, ticks=ticks)
            figures["town_seconds"] = time.perf_counter() - t0
        elif not Path(store).is_file():
            raise UserError(f"--store: {store} is not a file")
        figures["store"] = str(store)
        figures["town"] = town_metrics(store)
        figures["speech"] = speech_quality(store)
        _print_town(figures["town"], figures["speech"])
    figures["targets"] = check_targets(figures)
    missed = [k for k, ok in figures["targets"].items() if not ok]
    print("targets missed: " + (", ".join(missed) if missed else "none"))
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2, default=str), encoding="utf-8")
    return figures


def _print_suite(s: Mapping[str, Any]) -> None:
    print(
        f"(a) clear cases: {s['n']} cases, accuracy {s['accuracy']:.2f}, p(sensible) {s['p_sensible']:.2f}, "
        f"chance {s['chance']:.2f} ({s['decided_by_model']} decided by the model, {s['seconds']:.1f} s)"
    )
    print(
        f"    where the model chose: accuracy {s['model_accuracy']:.2f}, chance {s['model_chance']:.2f} "
        f"(the rest the policy's agenda and filters decided alone)"
    )
    for cat, c in s["by_category"].items():
        print(
            f"    {cat:24s} n={c['n']:3d}  acc {c['accuracy']:.2f}  p {c['p_sensible']:.2f}  chance {c['chance']:.2f}"
        )


def _print_town(t: Mapping[str, Any], sp: Mapping[str, Any]) -> None:
    print(
        f"(b) town: {t['actions']} actions, talk {t['talk_share']:.2f}, trades {t['trades']}, crafted {t['crafted']}, "
        f"hungry with food {t['hungry_with_food']}, ordinary sanctions {t['ordinary_sanctions']}, "
        f"projects {t['projects']}, roles working {t['roles_working']}"
    )
    for role, kinds in t["actions_by_role"].items():
        print(f"    {role:14s} {kinds}")
    print(
        f"(c) speech: {sp['lines']} lines, stage directions {sp['stage_direction_rate']:.2f}, "
        f"distinct-2 {sp['distinct_2']:.2f}, repeats {sp['verbatim_repeats']:.2f}, "
        f"reply relevance {sp['reply_relevance']:.2f} ({sp['replies']} replies), grounding {sp['grounding']:.2f}"
    )
