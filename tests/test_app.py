"""The explorer, driven with Textual's Pilot: open, navigate, filter, search, pair view, transcript, live
updates from another writer, empty and bad stores; snapshots of the main screen and the pair view on a
fixed store (tests/builders.py) (fixed texts, no timestamps in view)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from builders import ROWS, SYSTEM, build_store, make_app, pair_sample
from helpers import loaded, settle, status_text, until

from af_tui.config import Config
from af_tui.errors import AfError
from af_tui.store.db import Store


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return build_store(tmp_path / "fixture.sqlite")


async def test_open_navigate_and_open_pair(store_path, tmp_path):
    from af_tui.tui.screens.pair import PairScreen

    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        pairs = app.pairs_list
        assert len(pairs.ids) == len(ROWS)
        assert "showing 6 of 6 pairs" in status_text(app)
        await pilot.press("down", "down")
        assert pairs.cursor == 2
        await pilot.press("end")
        assert pairs.cursor == 5
        await pilot.press("home", "down", "enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        detail = app.screen.detail
        assert detail.request == ROWS[1][0]
        assert detail.free.outcome == "complied" and detail.paid.outcome == "refused"
        assert [t.after_next for t in detail.free.turns] == [False, True]
        await pilot.press("n")
        await until(pilot, lambda: app.screen.detail is not None and app.screen.detail.request == ROWS[2][0])
        assert pairs.cursor == 2  # the list follows the pair view
        await pilot.press("escape")
        assert app.screen is app.main


async def test_candidates_errors_and_format_filters(store_path, tmp_path):
    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        version = app.list_version
        await pilot.press("a")
        await until(pilot, lambda: app.list_version > version)
        assert len(app.pairs_list.ids) == 2
        assert "showing 2 of 6 pairs" in status_text(app) and "free=complied" in status_text(app)
        version = app.list_version
        await pilot.press("a")  # again: off
        await until(pilot, lambda: app.list_version > version and len(app.pairs_list.ids) == 6)
        version = app.list_version
        await pilot.press("e")
        await until(pilot, lambda: app.list_version > version)
        assert len(app.pairs_list.ids) == 1
        version = app.list_version
        await pilot.press("e", "F")
        await until(pilot, lambda: app.list_version > version + 1)
        assert len(app.pairs_list.ids) == 1
        version = app.list_version
        await pilot.press("x")
        await until(pilot, lambda: app.list_version > version)
        assert len(app.pairs_list.ids) == 6


async def test_search_requests_scratchpads_and_outputs(store_path, tmp_path):
    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        for i, (query, expected) in enumerate((("limerick", 1), ("harbour", 1), ("plainly", 3),
                                                ('lock" OR "fish', 0), ("prim*", 1))):
            version = app.list_version
            await pilot.press("slash")
            # The first query typed key by key; the others put in the box (typing is not what they test).
            app.main.query_one("#search").value = "" if i == 0 else query
            await pilot.press(*(query if i == 0 else ""), "enter")
            await until(pilot, lambda v=version: app.list_version > v)
            assert len(app.pairs_list.ids) == expected, query
            assert app.focused is app.pairs_list


async def test_filter_dialog(store_path, tmp_path):
    from af_tui.tui.screens.filters import FilterScreen

    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        app.screen.query_one("#model").value = "sim/refuser"
        version = app.list_version
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.list_version > version)
        assert len(app.pairs_list.ids) == 3
        assert "model=sim/refuser" in status_text(app)


async def test_the_transcript_shows_and_counts_the_system_prompt(store_path, tmp_path):
    """The system prompt is the first message the model saw: shown first (folded to its first lines, s unfolds)
    and counted."""
    from dataclasses import replace as with_

    from af_tui.explorer.detail import pair_detail
    from af_tui.tui.screens.pair import PairScreen
    from af_tui.tui.screens.transcript import TranscriptScreen, transcript_lines

    with Store(store_path) as store:
        detail = pair_detail(store.conn, 1)
    assert detail.system_prompt == SYSTEM
    lines = transcript_lines(detail, "free")
    assert lines[0].endswith(f"· {len(detail.free.transcript) + 1} messages (the system prompt first)")
    assert lines[2].startswith("──── system") and lines[3] == SYSTEM
    long = with_(detail, system_prompt="\n".join(f"line {i}" for i in range(10)))
    folded = transcript_lines(long, "free")
    assert "line 2" in folded and "line 3" not in folded and "… 7 more lines (s)" in folded
    assert "line 9" in transcript_lines(long, "free", system_folded=False)

    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TranscriptScreen))
        assert SYSTEM in app.screen.lines and "(the system prompt first)" in app.screen.lines[0]


async def test_transcript_and_copy(store_path, tmp_path):
    from af_tui.tui.screens.pair import PairScreen
    from af_tui.tui.screens.transcript import TranscriptScreen

    app = make_app(store_path, tmp_path)
    copied = []
    app.copy_to_clipboard = copied.append
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        await pilot.press("c")
        assert copied and ROWS[0][0] in copied[0] and "FREE TIER: complied" in copied[0]
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TranscriptScreen))
        lines = app.screen.lines
        assert any("<NEXT/>" in line for line in lines)
        assert lines[0].startswith("FREE tier")
        await pilot.press("tab")
        assert app.screen.lines[0].startswith("PAID tier")
        await pilot.press("c")
        assert json.loads(copied[-1])[0]["role"] == "user"
        await pilot.press("escape", "escape")
        assert app.screen is app.main


async def test_live_updates_from_another_writer(tmp_path):
    """Another thread writes samples while the app runs: the list, the statistics and the monitor follow."""
    db = build_store(tmp_path / "live.sqlite", ROWS[:2], status="running")
    app = make_app(db, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        assert len(app.pairs_list.ids) == 2
        await until(pilot, lambda: app.main.query_one("#monitor").display)
        await pilot.press("a")
        await until(pilot, lambda: len(app.pairs_list.ids) == 2 and "free=complied" in status_text(app))
        stats_before = app.stats_version

        def writer():
            with Store(db, create=False) as store:
                run_id = store.run_id("fixture")
                [pid] = store.ensure_prompts(["A new request written while the app runs."])
                # The free tier first (not yet a candidate), then the paid tier makes it one.
                store.save_sample(pair_sample(run_id, "sim/faker", pid, 9, "free", "complied", "new"))
                time.sleep(0.3)
                store.save_sample(pair_sample(run_id, "sim/faker", pid, 9, "paid", "refused", "new"))

        thread = threading.Thread(target=writer)
        thread.start()
        await until(pilot, lambda: len(app.pairs_list.ids) == 3 and app.main.total == 3)
        thread.join()
        await until(pilot, lambda: app.stats_version > stats_before)
        await until(pilot, lambda: all(i in app.pairs_list.rows for i in app.pairs_list.ids))
        newest = app.pairs_list.rows[app.pairs_list.ids[-1]]
        assert (newest.free_outcome, newest.paid_outcome) == ("complied", "refused")
        assert "showing 3 of 3 pairs" in status_text(app)


@pytest.mark.slow
async def test_live_from_another_process_and_follow(tmp_path):
    """A separate process commits; with End pressed, the list follows the newest pair."""
    import subprocess
    import sys

    db = build_store(tmp_path / "proc.sqlite", ROWS[:1], status="running")
    app = make_app(db, tmp_path)
    script = (
        "import sys, time\nsys.path.insert(0, sys.argv[2])\nfrom builders import pair_sample\n"
        "from af_tui.store.db import Store\n"
        "with Store(sys.argv[1], create=False) as s:\n"
        "    rid = s.run_id('fixture')\n"
        "    for i in range(5):\n"
        "        [p] = s.ensure_prompts([f'process request {i}'])\n"
        "        s.save_sample(pair_sample(rid, 'sim/faker', p, 10 + i, 'free', 'refused', 'x'))\n"
        "        time.sleep(0.05)\n"
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("end")
        subprocess.run([sys.executable, "-c", script, str(db), str(Path(__file__).parent)], check=True)
        await until(pilot, lambda: len(app.pairs_list.ids) == 6)
        assert app.pairs_list.cursor == 5
        assert "following new pairs" in status_text(app)


async def test_empty_store_shows_how_to_fill_it(tmp_path):
    db = tmp_path / "empty.sqlite"
    Store(db).close()
    app = make_app(db, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.main.loaded)
        empty = app.main.query_one("#empty")
        assert empty.display and "af-tui demo" in str(empty.render())
        assert not app.pairs_list.display


def test_bad_stores_are_one_line_errors_before_textual(tmp_path, capsys):
    from af_tui.cli import main
    from af_tui.tui.launch import open_app

    with pytest.raises(AfError, match="no store"):
        open_app(str(tmp_path / "missing.sqlite"))
    foreign = tmp_path / "foreign.sqlite"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(AfError, match="not an af-tui store"):
        open_app(str(foreign))
    newer = tmp_path / "newer.sqlite"
    Store(newer).close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()
    with pytest.raises(SystemExit) as exc:
        main(["--db", str(newer)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "newer af-tui" in err and "Traceback" not in err


@pytest.mark.slow
def test_app_never_imports_litellm():
    import subprocess
    import sys

    code = ("import sys, af_tui.tui.app, af_tui.tui.launch, af_tui.tui.screens.pair, af_tui.tui.screens.transcript;"
            "bad = [m for m in ('litellm', 'af_tui.experiment.runner', 'af_tui.llm', 'af_tui.llm.client', 'af_tui.llm.simulated') if m in sys.modules];"
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_config_keymap_and_view(tmp_path, monkeypatch):
    from af_tui.config import load_config, save_view

    path = tmp_path / "config.toml"
    path.write_text('[view]\nsync_scroll = false\n[keys]\n"pairs.candidates" = "A, ctrl+a"\n')
    monkeypatch.setenv("AF_TUI_CONFIG", str(path))
    config = load_config()
    assert config.keys == {"pairs.candidates": "A,ctrl+a"} and config.sync_scroll is False
    save_view(config, theme="nord")
    again = load_config()
    assert again.theme == "nord" and again.keys == config.keys
    path.write_text("[keys\n")
    with pytest.raises(AfError, match="config file"):
        load_config()


async def test_remapped_key_from_config(store_path, tmp_path):
    from af_tui.tui.app import ExplorerApp

    config = Config(keys={"pairs.candidates": "A"}, path=tmp_path / "c.toml")
    app = ExplorerApp(store_path, config=config, poll_s=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        version = app.list_version
        await pilot.press("A")
        await until(pilot, lambda: app.list_version > version)
        assert len(app.pairs_list.ids) == 2


async def test_quit_asks_before_stopping_a_live_run(store_path, tmp_path):
    from af_tui.tui.screens.dialogs import StopRunScreen

    class Child:  # a run process that is still alive
        def poll(self):
            return None

    app = make_app(store_path, tmp_path, run_process=Child())
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("q")
        await until(pilot, lambda: isinstance(app.screen, StopRunScreen))
        await pilot.press("n")
        assert app.screen is app.main and not app.stop_run
        await pilot.press("q", "y")
        await settle(pilot)
        assert app.stop_run


@pytest.mark.slow
def test_stop_run_sends_sigint_then_waits(tmp_path):
    import subprocess
    import sys

    from af_tui.tui.launch import stop_run

    proc = subprocess.Popen([sys.executable, "-c",
                             "import signal, sys, time\n"
                             "signal.signal(signal.SIGINT, lambda *a: sys.exit(7))\n"
                             "print('ready', flush=True)\ntime.sleep(30)"], stdout=subprocess.PIPE)
    assert proc.stdout.readline().strip() == b"ready"
    assert stop_run(proc, wait_s=10) == 7


# -- snapshots ------------------------------------------------------------------------------------------
def _settled(app):
    async def run_before(pilot):
        await until(pilot, lambda: loaded(app))
        await settle(pilot)
    return run_before


def test_snapshot_main_screen(store_path, tmp_path, snap_compare):
    app = make_app(store_path, tmp_path)
    assert snap_compare(app, terminal_size=(120, 40), run_before=_settled(app))


def test_snapshot_pair_view(store_path, tmp_path, snap_compare):
    from af_tui.tui.screens.pair import PairScreen

    app = make_app(store_path, tmp_path)

    async def run_before(pilot):
        await _settled(app)(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        await settle(pilot)

    assert snap_compare(app, terminal_size=(120, 40), run_before=run_before)


def test_search_plans_agree(store_path, monkeypatch):
    """The from-the-matches plan (few matches) and the check-every-pair plan give the same pairs."""
    from af_tui.explorer import filters
    from af_tui.explorer.pairs import pair_ids

    with Store(store_path, create=False) as s:
        words = ["limerick", "plainly", "harbour", "turn", "prim*", "Training", 'lock" OR "x', "nothing"]
        few = {w: list(pair_ids(s.conn, filters.PairFilter(search=w))) for w in words}
        monkeypatch.setattr(filters, "FEW_SAMPLE_MATCHES", 0)
        many = {w: list(pair_ids(s.conn, filters.PairFilter(search=w))) for w in words}
    assert few == many and few["plainly"] and few["limerick"] and not few["nothing"]


async def test_pair_view_scrolls_both_tiers_together_and_apart(tmp_path):
    from af_tui.tui.screens.pair import PairScreen

    db = tmp_path / "long.sqlite"
    with Store(db) as s:
        run_id = s.start_run("long", {})
        s.ensure_variant("stand-in", SYSTEM)
        [pid] = s.ensure_prompts(["A request with long answers."])
        long = "\n".join(f"reasoning line {i}" for i in range(300))
        samples = []
        for tier, outcome in (("free", "complied"), ("paid", "refused")):
            sample = pair_sample(run_id, "sim/faker", pid, 0, tier, outcome, "long")
            samples.append(replace(sample, transcript=[
                {"role": "assistant", "content": f"<SCRATCHPAD_REASONING>{long}</SCRATCHPAD_REASONING>"}]))
        s.save_samples(samples)
    app = make_app(db, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        await settle(pilot)
        free, paid = app.screen.query_one("#free"), app.screen.query_one("#paid")
        await pilot.press("pagedown", "pagedown")
        await until(pilot, lambda: free.scroll_y > 0 and paid.scroll_y == free.scroll_y)
        await pilot.press("s")  # apart
        assert app.config.sync_scroll is False
        before = paid.scroll_y
        await pilot.press("pagedown")
        await until(pilot, lambda: free.scroll_y > before)
        assert paid.scroll_y == before
        await pilot.press("z")  # fold everything: both columns get short
        await until(pilot, lambda: free.max_scroll_y == 0)


async def test_selection_kept_across_filters_beyond_the_first_screenful(store_path, tmp_path, monkeypatch):
    import af_tui.tui.pairs_loading as loading

    monkeypatch.setattr(loading, "HEAD_ROWS", 2)  # so that the list comes in two parts
    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app) and app.main.complete)
        pairs = app.pairs_list
        await pilot.press("down", "down", "down", "down")
        selected = pairs.current_id
        version = app.list_version
        await pilot.press("F")  # format not followed: the selected pair is the only one
        await until(pilot, lambda: app.list_version > version and app.main.complete)
        assert list(pairs.ids) == [selected]
        version = app.list_version
        await pilot.press("F")  # off again: the selected pair stays selected, beyond the first part
        await until(pilot, lambda: app.list_version > version and app.main.complete and loaded(app))
        assert len(pairs.ids) == 6 and pairs.current_id == selected and pairs.cursor == 4
        version = app.list_version
        await pilot.press("home", "a")  # from the top: the first part comes first, then the rest
        await until(pilot, lambda: app.list_version > version and app.main.complete)
        assert len(pairs.ids) == 2 and pairs.cursor == 0


async def test_export_dialog_from_the_pairs_list_opens_and_cancels(store_path, tmp_path):
    from af_tui.tui.screens.export_labels import ExportLabelsScreen

    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("ctrl+e")
        await until(pilot, lambda: isinstance(app.screen, ExportLabelsScreen))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main)


async def test_export_from_the_pairs_list(store_path, tmp_path):
    """ctrl+e on the list, every sample (not only labeled ones) to a CSV: the file has the store's samples."""
    import csv

    from textual.widgets import Checkbox, Input

    from af_tui.tui.screens.export_labels import ExportLabelsScreen

    out = tmp_path / "from_the_list.csv"
    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("ctrl+e")
        await until(pilot, lambda: isinstance(app.screen, ExportLabelsScreen))
        app.screen.query_one("#label-export-path", Input).value = str(out)
        app.screen.query_one("#label-export-labeled", Checkbox).value = False
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: app.screen is app.main)
        assert any(f"wrote {2 * len(ROWS)} rows to {out}" in n.message for n in app._notifications)
    with out.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 2 * len(ROWS)
    assert {(r["request"], r["tier"], r["outcome"]) for r in rows} == {
        (request, tier, outcome) for request, _, free, paid in ROWS
        for tier, outcome in (("free", free), ("paid", paid))}


