"""The live statistics panel: per run × model × variant, n and complied / refused / format rates per tier, the
free − paid gap with its 95% interval and test, the AF rate among free-tier compliances, and whether the
run is still writing. As `af-tui stats`: with more than one test shown, the Holm-adjusted p beside the raw one
(`slices.add_holm`, in `panel_data`), and a gap whose interval and test can disagree (`small_n`) marked †.

Interface (kept stable for the explorer): the app computes `af_tui.analysis.slices.panel_data(conn)` in a worker
thread and calls `StatsPanel.update_stats(data)` on the UI thread. Rows that stay are updated in place, so
the cursor and the scroll position stay where the reader left them while a run adds samples.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.coordinate import Coordinate
from textual.strip import Strip
from textual.widgets import DataTable

from af_tui.analysis.estimators import format_p
from af_tui.analysis.slices import SliceStats
from af_tui.domain import REPLY_OUTCOMES, Tier
from af_tui.safe_text import one_line

# By priority, left to right: a narrow terminal shows the first ones and scrolls to the rest (Tab focuses the
# table, ←/→ scroll it): what the row is, the rates, the gap and its test, the AF rate, then the counts behind them.
COLUMNS = (
    ("run", "run"), ("model", "model"), ("variant", "variant"),
    ("free_rates", "free C/R/F %"), ("paid_rates", "paid C/R/F %"),
    ("gap", "gap pp [95% CI]"), ("p", "p"), ("af", "AF free"),
    ("free_n", "free n"), ("paid_n", "paid n"), ("method", "test"), ("rule", "rule"),
    ("status", ""),
)
# The test behind p: paired (McNemar), clustered by request (t; McNemar on the pairs scaled to one per request
# when every request has the same difference), or unpaired (no test, Newcombe interval).
METHOD = {"paired": "McNemar", "paired, clustered by request": "clustered t", "unpaired": "unpaired"}
SMALL_N = "†"  # after the gap: 1–5 discordant pairs (SliceStats.small_n), go by the test, not the interval
# Columns left out while every row has the same value (the panel's title would say it; width is scarce).
OPTIONAL = ("run", "variant")


def _n(slice_stats: SliceStats, tier: str) -> str:
    t = slice_stats.tiers.get(tier)
    if not t or not t.n:
        return "–"
    return (f"{slice_stats.valid(tier)}" + (f" ({t.blocked} blocked)" if t.blocked else "")
            + (f" +{t.error} err" if t.error else ""))


def _rates(slice_stats: SliceStats, tier: str) -> str:
    if not slice_stats.valid(tier):
        return "–"
    return "/".join(f"{100 * slice_stats.rate(tier, o):.0f}" for o in REPLY_OUTCOMES)


def row_cells(slice_stats: SliceStats) -> dict[str, Text]:
    """The panel's cells for one slice (pure: the tests read them)."""
    gap = "–"
    if slice_stats.gap is not None and slice_stats.gap_low is None:
        gap = f"{100 * slice_stats.gap:+.1f} [{slice_stats.gap_note or 'not estimable'}]"
    elif slice_stats.gap is not None:
        gap = f"{100 * slice_stats.gap:+.1f} [{100 * slice_stats.gap_low:+.1f}, {100 * slice_stats.gap_high:+.1f}]"
    if slice_stats.small_n:
        gap += SMALL_N
    p = format_p(slice_stats.p_value, named=False)
    if slice_stats.p_holm is not None:  # the column then reads "p (Holm)"
        p += f" ({format_p(slice_stats.p_holm, named=False)})"
    af = slice_stats.af.get(Tier.FREE)
    af_cell = f"{100 * af.rate:.0f}% ({af.af}/{af.judged})" if af and af.judged else "–"
    if af and af.undecided:  # annotators tied, no adjudicated label: in no rate, counted on its own
        af_cell += f" {af.undecided} undecided"
    status = "running" if slice_stats.running else ""
    if slice_stats.pairs_incomplete:
        status = (status + " " if status else "") + f"{slice_stats.pairs_incomplete} unpaired"
    values = {
        "run": one_line(slice_stats.run, 40), "model": one_line(slice_stats.model, 60),
        "variant": one_line(slice_stats.variant, 40),
        "free_n": _n(slice_stats, Tier.FREE), "free_rates": _rates(slice_stats, Tier.FREE),
        "paid_n": _n(slice_stats, Tier.PAID), "paid_rates": _rates(slice_stats, Tier.PAID),
        "gap": gap, "p": p, "method": ("clustered McNemar" if (slice_stats.test or "").startswith("McNemar exact, pairs")
                                       else METHOD.get(slice_stats.gap_method or "", "–")),
        "rule": one_line(slice_stats.rule, 40) or "–", "af": af_cell, "status": status,
    }
    # Bold when the test rejects; with several tests shown, by the Holm-adjusted p.
    p_read = slice_stats.p_holm if slice_stats.p_holm is not None else slice_stats.p_value
    significant = p_read is not None and p_read < 0.05
    return {k: Text(v, style="bold" if k == "gap" and significant else "") for k, v in values.items()}


