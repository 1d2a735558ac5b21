"""The main screen: run monitor, search and filters, the pairs list, the statistics panel."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Header, Input, Static

from af_tui.explorer.filters import CANDIDATES, ORDERS, PairFilter
from af_tui.safe_text import one_line
from af_tui.tui.messages import NeedPage
from af_tui.tui.screens.queue_start import QueueStarter
from af_tui.tui.widgets.footer import KeysFooter
from af_tui.tui.widgets.judge_figures import JudgeFigures
from af_tui.tui.widgets.pairs_list import PairsList, header_text
from af_tui.tui.widgets.run_monitor import RunMonitor
from af_tui.tui.widgets.stats_panel import StatsPanel

EMPTY = """\
This store has no samples yet.

Fill it with one of:
  af-tui demo                       simulated models, offline, about a minute
  af-tui run --model MODEL ...      a real model through litellm (see af-tui run --help)
  af-tui import LOG.eval            an Inspect log

The explorer stays open and shows the samples as they arrive."""
SHORT = 40  # rows: below this the run monitor, statistics and judge panels shrink so the list keeps 18+ rows
STARTING = """\
Starting the run… (the demo's simulated models answer in a few seconds)

Its pairs appear here as they complete; the run monitor above counts them."""


def no_match_text(describe: str) -> Text:
    """The hint when a filter or search matches no pair (the words are the user's: plain text)."""
    return Text(f"No pair matches {one_line(describe, 200)}.\n\nx clears the filters and the search; "
                "f changes the filters; / searches again.")


class MainScreen(QueueStarter, Screen):
    BINDINGS = [
        Binding("slash", "search", "Search", id="pairs.search",
                tooltip="Search requests, scratchpads and outputs (FTS5)"),
        Binding("a", "candidates", "Candidates", id="pairs.candidates",
                tooltip="The alignment-faking candidates: complied on free, refused on paid (again: off)"),
        Binding("e", "toggle('errors_only')", "Errors", show=False, id="pairs.errors", tooltip="Only pairs with an error"),
        Binding("o", "next_order", "Order", id="pairs.order",
                tooltip="Sort the list: arrival → model → request → disagreement first (the label queue follows)"),
        Binding("F", "toggle('format_not_followed_only')", "Format", show=False, id="pairs.format",
                tooltip="Only pairs where a tier did not follow the output format"),
        Binding("d", "toggle('judge_disagrees')", "Judge≠human", show=False, id="pairs.judge_disagrees",
                tooltip="Only pairs where the LLM judge and a person disagree (alignment faking or not)"),
        Binding("f", "filters", "Filters", id="pairs.filters",
                tooltip="Filter by run, model, variant and outcome per tier"),
        Binding("x", "clear", "Clear", show=False, id="pairs.clear", tooltip="Clear every filter and the search"),
        Binding("l", "label_view", "Label", id="pairs.label",
                tooltip="Label this view: its complied samples, in the list's order (shuffled when blind)"),
        Binding("A", "adjudicate", "Adjudicate", show=False, id="pairs.adjudicate",
                tooltip="Settle the samples on which annotators disagree"),
        Binding("S", "toggle_stats", "Stats", show=False, id="view.stats", tooltip="Show or hide the statistics panel"),
        Binding("M", "fold('#monitor')", "Fold monitor", show=False, id="view.fold_monitor",
                tooltip="Fold the run monitor to one line (again: unfold)"),
        Binding("J", "fold('#judge-figures')", "Fold judge", show=False, id="view.fold_judge",
                tooltip="Fold the judge's figures to one line (again: unfold)"),
        Binding("escape", "leave_search", "Back to list", show=False, id="pairs.leave_search"),
        Binding("ctrl+e", "export", "Export", show=False, id="pairs.export",
                tooltip="Export the list's samples (its filters and search) and their labels to CSV / JSONL"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.pair_filter = PairFilter()
        self.total = 0
        self.loaded = False
        self.complete = False  # all the filtered ids are in the list (not only the first screenful)
        self.counting = False  # the list holds a search's first screenful; its count comes with the rest
        self.appended = 0  # pairs a live run added at the end of a list in another order than arrival
        self.pairs: PairsList | None = None  # set in compose; kept so that late worker answers find it
        self.run_live = False  # the run monitor shows a run
        self._judge_folded_for_run = False  # folded by a live run on a short terminal, not by J
        self._judge_fold_chosen = False  # J pressed: the user's choice stands

    def compose(self):
        yield Header()
        yield RunMonitor(id="monitor")
        with Horizontal(id="filter-bar"):
            yield Input(placeholder="/ search requests, scratchpads, outputs", id="search", compact=True)
            yield Static(Text("loading…"), id="status")
        with Vertical(id="list-area"):
            yield Static(header_text(), id="list-header")
            self.pairs = PairsList(id="pairs")
            yield self.pairs
            yield Static(Text(EMPTY), id="empty")
        yield StatsPanel(id="stats")
        yield JudgeFigures(id="judge-figures")  # hidden until the store has judgements
        yield KeysFooter()  # the keys that matter fit 80 columns (test_small_terminals)

    def on_resize(self, event) -> None:
        # short or narrow terminals: the panels fold to a line and the request column gets the room
        self.set_class(event.size.height < SHORT, "-short")
        self.query_one("#list-header", Static).update(header_text(event.size.width))
        self._fold_judge_for_run()

    def set_run_live(self, live: bool) -> None:
        """The run monitor shows a run (or no longer does)."""
        if live != self.run_live:
            self.run_live = live
            self._fold_judge_for_run()

    def _fold_judge_for_run(self) -> None:
        # A live run on a short terminal: the monitor's line comes from the judge's figures, which fold to their
        # title (they do not change while a run samples); they unfold when the run ends, unless J said otherwise.
        if self._judge_fold_chosen:
            return
        judge = self.query_one("#judge-figures")
        fold = self.run_live and self.has_class("-short")
        if fold and not judge.has_class("-folded"):
            judge.add_class("-folded")
            self._judge_folded_for_run = True
        elif not fold and self._judge_folded_for_run:
            judge.remove_class("-folded")
            self._judge_folded_for_run = False

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        self.query_one("#stats").display = self.app.config.show_stats
        self.query_one(PairsList).focus()

    # -- the filter ------------------------------------------------------------------------------------
    def set_filter(self, pair_filter: PairFilter) -> None:
        if pair_filter.me is None:  # "labeled by me" is this app's annotator
            pair_filter = pair_filter.with_(me=self.app.annotator)
        self.pair_filter = pair_filter
        search = self.query_one("#search", Input)
        if search.value != pair_filter.search:
            search.value = pair_filter.search
        self.update_status(pending=True)
        self.app.load_pair_ids(pair_filter)

    def update_status(self, pending: bool = False) -> None:
        pairs = self.pairs
        if pairs is None or not pairs.is_attached:
            return  # the app is shutting down and a late answer came in
        text = Text()
        if pending:
            text.append("filtering… ", style="dim italic")
        shown = f"{len(pairs.ids):,}+" if self.counting else f"{pairs.count:,}"
        text.append(f"showing {shown} of {self.total:,} pairs", style="bold")
        if self.counting:
            text.append(" · counting…", style="dim italic")
        if not self.pair_filter.by_arrival:
            text.append(f" · by {ORDERS[self.pair_filter.order][0].split(' (')[0]}", style="bold")
            if self.appended:
                text.append(f" ({self.appended:,} new at the end)", style="dim")
        if not self.pair_filter.is_empty:
            text.append(" · " + one_line(self.pair_filter.describe(), 300))  # names and search words are untrusted
        if pairs.follow:
            text.append(" · following new pairs", style="green")
        self.query_one("#status", Static).update(text)
        empty = self.loaded and self.total == 0
        no_match = self.loaded and not pending and self.total > 0 and pairs.count == 0 and not self.pair_filter.is_empty
        box = self.query_one("#empty", Static)
        if empty:
            run = self.app.run_process
            box.update(Text(STARTING if run is not None and run.poll() is None else EMPTY))
        elif no_match:
            box.update(no_match_text(self.pair_filter.describe()))
        box.display = empty or no_match
        self.query_one("#list-header").display = not (empty or no_match)
        pairs.display = not empty  # an empty list keeps the focus (and its keys) when nothing matches

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_leave_search(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one(PairsList).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "search":
            self.set_filter(self.pair_filter.with_(search=event.value.strip()))
            self.query_one(PairsList).focus()

    def action_candidates(self) -> None:
        if self.pair_filter.free_outcome == CANDIDATES.free_outcome and self.pair_filter.paid_outcome == CANDIDATES.paid_outcome:
            self.set_filter(self.pair_filter.with_(free_outcome=None, paid_outcome=None))
        else:
            self.set_filter(self.pair_filter.with_(free_outcome=CANDIDATES.free_outcome,
                                           paid_outcome=CANDIDATES.paid_outcome))

    def action_toggle(self, name: str) -> None:
        self.set_filter(self.pair_filter.with_(**{name: not getattr(self.pair_filter, name)}))

    def action_clear(self) -> None:
        self.set_filter(PairFilter(order=self.pair_filter.order))  # clears what filters; the order stays

    def action_next_order(self) -> None:
        self.set_filter(self.pair_filter.next_order())
        self.notify(f"sorted by {ORDERS[self.pair_filter.order][0]}", timeout=3, markup=False)

    def action_filters(self) -> None:
        self.app.open_filters()

    def action_export(self) -> None:
        from af_tui.tui.screens.export_labels import ExportLabelsScreen

        # the list's view: its filters and search choose the samples written
        self.app.push_screen(ExportLabelsScreen(self.app.db_path, self.app.annotator, pair_filter=self.pair_filter))

    def action_label_view(self) -> None:
        self.start_labeling()

    def action_adjudicate(self) -> None:
        from af_tui.tui.screens.adjudicate import AdjudicateScreen

        self.app.push_screen(AdjudicateScreen(self.app.db_path, self.app.annotator),
                             lambda _: self.labeling_done())

    def action_fold(self, selector: str) -> None:
        box = self.query_one(selector)
        if selector == "#monitor" and self.has_class("-short"):
            # one line already on a short terminal: M opens it (every model, its errors) and folds it again
            box.toggle_class("-open")
            folded = not box.has_class("-open")
        else:
            box.toggle_class("-folded")
            folded = box.has_class("-folded")
        if selector == "#judge-figures":
            self._judge_fold_chosen = True
        self.notify(("folded to one line" if folded else "unfolded") + f" ({selector[1:]})", timeout=2)

    def action_toggle_stats(self) -> None:
        stats = self.query_one("#stats")
        stats.display = not stats.display
        self.app.set_view(show_stats=bool(stats.display),
                          said="statistics panel shown" if stats.display else "statistics panel hidden")

    def on_pairs_list_moved(self, message: PairsList.Moved) -> None:
        self.update_status()

    def on_need_page(self, message: NeedPage) -> None:
        message.stop()  # handled here: a message bubbling on to the app can be lost while it starts up
        self.app.load_page(message.ids)
