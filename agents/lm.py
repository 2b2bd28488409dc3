"""The language-model protocol avatars speak: two batched calls, ``generate`` and ``choose``.

Following Concordia's two-method interface (``sample_text`` / ``sample_choice``), but
batched: agents never talk to a model one request at a time. The protocol belongs to its
consumer (agents), so it is torch-free and every layer may depend on it; everything that
serves a model (the in-process :class:`~sim.llm.engine.Engine`, a Ray replica, the
:class:`~sim.llm.pool.Pool`) implements :class:`LanguageModel`.

Requests are frozen and validate themselves: a bad field raises ``ValueError`` naming it.
Per-request seeds come from :func:`request_seed`, derived from (run seed, tick, agent id): a
run and its resumed twin send the same seeds, so they get the same answers for the same
batch composition.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "MAX_OPTIONS",
    "Choice",
    "ChooseRequest",
    "Completion",
    "GenerateRequest",
    "LanguageModel",
    "Message",
    "request_seed",
]

MAX_OPTIONS = 26  # options are labelled A..Z
_ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Message:
    """One chat message. The engine renders messages with the tokenizer's chat template."""

    role: str
    content: str

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError(f"messages.role: must be one of {_ROLES}, got {self.role!r}")
        if not isinstance(self.content, str):
            raise ValueError("messages.content: must be a string")


def _as_messages(messages: Sequence[Message | Mapping[str, str]]) -> tuple[Message, ...]:
    out = []
    for m in messages:
        out.append(m if isinstance(m, Message) else Message(role=m["role"], content=m["content"]))
    return tuple(out)


@dataclass(frozen=True)
class GenerateRequest:
    """Free text generation (used for speech only).

    The reusable prefix is every message but the last: world rules and persona go in the
    first messages, the changing situation in the last one, so the engine computes the
    prefix's KV once and reuses it (within a batch and across ticks).

    ``prompt``: instead of chat messages, plain text the model continues as it is (no chat
    template), in pieces: every piece but the last is a reusable prefix, as messages are. A
    small model continuing a dialogue script ("Bram: ...\nAda:") speaks in voice far more
    often than when asked through the chat template. ``banned``: tokens whose text (leading
    spaces aside) starts with one of these strings are never sampled (e.g. "(", "*", "[":
    stage directions).
    """

    messages: tuple[Message, ...] = ()
    max_new_tokens: int = 64
    temperature: float = 0.7
    top_p: float = 1.0
    top_k: int = 0  # 0: no top-k filter
    repetition_penalty: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int = 0
    request_id: str = ""
    #: Sticky routing key (the avatar's id): requests with one key go to the same replica while
    #: it lives, so that avatar's cached prompt stays hot there. None: any replica.
    route: int | None = None
    prompt: tuple[str, ...] = ()
    banned: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", _as_messages(self.messages))
        object.__setattr__(self, "stop", tuple(self.stop))
        object.__setattr__(
            self, "prompt", (self.prompt,) if isinstance(self.prompt, str) else tuple(self.prompt)
        )
        object.__setattr__(self, "banned", tuple(self.banned))
        if not self.messages and not self.prompt:
            raise ValueError("messages: at least one message (or a prompt) is required")
        if self.messages and self.prompt:
            raise ValueError("prompt: give messages or a prompt, not both")
        if any(not isinstance(p, str) for p in self.prompt) or (self.prompt and not "".join(self.prompt)):
            raise ValueError("prompt: must be non-empty text pieces")
        if any(not isinstance(b, str) or not b for b in self.banned):
            raise ValueError("banned: banned openers must be non-empty strings")
        if not isinstance(self.max_new_tokens, int) or self.max_new_tokens <= 0:
            raise ValueError(f"max_new_tokens: must be a positive integer, got {self.max_new_tokens!r}")
        if self.temperature < 0:
            raise ValueError(f"temperature: must be >= 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p: must be in (0, 1], got {self.top_p!r}")
        if self.top_k < 0:
            raise ValueError(f"top_k: must be >= 0, got {self.top_k!r}")
        if self.repetition_penalty <= 0:
            raise ValueError(f"repetition_penalty: must be > 0, got {self.repetition_penalty!r}")
        if any(not s for s in self.stop):
            raise ValueError("stop: stop strings must be non-empty")


@dataclass(frozen=True)
class ChooseRequest:
    """Pick one of 2..26 options; answered with a probability per option from one forward pass.

    Each option is scored as the continuation of the assistant's reply ``answer_prefix``
    (e.g. "I will"), so options should read as that sentence's end ("eat the bread").
    """

    messages: tuple[Message, ...]
    options: tuple[str, ...]
    answer_prefix: str = ""
    seed: int = 0
    request_id: str = ""
    route: int | None = None  # as GenerateRequest.route
    #: The prompt is an append-only session (one avatar's log): the engine keeps its KV through
    #: the answer prefix, for the next request of the same ``route``, which extends it.
    session: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "messages", _as_messages(self.messages))
        object.__setattr__(self, "options", tuple(self.options))
        if not self.messages:
            raise ValueError("messages: at least one message is required")
        if not 2 <= len(self.options) <= MAX_OPTIONS:
            raise ValueError(f"options: need 2 to {MAX_OPTIONS} options, got {len(self.options)}")
        if any(not isinstance(o, str) or not o.strip() for o in self.options):
            raise ValueError("options: every option must be a non-empty string")


@dataclass(frozen=True)
class Completion:
    """The answer to a :class:`GenerateRequest`."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str  # "stop" (EOS or a stop string), "length", or "error" (see ``error``)
    cached_tokens: int = 0  # prompt tokens served from the prefix cache
    request_id: str = ""
    #: Why no text came (the call's deadline passed, the replica was lost); "" for an answer.
    error: str = ""

    @classmethod
    def failed(cls, reason: str, request_id: str = "") -> Completion:
        """The answer for a request that got none."""
        return cls(
            text="",
            prompt_tokens=0,
            completion_tokens=0,
            finish_reason="error",
            request_id=request_id,
            error=reason,
        )


@dataclass(frozen=True)
class Choice:
    """The answer to a :class:`ChooseRequest`: ``probs[i]`` is the probability of ``options[i]``."""

    probs: tuple[float, ...]
    index: int  # argmax of probs
    prompt_tokens: int = 0
    cached_tokens: int = 0
    request_id: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
    #: Why no distribution came (deadline, replica lost); "" for an answer. Then ``probs`` is empty.
    error: str = ""

    @classmethod
    def failed(cls, reason: str, request_id: str = "") -> Choice:
        """The answer for a request that got none."""
        return cls(probs=(), index=-1, request_id=request_id, error=reason)


@runtime_checkable
class LanguageModel(Protocol):
    """What agents and the world may call. Implemented by the engine, replicas' clients and the pool."""

    def generate(self, requests: Sequence[GenerateRequest]) -> list[Completion]: ...

    def choose(self, requests: Sequence[ChooseRequest]) -> list[Choice]: ...


def request_seed(run_seed: int, tick: int, agent_id: int, salt: str = "") -> int:
    """A stable 63-bit seed (Python's ``hash`` is salted per process, so we use blake2b)."""
    digest = hashlib.blake2b(f"{run_seed}:{tick}:{agent_id}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & 0x7FFF_FFFF_FFFF_FFFF