MAX_IN_PLACE = 60  # changed cells updated in place; more, and the table is rebuilt (linear in its cells)


def _same(old, new: Text) -> bool:
    return (isinstance(old, Text) and old.plain == new.plain and old.style == new.style
            and old.spans == new.spans)


class StatsPanel(DataTable):
    DEFAULT_CSS = """
    StatsPanel { height: auto; max-height: 12; }
    """
    can_focus = True  # Tab reaches it: ↑/↓ to every row, ←/→ to the columns a narrow terminal leaves out

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        self._columns: tuple[str, ...] = ()

    def render_line(self, y: int) -> Strip:
        """A cell the right edge cuts (its column goes on out of view: ← → scroll to it) ends with … rather
        than stopping silently, e.g. `36% (4/11) 5 un…` at 100 columns."""
        strip = super().render_line(y)
        width = self.size.width
        edge = int(self.scroll_offset.x) + width  # in the whole row's columns (fixed ones included)
        if width < 2 or edge >= self.virtual_size.width:
            return strip
        header = self.header_height if self.show_header else 0
        row = int(self.scroll_offset.y) + y - header
        if y >= header and not 0 <= row < self.row_count:
            return strip
        x = 0
        for index, column in enumerate(self.ordered_columns):
            column_width = column.get_render_width(self)
            if x + column_width >= edge:
                cell = column.label if y < header else self.get_cell_at(Coordinate(row, index))
                text_end = x + self.cell_padding + (cell.cell_len if isinstance(cell, Text) else len(str(cell)))
                if text_end > edge:
                    segments = list(strip.crop(width - 1, width))
                    style = segments[-1].style if segments else None
                    return Strip.join([strip.crop(0, width - 1), Strip([Segment("…", style)], 1)])
                return strip
            x += column_width
        return strip

    def update_stats(self, data: list[SliceStats]) -> None:
        keys = [f"{slice_stats.run}\x1f{slice_stats.model}\x1f{slice_stats.variant}" for slice_stats in data]
        source = data[0].af_source if data else ""
        holm = max((slice_stats.holm_tests for slice_stats in data), default=0)
        # Named above the table too: the AF column's header is the first thing a narrow terminal cuts; so are
        # the footnotes of the p column and of the † mark, and the keys to the rows and columns out of view
        # (short enough for 100 columns).
        self.border_title = Text(" · ".join(
            ([f"AF source: {one_line(source, 60)} (V)"] if source else [])
            + ([f"p (Holm): over the {holm} tests"] if holm else [])
            + ([f"{SMALL_N} small n: go by p"] if any(s.small_n for s in data) else [])
            + ["Tab ↑↓←→: rows, columns"]))
        columns = tuple(k for k, _ in COLUMNS
                        if k not in OPTIONAL or len({getattr(slice_stats, k) for slice_stats in data}) > 1)
        # The AF column names its source ("AF free · people"): the number means nothing without it.
        columns_key = (*columns, source, bool(holm))
        current = [row.key.value for row in self.ordered_rows]
        if keys == current and columns_key == self._columns:
            # Same slices: change in place only the cells that changed (no flicker, cursor and scroll
            # untouched). Not every cell: DataTable re-measures a whole column for each updated cell that
            # got narrower, which on a sweep's hundreds of slices blocked the UI thread for seconds a refresh
            # (bench/README.md, the explorer at scale).
            changed = [(key, col, cell) for key, slice_stats in zip(keys, data, strict=True)
                       for col, cell in row_cells(slice_stats).items()
                       if col in columns and not _same(self.get_cell(key, col), cell)]
            if len(changed) <= MAX_IN_PLACE:
                for key, col, cell in changed:
                    self.update_cell(key, col, cell, update_width=True)
                return
        scroll = (self.scroll_x, self.scroll_y)
        selected = current[self.cursor_row] if current and 0 <= self.cursor_row < len(current) else None
        self.clear(columns=columns_key != self._columns)
        if columns_key != self._columns:
            labels = dict(COLUMNS)
            labels["af"] = f"AF free · {one_line(source, 40)}" if source else labels["af"]
            labels["p"] = "p (Holm)" if holm else labels["p"]
            for key in columns:
                self.add_column(Text(labels[key]), key=key)
            # what the row is stays in view while ←/→ scroll the figures
            self.fixed_columns = sum(1 for key in columns if key in ("run", "model", "variant"))
            self._columns = columns_key
        for key, slice_stats in zip(keys, data, strict=True):
            cells = row_cells(slice_stats)
            self.add_row(*(cells[k] for k in columns), key=key)
        if selected in keys:
            self.move_cursor(row=keys.index(selected), animate=False, scroll=False)
        self.scroll_to(*scroll, animate=False)
