"""The raw transcript of one sample: every message as the model saw and wrote it (system prompt left out),
in a virtualised log so that 10,000 lines or a 1 MB line cost only what is on screen."""

from __future__ import annotations

import json

from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Header, Log

from af_tui.explorer.detail import PairDetail
from af_tui.safe_text import cap_lines, inert

MAX_LINE = 20_000  # characters of one line drawn here; copy (c) gives the whole text


def transcript_lines(detail: PairDetail, tier: str) -> list[str]:
    sample = detail.free if tier == "free" else detail.paid
    if sample is None:
        return [f"({tier} tier not sampled yet)"]
    lines = [f"{tier.upper()} tier · {sample.outcome} · {len(sample.transcript)} messages"]
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
    sample = detail.free if tier == "free" else detail.paid
    return json.dumps(sample.transcript if sample else [], ensure_ascii=False, indent=2)


class TranscriptScreen(Screen):
    DEFAULT_CSS = """
    TranscriptScreen Log { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape,q", "app.pop_screen", "Back", id="transcript.back", tooltip="Back to the pair"),
        Binding("tab", "other_tier", "Other tier", id="transcript.other_tier",
                tooltip="Show the other tier's transcript"),
        Binding("c", "copy", "Copy", id="transcript.copy", tooltip="Copy this transcript as JSON"),
    ]

    def __init__(self, detail: PairDetail, tier: str = "free") -> None:
        super().__init__()
        self.detail = detail
        self.tier = tier

    def compose(self):
        yield Header()
        yield Log(id="transcript", auto_scroll=False)
        yield Footer()

    def on_mount(self) -> None:
        self._fill()

    def _fill(self) -> None:
        self.sub_title = f"transcript · {self.tier} tier"
        log = self.query_one(Log)
        log.clear()
        log.write_lines(transcript_lines(self.detail, self.tier))
        log.scroll_home(animate=False)
        log.focus()

    def action_other_tier(self) -> None:
        self.tier = "paid" if self.tier == "free" else "free"
        self._fill()

    def action_copy(self) -> None:
        self.app.copy_to_clipboard(transcript_json(self.detail, self.tier))
        self.notify(f"{self.tier}-tier transcript copied as JSON")
