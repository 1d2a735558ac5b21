"""The export modal, from the pair view, the pairs list or the labeling screen: samples and labels to CSV or
JSONL, written in a thread. From the pairs list it exports the list's view: the samples of the pairs its
filters and search keep."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Static
from textual.worker import Worker, WorkerState

from af_tui.explorer.filters import PairFilter
from af_tui.safe_text import one_line
from af_tui.store.db import Store, StoreError
from af_tui.tui.widgets.on_off import OnOff


class ExportLabelsScreen(ModalScreen[None]):
    """Export from the app: a path, two options, enter writes the file (in a thread) and says how it went."""

    DEFAULT_CSS = """
    ExportLabelsScreen { align: center middle; }
    ExportLabelsScreen > Vertical { width: 80%; height: auto; padding: 1 2; background: $panel;
                                    border: round $primary; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="label.export_cancel", tooltip="Close without exporting")]

    def __init__(self, db_path: Path, annotator: str | None = None, default: str = "labels.csv",
                 pair_filter: PairFilter | None = None) -> None:
        super().__init__()
        self.db_path, self.annotator, self.default = Path(db_path), annotator, default
        # the list's view: None (or an empty filter) exports every sample
        self.pair_filter = pair_filter if pair_filter is not None and not pair_filter.is_empty else None

    def compose(self):
        with Vertical():
            yield Static("Export to (a .csv or .jsonl path; enter writes it, escape cancels)")
            yield Input(self.default, id="label-export-path")
            yield OnOff("labeled samples only", True, id="label-export-labeled")
            yield OnOff(Text(f"only my labels ({one_line(self.annotator, 40)})") if self.annotator else "only my labels", False,
                           id="label-export-mine", disabled=not self.annotator)
            yield OnOff("one row per label change (the whole history)", False, id="label-export-history")
            if self.pair_filter is not None:
                yield Static(Text(f"the list's view only: {one_line(self.pair_filter.describe(), 120)}"),
                             id="label-export-view")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        from af_tui.io.export import ExportFilter

        mine = self.query_one("#label-export-mine", Checkbox).value
        f = ExportFilter(labeled_only=self.query_one("#label-export-labeled", Checkbox).value,
                         per_label=self.query_one("#label-export-history", Checkbox).value,
                         annotator=self.annotator if mine else None)
        self._export(event.value.strip(), f)

    @work(thread=True, exclusive=True, group="label-export")
    def _export(self, out: str, f) -> bool:
        """Write the export; True once written (the dialog then closes, on_worker_state_changed)."""
        from af_tui.errors import AfError
        from af_tui.io.export import export

        if not out:
            self.app.call_from_thread(self.notify, "give a path to export to", severity="warning")
            return False
        view = ""
        try:
            with Store(self.db_path, create=False, check_same_thread=False) as store:
                if self.pair_filter is not None:
                    # the search planned on this store, as the list's own query is
                    where, params = self.pair_filter.where(store.conn)
                    view = self.pair_filter.describe()
                    f = replace(f, pairs_where=where, pairs_params=tuple(params), view=view)
                result = export(store.conn, Path(out).expanduser().resolve(), f, db_path=store.path)
        except (AfError, StoreError) as exc:  # a locked or unreadable store too: a notification, not a crash
            self.app.call_from_thread(self.notify, str(exc), severity="error", markup=False)
            return False
        # the absolute path: the app's working directory is not on screen
        self.app.call_from_thread(self.notify, f"wrote {result.rows} rows to {result.path}"
                                  + (f" (the list's view: {view})" if view else ""), markup=False)
        return True

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Closed from here, once the worker has ended: dismissing from inside it cancelled the worker itself
        # (its screen went away while it still ran), and a wait on it failed although the file was written.
        if event.worker.group == "label-export" and event.state == WorkerState.SUCCESS and event.worker.result:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
