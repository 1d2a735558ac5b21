"""`af-tui stats`: what each model cost (the stored provider cost), as JSON keys on the tier rows and as a
table after the figures."""

from __future__ import annotations

from af_tui.analysis.cost import COST_SOURCE, Cost, costs, slice_cost


def cost_table(db_path, run_name, models) -> dict[tuple, Cost]:
    from af_tui.store.db import Store

    with Store(db_path, create=False) as store:
        return costs(store.conn, run=run_name, models=list(models) or None)


def add_cost(rows: list[dict], table: dict[tuple, Cost]) -> list[dict]:
    """The tier rows of `stats --json/--csv` with cost, cost_priced (samples with a price) and cost_source."""
    for row in rows:
        c = slice_cost(table, row["run"], row["model"], row["variant"], row["tier"])
        row.update(cost=c.cost, cost_priced=c.priced, cache_read_tokens=c.cache_read_tokens,
                   cache_write_tokens=c.cache_write_tokens, cost_source=COST_SOURCE)
    return rows


def print_cost(slices, table: dict[tuple, Cost]) -> None:
    """Cost per model (its runs and variants in the slices summed), when any sample has a price."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from af_tui.safe_text import one_line

    per_model: dict[str, Cost] = {}
    for slice_stats in slices:
        per_model.setdefault(slice_stats.model, Cost()).add(
            slice_cost(table, slice_stats.run, slice_stats.model, slice_stats.variant))
    if not any(c.cost is not None for c in per_model.values()):
        return
    t = Table(title="Cost per model", title_justify="left", caption_justify="left")
    for col in ("model", "samples", "priced", "cost (USD)", "cache read tokens", "cache write tokens"):
        t.add_column(col, justify="left" if col == "model" else "right")
    for model, c in per_model.items():
        t.add_row(Text(one_line(model, 120)), str(c.samples), str(c.priced),
                  "–" if c.cost is None else f"{c.cost:.4f}", f"{c.cache_read_tokens:,}", f"{c.cache_write_tokens:,}")
    t.caption = (f"{COST_SOURCE}: the price of each reply (litellm's, or yours: --price, [prices]; the batch "
                 "price for --batch; its prompt-cache tokens included), summed over "
                 "the tries; priced: samples with a price (a local server's model has none unless given one)")
    Console().print(t)
