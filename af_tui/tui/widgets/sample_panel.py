"""One tier of a pair: outcome, tokens and latency, every scratchpad turn (after the provider's reasoning for
that turn, when the model has a reasoning channel) and the final output, each collapsible. All model text
goes through `safe_text.display` into `rich.text.Text`: never markup."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Collapsible, Static

from af_tui.domain import OUTCOME_WORD, Outcome
from af_tui.explorer.detail import SampleDetail
from af_tui.safe_text import display, one_line
from af_tui.tui.widgets.pairs_list import badge

MAX_LINES_SHOWN = 2_000  # more lines than this: the rest is in the raw transcript (key t)
OUTCOME_WORDS = {**OUTCOME_WORD, Outcome.FORMAT_NOT_FOLLOWED: "format not followed",
                 Outcome.BLOCKED: "blocked by the provider"}


HIT_STYLE = "black on yellow"


def model_text(raw: str | None, words: list[str] | None = None) -> Text:
    """Model text as plain rich Text (never markup), the search's words highlighted."""
    text = Text(display(raw, max_lines=MAX_LINES_SHOWN), no_wrap=False, overflow="fold")
    if words:
        text.highlight_words(words, HIT_STYLE, case_sensitive=False)
    return text


def _reasoning(text: str, title: str, classes: str = "", words: list[str] | None = None) -> Collapsible:
    """The provider's reasoning channel (not the scratchpad the prompt asks for): its own section."""
    return Collapsible(Static(model_text(text, words), classes="reasoning"), title=title, collapsed=False,
                       classes=f"reasoning-section {classes}".strip())


class SamplePanel(VerticalScroll):
    DEFAULT_CSS = """
    SamplePanel { width: 1fr; height: 1fr; padding: 0 1; border: round $panel-lighten-2;
                  border-title-color: $text-muted; }
    SamplePanel.-current { border: round $accent; border-title-color: $accent; border-title-style: bold; }
    SamplePanel > .tier-title { text-style: bold; }
    SamplePanel > .tier-meta { color: $text-muted; }
    SamplePanel > .tier-error { color: $error; }
    SamplePanel Collapsible { padding-bottom: 0; }
    SamplePanel Collapsible Contents { padding: 0 0 0 3; }  /* no blank line under each title */
    SamplePanel .reasoning { color: $text-muted; }
    """

    def __init__(self, tier: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tier = tier
        self.sample: SampleDetail | None = None
        self.words: list[str] = []  # the list's search words, highlighted
        self.hit = -1  # the search hit last moved to (next / previous hit keys)
        self.mark(False)

    def mark(self, current: bool) -> None:
        """The column the tier keys act on: marked by its border and a ▶ in its title (not by colour alone)."""
        self.set_class(current, "-current")
        self.border_title = f"▶ {self.tier} tier" if current else f"  {self.tier} tier"

    def hits(self) -> list[tuple[Static, int]]:
        """Where the search words are in the model's text: (widget, line within it), in reading order."""
        out = []
        for static in self.query(".reasoning, .scratchpad, .output, .tier-error").results(Static):
            content = static.content
            low = (content.plain if isinstance(content, Text) else str(content)).lower()
            for word in self.words:
                start = low.find(word.lower())
                while start >= 0:
                    out.append((static.virtual_region.y, low.count("\n", 0, start), start, static))
                    start = low.find(word.lower(), start + len(word))
        out.sort(key=lambda h: h[:3])
        return [(static, line) for _, line, _, static in out]

    def goto_hit(self, step: int) -> int:
        """Scroll to the next (step 1) or previous (-1) search hit; returns how many there are."""
        hits = self.hits()
        if not hits:
            return 0
        self.hit = (self.hit + step) % len(hits)
        widget, line = hits[self.hit]
        self.scroll_to(y=max(0, widget.virtual_region.y + line - 2), animate=False, immediate=True)
        return len(hits)

    def show(self, sample: SampleDetail | None, words: list[str] | None = None) -> None:
        self.sample = sample
        self.words, self.hit = list(words or []), -1
        with self.app.batch_update():
            self.remove_children()
            self.mount_all(self._widgets(sample))
            self.scroll_home(animate=False, immediate=True)

    def _widgets(self, sample: SampleDetail | None) -> list:
        title = Text(f"{self.tier.upper()} tier ", style="bold")
        if sample is None:
            title.append("· not sampled yet", style="dim")
            return [Static(title, classes="tier-title")]
        title.append_text(badge(sample.outcome))
        title.append(" " + OUTCOME_WORDS.get(sample.outcome, sample.outcome))
        widgets: list = [Static(title, classes="tier-title")]
        meta = []
        if sample.input_tokens is not None or sample.output_tokens is not None:
            meta.append(f"tokens {sample.input_tokens or 0} in / {sample.output_tokens or 0} out")
        if sample.latency_s is not None:
            meta.append(f"{sample.latency_s:.1f} s")
        turns = len(sample.turns)
        meta.append(f"{turns} turn{'s' if turns != 1 else ''}")
        # `attempts` counts requests, one per turn: only the ones beyond that were retries.
        retries = (sample.attempts or 0) - max(turns, 1)
        if retries > 0:
            meta.append(f"{retries} retr{'ies' if retries > 1 else 'y'} ({sample.attempts} requests)")
        if sample.prefill:  # the reply starts with it: the model did not write it
            meta.append(f"prefill {one_line(sample.prefill, 40)!r} (in front of each reply)")
        widgets.append(Static(Text(" · ".join(meta)), classes="tier-meta"))
        if sample.error:
            widgets.append(Static(Text("error: ") + model_text(sample.error, self.words), classes="tier-error"))
        per_turn = any(turn.reasoning for turn in sample.turns)
        if sample.reasoning and not per_turn:  # an imported sample: the joined column only
            widgets.append(_reasoning(sample.reasoning, "Reasoning (provider)", words=self.words))
        for turn in sample.turns:
            if turn.reasoning:
                widgets.append(_reasoning(turn.reasoning, f"Reasoning (provider) · turn {turn.index}",
                                          f"reasoning-{turn.index}", self.words))
            label = f"Scratchpad · turn {turn.index}" + (" · after <NEXT/>" if turn.after_next else "")
            if not turn.scratchpads:
                body = Text("(no scratchpad in this turn)", style="dim")
            else:
                body = Text()
                for i, pad in enumerate(turn.scratchpads):
                    if i:
                        body.append("\n── next scratchpad block ──\n", style="dim")
                    body.append_text(model_text(pad, self.words))
            widgets.append(Collapsible(Static(body, classes="scratchpad"), title=label, collapsed=False,
                                       classes=f"turn-{turn.index}"))
        if sample.output is None:
            output = Text("(no <OUTPUT>: " + ("the call failed)" if sample.outcome == Outcome.ERROR
                                               else "the provider blocked the request)" if sample.outcome == Outcome.BLOCKED
                                               else "format not followed)"), style="dim")
        else:
            output = model_text(sample.output, self.words)
        widgets.append(Collapsible(Static(output, classes="output"), title="Output", collapsed=False))
        return widgets

    def set_collapsed(self, collapsed: bool) -> None:
        for collapsible in self.query(Collapsible):
            collapsible.collapsed = collapsed
