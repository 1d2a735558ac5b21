"""Keys in the order they are typed on the explorer's list: a burst (no pause between keys, as tmux send-keys,
a fast typist or a paste gives them) after `/` belongs to the search box; Esc hands the keys back to the list."""

from __future__ import annotations

from builders import build_store, make_app
from helpers import burst, loaded, settle, until
from textual import events
from textual.widgets import Input

from af_tui.tui.screens.main import MainScreen


async def test_search_takes_a_burst_typed_after_slash(tmp_path):
    db = build_store(tmp_path / "s.sqlite")
    app = make_app(db, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: loaded(app))
        version = app.list_version
        await burst(pilot, "slash", *"training", "enter")
        await until(pilot, lambda: app.list_version > version and not app.keys_held)
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)  # Enter searched; it did not open a pair
        assert app.main.pair_filter.search == "training"
        assert app.main.pair_filter.free_outcome is None  # `a` (candidates) went into the search box
        assert not isinstance(app.focused, Input)  # the search submitted, the list has the keys again
        # Esc hands the keys back to the list at once: `x` then clears, it is not typed into the search
        await burst(pilot, "slash", *"abc", "escape", "x")
        await until(pilot, lambda: not app.keys_held)
        await settle(pilot)
        assert app.main.query_one("#search", Input).value == ""  # x cleared the filter and the search
        assert app.main.pair_filter.search == ""
        assert not isinstance(app.focused, Input)
        await check_escape_and_a_letter_read_at_once(app, pilot)


async def check_escape_and_a_letter_read_at_once(app, pilot) -> None:
    """`Escape j Enter` in one burst from a pair view (tmux send-keys): the terminal sends Esc and j as the bytes
    of alt+j, which no binding takes; they are Esc (back to the list), j (the next row), then Enter opens it."""
    from af_tui.tui.screens.pair import PairScreen

    await pilot.press("g", "enter")  # the first pair
    await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
    first = app.screen.detail.id
    for event in (events.Key("alt+j", "j"), events.Key("enter", "\r")):  # what the parser makes of ESC j CR
        event.set_sender(app)
        app._driver.send_message(event)
    await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None
                and app.screen.detail.id != first and not app.keys_held)
    assert app.screen.detail.id == app.pairs_list.ids[1]


async def test_a_paste_into_the_search_lands_whole(tmp_path):
    db = build_store(tmp_path / "s.sqlite")
    app = make_app(db, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: loaded(app))
        # `/`, the paste and enter queued before the app handles the first (as `burst` sends keys)
        for event in (events.Key("slash", "/"), events.Paste("a training x"), events.Key("enter", None)):
            event.set_sender(app)
            app._driver.send_message(event)
        await until(pilot, lambda: app.main.pair_filter.search == "a training x" and not app.keys_held)
        assert isinstance(app.screen, MainScreen)


async def test_a_dialog_opened_in_a_burst_takes_the_keys_after_it(tmp_path):
    """ctrl+e opens the export dialog; the keys typed after it in the same burst go to its path input."""
    from af_tui.tui.screens.export_labels import ExportLabelsScreen

    db = build_store(tmp_path / "s.sqlite")
    out = tmp_path / "burst.csv"
    app = make_app(db, tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: loaded(app))
        await burst(pilot, "ctrl+e", *["backspace"] * len("labels.csv"), *str(out))
        await until(pilot, lambda: isinstance(app.screen, ExportLabelsScreen) and not app.keys_held)
        await settle(pilot)
        assert app.screen.query_one("#label-export-path", Input).value == str(out)

