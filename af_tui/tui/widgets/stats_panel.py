"""The live statistics panel: per run × model × variant, rates per tier and the compliance gap.

Interface (kept stable for the explorer): the app computes `af_tui.stats.panel_data(conn)` in a worker
thread and calls `StatsPanel.update_stats(data)` on the UI thread; the panel keeps its scroll position.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import DataTable

from ...stats import SliceStats


def _pct(num: int, den: int) -> str:
    return f"{100 * num / den:.0f}%" if den else "–"


class StatsPanel(DataTable):
    DEFAULT_CSS = """
    StatsPanel { height: auto; max-height: 12; }
    """

    def on_mount(self) -> None:
        self.cursor_type = "none"
        self.add_columns("run", "model", "variant", "free n", "free complied", "paid n", "paid complied", "gap")

    def update_stats(self, data: list[SliceStats]) -> None:
        scroll = (self.scroll_x, self.scroll_y)
        self.clear()
        for sl in data:
            cells = [sl.run, sl.model, sl.variant]
            for tier in ("free", "paid"):
                t = sl.tiers.get(tier, {"n": 0, "complied": 0, "error": 0})
                valid = t["n"] - t["error"]
                cells += [str(t["n"]), _pct(t["complied"], valid)]
            cells.append("–" if sl.gap is None else f"{100 * sl.gap:+.0f} pp")
            self.add_row(*(Text(c) for c in cells))
        self.scroll_to(*scroll, animate=False)
