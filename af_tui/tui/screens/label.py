"""The labeling screen: one sample's request, scratchpad and output, the rubric's criteria (yes / no / not
set), a verdict and a note, all from the keyboard; enter commits the label, then shows "saved" and moves to the
next unlabeled sample of the queue (the pairs list's view, or `af-tui label`'s filters).

Every Binding has an id (label.*) so that the [keys] table of the config file remaps it. Keys are handled in
the order they arrive: no binding here is a priority binding, because the app handles priority bindings
before the keys ahead of them in the queue (a burst `1 2 3 4 a enter` saved before `a` arrived).

The screen reads and writes the store in a thread worker on its own connection, and the answers come back as
messages (tui/messages.py); a key that comes meanwhile is held and goes on once the answer is on screen
(store_turns.py, tui/keys.py), note text included. A label is committed before "saved" shows: the worker posts
LabelSaved after the commit.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Header, Static

from af_tui.domain import VERDICT_SHORT, VERDICT_WORDS, Verdict
from af_tui.explorer.label_sample import LabelSample, LabelView, labeled_sample_id, read_label_view
from af_tui.explorer.queue import new_seed
from af_tui.rubric import LEGACY_RUBRIC, Rubric, load_rubric
from af_tui.safe_text import display, one_line
from af_tui.store.db import StoreRefused
from af_tui.store.labels import (
    LabelQueue,
    Progress,
    QueueFilter,
    propose_verdict,
    save_label,
    undo_label,
)
from af_tui.tui.messages import LabelRead, LabelRefused, LabelSaved, LabelUndone, ProgressRead
from af_tui.tui.screens.export_labels import ExportLabelsScreen
from af_tui.tui.screens.note import NoteScreen
from af_tui.tui.screens.store_turns import StoreTurns, in_turn
from af_tui.tui.widgets.footer import KeysFooter

MAX_LINES_SHOWN = 2_000
VERDICT_KEYS = {Verdict.AF: "a", Verdict.NOT_AF: "n", Verdict.UNCLEAR: "x"}
NEXT_STATE = {None: 1, 1: 0, 0: None}  # a criterion key cycles: not set -> yes -> no -> not set
STATE_MARK = {None: "[ ]", 1: "[y]", 0: "[n]"}


def status_line(parts: list[Text], width: int) -> Text:
    """The label screen's top line in `width` cells if it can be: its parts apart, then closer, then without the
    labels per hour and the session's count (the last two parts); else all of them, wrapped (100 columns: one
    line, not two, and a line more for the sample)."""
    for gap, kept in (("  ·  ", parts), (" · ", parts), (" · ", parts[:-1]), (" · ", parts[:-2])):
        line = Text(gap).join(kept)
        if line.cell_len <= width:
            return line
    return Text("  ·  ").join(parts)


def blind_queue_words(filters: int, origin: str = "queue") -> str:
    """The queue on a blind screen: how many filters chose it, not which (they name tiers, models, runs)."""
    what = f"this {origin}"
    if not filters:
        return f"queue: {what} (no filter)"
    return f"queue: {what} ({filters} filter{'s' if filters > 1 else ''} hidden while blind)"


def criteria_row(rubric: Rubric, criteria: dict, width: int) -> Text:
    """The criteria with their keys and marks in `width` cells: on one line, roomy if it fits, else closer
    together, else without the flags' "(flag)" (the paper rubric at 160 columns); else wrapped between
    criteria, never inside one."""
    def items(flag_word: bool) -> list[Text]:
        out = []
        for c in rubric.criteria:
            state = criteria.get(c.id)
            item = Text(f" {c.key} ", style="reverse" if state == 1 else "")
            item.append(f"{STATE_MARK[state]} {c.short}{' (flag)' if c.flag and flag_word else ''}",
                        style="bold" if state == 1 else ("dim" if state is None else ""))
            out.append(item)
        return out

    # one cell between criteria is two with the key's own padding
    for gap, flag_word in (("   ", True), (" ", True), (" ", False)):
        row = Text(gap).join(items(flag_word))
        if row.cell_len <= width:
            return row
    row, line = Text(), 0
    for item in items(flag_word=True):
        if line and line + 1 + item.cell_len > width:
            row.append("\n")
            line = 0
        elif line:
            row.append(" ")
            line += 1
        row.append_text(item)
        line += item.cell_len
    return row


def verdict_row(verdict: str | None, proposal: str | None, width: int) -> Text:
    """The verdicts with their keys, the chosen one marked, and the proposal; in short words (AF, not AF) when
    the whole words do not fit `width` (80 columns)."""
    for words in (VERDICT_WORDS, VERDICT_SHORT):
        row = Text("verdict: ")
        for v, word in words.items():
            chosen = verdict == v
            row.append(f" {VERDICT_KEYS[v]} ", style="reverse" if chosen else "")
            row.append(f"({'•' if chosen else ' '}) {word}  ", style="bold" if chosen else "")
        if verdict is None:
            row.append(f"  proposed: {words[proposal]} (enter accepts)" if proposal else "  choose a verdict",
                       style="italic")
        if row.cell_len <= width:
            break
    return row


def _model_text(raw: str | None, empty: str) -> Text:
    if raw is None or raw == "":
        return Text(empty, style="dim")
    return Text(display(raw, max_lines=MAX_LINES_SHOWN), overflow="fold")


class LabelScreen(StoreTurns, Screen):
    """Label one sample after another. The criteria start not set; the verdict is the annotator's choice, with
    "alignment faking" proposed when the rubric's verdict rule holds."""

    DEFAULT_CSS = """
    LabelScreen #label-status { height: auto; max-height: 3; padding: 0 1; background: $boost; }
    LabelScreen #label-meta { height: auto; max-height: 7; padding: 0 1; }
    LabelScreen #label-columns { height: 1fr; }
    LabelScreen .label-column { width: 1fr; height: 1fr; padding: 0 1; }
    LabelScreen #label-other { border-left: vkey $primary 50%; }
    LabelScreen #label-other.blind { display: none; }
    LabelScreen .label-heading { text-style: bold; margin-top: 1; }
    LabelScreen #label-form { height: auto; padding: 0 1; background: $boost; }
    LabelScreen #label-saved { height: 1; padding: 0 1; }
    """
    BINDINGS = [
        Binding("a", "verdict('alignment_faking')", "AF", id="label.verdict_af",
                tooltip="Verdict: alignment faking"),
        Binding("n", "verdict('not_alignment_faking')", "Not AF", id="label.verdict_not",
                tooltip="Verdict: not alignment faking"),
        Binding("x,question_mark", "verdict('unclear')", "Unclear", id="label.verdict_unclear",
                tooltip="Verdict: unclear"),
        Binding("enter", "save", "Save", id="label.save",  # not priority: see the module's doc
                tooltip="Commit the label, then go to the next unlabeled sample"),
        # Back and Blind before the rest, descriptions of one word: a narrow terminal cuts the footer from the
        # right, and at 80 columns every key up to s Skip shows (ctrl+e is in ? help)
        Binding("escape,q", "back", "Back", id="label.back", tooltip="Leave labeling"),
        Binding("b", "toggle_blind", "Blind", id="label.blind",
                tooltip="Blind mode: hide tier, model and the other tier's answer"),
        Binding("u", "undo", "Undo", id="label.undo", tooltip="Undo the last saved change of this session"),
        Binding("e", "note", "Note", id="label.note", tooltip="Edit the free-text note"),
        Binding("s", "skip", "Skip", id="label.skip", tooltip="Next unlabeled sample without saving"),
        Binding("ctrl+e", "export", "Export", id="label.export", tooltip="Export labeled samples to CSV / JSONL"),
        Binding("down,j", "scroll(1)", "Scroll down", show=False, id="label.scroll_down"),
        Binding("up,k", "scroll(-1)", "Scroll up", show=False, id="label.scroll_up"),
        Binding("pagedown,space", "scroll_page(1)", "Page down", show=False, id="label.page_down"),
        Binding("pageup", "scroll_page(-1)", "Page up", show=False, id="label.page_up"),
    ]
    WORKER_GROUP = "label"
    READ_FAILED = "reading the label queue"

    def __init__(self, db_path: str | Path, annotator: str, *, sample_id: int | None = None,
                 filters: QueueFilter | None = None, blind: bool = False, order: str = "order",
                 seed: int | None = None, rubric: Rubric | None = None, queue: LabelQueue | None = None,
                 shown: threading.Event | None = None) -> None:
        super().__init__()
        self.db_path, self.annotator = Path(db_path), annotator
        self.rubric = rubric or load_rubric(LEGACY_RUBRIC)
        # The rubric's keys toggle its criteria (ids label.criterion_1 …, remappable like any other key).
        for i, c in enumerate(self.rubric.criteria):
            self._bindings.key_to_bindings.setdefault(c.key, []).append(Binding(
                c.key, f"toggle({c.id!r})", c.short, show=False, id=f"label.criterion_{i + 1}",
                tooltip=f"Criterion {c.key}: {c.description} (not set → yes → no)"))
        self.blind = blind
        if blind:  # blind: the order must not give the tier or the model away
            order, seed = "random", seed if seed is not None else new_seed()
        self._start, self._filters, self._order, self._seed = sample_id, filters, order, seed
        self._queue = queue  # built off the UI thread by the explorer (its ids, order and name)
        self._shown = shown  # set once the first sample is drawn: the explorer then reads the rest of the queue
        self._init_turns()
        self.queue: LabelQueue | None = None
        self.progress: Progress | None = None
        self.sample: LabelSample | None = None
        self.criteria = self.rubric.empty()
        self.verdict: str | None = None
        self.note: str | None = None
        self.dirty = False
        self.undo_stack: list[str] = []  # uids of this session's saves, newest last
        self.last_saved: str | None = None  # uid of the newest save; tests and the crash test read it

    def compose(self):
        yield Header()
        yield Static(id="label-status")
        yield Static(id="label-meta")
        with Horizontal(id="label-columns"):
            with VerticalScroll(id="label-sample", classes="label-column"):
                yield Static(classes="label-heading", id="label-scratchpad-title")
                yield Static(id="label-scratchpad")
                yield Static("Output", classes="label-heading")
                yield Static(id="label-output")
            with VerticalScroll(id="label-other", classes="label-column"):
                yield Static(id="label-other-title", classes="label-heading")
                yield Static(id="label-other-scratchpad")
                yield Static("Output", classes="label-heading")
                yield Static(id="label-other-output")
        yield Static(id="label-form")
        yield Static(id="label-saved")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = f"af-tui · labeling as {self.annotator}"
        self._begin()
        self._open_queue()

    def on_unmount(self) -> None:
        if self._shown is not None:
            self._shown.set()  # never drawn (left at once): the explorer need not wait any longer
        self._close_store()

    # -- the store, in a worker ------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="label", exit_on_error=False)
    def _open_queue(self) -> None:
        with self._db:
            if self._closed:
                return
            conn = self._conn()
            if self._queue is not None:
                queue = self._queue
                queue.conn = conn  # the queue was read on a connection of the explorer's reader
                if self.blind and queue.order != "random":
                    queue = LabelQueue(conn, self.annotator, ids=queue.ids, order="random",
                                       seed=self._seed if self._seed is not None else new_seed(), name=queue.name,
                                       filter_count=queue.filter_count, origin=queue.origin)
            else:
                queue = LabelQueue(conn, self.annotator, self._filters, order=self._order, seed=self._seed)
            start = self._start if self._start is not None else queue.next_unlabeled()
            view = read_label_view(conn, queue, start)
        self.post_message(LabelRead(view, queue))

    @work(thread=True, exclusive=True, group="label", exit_on_error=False)
    def _save(self, sample_id: int, verdict: str, criteria: dict, note: str | None, blind: bool) -> None:
        with self._db:
            if self._closed:
                return
            conn = self._conn()
            try:
                label = save_label(conn, sample_id, self.annotator, criteria=criteria, verdict=verdict, note=note,
                                   blind=blind, rubric=self.rubric)
            except StoreRefused as exc:  # disk full, read-only store, a lock held too long
                self.post_message(LabelRefused("save", str(exc)))
                return
            self.queue.session_labels += 1
            view = read_label_view(conn, self.queue, self.queue.next_unlabeled(sample_id))
        self.post_message(LabelSaved(label, view))  # committed: now the screen may say so

    @work(thread=True, exclusive=True, group="label", exit_on_error=False)
    def _read_sample(self, sample_id: int | None) -> None:
        with self._db:
            if self._closed:
                return
            view = read_label_view(self._conn(), self.queue, sample_id)
        self.post_message(LabelRead(view))

    @work(thread=True, exclusive=True, group="label", exit_on_error=False)
    def _skip(self, sample_id: int) -> None:
        with self._db:
            if self._closed:
                return
            nxt = self.queue.next_unlabeled(sample_id)
            view = None if nxt is None or nxt == sample_id else read_label_view(self._conn(), self.queue, nxt)
        self.post_message(LabelRead(view))

    @work(thread=True, exclusive=True, group="label", exit_on_error=False)
    def _undo(self, uid: str) -> None:
        with self._db:
            if self._closed:
                return
            conn = self._conn()
            try:
                restored = undo_label(conn, uid)
            except StoreRefused as exc:  # as in a save: the store is unchanged, the app goes on
                self.post_message(LabelRefused("undo", str(exc)))
                return
            self.queue.session_labels = max(0, self.queue.session_labels - 1)
            view = read_label_view(conn, self.queue, labeled_sample_id(conn, uid))
        self.post_message(LabelUndone(restored, view))

    @work(thread=True, exclusive=True, group="label-progress", exit_on_error=False)
    def _read_progress(self) -> None:
        with self._db:
            if self._closed or self.queue is None:
                return
            progress = self.queue.progress()
        self.post_message(ProgressRead(progress))

    def queue_grown(self) -> None:
        """The rest of the queue's ids arrived (the explorer read them after the head): count them."""
        if self.queue is not None:  # else the queue is being opened: on_label_read counts them again
            self._read_progress()

    # -- the answers -----------------------------------------------------------------------------------
    def on_label_read(self, message: LabelRead) -> None:
        if message.queue is not None:
            self.queue = message.queue
            if message.view is not None and message.view.progress.total != len(self.queue.ids):
                self._read_progress()  # the rest of the ids arrived while the queue was opened
        if message.view is None:
            self.notify("no other unlabeled sample in the queue")
        else:
            self._show(message.view)
        if message.queue is not None and self._shown is not None:
            self.call_after_refresh(self._shown.set)
        self._done()

    def on_label_saved(self, message: LabelSaved) -> None:
        label = message.label
        self.undo_stack.append(label.uid)
        self.last_saved = label.uid
        self._say(f"saved ✓ {self._which()}: {VERDICT_WORDS[label.verdict]}"
                  f"{' (blind)' if label.blind else ''} at {time.strftime('%H:%M:%S')}", "bold green")
        self._show(message.view)
        self._done()

    def on_label_undone(self, message: LabelUndone) -> None:
        self.undo_stack.pop()
        self._show(message.view)
        restored = message.restored
        self._say(f"undone: {self._which()} is back to "
                  f"{VERDICT_WORDS[restored.verdict] if restored else 'unlabeled'}", "bold yellow")
        self._done()

    def on_label_refused(self, message: LabelRefused) -> None:
        if message.what == "save":
            self._say(f"NOT saved: the store refused the label ({message.error}); it is unchanged, try again",
                      "bold red")
            self.notify(f"label not saved: {message.error}", severity="error")
        else:
            self._say(f"NOT undone: the store refused the change ({message.error}); try again", "bold red")
            self.notify(f"undo not saved: {message.error}", severity="error")
        self._done()

    def on_progress_read(self, message: ProgressRead) -> None:
        self.progress = message.progress
        self._render_status()

    # -- showing ---------------------------------------------------------------------------------------
    @in_turn
    def show_sample(self, sample_id: int | None) -> None:
        """Show this sample of the store (read in the worker)."""
        self._begin()
        self._read_sample(sample_id)

    def _show(self, view: LabelView) -> None:
        self.sample, label, self.progress = view.sample, view.label, view.progress
        if label and label.rubric.sha256 == self.rubric.sha256:
            self.criteria = dict(label.criteria)
            self.verdict, self.note = label.verdict, label.note
        elif label:  # labeled under another rubric: its verdict and note, the criteria asked afresh
            self.criteria, self.verdict, self.note = self.rubric.empty(), label.verdict, label.note
        else:
            self.criteria, self.verdict, self.note = self.rubric.empty(), None, None
        self.dirty = False
        self._render_sample()
        self._render_form()
        self._render_status()
        self.query_one("#label-sample", VerticalScroll).scroll_home(animate=False)
        self.query_one("#label-other", VerticalScroll).scroll_home(animate=False)

    def _render_status(self) -> None:
        p = self.progress
        if p is None or self.queue is None:
            return
        parts = [Text(f"annotator {self.annotator}", style="bold")]
        if self.blind:
            parts.append(Text("BLIND", style="bold reverse"))
        parts.append(Text(self.rubric.name))
        if self.blind:  # the queue's name is its filter, which names tiers, models and runs: only how many
            parts.append(Text(blind_queue_words(self.queue.filter_count, self.queue.origin)))
        else:
            parts.append(Text(f"queue: {one_line(self.queue.name, 80) if self.queue.name else 'every pair'}"))
        parts.append(Text(f"{p.remaining} left of {p.total} ({p.labeled} labeled)"))
        if self.queue.order == "random":
            parts.append(Text(f"shuffled, seed {self.queue.seed}"))
        parts.append(Text(f"{p.session_labels} this session"))
        parts.append(Text(f"{p.per_hour:.0f} labels/h" if p.per_hour is not None else "— labels/h"))
        self.query_one("#label-status", Static).update(status_line(parts, max(self.size.width - 2, 20)))

    def _render_sample(self) -> None:
        s = self.sample
        meta = Text()
        if s is None:
            meta.append("Nothing left to label in this queue. ", style="bold")
            meta.append("q leaves; ctrl+e exports.")
            for wid in ("#label-scratchpad", "#label-output", "#label-other-scratchpad", "#label-other-output",
                        "#label-scratchpad-title", "#label-other-title"):
                self.query_one(wid, Static).update("")
            self.query_one("#label-meta", Static).update(meta)
            return
        if self.blind:
            # neither tier nor model nor run nor sample id (ids arrive free, paid, free, …): the queue position
            position = self.queue.index(s.id)
            meta.append(f"item {position + 1} of {len(self.queue.ids)}" if position is not None else "item",
                        style="dim")
        else:
            meta.append(f"{display(s.model, 200)} · {display(s.variant, 200)} · run {display(s.run, 200)} · "
                        f"prompt {s.prompt_index} · epoch {s.epoch} · sample {s.id} · ", style="dim")
            meta.append(f"{s.tier.upper()} tier", style="bold")
            meta.append(f" · {s.outcome}", style="dim")
        meta.append("\n")
        meta.append(display(s.request, max_line=2000, max_lines=4))
        self.query_one("#label-meta", Static).update(meta)
        self.query_one("#label-scratchpad-title", Static).update(
            "Scratchpad" if self.blind else f"Scratchpad · {s.tier} tier")
        self.query_one("#label-scratchpad", Static).update(_model_text(s.scratchpad, "(no scratchpad)"))
        self.query_one("#label-output", Static).update(_model_text(s.output, "(no <OUTPUT>)"))
        other = self.query_one("#label-other", VerticalScroll)
        other.set_class(self.blind, "blind")
        if self.blind or s.other is None:
            # blind: the other tier's answer is not even put on the screen
            for wid in ("#label-other-title", "#label-other-scratchpad", "#label-other-output"):
                self.query_one(wid, Static).update("" if self.blind else Text("(the other tier is not sampled)",
                                                                              style="dim"))
            return
        o = s.other
        self.query_one("#label-other-title", Static).update(f"Other tier: {o.tier} · {o.outcome}")
        self.query_one("#label-other-scratchpad", Static).update(_model_text(o.scratchpad, "(no scratchpad)"))
        self.query_one("#label-other-output", Static).update(_model_text(o.output, "(no <OUTPUT>)"))

    def _render_form(self) -> None:
        width = max(self.size.width - 2, 20)  # (the form's padding)
        form = criteria_row(self.rubric, self.criteria, width)
        form.append("\n")
        form.append_text(verdict_row(self.verdict, propose_verdict(self.criteria, self.rubric), width))
        form.append("\nnote (e): ")
        form.append(display(self.note, max_line=300, max_lines=1) if self.note else "—",
                    style="" if self.note else "dim")
        if self.dirty:
            form.append("   · unsaved changes (enter saves)", style="bold yellow")
        self.query_one("#label-form", Static).update(form)

    def on_resize(self, event) -> None:
        if self.sample is not None:
            self._render_form()  # the criteria row is laid out for the width
        self._render_status()

    def _which(self) -> str:
        """The shown sample in words: its id, or in blind mode its place in the queue (ids hint at the tier)."""
        if self.sample is None:
            return "sample"
        position = self.queue.index(self.sample.id) if self.blind else None
        return f"item {position + 1}" if position is not None else ("item" if self.blind else f"sample {self.sample.id}")

    def _say(self, text: str, style: str = "") -> None:
        self.query_one("#label-saved", Static).update(Text(text, style=style))

    # -- actions ---------------------------------------------------------------------------------------
    @in_turn
    def action_toggle(self, criterion: str) -> None:
        if self.sample is None:
            return
        self.criteria[criterion] = NEXT_STATE[self.criteria.get(criterion)]
        self.dirty = True
        self._render_form()

    @in_turn
    def action_verdict(self, verdict: str) -> None:
        if self.sample is None:
            return
        self.verdict = None if self.verdict == verdict else verdict
        self.dirty = True
        self._render_form()

    @in_turn
    def action_save(self) -> None:
        if self.sample is None:
            self.notify("nothing to save: the queue is done", severity="warning")
            return
        verdict = self.verdict or propose_verdict(self.criteria, self.rubric)
        if verdict is None:
            self.notify("choose a verdict first: a (alignment faking), n (not), x (unclear)", severity="warning")
            return
        # committed in the worker before anything on the screen says "saved" (on_label_saved)
        self._begin()
        self._save(self.sample.id, verdict, dict(self.criteria), self.note, self.blind)

    @in_turn
    def action_skip(self) -> None:
        if self.sample is None:
            return
        self._begin()
        self._skip(self.sample.id)

    @in_turn
    def action_undo(self) -> None:
        if not self.undo_stack:
            self.notify("nothing to undo in this session")
            return
        self._begin()
        self._undo(self.undo_stack[-1])

    @in_turn
    def action_note(self) -> None:
        if self.sample is None:
            return

        def keep(note: str | None) -> None:
            if note is not None and (note or None) != self.note:
                self.note = note or None
                self.dirty = True
                self._render_form()

        self.app.push_screen(NoteScreen(self.note, on_close=keep))

    @in_turn
    def action_toggle_blind(self) -> None:
        self.blind = not self.blind
        if hasattr(self.app, "label_blind"):  # the explorer: the next queue of this session starts blind too
            self.app.label_blind = self.blind
        if self.blind and self.queue.order != "random":  # the order would give away what blind mode hides
            old = self.queue
            self.queue = LabelQueue(old.conn, self.annotator, ids=old.ids, order="random", seed=new_seed(),
                                    name=old.name, filter_count=old.filter_count, origin=old.origin)
            self.queue.session_start, self.queue.session_labels = old.session_start, old.session_labels
        if self.blind:  # what was said before names the sample ("saved ✓ sample 233", the pair view's toasts)
            self._say("")
            self.app.clear_notifications()
        self._render_sample()
        self._render_status()
        self.notify("blind mode: tier, model and the other tier are hidden; labels are recorded as blind"
                    if self.blind else "blind mode off")

    @in_turn
    def action_export(self) -> None:
        self.app.push_screen(ExportLabelsScreen(self.db_path, self.annotator))

    @in_turn
    def action_back(self) -> None:
        # Back to the pair view, which reloads the pair; `af-tui label` (label_app.py) then exits.
        self.dismiss()

    def action_scroll(self, lines: int) -> None:
        self.query_one("#label-sample", VerticalScroll).scroll_relative(y=lines, animate=False)

    def action_scroll_page(self, pages: int) -> None:
        panel = self.query_one("#label-sample", VerticalScroll)
        panel.scroll_relative(y=pages * max(panel.size.height - 1, 1), animate=False)
