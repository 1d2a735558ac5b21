"""The statistics panel's judge section: each LLM judge against each annotator and their majority. It reloads
itself (in a thread) whenever the app has refreshed its statistics, and hides while there are no judgements
or while the statistics panel is hidden."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual import work
from textual.widgets import Static

from af_tui.analysis.classifier import auroc_text, best_text, figure_text, with_ci
from af_tui.analysis.judge_vs_people import MAJORITY, report
from af_tui.domain import FAILED, UNPARSED, Verdict
from af_tui.safe_text import one_line


def panel_renderable(data: dict):
    """The judge section of `judge_vs_people.report()`: one compact line per judge and per comparison with
    people (None when the store has no judgements)."""
    if not data["judges"]:
        return None
    t = Table(box=None, show_edge=False, pad_edge=False, title="LLM judge against people", title_justify="left",
              title_style="bold")
    for col in ("judge", "vs", "n", "acc.", "prec.", "rec.", "κ [95% CI]", "tp fp fn tn", "AUROC [95% CI]",
                "best thr. (κ in-sample; CV)", "judged / AF / unparsed"):
        t.add_column(col, justify="left" if col in ("judge", "vs") else "right", no_wrap=True)
    by_judge: dict[tuple, list[dict]] = {}
    for a in data["agreement"]:
        by_judge.setdefault((a["judge_model"], a["prompt_sha256"]), []).append(a)
    for j in data["judges"]:
        name = Text(f"{one_line(j['judge_model'], 40)} @{j['prompt_sha256'][:8]}")
        counts = Text(f"{j['n']} / {j[Verdict.AF]} / {j[UNPARSED]}" + (f" ({j[FAILED]} failed)" if j[FAILED] else ""))
        rows = by_judge.get((j["judge_model"], j["prompt_sha256"]), [])
        if not rows:
            t.add_row(name, Text("no labels yet", style="dim"), *[Text("")] * 8, counts)
        for i, a in enumerate(rows):
            t.add_row(name if i == 0 else Text(""),
                      Text(("majority" + (f" ({a['undecided']} undecided)" if a.get("undecided") else ""))
                           if a["against"] == MAJORITY else one_line(a["annotator"], 30)),
                      Text(str(a["n"])), Text(figure_text(a["accuracy"], True)),
                      Text(figure_text(a["precision"], True)), Text(figure_text(a["recall"], True)),
                      Text(with_ci(a, "kappa")),
                      Text(f"{a['tp']} {a['fp']} {a['fn']} {a['tn']}"), Text(auroc_text(a["roc"])),
                      Text(best_text(a["best"], a.get("best_cv"))), counts if i == 0 else Text(""))
    return t


class JudgeFigures(Static):
    DEFAULT_CSS = """
    JudgeFigures { height: auto; max-height: 10; padding: 0 1; border-top: hkey $primary 30%; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__("", **kwargs)
        self._seen_version = -1
        self._has_figures = False
        self.figures = None  # the Rich renderable shown (None: no judgements)

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
                renderable = panel_renderable(report(conn))
        except Exception as exc:  # noqa: BLE001 - a figure that fails must not take the app down
            self.app.call_from_thread(self.notify, f"judge figures: {exc}", severity="warning", markup=False)
            return
        self.app.call_from_thread(self._show, renderable)

    def _show(self, renderable) -> None:
        self._has_figures = renderable is not None
        self.figures = renderable
        self.update(renderable if renderable is not None else "")
        self.display = self._has_figures and self._stats_shown()
