"""The Mesa model: avatars in a world, one tick at a time.

``MetaverseModel.step()`` is the tick of docs/../DESIGN.md:

1. observe + decide - each avatar's policy, in id order (so RNG draws are reproducible);
   rule policies answer at once, LLM policies return pending choices;
2. every pending choice of the tick goes to the language model in ONE ``choose`` call, then
   every chosen ``say`` of an LLM avatar in ONE ``generate`` call (its text);
3. act + resolve - the actions, shuffled by ``self.random``, go to ``world.resolve``; the world
   refuses what is illegal (an ``invalid_action`` event) and ``end_tick`` closes the tick;
4. record - conversations and memories are updated, metrics computed and collected, and the
   tick written to the event store in one transaction.

Rule-only scenarios never import torch or Ray: the model takes any ``LanguageModel`` or None.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import mesa
from mesa.datacollection import DataCollector

from agents.avatar import Avatar
from agents.conversation import ConversationBook
from agents.episodes import describe, importance
from agents.intentions import intend
from agents.llm_policy import LLMPolicy, clean_speech
from agents.lm import Completion, GenerateRequest, LanguageModel
from agents.memory import Memory
from agents.policy import PendingChoice, TickContext
from agents.population import agent_state_every, persona_templates, plan_population
from agents.rules import make_rule_policy
from agents.speech import FIRST
from sim.config import ScenarioConfig, load_scenario, role_counts
from sim.metrics import LLMMeter, speech_metrics
from sim.moderation_judge import moderation_judge
from sim.policy_setup import llm_policy_for
from world import World
from world.moderation import VIOLATOR_POLICIES
from world.types import Action, Event, Observation

__all__ = ["MetaverseModel", "TickRecord", "needs_llm"]

#: Model-level series collected by the DataCollector (all metrics go to the event store).
_COLLECTED = ("population", "messages", "conversations", "trades", "gini", "invalid_actions", "llm.requests")


@dataclass(frozen=True)
class TickRecord:
    """One tick as the model ran it: what each observing avatar saw and was offered, the
    actions sent to the world (in the order it resolved them), what happened, and the metrics."""

    tick: int
    observations: Mapping[int, Observation]
    options: Mapping[int, tuple[Action, ...]]
    actions: tuple[Action, ...]
    events: tuple[Event, ...]
    metrics: Mapping[str, float]


def needs_llm(cfg: ScenarioConfig) -> bool:
    """Whether a scenario needs a language model (LLM avatars or an ``llm`` moderation rule)."""
    counts = role_counts(cfg.population)
    roles = {r.name: r for r in cfg.population.roles}
    if any(counts.get(n, 0) > 0 and r.policy == "llm" for n, r in roles.items()):
        return True
    if cfg.population.llm_share > 0:
        ordinary = sum(counts.get(n, 0) for n, r in roles.items() if r.policy not in VIOLATOR_POLICIES)
        if round(cfg.population.llm_share * ordinary) > 0:
            return True
    return cfg.moderation.enabled and any(rule.kind == "llm" for rule in cfg.moderation.rules)


class MetaverseModel(mesa.Model):
    """A scenario as a Mesa model.

    Args:
        config: a scenario file or a validated :class:`~sim.config.ScenarioConfig`.
        overrides: ``key.path=value`` overrides applied to a scenario file.
        population: number of avatars (overrides ``population.count``; handy in ``batch_run``).
        ticks: ticks to run before ``running`` turns False (default: ``run.ticks``).
        llm: the language model for LLM avatars (the pool, an engine or a fake); None for
            rule-only scenarios (then neither torch nor Ray is imported).
        store: an :class:`~sim.store.EventStore` to record every tick in (None: not recorded).
        seed: the run seed (default: the scenario's ``run.seed``, so runs are reproducible).
    """

    def __init__(
        self,
        config: str | Path | ScenarioConfig = "configs/boltzmann.yaml",
        *,
        overrides: Sequence[str] = (),
        population: int | None = None,
        ticks: int | None = None,
        llm: LanguageModel | None = None,
        store: Any = None,
        seed: int | None = None,
    ) -> None:
        if isinstance(config, ScenarioConfig):
            if overrides or population is not None:
                extra = [*overrides, *([f"population.count={population}"] if population is not None else [])]
                config = ScenarioConfig.model_validate(_apply(config.model_dump(mode="json"), extra))
            cfg = config
        else:
            extra = [*overrides, *([f"population.count={population}"] if population is not None else [])]
            cfg = load_scenario(config, extra)
        seed = cfg.run.seed if seed is None else int(seed)
        super().__init__(seed=seed)
        if llm is None and needs_llm(cfg):
            raise ValueError(f"scenario {cfg.name!r} has LLM avatars: pass a language model (llm=...)")
        self.config = cfg
        self.run_seed = seed
        self.ticks = cfg.run.ticks if ticks is None else int(ticks)
        self.llm = llm
        self.store = store
        # The world draws from its own stream, seeded from ours: policies and world never
        # interleave draws, and both states go into checkpoints.
        self.world_rng = random.Random(self.random.getrandbits(64))
        self.meter = LLMMeter()
        judge = moderation_judge(llm, self.meter) if llm is not None else None
        self.world = World(cfg, self.world_rng, judge=judge)
        self.currency = cfg.economy.currency
        self.conversations = ConversationBook(max_turns=max(1, cfg.llm.conversation_turns))
        self._build_population(cfg)
        self.state_every = agent_state_every(len(self.avatars))
        self.last_events: list[Event] = []
        self.last_record: TickRecord | None = None
        self.last_ledger: list[dict] = []
        #: ``intervention`` events applied at this tick boundary (sim.whatif), recorded with the next tick.
        self.interventions: list[Event] = []
        # Tick-0 state, collected at construction as Mesa's own examples do (batch_run's
        # "Step" n is then the state after n steps).
        self.last_metrics = {**self.world.metrics(), "messages": 0.0, "conversations": 0.0}
        self.datacollector = DataCollector(
            model_reporters={name: _reporter(name) for name in _COLLECTED},
        )
        self.datacollector.collect(self)
        if store is not None:
            store.register_agents(
                (a.avatar_id, a.name, a.policy.name, {**a.persona.to_dict(), "role": a.role})
                for a in self.avatars
            )
        self.running = self.world.tick < self.ticks

    # -- population --------------------------------------------------------------------------------

    def _build_population(self, cfg: ScenarioConfig) -> None:
        pop = cfg.population
        slots = plan_population(
            pop.roles,
            role_counts(pop),
            llm_share=pop.llm_share,
            templates=persona_templates(pop.persona_templates),
            rng=self.random,
        )
        llm_cfg = cfg.llm
        llm_policy = llm_policy_for(cfg)
        shared: dict[str, Any] = {"llm": llm_policy}  # one policy object per policy name
        policies = []
        memories: list[Memory | None] = []
        roles = {r.name: r for r in pop.roles}
        # An LLM avatar whose answer does not come in time acts by its role's rule policy.
        fallback_of: dict[int, Any] = {}
        for i, slot in enumerate(slots):
            if slot.policy not in shared:
                shared[slot.policy] = make_rule_policy(slot.policy)
            policies.append(shared[slot.policy])
            if slot.policy == "llm":
                rule = roles[slot.role].policy if slot.role in roles else "idle"
                rule = "idle" if rule == "llm" else rule
                if rule not in shared:
                    shared[rule] = make_rule_policy(rule)
                fallback_of[i] = shared[rule]
            memories.append(
                Memory(capacity_tokens=2 * llm_cfg.context_tokens) if slot.policy == "llm" else None
            )
        Avatar.create_agents(
            self,
            len(slots),
            [s.persona for s in slots],
            [s.role for s in slots],
            policies,
            memories,
        )
        # Our own collections (model.agents is Mesa's): id order, which decide() follows.
        self.avatars: list[Avatar] = sorted(self.agents, key=lambda a: a.unique_id)
        self.avatar_ids: list[int] = [a.unique_id for a in self.avatars]
        self.llm_avatars: dict[int, Avatar] = {a.unique_id: a for a in self.avatars if a.policy.uses_llm}
        # create_agents made them in the slots' order, so slot i is self.avatars[i].
        self.fallback_policies: dict[int, Any] = {
            self.avatars[i].unique_id: p for i, p in fallback_of.items()
        }
        for a in self.avatars:
            self.world.add_avatar(a.unique_id, a.name, role=a.role)
        # One register of names: the world's (it labels options and observations with them).
        self.names = self.world.names

    # -- the tick ------------------------------------------------------------------------------------

    @property
    def tick(self) -> int:
        """The next tick to run (the world's clock: 0 before the first)."""
        return self.world.tick

    def step(self) -> None:
        """One tick: observe, decide (LLM requests batched), resolve in random order, record."""
        t0 = time.perf_counter()
        world = self.world
        tick = world.tick
        self.meter.reset()
        ctx = TickContext(
            tick=tick,
            random=self.random,
            avatar_ids=self.avatar_ids,
            names=self.names,
            balance=world.coins,
            currency=self.currency,
            run_seed=self.run_seed,
            conversations=self.conversations,
        )
        observations: dict[int, Observation] = {}
        options: dict[int, tuple[Action, ...]] = {}
        actions, pending = self._decide(ctx, observations, options)
        fallbacks: list[Event] = []
        if pending:
            actions += self._choose(pending, ctx, observations, options, fallbacks)
        actions = self._speak(actions, ctx, observations, options, fallbacks)
        self.random.shuffle(actions)
        events = self.interventions + fallbacks + world.resolve(actions)
        self.interventions = []
        events += world.end_tick()
        self.meter.usage.ticks += 1
        self.meter.usage.avatar_ticks += len(self.llm_avatars)
        says = [e for e in events if e.kind == "say"]
        talked = self._follow_conversations(says, tick)
        self._remember(events, tick)
        metrics = dict(world.metrics())
        metrics.update(speech_metrics(says, talked))
        telemetry = self.llm.telemetry() if self.llm is not None and hasattr(self.llm, "telemetry") else None
        if self.llm_avatars or self.meter.requests:
            metrics.update(self.meter.metrics(telemetry))
        metrics["tick_seconds"] = time.perf_counter() - t0
        self.last_metrics = metrics
        self.last_events = events
        self.last_record = TickRecord(tick, observations, options, tuple(actions), tuple(events), metrics)
        self.datacollector.collect(self)
        ledger = world.drain_ledger()
        self.last_ledger = ledger
        if self.store is not None:
            last = world.tick >= self.ticks
            states = self.agent_states() if (tick % self.state_every == 0 or last) else ()
            self.store.write_tick(tick, events, metrics, states, ledger)
        self.running = world.tick < self.ticks

    def _decide(
        self,
        ctx: TickContext,
        observations: dict[int, Observation],
        options: dict[int, tuple[Action, ...]],
    ) -> tuple[list[Action], list[tuple[Avatar, PendingChoice]]]:
        """Every avatar's decision in id order. The model pushes each observing avatar its
        observation and options, computed once here (and kept for speech and the tick record);
        runs of a non-observing policy with ``decide_batch`` go in one call."""
        actions: list[Action] = []
        pending: list[tuple[Avatar, PendingChoice]] = []
        append = actions.append
        observe = self.world.observe
        for policy, run in self._policy_runs():
            batch = getattr(policy, "decide_batch", None)
            if not policy.observes:
                decisions = (
                    batch(run, ctx) if batch is not None else [policy.decide(a, None, (), ctx) for a in run]
                )
            else:
                decisions = []
                for a in run:
                    obs, opts = observe(a.unique_id)
                    observations[a.unique_id] = obs
                    options[a.unique_id] = tuple(opts)
                    decisions.append(policy.decide(a, obs, opts, ctx))
            for avatar, d in zip(run, decisions, strict=True):
                if d is None:
                    continue
                if isinstance(d, PendingChoice):
                    pending.append((avatar, d))
                else:
                    append(d)
        return actions, pending

    def _policy_runs(self) -> list[tuple[Any, list[Avatar]]]:
        """Consecutive avatars (id order) that share a policy object (recomputed each tick:
        a policy may be swapped between ticks, and the scan costs far less than deciding)."""
        runs: list[tuple[Any, list[Avatar]]] = []
        for a in self.avatars:
            if runs and runs[-1][0] is a.policy:
                runs[-1][1].append(a)
            else:
                runs.append((a.policy, [a]))
        return runs

    def _choose(
        self,
        pending: list[tuple[Avatar, PendingChoice]],
        ctx: TickContext,
        observations: dict[int, Observation],
        options: dict[int, tuple[Action, ...]],
        fallbacks: list[Event],
    ) -> list[Action]:
        """All of the tick's choices in one call; each answer maps back to an offered action
        (an avatar whose answer did not come acts by its rule policy: an ``llm_fallback`` event)."""
        assert self.llm is not None
        started = self.meter.start()
        choices = self.llm.choose([p.request for _, p in pending])
        self.meter.record_choices(started, choices)
        out: list[Action] = []
        for (avatar, p), c in zip(pending, choices, strict=True):
            if c.error:
                action = self._fall_back(avatar, "choose", c.error, observations, options, ctx, fallbacks)
                p.settle(None)
            else:
                action = p.pick(c)
                p.settle(action)
                avatar.intention = intend(action, ctx.tick)  # work carries on without asking
            if action is not None:
                out.append(action)
        return out

    def _fall_back(
        self,
        avatar: Avatar,
        phase: str,
        reason: str,
        observations: dict[int, Observation],
        options: dict[int, tuple[Action, ...]],
        ctx: TickContext,
        fallbacks: list[Event],
        exclude: str = "",
    ) -> Action | None:
        """The rule policy's action for an LLM avatar the model did not answer in time."""
        aid = avatar.unique_id
        obs = observations.get(aid)
        opts = [o for o in options.get(aid, ()) if o.kind != exclude]
        policy = self.fallback_policies.get(aid)
        decision = policy.decide(avatar, obs, opts, ctx) if policy is not None else None
        action = decision if isinstance(decision, Action) else None
        if exclude and action is not None and action.kind == exclude:
            action = None
        self.meter.usage.fallbacks += 1
        fallbacks.append(
            Event(
                ctx.tick,
                "llm_fallback",
                aid,
                None,
                obs.place if obs is not None else None,
                reason,
                {
                    "phase": phase,
                    "reason": reason,
                    "action": action.as_dict() if action is not None else None,
                },
            )
        )
        return action

    def _speak(
        self,
        actions: list[Action],
        ctx: TickContext,
        observations: dict[int, Observation],
        options: dict[int, tuple[Action, ...]],
        fallbacks: list[Event],
    ) -> list[Action]:
        """Give LLM avatars' ``say`` actions their text, in at most two ``generate`` calls (each from
        the observation its speaker decided on). A speaker whose text did not come acts by its
        rule policy instead, among its options other than talking."""
        todo = [
            (i, a)
            for i, a in enumerate(actions)
            if a.kind == "say" and not a.text and a.actor in self.llm_avatars
        ]
        if not todo:
            return actions
        assert self.llm is not None
        # Each speaker's samples: FIRST of them in one batch for every line, then the rest in a
        # second batch for the lines none of whose first samples is as good as a line can be
        # (Speaker.settled: picking over all of them would pick the same line).
        samples: list[list[GenerateRequest]] = []
        speakers = []
        for _, a in todo:
            avatar = self.llm_avatars[a.actor]
            policy = avatar.policy
            assert isinstance(policy, LLMPolicy)  # only LLM avatars' speech is generated
            obs = observations[a.actor]
            conv = self.conversations.find(a.actor, a.target, obs.place)
            left = self.conversations.turns_left(a.actor, a.target, obs.place)
            speaker = policy.speaker
            speakers.append(speaker)
            samples.append(speaker.samples(speaker.request(avatar, a, obs, ctx, conv, left), a.actor, ctx))
        got: list[list[Completion]] = [[] for _ in todo]
        self._generate_round([(j, s[:FIRST]) for j, s in enumerate(samples)], got)
        more = []
        for j, (_, a) in enumerate(todo):
            avatar = self.llm_avatars[a.actor]
            texts = [clean_speech(c.text, self.names[a.actor]) for c in got[j] if not c.error]
            if len(samples[j]) > FIRST and not (texts and speakers[j].settled(avatar, texts, ctx)):
                more.append((j, samples[j][FIRST:]))
        self._generate_round(more, got)
        spoken: list[Action | None] = list(actions)
        for j, (i, a) in enumerate(todo):
            avatar = self.llm_avatars[a.actor]
            answered = [c for c in got[j] if not c.error]
            if not answered:
                spoken[i] = self._fall_back(
                    avatar, "speech", got[j][0].error, observations, options, ctx, fallbacks, exclude="say"
                )
                continue
            texts = [clean_speech(c.text, self.names[a.actor]) for c in answered]
            spoken[i] = replace(a, text=texts[speakers[j].pick(avatar, texts, ctx)])
        return [a for a in spoken if a is not None]

    def _generate_round(
        self, batch: list[tuple[int, list[GenerateRequest]]], got: list[list[Completion]]
    ) -> None:
        """One ``generate`` call for the given speakers' samples; their completions are added
        to ``got[j]`` in order."""
        requests = [r for _, rs in batch for r in rs]
        if not requests:
            return
        assert self.llm is not None
        started = self.meter.start()
        completions = self.llm.generate(requests)
        self.meter.record_completions(started, completions)
        at = 0
        for j, rs in batch:
            got[j] += completions[at : at + len(rs)]
            at += len(rs)

    # -- after the tick --------------------------------------------------------------------------------

    def _follow_conversations(self, says: list[Event], tick: int) -> int:
        """Thread delivered speech into conversations; tag say events (``conversation_id``: the
        conversation's int id, None for speech that was not delivered); summarise ended ones."""
        touched: set[int] = set()
        for e in says:
            if e.actor is None or not e.data.get("delivered", True):
                e.data["conversation_id"] = None
                continue
            conv, ended = self.conversations.record(tick, e.actor, e.target, e.place, e.text)
            e.data["conversation_id"] = conv.id
            touched.add(conv.id)
            if ended:
                self._summarise(conv)
        for conv in self.conversations.expire(tick):
            self._summarise(conv)
        return len(touched)

    def _summarise(self, conv: Any) -> None:
        for who in conv.participants:
            avatar = self.llm_avatars.get(who)
            if avatar is not None:
                avatar.remember(conv.last_tick, conv.summary(self.names, me=who), 5.0, "conversation")

    def _remember(self, events: list[Event], tick: int) -> None:
        """Each LLM avatar stores the events it took part in (rule avatars keep no memory)."""
        if not self.llm_avatars:
            return
        names = self.names
        for e in events:
            for who in {e.actor, e.target}:
                avatar = self.llm_avatars.get(who) if who is not None else None
                if avatar is None or who is None:
                    continue
                avatar.remember(tick, describe(e, names, who), importance(e, who))

    def agent_states(self) -> list[tuple[int, str | None, float | None, float | None, int, dict]]:
        """``agent_state`` rows: place, position, coins, and role, inventory, needs, recent memories."""
        world = self.world
        snapshot = getattr(world, "avatar_state", None)
        rows = []
        for a in self.avatars:
            if snapshot is not None:
                s = snapshot(a.unique_id)
                place, x, y, coins = s.get("place"), s.get("x"), s.get("y"), s.get("coins", 0)
                data = {k: v for k, v in s.items() if k not in ("place", "x", "y", "coins")}
            else:
                obs = world.observation_for(a.unique_id)
                place, x, y, coins = obs.place, None, None, obs.coins
                data = {"inventory": obs.inventory, "needs": obs.needs}
            data["role"] = a.role
            data["policy"] = a.policy.name
            if a.memory is not None:
                data["memories"] = a.recent_memories(3)
            rows.append((a.unique_id, place, x, y, coins, data))
        return rows

    # -- checkpoints ------------------------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly (JSON-safe)."""
        return {
            "version": 1,
            "scenario": self.config.name,
            "seed": self.run_seed,
            "tick": self.world.tick,
            "steps": self.steps,
            "random": _rng_state(self.random),
            "world_random": _rng_state(self.world_rng),
            "numpy_rng": self.rng.bit_generator.state,
            "world": self.world.get_state(),
            "conversations": self.conversations.get_state(),
            "avatars": [a.get_state() for a in self.avatars if a.memory is not None],
            "usage": self.meter.usage.get_state(),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`get_state` onto a model built from the same config and seed."""
        if state.get("version") != 1:
            raise ValueError(f"checkpoint version {state.get('version')!r} is not supported")
        if state["scenario"] != self.config.name or state["seed"] != self.run_seed:
            raise ValueError(
                f"checkpoint is of {state['scenario']!r} seed {state['seed']}, "
                f"not {self.config.name!r} seed {self.run_seed}"
            )
        self.world.set_state(state["world"])
        self.random.setstate(_rng_tuple(state["random"]))
        self.world_rng.setstate(_rng_tuple(state["world_random"]))
        self.rng.bit_generator.state = state["numpy_rng"]
        self.steps = int(state["steps"])
        self.conversations.set_state(state["conversations"])
        by_id = {a.unique_id: a for a in self.avatars}
        for s in state["avatars"]:
            by_id[int(s["id"])].set_state(s)
        self.meter.usage.set_state(state.get("usage", {}))
        self.running = self.world.tick < self.ticks


def _reporter(name: str) -> Any:
    return lambda m: m.last_metrics.get(name)


def _apply(data: dict, overrides: Sequence[str]) -> dict:
    from sim.config import apply_overrides

    return apply_overrides(data, overrides)[0]


def _rng_state(rng: random.Random) -> list:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _rng_tuple(state: list) -> tuple:
    version, internal, gauss = state
    return (version, tuple(internal), gauss)
