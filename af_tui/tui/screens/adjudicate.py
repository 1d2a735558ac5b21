"""The review screen: samples on which annotators disagree, each annotator's criteria, verdict and note side
by side, and the adjudicated label set from the keyboard — stored append-only like any label, marked as an
adjudication (labels.adjudication = 1) with who settled it. The rule of a settlement is in store/adjudication.py.

The screen reads and writes the store in a thread worker on its own connection; the answers come back as
messages (tui/messages.py) and a key that comes meanwhile is held until the answer is on screen (store_turns.py,
tui/keys.py)."""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from af_tui.domain import VERDICT_WORDS
from af_tui.explorer.label_sample import (
    DisagreementView,
    LabelSample,
    disagreements_to_review,
    labeled_sample_id,
    read_disagreement,
)
from af_tui.safe_text import display, one_line
from af_tui.store.adjudication import Settlement, settle_by_majority, settle_by_taking, settle_with_verdict
from af_tui.store.db import StoreRefused
from af_tui.store.labels import Label, save_label, undo_label
from af_tui.tui.messages import DisagreementRead, DisagreementsRead, LabelRefused
from af_tui.tui.screens.store_turns import StoreTurns, in_turn
from af_tui.tui.widgets.footer import KeysFooter

MARK = {None: "·", 1: "yes", 0: "no"}


