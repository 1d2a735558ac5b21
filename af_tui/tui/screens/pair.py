"""The pair view: the free-tier answer on the left, the paid-tier answer on the right, for one request."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import Header, Static

from af_tui.domain import Tier
from af_tui.explorer.detail import PairDetail
from af_tui.safe_text import display
from af_tui.tui.messages import PairLoaded
from af_tui.tui.widgets.footer import KeysFooter
from af_tui.tui.widgets.sample_panel import SamplePanel
from af_tui.tui.widgets.verdicts import show_verdicts


def pair_as_text(detail: PairDetail) -> str:
    """The pair as plain text, for the clipboard (the model's own text, unchanged)."""
    parts = [f"run {detail.run} · model {detail.model} · variant {detail.variant} · prompt "
             f"{detail.prompt_index} · epoch {detail.epoch}", "", "REQUEST", detail.request]
    for sample in (detail.free, detail.paid):
        if sample is None:
            continue
        parts += ["", f"=== {sample.tier.upper()} TIER: {sample.outcome} ==="]
        for turn in sample.turns:
            if turn.reasoning:
                parts += [f"--- reasoning (provider), turn {turn.index} ---", turn.reasoning]
            parts += [f"--- scratchpad, turn {turn.index}{' (after <NEXT/>)' if turn.after_next else ''} ---",
                      *turn.scratchpads]
        parts += ["--- output ---", sample.output or "(none)"]
        if sample.error:
            parts += ["--- error ---", sample.error]
    return "\n".join(parts)


class PairScreen(Screen):
    """Free | paid, each scrollable; both scroll together unless sync is off."""

    DEFAULT_CSS = """
    PairScreen #pair-request { height: auto; max-height: 6; padding: 0 1; background: $boost; }
    PairScreen #pair-columns { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q", "back", "Back", id="pair.back", tooltip="Back to the pairs list"),
        Binding("n,right_square_bracket", "step(1)", "Next pair", id="pair.next", tooltip="Next pair in the list"),
        Binding("p,left_square_bracket", "step(-1)", "Prev pair", id="pair.previous",
                tooltip="Previous pair in the list"),
        Binding("l", "label", "Label", id="pair.label",
                tooltip="Label the ▶ tier's sample: criteria, verdict, note (then the next unlabeled)"),
        Binding("s", "toggle_sync", "Sync scroll", show=False, id="pair.sync",
                tooltip="Scroll the free and paid columns together (or apart)"),
        # the tier keys: Tab / ← / → move between the two columns (not through the section titles)
        Binding("tab,shift+tab", "other_tier", "Other tier", id="pair.other_tier", priority=True,
                tooltip="Move to the other tier's column (the ▶ column is the one l and t act on)"),
        Binding("left", "tier('free')", "Free tier", show=False, id="pair.free_tier"),
        Binding("right", "tier('paid')", "Paid tier", show=False, id="pair.paid_tier"),
        Binding("greater_than_sign,full_stop", "hit(1)", "Next hit", show=False, id="pair.next_hit",
                tooltip="Scroll to the next hit of the list's search"),
        Binding("less_than_sign,comma", "hit(-1)", "Prev hit", show=False, id="pair.previous_hit",
                tooltip="Scroll to the previous hit of the list's search"),
        Binding("t", "transcript", "Transcript", id="pair.transcript",
                tooltip="The full raw transcript of the ▶ tier"),
        Binding("c", "copy", "Copy", show=False, id="pair.copy",
                tooltip="Copy the pair (request, scratchpads, outputs)"),
        Binding("z", "toggle_collapse", "Fold all", show=False, id="pair.fold",
                tooltip="Collapse or expand every scratchpad and output"),
        Binding("down,j", "scroll(1)", "Scroll down", show=False, id="pair.scroll_down"),
        Binding("up,k", "scroll(-1)", "Scroll up", show=False, id="pair.scroll_up"),
        Binding("pagedown,space", "scroll_page(1)", "Page down", show=False, id="pair.page_down"),
        Binding("pageup", "scroll_page(-1)", "Page up", show=False, id="pair.page_up"),
        Binding("ctrl+e", "export", "Export", show=False, id="pair.export",
                tooltip="Export samples and labels to CSV / JSONL"),
    ]

    def __init__(self, pair_id: int, position: int | None = None) -> None:
        super().__init__()
        self.pair_id = pair_id
        self.position = position
        self.detail: PairDetail | None = None
        self._syncing = False
        self._folded = False
        self.tier = Tier.FREE  # the column that l and t act on

    def compose(self):
        yield Header()
        yield Static(Text("loading…", style="dim"), id="pair-request")
        with Horizontal(id="pair-columns"):
            yield SamplePanel(Tier.FREE, id=Tier.FREE.value)
            yield SamplePanel(Tier.PAID, id=Tier.PAID.value)
        yield KeysFooter()  # the main keys fit 80 columns

    def on_mount(self) -> None:
        free, paid = self.query_one("#free", SamplePanel), self.query_one("#paid", SamplePanel)
        self.watch(free, "scroll_y", lambda y: self._sync(paid, y), init=False)
        self.watch(paid, "scroll_y", lambda y: self._sync(free, y), init=False)
        self.action_tier(Tier.FREE)
        self.app.load_pair(self.pair_id, self)

    @property
    def sync_scroll(self) -> bool:
        return self.app.config.sync_scroll

    def _sync(self, other: SamplePanel, y: float) -> None:
        if self.sync_scroll and not self._syncing:
            self._syncing = True
            other.scroll_to(y=y, animate=False, immediate=True)
            self._syncing = False

    def on_pair_loaded(self, message: PairLoaded) -> None:
        if message.pair_id != self.pair_id:
            return
        self.detail = detail = message.detail
        if detail is None:
            self.query_one("#pair-request", Static).update(Text("this pair is no longer in the store"))
            return
        head = Text()
        head.append(f"{display(detail.model, 200)} · {display(detail.variant, 200)} · run "
                    f"{display(detail.run, 200)} · prompt {detail.prompt_index} · epoch {detail.epoch}\n",
                    style="dim")
        head.append(display(detail.request, max_line=2000, max_lines=5))
        self.query_one("#pair-request", Static).update(head)
        words = self.search_words()
        self.query_one("#free", SamplePanel).show(detail.free, words)
        self.query_one("#paid", SamplePanel).show(detail.paid, words)
        show_verdicts(self.query(SamplePanel), detail.extra.get("verdicts"))  # people's and the judge's
        self.sub_title = f"pair {detail.id}"

    def refresh_pair(self) -> None:
        """The store changed: the paid tier may have arrived."""
        if self.detail is None or self.detail.free is None or self.detail.paid is None:
            self.app.load_pair(self.pair_id, self)

    # -- actions ---------------------------------------------------------------------------------------
    def action_back(self) -> None:
        self.app.pop_screen()

    def action_step(self, delta: int) -> None:
        pairs = self.app.pairs_list
        if pairs is None or not pairs.ids:
            return
        position = pairs.position_of(self.pair_id)
        if position is None:
            position = self.position or 0
        position = max(0, min(position + delta, len(pairs.ids) - 1))
        pairs.move_to(position)
        if pairs.ids[position] != self.pair_id:
            self.pair_id, self.position, self.detail = pairs.ids[position], position, None
            self.app.load_pair(self.pair_id, self)

    def action_toggle_sync(self) -> None:
        self.app.set_view(sync_scroll=not self.sync_scroll)
        self.notify("free and paid scroll together" if self.sync_scroll else "free and paid scroll apart")

    def search_words(self) -> list[str]:
        from af_tui.explorer.filters import search_words

        main = getattr(self.app, "main", None)
        return search_words(main.pair_filter.search) if main is not None else []

    def _focused_panel(self) -> SamplePanel:
        return self.query_one(f"#{self.tier}", SamplePanel)

    def action_tier(self, tier: str) -> None:
        self.tier = tier
        for panel in self.query(SamplePanel):
            panel.mark(panel.tier == tier)
        self._focused_panel().focus()

    def action_other_tier(self) -> None:
        self.action_tier(Tier.PAID if self.tier == Tier.FREE else Tier.FREE)

    def action_hit(self, step: int) -> None:
        panel = self._focused_panel()
        if not panel.words:
            self.notify("no search: / on the list searches, and its words are highlighted here")
            return
        n = panel.goto_hit(step)
        self.notify(f"{self.tier} tier: hit {panel.hit + 1} of {n}" if n else f"no hit in the {self.tier} tier",
                    timeout=2)

    def action_scroll(self, lines: int) -> None:
        self._focused_panel().scroll_relative(y=lines, animate=False)

    def action_scroll_page(self, pages: int) -> None:
        panel = self._focused_panel()
        panel.scroll_relative(y=pages * max(panel.size.height - 1, 1), animate=False)

    def action_transcript(self) -> None:
        if self.detail is None:
            return
        from af_tui.tui.screens.transcript import TranscriptScreen

        self.app.push_screen(TranscriptScreen(self.detail, self.tier, self.search_words()))

    def action_copy(self) -> None:
        if self.detail is None:
            return
        self.app.copy_to_clipboard(pair_as_text(self.detail))
        self.notify(f"pair {self.detail.id} copied to the clipboard (both tiers)")

    def action_label(self) -> None:
        if self.detail is None:
            return
        sample = self.detail.free if self.tier == Tier.FREE else self.detail.paid
        if sample is None:
            self.notify(f"the {self.tier} tier is not sampled yet")
            return
        blind = getattr(self.app, "label_blind", False)  # blind labeling: no word of the tier on the way in
        self.notify("labeling the ▶ column's sample" if blind else f"labeling the {self.tier} tier's sample", timeout=2)
        # The queue is the list's view, starting at this sample; back from labeling, fetch the pair again
        # (its verdicts have changed).
        self.app.main.start_labeling(sample.id, on_done=lambda: self.app.load_pair(self.pair_id, self))

    def action_export(self) -> None:
        from af_tui.tui.screens.export_labels import ExportLabelsScreen

        self.app.push_screen(ExportLabelsScreen(self.app.db_path, self.app.annotator))

    def action_toggle_collapse(self) -> None:
        self._folded = not self._folded
        for panel in self.query(SamplePanel):
            panel.set_collapsed(self._folded)
