"""Avatars: personas, memory, needs-driven policies (LLM and rule-based) and their prompts.

Speaks the language-model protocol it owns (:mod:`agents.lm`); imports ``world`` only, never Ray or torch.
"""

from agents.avatar import Avatar
from agents.conversation import Conversation, ConversationBook
from agents.llm_policy import LLMPolicy, SpeechSettings, clean_speech
from agents.memory import Memory, MemoryItem
from agents.persona import DEFAULT_TEMPLATES, Persona, PersonaTemplates, generate_persona
from agents.policy import Decision, PendingChoice, Policy, TickContext
from agents.population import Slot, agent_state_every, plan_population
from agents.rules import RULE_POLICIES, make_rule_policy

__all__ = [
    "DEFAULT_TEMPLATES",
    "RULE_POLICIES",
    "Avatar",
    "Conversation",
    "ConversationBook",
    "Decision",
    "LLMPolicy",
    "Memory",
    "MemoryItem",
    "PendingChoice",
    "Persona",
    "PersonaTemplates",
    "Policy",
    "Slot",
    "SpeechSettings",
    "TickContext",
    "agent_state_every",
    "clean_speech",
    "generate_persona",
    "make_rule_policy",
    "plan_population",
]
