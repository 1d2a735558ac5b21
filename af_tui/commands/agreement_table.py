"""The agreement table drawn with Rich, for `af-tui agreement` and the section of `af-tui stats`; its rows
come from `af_tui.analysis.agreement.agreement_rows`."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from af_tui.analysis.agreement import agreement_rows


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def agreement_table(report: dict) -> Table:
    """A Rich table of the report: one row per annotator pair and field, then alpha over all, then each
    annotator against the adjudicated verdicts."""
    layout = agreement_rows(report)
    table = Table(title=layout.title, title_justify="left")
    for col, justify in (("annotators", "left"), ("field", "left"), ("κ / α", "right"),
                         ("95% CI", "right"), ("agreed", "right"), ("n", "right")):
        table.add_column(col, justify=justify)
    for row in layout.rows:
        if row.over_all:
            interval = agreed = ""
        else:
            interval = "—" if row.low is None else f"{row.low:.2f}…{row.high:.2f}"
            agreed = "—" if row.observed is None else f"{row.observed:.0%}"
        # annotator names are typed by people: never parse them as markup
        table.add_row(Text(row.who), Text(row.field), _fmt(row.figure), interval, agreed, str(row.n))
    return table
