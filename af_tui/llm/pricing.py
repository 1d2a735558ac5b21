"""Tokens and prices before a run: litellm's token counter on the real messages and its cost map (offline),
and the per-provider request details that cost money (prompt caching, max_tokens).

Nothing here sends a request. Prices are litellm's (`litellm.get_model_info`), per token in USD.
"""

from __future__ import annotations

from dataclasses import dataclass

from af_tui.llm.client import _load, caches_when_asked, mark_system_cacheable, provider_of  # noqa: F401

# The notebook sends max_tokens=4000 to Anthropic (whose API requires it); af-tui sends the same elsewhere.
NOTEBOOK_MAX_TOKENS = 4000
_MAX_TOKENS_BY_PROVIDER = {"anthropic": NOTEBOOK_MAX_TOKENS}


def default_max_tokens(model: str) -> int:
    """The notebook's max_tokens for this model's provider (today's 4000 where the notebook sends none)."""
    return _MAX_TOKENS_BY_PROVIDER.get(provider_of(model), NOTEBOOK_MAX_TOKENS)


@dataclass(frozen=True)
class Price:
    """USD per token; None where litellm's cost map has no figure."""

    input: float
    output: float
    cache_read: float | None
    cache_write: float | None


def price(model: str) -> Price | None:
    """litellm's price for `model`, or None when its cost map has none (a local server's model, an unknown
    name, or a listed price of zero)."""
    if model.startswith("sim/"):
        return None
    litellm = _load()
    try:
        info = litellm.get_model_info(model)
    except Exception:  # noqa: BLE001 - litellm raises several types for "not in the map"
        return None
    inp, out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if not inp and not out:
        return None
    return Price(float(inp or 0.0), float(out or 0.0), info.get("cache_read_input_token_cost"),
                 info.get("cache_creation_input_token_cost"))


def count_tokens(model: str, messages: list[dict]) -> int:
    """Input tokens of `messages` by litellm's counter (the model's own tokenizer where litellm knows it,
    else tiktoken's)."""
    return int(_load().token_counter(model=model, messages=messages))


def count_text_tokens(model: str, text: str) -> int:
    return int(_load().token_counter(model=model, text=text))
