"""What runs cost, from the store: the stored provider cost (`samples.cost`, the price of each reply with its
prompt-cache tokens — litellm's, or the user's --price / [prices]; the batch price for --batch — summed over the
tries) per run, model, variant and tier."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from af_tui.domain import TIERS
from af_tui.store.rows import condition

COST_SOURCE = "stored provider cost"


@dataclass
class Cost:
    cost: float | None = None  # USD; None when no sample has a price
    samples: int = 0
    priced: int = 0  # samples with a cost
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def add(self, other: Cost) -> None:
        if other.cost is not None:
            self.cost = (self.cost or 0.0) + other.cost
        self.samples += other.samples
        self.priced += other.priced
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens


def costs(conn: sqlite3.Connection, run: str | None = None, models: list[str] | None = None) -> dict[tuple, Cost]:
    """(run name, model, variant, tier) -> Cost."""
    where, params = condition(("r.name", run), ("s.model", models))
    out = {}
    for name, model, variant, tier, cost, n, priced, read, write in conn.execute(
        "SELECT r.name, s.model, s.variant, s.tier, SUM(s.cost), COUNT(*), COUNT(s.cost), "
        "COALESCE(SUM(s.cache_read_tokens), 0), COALESCE(SUM(s.cache_write_tokens), 0) "
        f"FROM samples s JOIN runs r ON r.id = s.run_id WHERE {where} GROUP BY s.run_id, s.model, s.variant, s.tier",
        params,
    ):
        out[(name, model, variant, tier)] = Cost(cost, n, priced, read, write)
    return out


def slice_cost(table: dict[tuple, Cost], runs: str, model: str, variant: str, tier: str | None = None) -> Cost:
    """The cost of a slice (its runs comma-separated, as SliceStats.run), one tier or both."""
    total = Cost()
    for name in runs.split(","):
        for t in ([tier] if tier else TIERS):
            if (c := table.get((name, model, variant, t))) is not None:
                total.add(c)
    return total
