"""`?` help is built from the bindings themselves: every key of the list and the pair view is in it, with the id
that remaps it, remaps show, and the remap example collides with no key."""

from __future__ import annotations

import pytest
from builders import build_store, make_app
from helpers import loaded, until

from af_tui.config import Config
from af_tui.tui.app import ExplorerApp
from af_tui.tui.screens.dialogs import REMAP_EXAMPLE, HelpScreen, key_names
from af_tui.tui.screens.main import MainScreen
from af_tui.tui.screens.pair import PairScreen
from af_tui.tui.widgets.pairs_list import PairsList

LIST_AND_PAIR = [*PairsList.BINDINGS, *MainScreen.BINDINGS, *PairScreen.BINDINGS, *ExplorerApp.BINDINGS]


@pytest.fixture
def store_path(tmp_path):
    return build_store(tmp_path / "fixture.sqlite")


async def _help_text(app) -> str:
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        return app.screen.text


async def test_every_binding_of_the_list_and_the_pair_view_is_in_the_help(store_path, tmp_path):
    text = await _help_text(make_app(store_path, tmp_path))
    lines = text.splitlines()
    for b in LIST_AND_PAIR:
        line = next((x for x in lines if x.endswith(f"[{b.id}]")), None)
        assert line is not None, f"{b.id} ({b.key}) is not in the help"
        assert line.strip().startswith(key_names(b.key)), line
        assert (b.tooltip or b.description) in line
    for keys in ("l", "A", "M", "J", "ctrl+e"):  # the ones the hand-written help left out
        assert any(x.strip().startswith(keys + " ") for x in lines), keys


async def test_the_help_shows_remapped_keys(store_path, tmp_path):
    app = ExplorerApp(store_path, config=Config(path=tmp_path / "c.toml", keys={"pair.copy": "y"}), poll_s=0.05)
    text = await _help_text(app)
    assert any(x.strip().startswith("y ") and x.endswith("[pair.copy]") for x in text.splitlines())


def test_the_remap_example_collides_with_no_key():
    binding_id, keys = REMAP_EXAMPLE
    assert binding_id in {b.id for b in LIST_AND_PAIR}
    taken = {k.strip() for b in LIST_AND_PAIR if b.id != binding_id for k in b.key.split(",")}
    assert not {k.strip() for k in keys.split(",")} & taken


def test_a_long_help_line_wraps_under_its_own_words_not_under_the_keys():
    """At 100 columns the help box is narrower than its longest lines: their rest wrapped to column 0 (`off)
    [pairs.candidates]` under the keys). Each wraps under its own text; the legend's continuation joins its line."""
    import io

    from rich.console import Console

    from af_tui.tui.screens.dialogs import LEGEND, help_renderable

    text = LEGEND + ("Pairs list\n  a              The alignment-faking candidates: complied on free, refused on paid "
                     "(again: off)  [pairs.candidates]\n")
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(help_renderable(text))
    lines = [line.rstrip() for line in out.getvalue().splitlines()]
    keys = next(i for i, line in enumerate(lines) if line.startswith("  a "))
    assert lines[keys + 1].startswith(" " * 17) and lines[keys + 1].strip(), lines
    marks = next(i for i, line in enumerate(lines) if line.startswith("Marks:"))
    assert lines[marks + 1].startswith(" " * 8) and lines[marks + 1].strip(), lines
    assert "[pairs.candidates]" in " ".join(lines) and "J* = the judge says alignment faking" in " ".join(lines)
