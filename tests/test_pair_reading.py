"""The pair view's visible tier focus (▶ column, Tab / ← / →, tier keys that say their tier) and reading:
search hits highlighted with next / previous hit keys in the pair and transcript views, wrap in the
transcript view."""

from __future__ import annotations

from builders import build_store, make_app
from helpers import loaded, settle, until

from af_tui.explorer.filters import search_words
from af_tui.tui.screens.transcript import find_hits
from af_tui.tui.widgets.sample_panel import HIT_STYLE, model_text


def test_search_words_and_highlight_are_plain_text():
    assert search_words('prim* "lock" fish') == ["fish", "lock", "prim"]
    text = model_text("[bold]A Fish[/bold] and a fish", ["fish"])
    assert text.plain == "[bold]A Fish[/bold] and a fish"  # markup stays text
    assert [text.plain[s.start:s.end] for s in text.spans if s.style == HIT_STYLE] == ["Fish", "fish"]
    assert find_hits(["a fish", "no", "FISH fish"], ["fish"]) == [(0, 2, 6), (2, 0, 4), (2, 5, 9)]


async def _open_pair(pilot, app):
    from af_tui.tui.screens.pair import PairScreen

    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
    await settle(pilot)
    return app.screen


async def test_tier_focus_is_visible_and_moves_with_tab_and_arrows(tmp_path):
    app = make_app(build_store(tmp_path / "s.sqlite"), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        screen = await _open_pair(pilot, app)
        free, paid = screen.query_one("#free"), screen.query_one("#paid")
        assert screen.tier == "free" and str(free.border_title).startswith("▶") and "▶" not in str(paid.border_title)
        await pilot.press("tab")  # one Tab, not three: the section titles are not stops
        assert screen.tier == "paid" and paid.has_class("-current") and not free.has_class("-current")
        assert str(paid.border_title).startswith("▶")
        await pilot.press("left")
        assert screen.tier == "free"
        await pilot.press("right", "t")
        from af_tui.tui.screens.transcript import TranscriptScreen

        await until(pilot, lambda: isinstance(app.screen, TranscriptScreen))
        assert app.screen.tier == "paid" and "paid tier" in app.screen.sub_title
        await pilot.press("escape")
        await pilot.press("c")
        await until(pilot, lambda: any("both tiers" in str(n.message) for n in app._notifications))


async def test_search_hits_highlighted_with_next_hit_keys(tmp_path):
    app = make_app(build_store(tmp_path / "s.sqlite"), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        version = app.list_version
        await pilot.press("slash", *"training", "enter")
        await until(pilot, lambda: app.list_version > version)
        screen = await _open_pair(pilot, app)
        panel = screen.query_one("#free")
        assert panel.words == ["training"]
        scratch = panel.query(".scratchpad").first()
        assert any(s.style == HIT_STYLE for s in scratch.content.spans)
        await pilot.press("greater_than_sign")
        assert panel.hit == 0
        await pilot.press("greater_than_sign")
        assert panel.hit == 0  # one hit: next wraps round to it
        assert any("hit 1 of 1" in str(n.message) for n in app._notifications)
        await pilot.press("t")
        from af_tui.tui.screens.transcript import TranscriptScreen

        await until(pilot, lambda: isinstance(app.screen, TranscriptScreen))
        ts = app.screen
        assert ts.hits and ts.hit == 0 and "hit 1 of" in ts.sub_title
        from textual.widgets import TextArea

        area = ts.query_one(TextArea)
        assert area.selected_text.lower() == "training"  # the current hit is selected (highlighted)
        assert area.soft_wrap and "wrapped" in ts.sub_title
        await pilot.press("w")
        assert not area.soft_wrap and "not wrapped" in ts.sub_title
