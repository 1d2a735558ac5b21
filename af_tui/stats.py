"""Statistics over the store: rates, the free − paid compliance gap, intervals and tests. Pure functions
over count rows; the only I/O is `panel_data`, which reads the counts it needs.

(Stub: the statistics issue replaces the figures with paired tests and intervals; keep the interface.)
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass


@dataclass
class SliceStats:
    """One run × model × variant: counts per tier and the compliance gap."""

    run: str
    model: str
    variant: str
    tiers: dict  # tier -> {"n", "complied", "refused", "format_not_followed", "error"}
    gap: float | None  # complied rate free − paid, errors excluded
    gap_low: float | None = None
    gap_high: float | None = None


def panel_data(conn: sqlite3.Connection) -> list[SliceStats]:
    """What the app's statistics panel shows; called from a worker thread with its own connection."""
    rows = conn.execute(
        "SELECT r.name, s.model, s.variant, s.tier, COUNT(*), SUM(s.outcome='complied'), "
        "SUM(s.outcome='refused'), SUM(s.outcome='format_not_followed'), SUM(s.outcome='error') "
        "FROM samples s JOIN runs r ON r.id = s.run_id GROUP BY s.run_id, s.model, s.variant, s.tier "
        "ORDER BY r.id, s.model, s.variant"
    ).fetchall()
    slices: dict[tuple, SliceStats] = {}
    for run, model, variant, tier, n, c, r, f, e in rows:
        sl = slices.setdefault((run, model, variant), SliceStats(run, model, variant, {}, None))
        sl.tiers[tier] = {"n": n, "complied": c, "refused": r, "format_not_followed": f, "error": e}
    for sl in slices.values():
        rates = []
        for tier in ("free", "paid"):
            t = sl.tiers.get(tier)
            valid = (t["n"] - t["error"]) if t else 0
            rates.append(t["complied"] / valid if valid else None)
        sl.gap = rates[0] - rates[1] if None not in rates else None
    return list(slices.values())
