"""The behaviour bench's part (c): the quality of the LLM avatars' speech in a run's event store,
and the store readers both parts use (read-only).

Definitions (issue 12): a stage direction is a line starting with "(", "*" or "[", or holding a
parenthetical of 3+ characters; distinct-2 is distinct word bigrams over all bigrams; a verbatim
repeat is a line said before; a reply is relevant when it shares a content word of 4+ letters
with the line it answers; a line is grounded when it names a person, place or item of the town,
or its currency.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

__all__ = [
    "STOPWORDS",
    "content_words",
    "distinct_n",
    "grounding_rate",
    "is_stage_direction",
    "reply_relevance",
    "speech_quality",
    "verbatim_repeat_rate",
]


def _connect(db: str | Path) -> sqlite3.Connection:
    from sim.store import connect_readonly

    return connect_readonly(db)


def _agents(conn: sqlite3.Connection) -> dict[int, dict[str, Any]]:
    out = {}
    for aid, name, policy, persona in conn.execute("SELECT agent_id, name, policy, persona_json FROM agents"):
        p = json.loads(persona)
        out[int(aid)] = {"name": name, "policy": policy, "role": p.get("role", ""), "persona": p}
    return out


def _config(conn: sqlite3.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT config_json FROM runs").fetchone()
    return json.loads(row[0]) if row else {}


_PAREN = re.compile(r"\([^()]{3,}\)")
_WORD = re.compile(r"[a-z][a-z']*")
#: Frequent words of 4+ letters that carry no topic: sharing one is not relevance.
_STOP = (
    "that this with have what your from they them then there their here just like will would could should "
    "about been were when where which while also into some more much very well good know think want need "
    "sure yeah okay thanks thank hello right really maybe only even still over make made going come "
    "does doing done than those these today time let's it's i'm you're that's don't yes"
)
STOPWORDS = frozenset(_STOP.split())


def is_stage_direction(line: str) -> bool:
    """A line that starts with "(", "*" or "[", or holds a parenthetical of 3+ characters."""
    s = line.lstrip()
    return s[:1] in ("(", "*", "[") or bool(_PAREN.search(s))


def _words(line: str) -> list[str]:
    return _WORD.findall(line.lower())


def distinct_n(lines: Sequence[str], n: int = 2) -> float:
    """Distinct n-grams over all n-grams of ``lines`` (words, lower case; 0 when none)."""
    grams: list[tuple[str, ...]] = []
    for line in lines:
        w = _words(line)
        grams += [tuple(w[i : i + n]) for i in range(len(w) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _norm(line: str) -> str:
    return " ".join(_words(line))


def verbatim_repeat_rate(lines: Sequence[str]) -> float:
    """Share of lines that repeat an earlier line word for word (case and punctuation aside)."""
    seen: set[str] = set()
    repeats = 0
    for line in lines:
        key = _norm(line)
        if key in seen:
            repeats += 1
        seen.add(key)
    return repeats / len(lines) if lines else 0.0


def content_words(line: str) -> set[str]:
    """Words of 4+ letters that are not :data:`STOPWORDS`."""
    return {w for w in _words(line) if len(w) >= 4 and w not in STOPWORDS}


def reply_relevance(pairs: Sequence[tuple[str, str]]) -> float:
    """Share of ``(line answered, reply)`` pairs whose reply shares a content word with it."""
    if not pairs:
        return 0.0
    return sum(bool(content_words(a) & content_words(b)) for a, b in pairs) / len(pairs)


def grounding_rate(lines: Sequence[str], vocabulary: Iterable[str]) -> float:
    """Share of lines naming something of the town: a word of ``vocabulary`` (names, places,
    items, the currency), a plural "s" allowed."""
    vocab = {v.lower() for v in vocabulary if v}
    hits = 0
    for line in lines:
        words = set(_words(line))
        if any(w in vocab or (w.endswith("s") and w[:-1] in vocab) for w in words):
            hits += 1
    return hits / len(lines) if lines else 0.0


def speech_quality(db: str | Path, examples: int = 5) -> dict[str, Any]:
    """Part (c): the speech metrics over every ``say`` of an LLM avatar in the store.

    A reply is a line of a conversation (``conversation_id``) after its first; it answers the
    conversation's previous line by someone else.
    """
    conn = _connect(db)
    try:
        agents = _agents(conn)
        cfg = _config(conn)
        rows = list(
            conn.execute("SELECT tick, actor, text, data_json FROM events WHERE kind = 'say' ORDER BY id")
        )
    finally:
        conn.close()
    llm = {a for a, info in agents.items() if info["policy"] == "llm"}
    lines: list[str] = []
    pairs: list[tuple[str, str]] = []
    last: dict[int, tuple[int, str]] = {}
    stage: list[str] = []
    for _tick, actor, text, data in rows:
        d = json.loads(data)
        conv = d.get("conversation_id")
        prev = last.get(conv) if conv is not None else None
        if actor in llm:
            lines.append(text or "")
            if is_stage_direction(text or ""):
                stage.append(text)
            if prev is not None and prev[0] != actor:
                pairs.append((prev[1], text or ""))
        if conv is not None:
            last[conv] = (actor, text or "")
    eco = cfg.get("economy", {})
    vocab = [w for info in agents.values() for w in info["name"].split()]
    vocab += (
        list(cfg.get("world", {}).get("places", {})) + list(eco.get("items", {})) + [eco.get("currency", "")]
    )
    irrelevant = [p for p in pairs if not (content_words(p[0]) & content_words(p[1]))]
    ungrounded = [ln for ln in lines if grounding_rate([ln], vocab) == 0.0]
    counts = Counter(_norm(ln) for ln in lines)
    return {
        "lines": len(lines),
        "stage_direction_rate": len(stage) / len(lines) if lines else 0.0,
        "distinct_2": distinct_n(lines, 2),
        "verbatim_repeats": verbatim_repeat_rate(lines),
        "reply_relevance": reply_relevance(pairs),
        "replies": len(pairs),
        "grounding": grounding_rate(lines, vocab),
        "examples": {
            "lines": lines[:examples],
            "stage_directions": stage[:examples],
            "irrelevant_replies": [list(p) for p in irrelevant[:examples]],
            "ungrounded": ungrounded[:examples],
            "most_repeated": [[k, n] for k, n in counts.most_common(3) if n > 1],
        },
    }


# ------------------------------------------------------------------------------------------ command
