"""Tokens and prices before a run: litellm's token counter on the real messages and its cost map (offline),
the user's own prices (`--price MODEL=INPUT,OUTPUT`, the config file's [prices]) for what litellm does not
price, and the per-provider request details that cost money (prompt caching, max_tokens).

Nothing here sends a request. Prices are per token in USD (the user writes them per million tokens).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from af_tui.errors import AfError
from af_tui.llm.client import Completion, _load, caches_when_asked, mark_system_cacheable, provider_of  # noqa: F401

# The notebook sends max_tokens=4000 to Anthropic (whose API requires it); af-tui sends the same elsewhere.
NOTEBOOK_MAX_TOKENS = 4000
_MAX_TOKENS_BY_PROVIDER = {"anthropic": NOTEBOOK_MAX_TOKENS}
LITELLM = "litellm's cost map"
PRICE_FORMAT = "MODEL=INPUT,OUTPUT (USD per million tokens; INPUT,OUTPUT,BATCH_INPUT,BATCH_OUTPUT with batch prices)"


def default_max_tokens(model: str) -> int:
    """The notebook's max_tokens for this model's provider (today's 4000 where the notebook sends none)."""
    return _MAX_TOKENS_BY_PROVIDER.get(provider_of(model), NOTEBOOK_MAX_TOKENS)


@dataclass(frozen=True)
class Price:
    """USD per token; None where the source has no figure. `batch` is the batch API's price where known."""

    input: float
    output: float
    cache_read: float | None
    cache_write: float | None
    source: str = LITELLM  # where the figures come from, as the quote names it
    batch: Price | None = None

    def cost(self, input_tokens: int | None, output_tokens: int | None, cache_read_tokens: int | None = None,
             cache_write_tokens: int | None = None) -> float:
        """The price of one reply. `input_tokens` counts every prompt token, those read from or written to the
        prompt cache included (as litellm's usage does); cache tokens without a cache price cost the input
        price."""
        read, write = cache_read_tokens or 0, cache_write_tokens or 0
        plain = max(0, (input_tokens or 0) - read - write)
        return (plain * self.input + (output_tokens or 0) * self.output
                + read * (self.cache_read if self.cache_read is not None else self.input)
                + write * (self.cache_write if self.cache_write is not None else self.input))

    def for_batch(self) -> Price:
        """The price of a batched request: the batch price where the source lists one, else this price
        labelled as such (an upper bound: batch APIs cost at most the interactive price)."""
        if self.batch is not None:
            return self.batch
        return replace(self, source=f"{self.source}; no batch price listed, so the interactive price: an upper bound")


def reply_cost(price: Price | None, reply: Completion) -> float | None:
    """What a reply cost at `price`: None without a price or without the reply's token counts."""
    if price is None or reply.input_tokens is None:
        return None
    return price.cost(reply.input_tokens, reply.output_tokens, reply.cache_read_tokens, reply.cache_write_tokens)


def _litellm_price(model: str) -> Price | None:
    litellm = _load()
    try:
        info = litellm.get_model_info(model)
    except Exception:  # noqa: BLE001 - litellm raises several types for "not in the map"
        return None
    inp, out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if not inp and not out:
        return None
    batch = None
    b_in, b_out = info.get("input_cost_per_token_batches"), info.get("output_cost_per_token_batches")
    if b_in or b_out:
        batch = Price(float(b_in or 0.0), float(b_out or 0.0), info.get("cache_read_input_token_cost_batches"),
                      info.get("cache_creation_input_token_cost_batches"), f"{LITELLM}, batch prices")
    return Price(float(inp or 0.0), float(out or 0.0), info.get("cache_read_input_token_cost"),
                 info.get("cache_creation_input_token_cost"), LITELLM, batch)


def price(model: str, prices: Mapping[str, Price] | None = None, *, batch: bool = False) -> Price | None:
    """The price of `model`: the user's (`prices`, from --price and the config file) where given, else
    litellm's, else None (a local server's model, an unknown name, or a listed price of zero). With `batch`,
    the batch API's price (see Price.for_batch)."""
    found = (prices or {}).get(model)
    if found is None and not model.startswith("sim/"):
        found = _litellm_price(model)
    if found is None:
        return None
    return found.for_batch() if batch else found


def _numbers(figures: Iterable, where: str) -> list[float]:
    values = []
    for f in figures:
        try:
            x = float(f.strip() if isinstance(f, str) else f) if not isinstance(f, bool) else math.nan
        except (TypeError, ValueError):
            x = math.nan
        if not math.isfinite(x) or x < 0:
            raise AfError(f"{where}: {f!r} is not a price; give USD per million tokens as numbers of 0 or more, "
                          f"e.g. 15,75")
        values.append(x / 1e6)
    return values


def user_price(figures: list, source: str, where: str) -> Price:
    """A price from the user's figures in USD per million tokens: [INPUT, OUTPUT] or, with the batch API's,
    [INPUT, OUTPUT, BATCH_INPUT, BATCH_OUTPUT]."""
    if len(figures) not in (2, 4):
        raise AfError(f"{where}: give 2 prices (input, output) or 4 (and the batch input, output) in USD per "
                      f"million tokens, not {len(figures)}")
    v = _numbers(figures, where)
    batch = Price(v[2], v[3], None, None, f"{source}, batch prices") if len(v) == 4 else None
    return Price(v[0], v[1], None, None, source, batch)


def parse_prices(values: Iterable[str], option: str = "--price") -> dict[str, Price]:
    """`--price anthropic/claude-3-opus-20240229=15,75` (repeatable) as {model: Price}."""
    prices = {}
    for value in values:
        model, sep, figures = value.rpartition("=")
        if not sep or not model.strip() or not figures.strip():
            raise AfError(f"{option} takes {PRICE_FORMAT}, e.g. anthropic/claude-3-opus-20240229=15,75 "
                          f"(got {value!r})")
        prices[model.strip()] = user_price(figures.split(","), f"your {option}", f"{option} {value!r}")
    return prices


def user_prices(values: Iterable[str] = (), models: Iterable[str] | None = None,
                option: str = "--price") -> dict[str, Price]:
    """The user's prices: the config file's [prices], then each `--price` (which wins). A --price naming a
    model that is not among `models` is refused (a typo would leave the model unpriced)."""
    from af_tui.config import price_table

    table, path = price_table()
    prices = {model: user_price(figures, f"[prices] in {path}", f"{path}: [prices] {model!r}")
              for model, figures in table.items()}
    given = parse_prices(values, option)
    if models is not None:
        models = list(models)
        unknown = [m for m in given if m not in models]
        if unknown:
            raise AfError(f"{option} names {unknown[0]!r}, which is not a model here; the models: "
                          + ", ".join(models))
    return {**prices, **given}


def count_tokens(model: str, messages: list[dict]) -> int:
    """Input tokens of `messages` by litellm's counter (the model's own tokenizer where litellm knows it,
    else tiktoken's)."""
    return int(_load().token_counter(model=model, messages=messages))


def count_text_tokens(model: str, text: str) -> int:
    return int(_load().token_counter(model=model, text=text))
