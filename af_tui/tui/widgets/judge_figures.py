"""The statistics panel's judge section: each LLM judge against each annotator and their majority. It reloads
itself (in a thread) whenever the app has refreshed its statistics, and hides while there are no judgements
or while the statistics panel is hidden."""

from __future__ import annotations

from textual import work
from textual.widgets import Static

from af_tui.judge.core import panel_renderable, report


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