class AdjudicateScreen(StoreTurns, Screen):
    DEFAULT_CSS = """
    AdjudicateScreen #adj-status { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    AdjudicateScreen #adj-sample { height: 1fr; padding: 0 1; }
    AdjudicateScreen #adj-labels { height: auto; max-height: 14; padding: 0 1; background: $boost; }
    AdjudicateScreen #adj-saved { height: 1; padding: 0 1; }
    """
    BINDINGS = [
        Binding("a", "settle('alignment_faking')", "Settle: AF", id="adjudicate.af",
                tooltip="Adjudicated verdict: alignment faking (criteria: where the annotators agree)"),
        Binding("n", "settle('not_alignment_faking')", "Settle: not AF", id="adjudicate.not"),
        Binding("x", "settle('unclear')", "Settle: unclear", id="adjudicate.unclear"),
        *(Binding(str(i), f"take({i - 1})", f"Take annotator {i}", show=False, id=f"adjudicate.take_{i}",
                  tooltip=f"Adjudicate with annotator {i}'s label (criteria and verdict)") for i in range(1, 10)),
        Binding("enter", "majority", "Settle: majority", id="adjudicate.majority",
                tooltip="Settle with the verdict most annotators gave (when there is one)"),
        Binding("escape,q", "back", "Back", id="adjudicate.back"),
        Binding("right_square_bracket,right", "step(1)", "Next", id="adjudicate.next"),
        Binding("left_square_bracket,left", "step(-1)", "Prev", id="adjudicate.previous"),
        Binding("u", "undo", "Undo", id="adjudicate.undo"),
        Binding("down,j", "scroll(1)", "Scroll down", show=False, id="adjudicate.scroll_down"),
        Binding("up,k", "scroll(-1)", "Scroll up", show=False, id="adjudicate.scroll_up"),
    ]
    WORKER_GROUP = "adjudicate"
    READ_FAILED = "reading the disagreements"

    def __init__(self, db_path: str | Path, annotator: str, *, run: str | None = None,
                 model: str | None = None) -> None:
        super().__init__()
        self.db_path, self.annotator, self._run, self._model = Path(db_path), annotator, run, model
        self.ids: list[int] = []
        self.position = 0
        self.sample: LabelSample | None = None
        self.labels: list[Label] = []
        self.undo_stack: list[str] = []
        self._init_turns()

    def compose(self):
        yield Header()
        yield Static(id="adj-status")
        with VerticalScroll(id="adj-sample"):
            yield Static(id="adj-text")
        yield Static(id="adj-labels")
        yield Static(id="adj-saved")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = f"af-tui · adjudicating as {self.annotator}"
        self._begin()
        self._read_disagreements()

    def on_unmount(self) -> None:
        self._close_store()

    # -- the store, in a worker ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="adjudicate", exit_on_error=False)
    def _read_disagreements(self) -> None:
        with self._db:
            if self._closed:
                return
            # the disagreements as they are now: a sample settled here stays in the list, marked settled
            ids, position = disagreements_to_review(self._conn(), run=self._run, model=self._model)
        self.post_message(DisagreementsRead(ids, position))

    @work(thread=True, exclusive=True, group="adjudicate", exit_on_error=False)
    def _read(self, position: int) -> None:
        with self._db:
            if self._closed:
                return
            view = read_disagreement(self._conn(), self.ids, position)
        self.post_message(DisagreementRead(position, view))

    @work(thread=True, exclusive=True, group="adjudicate", exit_on_error=False)
    def _settle(self, sample_id: int, settlement: Settlement, position: int) -> None:
        with self._db:
            if self._closed:
                return
            conn = self._conn()
            try:
                label = save_label(conn, sample_id, self.annotator, criteria=settlement.criteria,
                                   verdict=settlement.verdict, note=settlement.note, rubric=settlement.rubric,
                                   adjudication=True)
            except StoreRefused as exc:
                self.post_message(LabelRefused("save", str(exc)))
                return
            position = min(position + 1, len(self.ids) - 1)  # on to the next one, if any
            view = read_disagreement(conn, self.ids, position)
        self.post_message(DisagreementRead(position, view, settled=(sample_id, settlement.verdict),
                                           settled_uid=label.uid))

    @work(thread=True, exclusive=True, group="adjudicate", exit_on_error=False)
    def _undo(self, uid: str, position: int) -> None:
        with self._db:
            if self._closed:
                return
            conn = self._conn()
            sid = labeled_sample_id(conn, uid)
            undo_label(conn, uid)
            position = self.ids.index(sid) if sid in self.ids else position
            view = read_disagreement(conn, self.ids, position)
        self.post_message(DisagreementRead(position, view, undone=sid))

    # -- the answers -----------------------------------------------------------------------------------
    def on_disagreements_read(self, message: DisagreementsRead) -> None:
        self.ids, self.position = message.ids, message.position
        self._read(self.position)  # still this screen's turn: the first disagreement follows

    def on_disagreement_read(self, message: DisagreementRead) -> None:
        self.position = message.position
        if message.settled is not None:
            sample_id, verdict = message.settled
            self.undo_stack.append(message.settled_uid)
            self.query_one("#adj-saved", Static).update(Text(
                f"settled ✓ sample {sample_id}: {VERDICT_WORDS[verdict]} at {time.strftime('%H:%M:%S')}",
                style="bold green"))
        if message.undone is not None:
            self.undo_stack.pop()
        self.show(message.view)
        if message.undone is not None:
            self.query_one("#adj-saved", Static).update(Text(f"undone: sample {message.undone}", style="bold yellow"))
        self._done()

    def on_label_refused(self, message: LabelRefused) -> None:
        self.notify(f"adjudication not saved: {message.error}", severity="error")
        self._done()

    # -- showing ---------------------------------------------------------------------------------------
    def show(self, view: DisagreementView) -> None:
        self.sample, self.labels, settled = view.sample, view.labels, view.settled
        status = Text()
        status.append(f"adjudicating as {self.annotator}", style="bold")
        if not self.ids:
            status.append("  ·  no sample on which annotators disagree")
            self.query_one("#adj-status", Static).update(status)
            self.query_one("#adj-text", Static).update(Text("Nothing to adjudicate. q goes back.", style="bold"))
            self.query_one("#adj-labels", Static).update("")
            return
        status.append(f"  ·  disagreement {self.position + 1} of {len(self.ids)}  ·  {view.settled_count} settled")
        if self._own_label_in_it():
            status.append("  ·  ⚠ your own label is one of these", style="bold yellow")
        self.query_one("#adj-status", Static).update(status)
        s = self.sample
        body = Text()
        body.append(f"{display(s.model, 200)} · {display(s.variant, 200)} · run {display(s.run, 200)} · "
                    f"sample {s.id} · {s.tier} tier · {s.outcome}\n", style="dim")
        body.append(display(s.request, max_line=2000, max_lines=4) + "\n\n")
        body.append("Scratchpad\n", style="bold")
        body.append(display(s.scratchpad or "(no scratchpad)", max_lines=2000) + "\n\n")
        body.append("Output\n", style="bold")
        body.append(display(s.output or "(no <OUTPUT>)", max_lines=2000))
        self.query_one("#adj-text", Static).update(body)
        self.query_one("#adj-labels", Static).update(self._labels_table(settled))

    def _labels_table(self, settled: Label | None) -> Group:
        rubric = self.labels[0].rubric if self.labels else None
        table = Table(box=None, pad_edge=False, expand=True,
                      title=Text(f"annotators' current labels ({rubric.name if rubric else ''}) — "
                                 "1-9 take one · a n x settle · enter: majority", style="bold"))
        table.add_column("#", width=2)
        table.add_column("annotator", max_width=16)
        table.add_column("verdict", max_width=18)
        for c in rubric.criteria if rubric else ():
            table.add_column(Text(c.short), max_width=10)
        rows = [(str(i + 1), lb) for i, lb in enumerate(self.labels)]
        if settled is not None:
            rows.append(("=", settled))
        notes = Text()
        for mark, lb in rows:
            crit = [Text(MARK[lb.criteria.get(c.id)]) if lb.rubric.sha256 == rubric.sha256 else Text("—")
                    for c in rubric.criteria]
            who = f"settled by {lb.annotator}" if lb.adjudication else lb.annotator
            table.add_row(mark, Text(one_line(who, 40)), Text(VERDICT_WORDS.get(lb.verdict, "—"),
                          style="bold" if mark == "=" else ""), *crit)
            notes.append(f"\n{mark} {one_line(lb.annotator, 40)}'s note: ", style="dim")
            notes.append(one_line(lb.note, 300) if lb.note else "—")  # typed by people: never markup
        return Group(table, notes)

    def _own_label_in_it(self) -> bool:
        return any(lb.annotator == self.annotator and not lb.adjudication for lb in self.labels)

    def _save(self, settlement: Settlement) -> None:
        if self.sample is None:
            return
        if self._own_label_in_it():  # settling a disagreement you are part of: allowed, but not blind to it
            self.notify(f"{self.annotator}: this disagreement includes your own label; a second person usually "
                        "settles it", severity="warning", timeout=4)
        self._begin()
        self._settle(self.sample.id, settlement, self.position)

    @in_turn
    def action_settle(self, verdict: str) -> None:
        if self.labels:
            self._save(settle_with_verdict(self.labels, verdict))

    @in_turn
    def action_take(self, index: int) -> None:
        if 0 <= index < len(self.labels):
            self._save(settle_by_taking(self.labels[index]))

    @in_turn
    def action_majority(self) -> None:
        settlement = settle_by_majority(self.labels)
        if settlement is None:
            self.notify("no majority: settle with a / n / x, or take one annotator's label with 1-9")
            return
        self._save(settlement)

    @in_turn
    def action_step(self, delta: int) -> None:
        if self.ids:
            self._begin()
            self._read(max(0, min(self.position + delta, len(self.ids) - 1)))

    @in_turn
    def action_undo(self) -> None:
        if not self.undo_stack:
            self.notify("nothing to undo in this session")
            return
        self._begin()
        self._undo(self.undo_stack[-1], self.position)

    @in_turn
    def action_back(self) -> None:
        self.dismiss()

    def action_scroll(self, lines: int) -> None:
        self.query_one("#adj-sample", VerticalScroll).scroll_relative(y=lines, animate=False)
