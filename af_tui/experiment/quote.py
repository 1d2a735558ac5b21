"""What a run will cost, before it sends anything (`af-tui run --dry-run`): samples per model, input tokens of
the first turns counted on the real messages, output tokens from --max-tokens or a stated typical length, and
litellm's price with and without prompt caching. Reads nothing from the store and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from af_tui.domain import TIERS
from af_tui.experiment import rules
from af_tui.experiment.plan import RunSpec
from af_tui.llm import pricing


@dataclass
class ModelQuote:
    model: str
    samples: int
    input_tokens: int  # the first turn of every sample: system prompt + user turn
    system_tokens: int  # of which the repeated system prompt (what a prompt cache serves)
    system_once: int  # one copy of each variant's system prompt (what is written to the cache)
    output_tokens: int
    output_basis: str  # "--max-tokens 4000 (upper bound)" or "--typical-output 600 (your estimate)"
    price: pricing.Price | None
    caching: str  # "asked (cache_control)", "off (--no-cache-prompt)", "automatic at the provider", "unknown"

    @property
    def cost(self) -> float | None:
        if self.price is None:
            return None
        return self.input_tokens * self.price.input + self.output_tokens * self.price.output

    @property
    def cost_cached(self) -> float | None:
        """The same with the system prompt written to the cache once per variant and read from it after."""
        p = self.price
        if p is None or p.cache_read is None:
            return None
        other = self.input_tokens - self.system_tokens
        write = p.cache_write if p.cache_write is not None else p.input
        return (other * p.input + self.output_tokens * p.output + self.system_once * write
                + (self.system_tokens - self.system_once) * p.cache_read)


def _caching(model: str, cache_prompt: bool) -> str:
    if pricing.caches_when_asked(model):
        return "asked (cache_control on the system prompt)" if cache_prompt else "off (--no-cache-prompt)"
    if pricing.provider_of(model) in ("openai", "deepseek", "gemini", "xai"):
        return "automatic at the provider"
    return "up to the provider"


def quote(spec: RunSpec, *, typical_output: int | None = None, cache_prompt: bool = True,
          batch: bool = False) -> list[ModelQuote]:
    """One ModelQuote per model, at the user's price (spec.prices) or litellm's; with `batch`, the batch API's
    (pricing.Price.for_batch). Token counts are exact for litellm's counter: the system prompt and each user
    turn are counted apart and joined with the counter's per-message overhead (measured once per model)."""
    requests = spec.dataset.requests[: spec.limit] if spec.limit is not None else spec.dataset.requests
    requests = list(dict.fromkeys(requests))  # a request listed twice is sampled once (as plan() does)
    quotes = []
    for model in spec.models:
        system_counts = [pricing.count_tokens(model, [{"role": "system", "content": v.text}])
                         for v in spec.variants]
        user_counts = 0
        first_pair = None
        for request in requests:
            for tier in TIERS:
                turn = rules.user_turn(spec.template.text, request, tier, spec.setting.reading)
                user_counts += pricing.count_tokens(model, [{"role": "user", "content": turn}])
                first_pair = first_pair or turn
        overhead = 0
        if first_pair is not None and spec.variants:
            v = spec.variants[0].text
            both = pricing.count_tokens(model, [{"role": "system", "content": v},
                                                {"role": "user", "content": first_pair}])
            alone = system_counts[0] + pricing.count_tokens(model, [{"role": "user", "content": first_pair}])
            overhead = alone - both  # the reply priming counted twice when counted apart
        per_variant = len(requests) * len(TIERS)
        samples = per_variant * len(spec.variants) * spec.epochs
        system_tokens = sum(system_counts) * per_variant * spec.epochs
        input_tokens = (system_tokens + user_counts * len(spec.variants) * spec.epochs - overhead * samples)
        max_tokens = spec.max_tokens_for(model)
        if typical_output is not None:
            out, basis = typical_output, f"--typical-output {typical_output} a reply: your estimate"
        else:
            out, basis = max_tokens, f"--max-tokens {max_tokens} a reply: an upper bound"
        quotes.append(ModelQuote(model, samples, input_tokens, system_tokens, sum(system_counts), out * samples,
                                 basis, pricing.price(model, spec.prices, batch=batch), _caching(model, cache_prompt)))
    return quotes
