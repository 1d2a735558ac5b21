"""Hostile model text in the explorer: Rich markup, ANSI CSI and OSC sequences, NUL and other
C0/C1 controls, bidi overrides, zero-width characters, a 1 MB single line and 10,000 short lines are shown
inert, the layout holds, and the app keeps answering keys."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from builders import make_app, pair_sample
from helpers import loaded, settle, until
from rich.text import Text

from af_tui.safe_text import cap_lines, display, inert, one_line
from af_tui.store.db import Store

MARKUP = "[bold]bold?[/bold] [link=https://evil.example]click me[/link] [/] [red on white]red[/] [@click=app.quit]q"
ANSI = ("\x1b[31mred\x1b[0m \x1b[2J\x1b[H home \x1b[10;10H moved \x1b]8;;https://evil.example\x1b\\osc8 link"
        "\x1b]8;;\x1b\\ \x1b]52;c;ZXZpbA==\x07 clipboard \x1b]0;pwned title\x07 title \x9b31m c1-csi")
CONTROLS = "nul\x00 bell\x07 backspace\x08 cr\r vt\x0b ff\x0c del\x7f nel\x85 end"
BIDI = "abc\u202edcba\u202c \u2066isolate\u2069 zero\u200bwidth\u200djoiner\ufeffbom \u2028sep"
HOSTILE = "\n".join([MARKUP, ANSI, CONTROLS, BIDI])
BIG_LINE = "A" * (1 << 20)
MANY_LINES = "\n".join(f"short line {i}" for i in range(10_000))


def build_hostile_store(path: Path) -> Path:
    with Store(path) as store:
        run_id = store.start_run("hostile", {"models": ["sim/faker"]})
        store.ensure_variant("stand-in", "Stand-in system prompt.")
        requests = [f"Request with markup {MARKUP} and escapes {ANSI}", "A request answered with 1 MB",
                    "A request answered with 10,000 lines"]
        pids = store.ensure_prompts(requests)
        samples = []
        for i, pid in enumerate(pids):
            free = pair_sample(run_id, "sim/faker", pid, i, "free", "complied", "hostile")
            paid = pair_sample(run_id, "sim/faker", pid, i, "paid", "refused", "hostile")
            if i == 0:
                free = replace(free, output="<request_fully_accepted/>\n" + HOSTILE, scratchpad=HOSTILE,
                               transcript=[{"role": "user", "content": requests[0]},
                                           {"role": "assistant", "content": "<SCRATCHPAD_REASONING>" + HOSTILE
                                            + "</SCRATCHPAD_REASONING><OUTPUT>" + HOSTILE + "</OUTPUT>"}])
                paid = replace(paid, error=ANSI)
            elif i == 1:
                free = replace(free, output="<request_fully_accepted/>\n" + BIG_LINE,
                               transcript=[{"role": "assistant", "content": BIG_LINE}])
            else:
                free = replace(free, scratchpad=MANY_LINES,
                               transcript=[{"role": "assistant", "content": "<SCRATCHPAD_REASONING>" + MANY_LINES
                                            + "</SCRATCHPAD_REASONING>"}])
            samples += [free, paid]
        store.save_samples(samples)
        store.finish_run(run_id)
    return path


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    return build_hostile_store(tmp_path / "hostile.sqlite")


# -- the shared helper ----------------------------------------------------------------------------------
def test_inert_makes_every_control_visible():
    shown = inert(ANSI + CONTROLS + BIDI)
    assert "\x1b" not in shown and "\x00" not in shown and "\x07" not in shown and "\r" not in shown
    assert not any(0x80 <= ord(c) <= 0x9F for c in shown)
    for ch in "\u202e\u202c\u2066\u2069\u200b\u200d\ufeff\u2028":
        assert ch not in shown
    assert "␛[31mred" in shown and "␀" in shown and "⟨U+202E⟩" in shown and "⟨U+009B⟩" in shown
    assert inert("tab\tand\nnewline\r\n") == "tab\tand\nnewline\n"
    assert inert("z\u0301\u0301\u0301\u0301\u0301\u0301\u0301") == "z" + "\u0301" * 4


def test_markup_stays_literal_in_text():
    text = Text(display(MARKUP))
    assert text.plain == MARKUP and not text.spans


def test_long_lines_and_many_lines_are_capped_with_a_note():
    capped = cap_lines(BIG_LINE, 10_000)
    assert len(capped) < 10_100 and "more characters" in capped
    capped = cap_lines(MANY_LINES, 10_000, max_lines=100)
    assert capped.count("\n") == 100 and "more lines" in capped
    assert one_line("a\nb\x1b[2J  c", 20) == "a b␛[2J c"


# -- the app --------------------------------------------------------------------------------------------
def _screen_text(app) -> str:
    """What the terminal would show, as plain text (the compositor's lines)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


async def test_hostile_text_is_inert_in_list_pair_view_and_transcript(hostile, tmp_path):
    from textual.widgets import TextArea

    from af_tui.tui.screens.pair import PairScreen
    from af_tui.tui.screens.transcript import TranscriptScreen

    app = make_app(hostile, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        screen = _screen_text(app)
        assert "\x1b" not in screen and "Request with markup [bold]bold?[/bold] [link=https://ev" in screen
        assert app.screen is app.main and app.title == "af-tui"  # no OSC title change, no quit by markup
        # The pair with markup, escapes, controls and bidi.
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        await settle(pilot)
        screen = _screen_text(app)
        assert "\x1b" not in screen and "\x00" not in screen and "\u202e" not in screen
        assert "[bold]bold?[/bold]" in screen and "␛[31mred␛[0m" in screen and "⟨U+202E⟩" in screen
        assert "␛]52;c;ZXZpbA==␇" in screen and "nul␀" in screen
        free, paid = app.screen.query_one("#free"), app.screen.query_one("#paid")
        assert free.region.x == 0 and paid.region.x >= 55 and free.region.height == paid.region.height
        # The 1 MB line: shown capped, the layout holds, keys still work.
        await pilot.press("n")
        await until(pilot, lambda: app.screen.detail is not None and app.screen.detail.request.endswith("1 MB"))
        await settle(pilot)
        assert app.screen.query_one("#paid").region.x == paid.region.x
        assert "AAAA" in _screen_text(app)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TranscriptScreen))
        lines = app.screen.query_one(TextArea).text.split("\n")
        assert max(len(line) for line in lines) < 21_000
        await pilot.press("escape")
        # 10,000 short lines: capped in the pair view, all of them in the transcript.
        await pilot.press("n")
        await until(pilot, lambda: app.screen.detail is not None and app.screen.detail.request.endswith("lines"))
        await pilot.press("pagedown", "pagedown", "end")
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TranscriptScreen))
        assert sum("short line" in line for line in app.screen.query_one(TextArea).text.split("\n")) == 10_000
        await pilot.press("escape", "escape")
        assert app.screen is app.main
        # Still answering: filter and search work after all that.
        version = app.list_version
        await pilot.press("slash", *"markup", "enter")
        await until(pilot, lambda: app.list_version > version)
        assert len(app.pairs_list.ids) == 1


def test_snapshot_hostile_pair_view(hostile, tmp_path, snap_compare):
    from af_tui.tui.screens.pair import PairScreen

    app = make_app(hostile, tmp_path)

    async def run_before(pilot):
        await until(pilot, lambda: loaded(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_snapshot_hostile_main_screen(hostile, tmp_path, snap_compare):
    app = make_app(hostile, tmp_path)

    async def run_before(pilot):
        await until(pilot, lambda: loaded(app))
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)
