"""`af-tui run ... --dry-run`: the run's plan and price, printed like a quote. Nothing is sent or stored."""

from __future__ import annotations

import click

from af_tui.experiment.quote import ModelQuote, quote


def _usd(x: float | None) -> str:
    if x is None:
        return "no price"
    return f"${x:,.2f}" if x >= 1 else f"${x:.4f}"


def _per_m(x: float | None) -> str:
    return "–" if x is None else f"${x * 1e6:g}"


def quote_lines(spec, quotes: list[ModelQuote]) -> list[str]:
    n_requests = quotes[0].samples // (2 * len(spec.variants) * spec.epochs) if quotes else 0
    lines = [
        f"af-tui run {spec.name} — dry run: nothing is sent and nothing is written.",
        f"  {n_requests} requests × 2 tiers × {len(spec.variants)} system prompt(s) × {spec.epochs} epoch(s)"
        f" = {quotes[0].samples if quotes else 0} samples per model, {len(quotes)} model(s)",
        "",
    ]
    total = total_cached = 0.0
    priced_all = True
    for q in quotes:
        lines.append(f"{q.model}")
        lines.append(f"  samples            {q.samples:,}")
        lines.append(f"  input tokens       {q.input_tokens:,}  (first turns: system prompt + user turn, "
                     f"{q.system_tokens:,} of them the repeated system prompt)")
        lines.append(f"  output tokens      {q.output_tokens:,}  ({q.output_basis})")
        if q.price is None:
            priced_all = False
            lines.append("  price              litellm has no price for this model (a local server's is free; "
                         "otherwise check the provider's page)")
        else:
            p = q.price
            lines.append(f"  price per M tokens input {_per_m(p.input)} · output {_per_m(p.output)} · cache read "
                         f"{_per_m(p.cache_read)} · cache write {_per_m(p.cache_write)}  (litellm's cost map)")
            lines.append(f"  cost               {_usd(q.cost)} without prompt caching")
            cached = q.cost_cached
            lines.append(f"                     {_usd(cached) if cached is not None else 'no cache price listed'}"
                         f" with the system prompt cached  (prompt caching: {q.caching})")
            total += q.cost or 0.0
            total_cached += cached if cached is not None else (q.cost or 0.0)
        lines.append("")
    lines.append(f"total                {_usd(total)} without caching, {_usd(total_cached)} with"
                 + ("" if priced_all else "  (models without a price not included)"))
    lines.append("Not included: each <NEXT/> turn (the notebook's loop, up to four turns) sends the history again, "
                 "and retries after errors; --max-cost USD stops a run before it passes a budget.")
    return lines


def print_quote(spec, *, typical_output: int | None = None) -> None:
    quotes = quote(spec, typical_output=typical_output, cache_prompt=spec.cache_prompt)
    click.echo("\n".join(quote_lines(spec, quotes)))
