"""A model's reasoning channel: a `<think>` block split off a reply, the reasoning litellm returns beside it,
and the parameters that ask a reasoning model for it. Pure: no litellm import."""

from __future__ import annotations

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def split_think(text: str) -> tuple[str, str | None]:
    """(reply, reasoning): a `<think>…</think>` block at the start of a reply (local servers running a
    reasoning model) split off, so that the outcome rule reads the reply as before. An unclosed block (the
    reply was cut off while thinking) is all reasoning."""
    if not text.lstrip().startswith(THINK_OPEN):
        return text, None
    body = text.lstrip()[len(THINK_OPEN):]
    thought, closed, rest = body.partition(THINK_CLOSE)
    if not closed:
        return "", thought.strip()
    return rest.lstrip(), thought.strip()


def with_thought(reasoning: str | None, thought: str | None) -> str | None:
    """A reply's reasoning with its `<think>` block (split_think's) after it."""
    if not thought:
        return reasoning
    return f"{reasoning}\n\n{thought}" if reasoning else thought


def reasoning_of(message) -> str | None:
    """litellm's reasoning for one reply: `reasoning_content` (OpenAI-compatible servers, DeepSeek, and
    litellm's summary of Anthropic thinking), else the text of Anthropic thinking blocks."""
    reasoning = getattr(message, "reasoning_content", None)
    if isinstance(reasoning, str) and reasoning.strip():
        return reasoning.strip()
    blocks = getattr(message, "thinking_blocks", None) or []
    parts = [b.get("thinking") for b in blocks if isinstance(b, dict)]
    joined = "\n\n".join(p for p in parts if isinstance(p, str) and p.strip())
    return joined or None


def reasoning_params(reasoning_effort: str | None, thinking_budget: int | None) -> dict:
    """litellm's parameters for a reasoning model: `reasoning_effort` (OpenAI o-series, Gemini, and mapped
    by litellm for Anthropic) and an explicit Anthropic-style thinking budget."""
    params: dict = {}
    if reasoning_effort:
        params["reasoning_effort"] = reasoning_effort
    if thinking_budget:
        params["thinking"] = {"type": "enabled", "budget_tokens": thinking_budget}
    return params
