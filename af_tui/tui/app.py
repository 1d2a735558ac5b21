"""The explorer app: reads the store (never calls a model), follows it live, and owns every database worker.

Each read runs in a thread worker on a connection of the store reader (store/reader.py) and reports back with
a message from messages.py; a failed read becomes a notification, in one handler (on_worker_state_changed).
When another process commits, the app re-reads only what changed: the pairs touched by new samples, the rows
in view, the statistics, the run monitor. The pairs list's loading is in pairs_loading.py.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from textual import work
from textual.app import App
from textual.binding import Binding
from textual.worker import Worker, WorkerState

from af_tui.analysis.af_counts import judge_sources
from af_tui.analysis.af_source import AfSource, next_source
from af_tui.config import Config, load_config, resolve_annotator, save_view
from af_tui.explorer import pairs as explorer_pairs
from af_tui.explorer.detail import pair_detail
from af_tui.explorer.filters import PairFilter
from af_tui.explorer.monitor import running_runs
from af_tui.explorer.verdicts import pair_verdicts
from af_tui.store.db import Store, StoreError
from af_tui.store.reader import StoreReader
from af_tui.tui.coalescer import Coalescer
from af_tui.tui.keys import KeysInOrder
from af_tui.tui.messages import (
    FacetsLoaded,
    MonitorLoaded,
    PairLoaded,
    StatsLoaded,
    StoreChanged,
    WorkerFailed,
)
from af_tui.tui.pairs_loading import PairsLoading
from af_tui.tui.palette import explorer_commands
from af_tui.tui.screens.chart import ChartScreen
from af_tui.tui.screens.main import MainScreen
from af_tui.tui.widgets.pairs_list import PairsList
from af_tui.tui.widgets.run_monitor import RunMonitor
from af_tui.tui.widgets.stats_panel import StatsPanel

POLL_S = 0.1  # a data_version check costs next to nothing (bench/README.md); a commit shows at once
# What a failed worker of each group was doing, for its notification. A store error (StoreError) becomes a
# notification; any other exception is a bug and stops the app with its traceback, except in the statistics,
# whose estimators must never take the explorer down.
FAILURES = {"ids": "filtering the pairs", "ids-rest": "filtering the pairs", "changes": "reading new samples",
            "page": "reading the pairs list", "pair": "reading the pair", "stats": "computing the statistics",
            "monitor": "reading the runs", "facets": "reading runs and models", "queue": "building the label queue"}
NEVER_CRASH_GROUPS = {"stats"}  # worker groups whose every failure, a bug too, is only a notification


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class ExplorerApp(KeysInOrder, PairsLoading, App):
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "af-tui"
    BINDINGS = [
        Binding("q", "request_quit", "Quit", id="app.quit", tooltip="Quit (asks first if a run is going)"),
        Binding("ctrl+q", "request_quit", "Quit", show=False, priority=True, id="app.quit_now"),
        Binding("question_mark", "help", "Help", id="app.help", tooltip="What the badges, marks and keys mean"),
        Binding("f1", "toggle_key_panel", "Keys", show=False, id="app.keys", tooltip="Show the key panel"),
        Binding("C", "chart", "Chart", show=False, id="app.chart",
                tooltip="The figure: stacked bars per model and tier with intervals, live"),
        Binding("V", "cycle_af_source", "AF source", show=False, id="app.af_source",
                tooltip="Where the panel's and the chart's AF figures come from: people → people-blind → "
                        "people-then-judge → judge (the newest) → adjudicated"),
    ]

    def __init__(self, db_path: str | Path | None = None, *, run_process=None, annotator: str | None = None,
                 config: Config | None = None, poll_s: float = POLL_S) -> None:
        super().__init__()
        with Store(db_path, create=False) as store:  # resolves --db / AF_TUI_DB and checks the store
            self.db_path = store.path
        self.run_process = run_process
        self.annotator = resolve_annotator(annotator)
        self.config = config or load_config()
        self.poll_s = poll_s
        self.stop_run = False  # set when the user chose to stop the run on quit (launch.py does it)
        self.label_blind = os.environ.get("AF_TUI_BLIND") == "1"  # `af-tui serve --blind`: blind by default
        self.main = MainScreen()
        self.sub_title = self.db_path.name
        if os.environ.get("AF_TUI_SERVED"):  # a browser tab of `af-tui serve`: say whose labels this tab saves
            self.sub_title += f" · annotator {self.annotator}"
        self.reader = StoreReader(
            self.db_path, poll_s=poll_s,
            on_change=lambda version, at: self.post_message(StoreChanged(version, at)),
            on_error=lambda exc: self.post_message(WorkerFailed("watching the store", _error_text(exc))))
        self.loads = Coalescer({"stats": self._load_stats, "monitor": self._load_monitor,
                                "changes": self._load_changes})
        self._generation = 0
        self._ids_filter: PairFilter | None = None  # the filter of the newest ids worker
        self._last_change = 0
        self._resort_timer = None  # a sorted list re-reads its ids (pairs_loading.py)
        self._run_alive = False
        # Figures for bench/bench_app.py and the tests.
        self.first_rows_at: float | None = None
        self.list_version = 0
        self.stats_version = 0
        self.stats_seconds: float | None = None
        self.changes_seen = 0
        self.af_source = AfSource()  # of the panel and the chart, this session only (V)
        self.af_judges: list[str] = []

    # -- lifecycle -------------------------------------------------------------------------------------
    def get_default_screen(self) -> MainScreen:
        return self.main

    def on_mount(self) -> None:
        if self.config.keys:
            self.set_keymap(self.config.keys)
        if self.config.theme and self.config.theme in self.available_themes:
            self.theme = self.config.theme
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.load_pair_ids(self.main.pair_filter)
        self.loads.kick("monitor")
        # The statistics wait for the first screenful of pairs (their first run imports scipy, which
        # competes with the first paint for the CPU).
        self.set_timer(2.0, self._first_stats)

    def _first_stats(self) -> None:
        if self.stats_version == 0 and not self.loads.busy("stats"):
            self.loads.kick("stats")
        if self.reader.watching:
            return  # called by the timer and after the first list load: one watcher, one monitor timer
        self.set_interval(2.0, lambda: self.loads.kick("monitor"))
        self.reader.start()
        if self.run_process is not None and self.run_process.poll() is None:
            self._run_alive = True
            self.set_interval(self.poll_s, self._check_run)

    def on_unmount(self) -> None:
        self.reader.stop()

    @property
    def pairs_list(self) -> PairsList | None:
        return self.main.pairs

    def set_view(self, said: str | None = None, **settings) -> None:
        """Remember a view setting; with `said`, tell the user what changed and where it was saved."""
        where = save_view(self.config, **settings)
        if said:
            self.notify(f"{said}; saved in {where}" if where else f"{said} (not saved: the config file "
                        "cannot be written)", markup=False)

    def _theme_changed(self, theme) -> None:
        if theme.name != self.config.theme:
            self.set_view(theme=theme.name)

    def connection(self):
        """A reader connection for a worker thread (pooled; see StoreReader.connection)."""
        return self.reader.connection()

    # -- failures: every worker's, handled here --------------------------------------------------------
    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state != WorkerState.ERROR or worker.group not in FAILURES:
            return
        if worker.group in self.loads:
            self.loads.done(worker.group)  # a later request of this kind may run
        error = worker.error
        if not isinstance(error, StoreError) and worker.group not in NEVER_CRASH_GROUPS:
            raise error
        what = FAILURES[worker.group]
        if worker.group == "ids" and self._ids_filter is not None and self._ids_filter.search:
            what += " (search words?)"
        self.post_message(WorkerFailed(what, _error_text(error)))

    def on_worker_failed(self, message: WorkerFailed) -> None:
        self.notify(f"{message.what}: {message.error}", severity="error", timeout=8, markup=False)

    # -- the run started with the app (af-tui run --tui) -----------------------------------------------
    def _check_run(self) -> None:
        if self._run_alive and self.run_process.poll() is not None:
            self._run_alive = False
            self._run_ended()

    def _run_ended(self) -> None:
        code = self.run_process.poll()
        if code == 0:
            self.notify("the run has finished")
        else:
            self.notify(f"the run stopped (exit code {code}); see its messages after you quit",
                        severity="warning", timeout=10)

    def on_store_changed(self, message: StoreChanged) -> None:
        if not self.screen_stack:  # the watcher's last message can arrive while the app shuts down
            return
        self.changes_seen += 1
        if self.main.loaded and self.main.complete:
            self.loads.kick("changes")
        self.loads.kick("stats")
        self.loads.kick("monitor")
        pairs = self.pairs_list
        if pairs is not None and pairs.ids:
            # Outcomes, labels and judgements of the rows in view may have changed: fetch them again (the
            # old rows stay on screen until the new ones arrive, so nothing flickers).
            self.load_page(pairs.visible_ids())
        screen = self.screen
        if hasattr(screen, "refresh_pair"):
            screen.refresh_pair()

    def on_pairs_list_open(self, message: PairsList.Open) -> None:
        from af_tui.tui.screens.pair import PairScreen

        self.push_screen(PairScreen(message.pair_id, message.position))

    # -- one pair --------------------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="pair", exit_on_error=False)
    def load_pair(self, pair_id: int, screen) -> None:
        with self.reader.connection() as conn:
            detail = pair_detail(conn, pair_id)
            if detail is not None:
                detail.extra["verdicts"] = pair_verdicts(conn, detail)
        screen.post_message(PairLoaded(pair_id, detail))

    # -- statistics and the run monitor ----------------------------------------------------------------
    @work(thread=True, group="stats", exit_on_error=False)
    def _load_stats(self) -> None:
        from af_tui.analysis import slices as stats

        started = time.perf_counter()
        with self.reader.connection() as conn:
            data = stats.panel_data(conn, self.af_source)
            judges = judge_sources(conn)
        self.post_message(StatsLoaded(data, time.perf_counter() - started, judges))

    def on_stats_loaded(self, message: StatsLoaded) -> None:
        self.loads.done("stats")
        self.af_judges = message.judges
        for panel in self.main.query(StatsPanel):  # (none while the app shuts down)
            panel.update_stats(message.data)
        self.last_stats = message.data
        for screen in self.screen_stack:  # the chart screen draws the same figures
            if isinstance(screen, ChartScreen):
                screen.update_stats(message.data)
        self.stats_seconds = message.seconds
        self.stats_version += 1

    @work(thread=True, group="monitor", exit_on_error=False)
    def _load_monitor(self) -> None:
        with self.reader.connection() as conn:
            runs = running_runs(conn)
        self.post_message(MonitorLoaded(runs, time.monotonic()))

    def on_monitor_loaded(self, message: MonitorLoaded) -> None:
        self.loads.done("monitor")
        for monitor in self.main.query(RunMonitor):
            monitor.update_runs(message.runs, message.at)
        self.main.set_run_live(bool(message.runs))

    # -- filters dialog --------------------------------------------------------------------------------
    def open_filters(self) -> None:
        self._load_facets()

    @work(thread=True, exclusive=True, group="facets", exit_on_error=False)
    def _load_facets(self) -> None:
        with self.reader.connection() as conn:
            facets = explorer_pairs.facets(conn)
        self.post_message(FacetsLoaded(facets))

    def on_facets_loaded(self, message: FacetsLoaded) -> None:
        from af_tui.tui.screens.filters import FilterScreen

        def chosen(pair_filter: PairFilter | None) -> None:
            if pair_filter is not None:
                self.main.set_filter(pair_filter)

        self.push_screen(FilterScreen(self.main.pair_filter, message.facets), chosen)

    # -- app actions -----------------------------------------------------------------------------------
    def action_request_quit(self) -> None:
        if self.run_process is not None and self.run_process.poll() is None:
            from af_tui.tui.screens.dialogs import StopRunScreen, resume_command

            def answered(stop: bool | None) -> None:
                if stop:
                    self.stop_run = True
                    self.exit()

            self.push_screen(StopRunScreen(resume_command(self.run_process)), answered)
            return
        self.exit()

    def action_chart(self) -> None:
        if not isinstance(self.screen, ChartScreen):
            self.push_screen(ChartScreen(getattr(self, "last_stats", None)))
            self.loads.kick("stats")

    def action_cycle_af_source(self) -> None:
        self.af_source = next_source(self.af_source, self.af_judges)
        none = "" if self.af_judges else " (no judge in this store: af-tui judge)"
        self.notify(f"AF source: {self.af_source.name}{none} — the statistics panel and the chart, this "
                    f"session only (not saved); the tables: af-tui stats --af-source {self.af_source.name}",
                    markup=False)
        self.loads.kick("stats")

    def action_help(self) -> None:
        from af_tui.tui.screens.dialogs import HelpScreen

        self.push_screen(HelpScreen(self.help_sections(), self.config.keys))

    def help_sections(self) -> list[tuple[str, list[Binding]]]:
        """The bindings the help lists, by where they work: what `?` shows is what the keys do."""
        from af_tui.tui.screens.pair import PairScreen

        return [("Pairs list", [*PairsList.BINDINGS, *MainScreen.BINDINGS]), ("Pair view", PairScreen.BINDINGS),
                ("Everywhere", self.BINDINGS)]

    def action_toggle_key_panel(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen):
        yield from super().get_system_commands(screen)
        yield from explorer_commands(self)
