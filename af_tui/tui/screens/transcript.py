"""The raw transcript of one sample: every message as the model saw and wrote it (the system prompt first,
folded to its first lines until s unfolds it), in a read-only text area (it draws only what is on screen) that wraps long lines (w toggles), with the
list's search hits to step through."""

from __future__ import annotations

import json

from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Header, TextArea

from af_tui.domain import Tier
from af_tui.explorer.detail import PairDetail
from af_tui.safe_text import cap_lines, inert
from af_tui.tui.widgets.footer import KeysFooter

MAX_LINE = 20_000  # characters of one line drawn here; copy (c) gives the whole text
FOLDED_SYSTEM_LINES = 3  # of the system prompt while it is folded


def transcript_lines(detail: PairDetail, tier: str, *, system_folded: bool = True) -> list[str]:
    sample = detail.free if tier == Tier.FREE else detail.paid
    if sample is None:
        return [f"({tier} tier not sampled yet)"]
    system = detail.system_prompt
    has_system = bool(system) and not any(m.get("role") == "system" for m in sample.transcript)
    count = len(sample.transcript) + has_system
    lines = [f"{tier.upper()} tier · {sample.outcome} · {count} messages"
             + (" (the system prompt first)" if has_system else "")]
    if has_system:
        text = cap_lines(inert(system), MAX_LINE).split("\n")
        folded = system_folded and len(text) > FOLDED_SYSTEM_LINES
        lines += ["", f"──── system · {len(text)} lines" + (" · folded, s unfolds" if folded else "") + " ────"]
        lines += text[:FOLDED_SYSTEM_LINES] + [f"… {len(text) - FOLDED_SYSTEM_LINES} more lines (s)"] if folded else text
    for message in sample.transcript:
        content = message.get("content")
        reasoning = message.get("reasoning")
        if isinstance(reasoning, str) and reasoning:  # the provider's channel, sent before the reply
            lines += ["", "──── assistant · reasoning (provider) ────",
                      *cap_lines(inert(reasoning), MAX_LINE).split("\n")]
        lines.append("")
        lines.append(f"──── {inert(str(message.get('role', '?')))} ────")
        lines.extend(cap_lines(inert(content if isinstance(content, str) else repr(content)), MAX_LINE)
                     .split("\n"))
    if sample.error:
        lines += ["", "──── error ────", *cap_lines(inert(sample.error), MAX_LINE).split("\n")]
    return lines


def transcript_json(detail: PairDetail, tier: str) -> str:
    """One tier's transcript as JSON, for the clipboard."""
    sample = detail.free if tier == Tier.FREE else detail.paid
    return json.dumps(sample.transcript if sample else [], ensure_ascii=False, indent=2)


def find_hits(lines: list[str], words: list[str]) -> list[tuple[int, int, int]]:
    """(line, start, end) of every search word in the lines, in reading order (case ignored)."""
    hits = []
    for i, line in enumerate(lines):
        low = line.lower()
        for word in words:
            w = word.lower()
            start = low.find(w)
            while start >= 0:
                hits.append((i, start, start + len(w)))
                start = low.find(w, start + len(w))
    return sorted(hits)


class TranscriptScreen(Screen):
    DEFAULT_CSS = """
    TranscriptScreen TextArea { height: 1fr; border: none; padding: 0 1; }
    """
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="transcript.back", priority=True,
                tooltip="Back to the pair"),
        Binding("tab", "other_tier", "Other tier", id="transcript.other_tier", priority=True,
                tooltip="Show the other tier's transcript"),
        Binding("w", "toggle_wrap", "Wrap", id="transcript.wrap", priority=True,
                tooltip="Wrap long lines (or scroll them sideways)"),
        Binding("greater_than_sign,full_stop", "hit(1)", "Next hit", id="transcript.next_hit", priority=True,
                tooltip="Select the next hit of the list's search"),
        Binding("less_than_sign,comma", "hit(-1)", "Prev hit", show=False, id="transcript.previous_hit",
                priority=True),
        Binding("c", "copy", "Copy", id="transcript.copy", priority=True, tooltip="Copy this transcript as JSON"),
        Binding("s", "toggle_system", "System prompt", show=False, id="transcript.system", priority=True,
                tooltip="Unfold or fold the system prompt (folded to its first lines at first)"),
    ]

    def __init__(self, detail: PairDetail, tier: str = Tier.FREE, words: list[str] | None = None) -> None:
        super().__init__()
        self.detail = detail
        self.tier = tier
        self.words = list(words or [])
        self.lines: list[str] = []
        self.hits: list[tuple[int, int, int]] = []
        self.hit = -1
        self.system_folded = True

    def compose(self):
        yield Header()
        yield TextArea(id="transcript", read_only=True, soft_wrap=True, show_cursor=False,
                       highlight_cursor_line=False)
        yield KeysFooter()  # the main keys fit 80 columns

    def on_mount(self) -> None:
        self._fill()

    def _fill(self) -> None:
        area = self.query_one(TextArea)
        self.lines = transcript_lines(self.detail, self.tier, system_folded=self.system_folded)
        self.hits, self.hit = find_hits(self.lines, self.words), -1
        area.load_text("\n".join(self.lines))
        area.scroll_home(animate=False)
        area.focus()
        self._title()
        if self.hits:
            self.action_hit(1)

    def _title(self) -> None:
        area = self.query_one(TextArea)
        parts = [f"transcript · {self.tier} tier", "wrapped" if area.soft_wrap else "not wrapped"]
        if self.words:
            parts.append(f"hit {self.hit + 1} of {len(self.hits)}" if self.hits else "no search hit")
        self.sub_title = " · ".join(parts)

    def action_toggle_wrap(self) -> None:
        area = self.query_one(TextArea)
        area.soft_wrap = not area.soft_wrap
        self._title()

    def action_hit(self, step: int) -> None:
        """Select the next / previous hit (the selection is the highlight) and scroll to it."""
        if not self.hits:
            self.notify("no search hit here" if self.words else "no search: / on the list searches", timeout=2)
            return
        from textual.widgets.text_area import Selection

        self.hit = (self.hit + step) % len(self.hits)
        line, start, end = self.hits[self.hit]
        area = self.query_one(TextArea)
        area.selection = Selection((line, start), (line, end))
        area.scroll_cursor_visible(center=True, animate=False)
        self._title()

    def action_toggle_system(self) -> None:
        self.system_folded = not self.system_folded
        self._fill()

    def action_other_tier(self) -> None:
        self.tier = Tier.PAID if self.tier == Tier.FREE else Tier.FREE
        self._fill()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(transcript_json(self.detail, self.tier))
        self.notify(f"{self.tier}-tier transcript copied as JSON")
