"""One way to say each thing: one p-value format, whole intervals when `stats` is piped, the quit dialog's
resume command, a saved view setting that says where, the demo's run starting, the no-match hint."""

from __future__ import annotations

import pytest
from builders import build_store, make_app
from helpers import af_main_output, loaded, until

from af_tui.analysis.estimators import format_p


def test_one_p_value_format():
    assert format_p(0.0123) == "p = 0.012" and format_p(0.0123, named=False) == "0.012"
    assert format_p(6.6e-05) == "p < 0.001" and format_p(1e-9, named=False) == "< 0.001"
    assert format_p(1.0) == "p = 1.000" and format_p(None) == "–" and format_p(float("nan")) == "–"


def test_stats_piped_writes_whole_intervals(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "60")  # even a narrow terminal setting does not cut a file's rows
    db = build_store(tmp_path / "s.sqlite")
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db))
    assert code == 0
    assert "…" not in out
    assert "pp [" in out or "[" in out
    for line in out.splitlines():
        if "sim/faker" in line:
            assert line.count("[") == line.count("]")  # no interval cut in half


class _Proc:
    def __init__(self, args, alive=True):
        self.args, self.alive = args, alive

    def poll(self):
        return None if self.alive else 0


def test_quit_dialog_names_the_resume_command():
    from af_tui.tui.screens.dialogs import resume_command

    proc = _Proc(["/usr/bin/python3", "-m", "af_tui", "run", "--model", "sim/faker", "--run-name", "my run"])
    assert resume_command(proc) == "af-tui run --model sim/faker --run-name 'my run'"
    assert resume_command(_Proc(["something", "else"])) is None


async def test_quit_dialog_shows_it(tmp_path):
    from af_tui.tui.screens.dialogs import StopRunScreen

    db = build_store(tmp_path / "s.sqlite", status="running")
    proc = _Proc(["py", "-m", "af_tui", "demo", "--no-tui", "--db", str(db)])
    app = make_app(db, tmp_path, run_process=proc)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, StopRunScreen))
        text = " ".join(str(w.render()) for w in app.screen.query("Label"))
        assert "af-tui demo --no-tui --db" in text and "--name" not in text
        await pilot.press("n")
        proc.alive = False


async def test_saved_view_setting_says_where(tmp_path):
    db = build_store(tmp_path / "s.sqlite")
    app = make_app(db, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("S")
        await until(pilot, lambda: any("saved in" in str(n.message) for n in app._notifications))
        note = next(str(n.message) for n in app._notifications if "saved in" in str(n.message))
        assert "statistics panel hidden" in note and str(tmp_path / "config.toml") in note
        assert "show_stats = false" in (tmp_path / "config.toml").read_text()


async def test_demo_shows_its_run_starting(tmp_path):
    from af_tui.store.db import Store

    db = tmp_path / "empty.sqlite"
    with Store(db) as store:
        store.start_run("demo", {"models": ["sim/faker"]}, planned=10)
    proc = _Proc(["py", "-m", "af_tui", "demo", "--no-tui", "--db", str(db)])
    app = make_app(db, tmp_path, run_process=proc)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.main.loaded and app.main.query_one("#empty").display)
        text = str(app.main.query_one("#empty").render())
        assert "Starting the run" in text and "no samples yet" not in text
        proc.alive = False


@pytest.mark.parametrize("search", ["zzznothingmatches"])
async def test_search_that_finds_nothing_says_so(tmp_path, search):
    db = build_store(tmp_path / "s.sqlite")
    app = make_app(db, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        version = app.list_version
        await pilot.press("slash", *search, "enter")
        await until(pilot, lambda: app.list_version > version and app.main.query_one("#empty").display)
        text = str(app.main.query_one("#empty").render())
        assert "No pair matches" in text and search in text and "x clears" in text
        await pilot.press("x")
        await until(pilot, lambda: len(app.pairs_list.ids) == 6 and not app.main.query_one("#empty").display)