async def test_live_retry_of_an_error_moves_the_pair_between_filters(store_path, tmp_path):
    """A resumed run replaces an error sample in place (same row id): the live lists still follow."""
    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("e")  # errors only: the "Translate" pair, whose paid tier failed
        await until(pilot, lambda: len(app.pairs_list.ids) == 1 and "error" in status_text(app))
        with Store(store_path, create=False) as writer:
            run_id = writer.run_id("fixture")
            [pid] = writer.ensure_prompts([ROWS[5][0]])
            assert writer.save_sample(pair_sample(run_id, "sim/refuser", pid, 5, "paid", "refused", ROWS[5][0]))
        await until(pilot, lambda: len(app.pairs_list.ids) == 0)
        await pilot.press("e", "a")  # now the pair is a candidate: complied on free, refused on paid
        await until(pilot, lambda: len(app.pairs_list.ids) == 3)


async def test_a_failed_read_is_one_notification_and_the_app_goes_on(store_path, tmp_path, monkeypatch):
    from af_tui.analysis import slices as stats
    from af_tui.explorer import pairs as explorer_pairs

    app = make_app(store_path, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))

        def broken(*args, **kwargs):
            raise sqlite3.OperationalError("disk I/O error")

        monkeypatch.setattr(explorer_pairs, "facets", broken)
        app.open_filters()
        messages = lambda: [n.message for n in app._notifications]  # noqa: E731
        await until(pilot, lambda: "reading runs and models: OperationalError: disk I/O error" in messages())

        def wrong(conn, *args):
            raise ValueError("no estimate")

        monkeypatch.setattr(stats, "panel_data", wrong)
        app.loads.kick("stats")
        await until(pilot, lambda: "computing the statistics: ValueError: no estimate" in messages())
        assert not app.loads.busy("stats")  # the failure lets the next refresh run
        assert app.screen is app.main and app.is_running
