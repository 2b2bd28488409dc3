"""The language model's part of the evaluation: the end-of-run survey and persona consistency.

Both use ``choose`` (one forward pass per request, a probability per option: no free text to parse)
and send every request of a run in one batch, so the shared pool batches them together with the
requests of the other runs in flight.

* :func:`run_survey`: every avatar answers each of the sweep's questions in character, with a short
  account of its run; the answers are appended to the run's event store as ``interview`` events
  (``data``: ``question``, ``answer``, ``option``, ``score``, ``probs``) on one extra tick after the
  last, so the store stays the single record of the run and :func:`sim.evaluation.metrics.survey`
  summarises them like any other event.
* :func:`persona_consistency`: for a sample of messages, the model is shown the speaker's persona and
  the message and asked whether it fits; the metric is the mean probability of "yes". With a 135M
  model this is a coarse signal; it is meant for comparing settings, not as an absolute score.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agents.lm import ChooseRequest, LanguageModel, Message, request_seed
from sim.evaluation.metrics import EventLog, dialogue_messages, load_log
from sim.evaluation.sweep import SurveyQuestion

__all__ = ["persona_consistency", "persona_text", "run_survey", "survey_requests"]

_SYSTEM = "You live in a small simulated town with other people. Answer as yourself, honestly and briefly."


def persona_text(name: str, persona: Mapping[str, Any]) -> str:
    """The persona paragraph the avatar was prompted with (agents' own wording when it parses)."""
    try:
        from agents.persona import Persona

        return Persona.from_dict(persona).describe()
    except (ImportError, KeyError, TypeError, ValueError):
        # Rule-based avatars may carry a partial persona: describe what there is.
        details = "; ".join(f"{k}: {v}" for k, v in persona.items() if k != "name")
        return f"You are {persona.get('name', name)}." + (f" {details}." if details else "")


def _account(log: EventLog, agent_id: int) -> str:
    """A short, factual account of one avatar's run: the context of its survey answers."""
    ev = log.events
    mine = ev[ev["actor"] == agent_id]
    said = int((mine["kind"] == "say").sum())
    trades = sum(
        1 for d in ev.loc[ev["kind"] == "trade", "data"] if agent_id in (d.get("buyer"), d.get("seller"))
    )
    contributed = int((mine["kind"] == "project_contribute").sum())
    sanctioned = int(((ev["kind"] == "sanction") & (ev["actor"] == agent_id)).sum())
    coins = log.final_coins.get(agent_id)
    wealth = f" You ended with {coins:.0f} coins." if coins is not None else ""
    return (
        f"The day is over. You sent {said} messages, took part in {trades} trades, "
        f"contributed {contributed} times to community projects and were sanctioned {sanctioned} times."
        + wealth
    )


def survey_requests(
    log: EventLog, questions: Sequence[SurveyQuestion], run_seed: int
) -> list[tuple[int, SurveyQuestion, ChooseRequest]]:
    """One ``choose`` request per (avatar, question); persona first so the prefix is shared per avatar."""
    tick = (log.last_tick if log.last_tick is not None else -1) + 1  # the interview's own tick
    out = []
    for row in log.agents.sort_values("agent_id").itertuples(index=False):
        agent_id = int(row.agent_id)
        prefix = [
            Message("system", _SYSTEM),
            Message("system", persona_text(row.name, row.persona)),
        ]
        account = _account(log, agent_id)
        for q in questions:
            last = Message("user", f"{account}\nQuestion: {q.text}")
            req = ChooseRequest(
                messages=(*prefix, last),
                options=q.options,
                seed=request_seed(run_seed, tick, agent_id, f"survey:{q.id}"),
                request_id=f"survey:{agent_id}:{q.id}",
            )
            out.append((agent_id, q, req))
    return out


def run_survey(db_path: Path, questions: Sequence[SurveyQuestion], lm: LanguageModel, run_seed: int) -> int:
    """Ask every avatar every question (one batch) and append the answers as ``interview`` events.

    Returns the number of answers written. Writes one tick after the run's last tick.
    """
    from sim.store import EventStore

    if not questions:
        return 0
    log = load_log(db_path)
    asked = survey_requests(log, questions, run_seed)
    if not asked:
        return 0
    choices = lm.choose([req for _, _, req in asked])
    events = []
    for (agent_id, q, _), choice in zip(asked, choices, strict=True):
        events.append(
            {
                "kind": "interview",
                "actor": agent_id,
                "text": q.options[choice.index],
                "data": {
                    "question": q.id,
                    "answer": q.options[choice.index],
                    "option": choice.index,
                    "score": q.score(choice.index),
                    "probs": [round(p, 4) for p in choice.probs],
                },
            }
        )
    store = EventStore.open(db_path)
    try:
        tick = (store.last_tick if store.last_tick is not None else -1) + 1
        store.write_tick(tick, events, {}, [])
    finally:
        store.close()
    return len(events)


def persona_consistency(log: EventLog, lm: LanguageModel, *, samples: int, run_seed: int) -> float:
    """Mean P("yes") that a sampled message fits its speaker's persona; NaN without messages."""
    msgs = dialogue_messages(log)
    msgs = msgs[msgs["actor"].notna()]
    if msgs.empty or samples <= 0:
        return float("nan")
    # A seeded sample: the same run always judges the same messages.
    picked = sorted(random.Random(run_seed).sample(range(len(msgs)), min(samples, len(msgs))))
    agents = {int(r.agent_id): (r.name, r.persona) for r in log.agents.itertuples(index=False)}
    requests = []
    for i in picked:
        row = msgs.iloc[i]
        name, persona = agents.get(int(row["actor"]), (f"#{int(row['actor'])}", {}))
        requests.append(
            ChooseRequest(
                messages=(
                    Message("system", "You judge whether a message fits the person who wrote it."),
                    Message(
                        "user",
                        f"The person: {persona_text(name, persona)}\n"
                        f'Their message: "{row["text"]}"\n'
                        "Does this message sound like something this person would say?",
                    ),
                ),
                options=("yes", "no"),
                seed=request_seed(run_seed, int(row["tick"]), int(row["actor"]), f"persona:{int(row['id'])}"),
                request_id=f"persona:{int(row['id'])}",
            )
        )
    return float(np.mean([c.probs[0] for c in lm.choose(requests)]))
