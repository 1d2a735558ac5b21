"""The chart screen: the replication's figure drawn in the terminal, live — a stacked bar per model and tier
(complied, its alignment-faking part shaded; refused; format not followed in gray), the complied rate's 95%
Wilson interval drawn under each bar, and the gap per model. Fed by the app with the same
`stats.panel_data` it gives the statistics panel (`ChartScreen.update_stats(data)`)."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Header

from af_tui.analysis.estimators import format_p
from af_tui.analysis.slices import SliceStats
from af_tui.domain import VALID_OUTCOMES, Outcome, Tier
from af_tui.safe_text import one_line
from af_tui.tui.widgets.footer import KeysFooter

STYLES = {Outcome.COMPLIED: "on #E69F00", "af": "#7A3B00 on #E69F00", Outcome.REFUSED: "on #0072B2",
          Outcome.FORMAT_NOT_FOLLOWED: "on #A0A0A0", Outcome.BLOCKED: "on #CC79A7"}
AF_FILL = "╱"  # hatched, as in the printed figure
LABEL_W = 6  # "free " / "paid "


def _bar(slice_stats: SliceStats, tier: str, width: int) -> tuple[Text, Text]:
    """One tier's bar and, under it, the complied interval (├──┼──┤) on the same scale."""
    # Every valid outcome, blocked included, so that the bar is the whole tier (a tier the provider always
    # blocked is drawn blocked, not left to the rounding).
    shares = {o: slice_stats.rate(tier, o) or 0.0 for o in VALID_OUTCOMES}
    cells = {o: round(shares[o] * width) for o in shares}
    # Rounding must fill the bar exactly: the largest share absorbs the difference.
    biggest = max(cells, key=lambda o: shares[o])
    cells[biggest] += width - sum(cells.values())
    af = slice_stats.af.get(tier)
    af_cells = round(cells[Outcome.COMPLIED] * af.rate) if af and af.rate is not None else 0
    bar = Text()
    bar.append(AF_FILL * af_cells, STYLES["af"])
    bar.append(" " * (cells[Outcome.COMPLIED] - af_cells), STYLES[Outcome.COMPLIED])
    bar.append(" " * cells[Outcome.REFUSED], STYLES[Outcome.REFUSED])
    bar.append(" " * cells[Outcome.FORMAT_NOT_FOLLOWED], STYLES[Outcome.FORMAT_NOT_FOLLOWED])
    bar.append(" " * cells[Outcome.BLOCKED], STYLES[Outcome.BLOCKED])
    ci = slice_stats.interval(tier)
    whisker = [" "] * (width + 1)
    if ci:
        lo, hi, mid = (round(x * width) for x in (ci[0], ci[1], shares[Outcome.COMPLIED]))
        for i in range(lo, hi + 1):
            whisker[i] = "─"
        whisker[lo], whisker[hi] = "├", "┤"
        whisker[mid] = "┼" if lo < mid < hi else whisker[mid]
    return bar, Text("".join(whisker).rstrip(), style="dim")


def chart_text(slices: list[SliceStats], width: int) -> Text:
    """The whole chart at this width (pure: the tests read it)."""
    out = Text()
    out.append(" complied ", STYLES[Outcome.COMPLIED])
    out.append(" ")
    out.append(AF_FILL * 2 + " AF ", STYLES["af"])
    out.append(" ")
    out.append(" refused ", STYLES[Outcome.REFUSED])
    out.append(" ")
    out.append(" format not followed ", STYLES[Outcome.FORMAT_NOT_FOLLOWED])
    if any(s.tiers[t].blocked for s in slices for t in Tier):
        out.append(" ")
        out.append(" blocked ", STYLES[Outcome.BLOCKED])
    clustered = any(s.interval_method(t) != "Wilson" for s in slices for t in Tier)
    out.append("   ├─┼─┤ complied, 95% Wilson interval" + (" (effective n by request where requests repeat)"
                                                          if clustered else "") + "\n", style="dim")
    if slices:
        out.append(f"AF source: {one_line(slices[0].af_source, 80)}  ·  compliance: "
                   f"{one_line(slices[0].compliance, 80)}  (V switches the AF source)\n", style="dim")
    out.append("\n")
    if not slices:
        out.append("No samples yet.")
        return out
    bar_w = max(10, width - LABEL_W - 24)
    runs = {s.run for s in slices}
    variants = {s.variant for s in slices}
    for slice_stats in slices:
        out.append(one_line(slice_stats.label(with_run=len(runs) > 1, with_variant=len(variants) > 1), width), "bold")
        if slice_stats.gap is not None and slice_stats.gap_low is None:
            out.append(f"   gap {100 * slice_stats.gap:+.1f} pp [{slice_stats.gap_note or 'not estimable'}]")
        elif slice_stats.gap is not None:
            out.append(f"   gap {100 * slice_stats.gap:+.1f} pp "
                       f"[{100 * slice_stats.gap_low:+.1f}, {100 * slice_stats.gap_high:+.1f}]")
            if slice_stats.p_value is not None:
                out.append(f"  {format_p(slice_stats.p_value)}", style="dim")
        if slice_stats.running:
            out.append("  (running)", style="italic")
        out.append("\n")
        for tier in Tier:
            valid = slice_stats.valid(tier)
            if not valid:
                out.append(f"{tier:<{LABEL_W}}no samples yet\n", style="dim")
                continue
            bar, whisker = _bar(slice_stats, tier, bar_w)
            out.append(f"{tier:<{LABEL_W}}")
            out.append_text(bar)
            out.append(f" {100 * (slice_stats.rate(tier) or 0):.0f}% complied, n={valid}\n")
            out.append(" " * LABEL_W)
            out.append_text(whisker)
            out.append("\n")
        out.append("\n")
    return out


class Chart(Widget):
    DEFAULT_CSS = "Chart { height: auto; padding: 0 1; }"

    def __init__(self, data: list[SliceStats] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.data = data

    def render(self) -> Text:
        if self.data is None:
            return Text("Computing the statistics…")
        return chart_text(self.data, max(40, self.size.width))


class ChartScreen(Screen):
    """Opened from the explorer; the app calls update_stats whenever the statistics are read again."""

    TITLE = "af-tui — chart"
    SUB_TITLE = "outcomes per model and tier, live"
    BINDINGS = [Binding("escape,q", "app.pop_screen", "Back", id="chart.back", tooltip="Back to the explorer")]

    def __init__(self, data: list[SliceStats] | None = None) -> None:
        super().__init__()
        self._data = data

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll():
            yield Chart(self._data, id="chart")
        yield KeysFooter()  # the main keys fit 80 columns

    def update_stats(self, data: list[SliceStats]) -> None:
        self._data = data
        for chart in self.query(Chart):
            chart.data = data
            chart.refresh(layout=True)
