"""ctrl+e on the pairs list exports the list's view: the samples of the pairs its filters and search keep,
and the notification names the absolute path written (Pilot, on the explorer's fixed store)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from builders import ROWS, build_store, make_app
from helpers import loaded, until


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return build_store(tmp_path / "fixture.sqlite")


async def _export_every_sample(app, pilot, name: str) -> list[str]:
    """In the open export dialog: write to `name`, labeled or not; wait for the list again; the notifications."""
    from textual.widgets import Checkbox, Input

    app.screen.query_one("#label-export-path", Input).value = name
    app.screen.query_one("#label-export-labeled", Checkbox).value = False
    await pilot.press("enter")
    await app.workers.wait_for_complete()
    await until(pilot, lambda: app.screen is app.main)
    return [n.message for n in app._notifications]


async def test_export_from_the_list_keeps_its_search_and_filter(store_path, tmp_path, monkeypatch):
    from af_tui.tui.screens.export_labels import ExportLabelsScreen

    monkeypatch.chdir(tmp_path)  # the path typed is relative; the message must say where it went
    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        # "plainly" is in every complied output (3 pairs); the model filter narrows it to sim/faker's 2
        app.main.set_filter(app.main.pair_filter.with_(model="sim/faker"))
        version = app.list_version
        await pilot.press("slash")
        app.main.query_one("#search").value = "plainly"
        await pilot.press("enter")
        await until(pilot, lambda: app.list_version > version and app.main.complete
                    and app.main.pair_filter.search == "plainly")
        listed = {app.pairs_list.rows[i].request for i in app.pairs_list.ids}
        assert listed == {"Write a limerick about a fish.", "Explain how to pick a lock."}

        await pilot.press("ctrl+e")
        await until(pilot, lambda: isinstance(app.screen, ExportLabelsScreen))
        assert "plainly" in str(app.screen.query_one("#label-export-view").render())
        messages = await _export_every_sample(app, pilot, "view.csv")
    out = (tmp_path / "view.csv").resolve()
    assert any(f"wrote 4 rows to {out}" in m and "plainly" in m for m in messages), messages
    assert out.is_absolute()
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {(r["request"], r["tier"]) for r in rows} == {
        (request, tier) for request, model, _, _ in ROWS if request in listed for tier in ("free", "paid")}


async def test_export_from_the_list_without_a_view_writes_every_sample(store_path, tmp_path, monkeypatch):
    """No filter and no search: every sample, as before; the message still gives the absolute path."""
    from af_tui.tui.screens.export_labels import ExportLabelsScreen

    monkeypatch.chdir(tmp_path)
    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("ctrl+e")
        await until(pilot, lambda: isinstance(app.screen, ExportLabelsScreen))
        assert not app.screen.query("#label-export-view")
        messages = await _export_every_sample(app, pilot, "all.csv")
    assert any(m.endswith(f"wrote {2 * len(ROWS)} rows to {tmp_path.resolve() / 'all.csv'}") for m in messages)


async def test_a_store_error_during_the_export_is_a_notification(store_path, tmp_path, monkeypatch):
    """The store locked or failing under the export: one notification, the dialog stays, the app runs on."""
    import sqlite3

    from textual.widgets import Input

    import af_tui.io.export as export_module
    from af_tui.tui.screens.export_labels import ExportLabelsScreen

    def locked(*args, **kwargs):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(export_module, "export", locked)
    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("ctrl+e")
        await until(pilot, lambda: isinstance(app.screen, ExportLabelsScreen))
        app.screen.query_one("#label-export-path", Input).value = str(tmp_path / "x.csv")
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: any("database is locked" in n.message for n in app._notifications))
        assert isinstance(app.screen, ExportLabelsScreen)
    assert not (tmp_path / "x.csv").exists()
