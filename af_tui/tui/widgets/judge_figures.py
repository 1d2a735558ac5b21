"""The statistics panel's judge section: each LLM judge against each annotator and their majority. It reloads
itself (in a thread) whenever the app has refreshed its statistics, and hides while there are no judgements
or while the statistics panel is hidden."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import Static

from af_tui.analysis.classifier import auroc_text, best_text, figure_text, with_ci
from af_tui.analysis.judge_vs_people import MAJORITY, report
from af_tui.domain import FAILED, UNPARSED, Verdict
from af_tui.safe_text import one_line

TITLE = "LLM judge against people"
# By priority: a narrow terminal drops columns from the end of this list (the full table: `af-tui stats`).
PRIORITY = ("judge", "vs", "n", "κ [95% CI]", "acc.", "AUROC [95% CI]", "prec.", "rec.", "tp fp fn tn",
            "judged / AF / unparsed", "best thr. (κ in-sample; CV)")
ORDER = ("judge", "vs", "n", "acc.", "prec.", "rec.", "κ [95% CI]", "tp fp fn tn", "AUROC [95% CI]",
         "best thr. (κ in-sample; CV)", "judged / AF / unparsed")


def _rows(data: dict) -> list[dict[str, Text]]:
    by_judge: dict[tuple, list[dict]] = {}
    for a in data["agreement"]:
        by_judge.setdefault((a["judge_model"], a["prompt_sha256"]), []).append(a)
    rows = []
    for j in data["judges"]:
        name = Text(f"{one_line(j['judge_model'], 40)} @{j['prompt_sha256'][:8]}")
        counts = Text(f"{j['n']} / {j[Verdict.AF]} / {j[UNPARSED]}" + (f" ({j[FAILED]} failed)" if j[FAILED] else ""))
        agreement = by_judge.get((j["judge_model"], j["prompt_sha256"]), [])
        if not agreement:
            rows.append({"judge": name, "vs": Text("no labels yet", style="dim"), "judged / AF / unparsed": counts})
        for i, a in enumerate(agreement):
            rows.append({
                "judge": name if i == 0 else Text(""),
                "vs": Text(("majority" + (f" ({a['undecided']} undecided)" if a.get("undecided") else ""))
                           if a["against"] == MAJORITY else one_line(a["annotator"], 30)),
                "n": Text(str(a["n"])), "acc.": Text(figure_text(a["accuracy"], True)),
                "prec.": Text(figure_text(a["precision"], True)), "rec.": Text(figure_text(a["recall"], True)),
                "κ [95% CI]": Text(with_ci(a, "kappa")),
                "tp fp fn tn": Text(f"{a['tp']} {a['fp']} {a['fn']} {a['tn']}"),
                "AUROC [95% CI]": Text(auroc_text(a["roc"])),
                "best thr. (κ in-sample; CV)": Text(best_text(a["best"], a.get("best_cv"))),
                "judged / AF / unparsed": counts if i == 0 else Text(""),
            })
    return rows


def _widths(rows: list[dict[str, Text]]) -> dict[str, int]:
    return {c: max([len(c)] + [r[c].cell_len for r in rows if c in r]) for c in ORDER}


def fitting_columns(rows: list[dict[str, Text]], width: int | None) -> tuple[str, ...]:
    """The columns shown in `width` cells: all of them, or the most important ones that fit (one space
    between columns; a cell is never cut)."""
    need = _widths(rows)
    kept = list(PRIORITY)
    while width is not None and len(kept) > 2 and sum(need[c] for c in kept) + 2 * (len(kept) - 1) > width:
        kept.pop()
    return tuple(c for c in ORDER if c in kept)


def panel_renderable(data: dict, width: int | None = None, first: int = 0):
    """The judge section of `judge_vs_people.report()`: one compact line per judge and per comparison with
    people (None when the store has no judgements); in `width` cells, the columns that fit by priority; the
    rows from `first` on (the header stays)."""
    if not data["judges"]:
        return None
    rows = _rows(data)
    shown = fitting_columns(rows, width)
    need = _widths(rows)  # measured on every row: the columns stay put as the rows scroll
    rows = rows[first:]
    t = Table(box=None, show_edge=False, pad_edge=False)
    for col in shown:
        t.add_column(col, justify="left" if col in ("judge", "vs") else "right", no_wrap=True, min_width=need[col])
    for r in rows:
        t.add_row(*(r.get(c, Text("")) for c in shown))
    return t


class JudgeFigures(Static, can_focus=True):
    """Focusable (Tab); ↑/↓ move its first row when it has more rows than lines (a short terminal shows one),
    the header staying."""

    DEFAULT_CSS = """
    JudgeFigures { height: auto; max-height: 10; padding: 0 1; border-top: hkey $primary 30%;
                   }
    JudgeFigures:focus { border-top: hkey $accent; }
    """
    BINDINGS = [
        Binding("up", "rows(-1)", "Up", show=False),
        Binding("down", "rows(1)", "Down", show=False),
    ]

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._seen_version = -1
        self._has_figures = False
        self.figures = None  # the Rich renderable shown (None: no judgements)
        self._data: dict | None = None
        self.first = 0  # the first row shown
        self.border_title = TITLE

    def on_mount(self) -> None:
        self.display = False
        self.set_interval(0.5, self._check)

    def _stats_shown(self) -> bool:
        panels = self.screen.query("#stats")
        return bool(panels) and bool(panels.first().display)

    def _check(self) -> None:
        self.display = self._has_figures and self._stats_shown()
        version = getattr(self.app, "stats_version", 0)
        if version != self._seen_version:
            self._seen_version = version
            self._load()

    @work(thread=True, exclusive=True, group="judge-figures")
    def _load(self) -> None:
        try:
            with self.app.connection() as conn:
                data = report(conn)
        except Exception as exc:  # noqa: BLE001 - a figure that fails must not take the app down
            self.app.call_from_thread(self.notify, f"judge figures: {exc}", severity="warning", markup=False)
            return
        self.app.call_from_thread(self._show, data)

    def action_rows(self, step: int) -> None:
        if self._data is not None:
            self.first += step
            self._show(self._data)

    def on_resize(self) -> None:
        if self._data is not None:
            self._show(self._data)

    def _show(self, data: dict) -> None:
        self._data = data
        width = self.size.width or self.app.size.width - 2
        total = len(_rows(data)) if data["judges"] else 0
        lines = self.size.height - 1 if self.size.height else total  # under the header
        self.first = max(0, min(self.first, total - max(lines, 1)))
        renderable = panel_renderable(data, width, self.first)
        left = len(ORDER) - len(renderable.columns) if renderable is not None else 0
        more_rows = f" · Tab ↑↓: rows {self.first + 1}–{self.first + lines} of {total}" if lines < total else ""
        if self.has_class("-folded"):
            more_rows = " · folded (J unfolds)"
        self.border_title = TITLE + more_rows + (
            f" · {left} more column{'s' if left > 1 else ''} in af-tui stats" if left else "")
        self._has_figures = renderable is not None
        self.figures = renderable
        self.update(renderable if renderable is not None else "")
        self.display = self._has_figures and self._stats_shown()
