"""`af-tui run ... --dry-run`: the run's plan and price, printed like a quote. Nothing is sent or stored."""

from __future__ import annotations

from dataclasses import replace

import click

from af_tui.experiment.quote import ModelQuote, quote
from af_tui.experiment.rules import resolve_prefill
from af_tui.experiment.setting import SETTING_MARK, named_beside_rule
from af_tui.llm.pricing import price
from af_tui.safe_text import one_line


def _usd(x: float | None) -> str:
    if x is None:
        return "no price"
    return f"${x:,.2f}" if x >= 1 else f"${x:.4f}"


def _per_m(x: float | None) -> str:
    return "–" if x is None else f"${x * 1e6:g}"


def _sources(spec) -> list[str]:
    """What each sample is made of and how it is asked, as the run will store it."""
    def named(t) -> str:
        return f"{one_line(t.name, 60)} ({one_line(t.origin, 120)}, sha256 {t.sha256[:12]})"

    lines = [f"  requests           {named(spec.dataset)}",
             f"  user template      {named(spec.template)}"]
    lines += [f"  system prompt      {named(v)}" for v in spec.variants]
    st = spec.setting
    named_setting = named_beside_rule(st.name, st.sha256)
    if named_setting:  # the built-in goes unnamed, as in stats
        tags = ", ".join(f"{p.scratchpad}/{p.output}" for p in st.reading.tags)
        lines.append(f"  setting            {one_line(st.name, 60)} ({one_line(st.origin, 120)}, sha256 "
                     f"{st.sha256[:12]}) · tags {one_line(tags, 80)}"
                     + ("" if st.reading.next_turn else " · no <NEXT/> turns"))
    maxes = sorted({spec.max_tokens_for(m) for m in spec.models})
    thinking = bool(spec.thinking_budget)
    by_prefill: dict[str, list[str]] = {}
    for m in spec.models:
        by_prefill.setdefault(resolve_prefill(spec.prefill, m, thinking=thinking), []).append(m)
    how = one_line(str(spec.prefill or "none"), 20)
    shared = f" · prefill {one_line(repr(next(iter(by_prefill))), 40)} ({how})" if len(by_prefill) == 1 else ""
    lines.append(f"  asked with         temperature {spec.temperature:g} · max_tokens {'/'.join(map(str, maxes))}"
                 f"{shared} · outcome rule {spec.rule}"
                 # the setting beside the rule, as stats names it: `notebook · setting animal-welfare`
                 + (f"{SETTING_MARK}{one_line(st.name, 60)}" if named_setting else "") + (f" · {one_line(spec.api_base, 80)}" if spec.api_base else ""))
    if len(by_prefill) > 1:  # which models start each reply with what: '<' for some, none for others
        lines.append(f"  prefill ({how})".ljust(21) + " · ".join(
            f"{one_line(repr(text), 40) if text else 'none'} for {', '.join(models)}"
            for text, models in sorted(by_prefill.items(), key=lambda kv: kv[0] == "")))
    return lines


def quote_lines(spec, quotes: list[ModelQuote], interactive: list[ModelQuote] | None = None) -> list[str]:
    """The quote as printed. With `interactive` (the same quotes at interactive prices), `quotes` are at batch
    prices (--batch) and each model's cost is set beside its interactive cost."""
    n_requests = quotes[0].samples // (2 * len(spec.variants) * spec.epochs) if quotes else 0
    batch = interactive is not None
    lines = [
        f"af-tui run {spec.name} — dry run: nothing is sent and nothing is written."
        + (" Priced for --batch (the providers' batch APIs)." if batch else ""),
        f"  {n_requests} requests × 2 tiers × {len(spec.variants)} system prompt(s) × {spec.epochs} epoch(s)"
        f" = {quotes[0].samples if quotes else 0} samples per model, {len(quotes)} model(s)",
        *_sources(spec),
        "",
    ]
    total = total_cached = total_interactive = 0.0
    priced_all = True
    for i, q in enumerate(quotes):
        lines.append(f"{q.model}")
        lines.append(f"  samples            {q.samples:,}")
        lines.append(f"  input tokens       {q.input_tokens:,}  (first turns: system prompt + user turn, "
                     f"{q.system_tokens:,} of them the repeated system prompt)")
        lines.append(f"  output tokens      {q.output_tokens:,}  ({q.output_basis})")
        if q.price is None:
            priced_all = False
            lines.append("  price              not in litellm's cost map (a retired model leaves it; a local "
                         "server's is free): see the provider's page and give it with --price MODEL=INPUT,OUTPUT "
                         "or the config file's [prices]")
        else:
            p = q.price
            lines.append(f"  {'batch ' if batch else ''}price per M tokens input {_per_m(p.input)} · output "
                         f"{_per_m(p.output)} · cache read {_per_m(p.cache_read)} · cache write "
                         f"{_per_m(p.cache_write)}  ({one_line(p.source, 160)})")
            beside = ""
            if batch and interactive[i].cost is not None:
                total_interactive += interactive[i].cost
                beside = f"  (interactive {_usd(interactive[i].cost)}, {q.cost / interactive[i].cost:.0%} of it)" \
                    if interactive[i].cost else ""
            lines.append(f"  cost               {_usd(q.cost)} without prompt caching{beside}")
            cached = q.cost_cached
            lines.append(f"                     {_usd(cached) if cached is not None else 'no cache price listed'}"
                         f" with the system prompt cached  (prompt caching: {q.caching})")
            total += q.cost or 0.0
            total_cached += cached if cached is not None else (q.cost or 0.0)
        lines.append("")
    if not any(q.price for q in quotes):
        lines.append("total                no price: litellm's cost map lists none of these models")
    else:
        lines.append(f"total                {_usd(total)} without caching, {_usd(total_cached)} with"
                     + (f"; interactive {_usd(total_interactive)} without caching" if batch else "")
                     + ("" if priced_all else "  (models without a price not included)"))
    lines.append("Not included: each <NEXT/> turn (the notebook's loop, up to four turns) sends the history again, "
                 "and retries after errors; --max-cost USD stops a run before it passes a budget.")
    return lines


def print_quote(spec, *, typical_output: int | None = None, batch: bool = False) -> None:
    quotes = quote(spec, typical_output=typical_output, cache_prompt=spec.cache_prompt)
    if not batch:
        click.echo("\n".join(quote_lines(spec, quotes)))
        return
    batched = [replace(q, price=price(q.model, spec.prices, batch=True)) for q in quotes]
    click.echo("\n".join(quote_lines(spec, batched, interactive=quotes)))
