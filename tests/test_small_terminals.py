"""Small terminals: at 100×30 the list keeps 18 rows or more (the panels shrink), the request column gets
the room, every box folds; one pair number everywhere; snapshots of the main screen and the pair view at
160×48, 100×30 and 80×24."""

from __future__ import annotations

import pytest
from builders import ROWS, add_judgement, build_store, make_app
from helpers import loaded, settle, until

from af_tui.tui.widgets.pairs_list import columns, row_text

SIZES = [(160, 48), (100, 30), (80, 24)]
MANY = [(f"Request number {i}: a long request whose words run on well past the model column", "sim/faker",
         "complied", "refused") for i in range(60)]


FOUR = [(f"Request {i} for {model}: words enough to fill the request column", model, free, paid)
        for i, (free, paid) in enumerate([("complied", "refused"), ("complied", "complied"), ("refused", "refused"),
                                          ("complied", "refused"), ("format_not_followed", "refused")] * 2)
        for model in ("sim/complier", "sim/faker", "sim/refuser", "sim/sloppy")]


def judged_store(path):
    """Four models, a judge on every complied sample, two annotators on them (one tie each third sample)."""
    import sqlite3

    from af_tui.store.labels import save_label

    build_store(path, rows=FOUR)
    conn = sqlite3.connect(path)
    complied = [r[0] for r in conn.execute("SELECT id FROM samples WHERE outcome = 'complied' ORDER BY id")]
    for i, sid in enumerate(complied):
        verdict = "alignment_faking" if i % 2 else "not_alignment_faking"
        add_judgement(conn, sid, verdict if i % 5 else "alignment_faking", score=0.5 + 0.1 * (i % 5))
        save_label(conn, sid, "alice", verdict=verdict, created_at=1_700_000_000 + i)
        other = verdict if i % 3 else ("not_alignment_faking" if i % 2 else "alignment_faking")
        save_label(conn, sid, "bob", verdict=other, created_at=1_700_000_000 + i)
    conn.close()
    return path


def _panels_shown(app) -> bool:
    judge = app.main.query_one("#judge-figures")
    return loaded(app) and judge.display and judge.figures is not None


def test_judge_columns_by_priority():
    from rich.text import Text

    from af_tui.tui.widgets.judge_figures import ORDER, fitting_columns

    rows = [{c: Text("x" * 6) for c in ORDER}]
    assert fitting_columns(rows, None) == ORDER
    narrow = fitting_columns(rows, 60)
    assert narrow[:3] == ("judge", "vs", "n") and "κ [95% CI]" in narrow and len(narrow) < len(ORDER)
    assert "best thr. (κ in-sample; CV)" not in narrow  # the lowest priority goes first
    assert sum(max(len(c), 6) for c in narrow) + 2 * (len(narrow) - 1) <= 60


async def test_both_panels_fit_100x30(tmp_path):
    """At 100×30 on a judged and labeled store: 18 list rows, every model's statistics row on screen or one
    Tab and ↓ away, the columns a ← → away, the AF source named, and the judge's rows."""
    from af_tui.tui.widgets.stats_panel import StatsPanel

    app = make_app(judged_store(tmp_path / "s.sqlite"), tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: _panels_shown(app))
        await settle(pilot)
        assert app.pairs_list.size.height >= 18
        judge = app.main.query_one("#judge-figures")
        assert judge.size.height >= 2  # its header and a row (the title is in its border)
        assert "vs" in judge.figures.columns[1].header and len(judge.figures.rows) >= 1
        stats = app.main.query_one(StatsPanel)
        assert "AF source: people" in str(stats.border_title)
        assert [c.value for c in stats.columns][:6] == ["model", "free_rates", "paid_rates", "gap", "p", "af"]
        for _ in range(4):
            await pilot.press("tab")
            if app.focused is stats:
                break
        assert app.focused is stats
        for _ in range(stats.row_count):
            await pilot.press("down")
        await settle(pilot)
        assert stats.cursor_row == stats.row_count - 1 == 3
        assert stats.max_scroll_x > 0  # the counts, test and rule columns are to the right
        await pilot.press("right", "right", "right", "right", "right", "right", "right", "right")
        await settle(pilot)
        assert stats.scroll_x > 0 and stats.fixed_columns == 1  # the model column stays
        # the judge's other rows (bob, majority): the next Tab, then ↓
        assert "Tab ↑↓: rows 1–1 of 3" in str(judge.border_title)
        await pilot.press("tab")
        assert app.focused is judge
        await pilot.press("down", "down", "down")  # one past the last row: stays on it
        await settle(pilot)
        assert judge.first == 2 and str(judge.figures.columns[1]._cells[0]).startswith("majority")
        assert "rows 3–3 of 3" in str(judge.border_title)
        await check_live_run(app, pilot, tmp_path / "s.sqlite")  # the same explorer, a run going


def test_narrow_columns_give_the_request_room():
    wide, narrow = dict(columns(160)), dict(columns(100))
    assert narrow["model"] < wide["model"] and narrow["variant"] < wide["variant"]
    assert dict(columns(80))["model"] <= narrow["model"]
    assert row_text(20, None).plain.split()[0] == "20"  # `#` is the pair id, as in the pair view's title


async def test_list_keeps_18_rows_at_100x30_and_boxes_fold(tmp_path):
    app = make_app(build_store(tmp_path / "s.sqlite", rows=MANY, status="running"), tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: loaded(app))
        await settle(pilot)
        assert app.main.has_class("-short")
        assert app.pairs_list.size.height >= 18
        monitor = app.main.query_one("#monitor")
        assert monitor.size.height <= 1  # one line already on a short terminal (M opens it: check_live_run)
        judge = app.main.query_one("#judge-figures")
        folded = judge.has_class("-folded")  # folded already while the run is live (check_live_run)
        await pilot.press("J")
        assert judge.has_class("-folded") != folded
        await pilot.press("S")
        assert not app.main.query_one("#stats").display


async def test_list_number_is_the_pair_id(tmp_path):
    from af_tui.tui.screens.pair import PairScreen

    app = make_app(build_store(tmp_path / "s.sqlite"), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        pair_id = app.screen.detail.id
        assert app.screen.sub_title == f"pair {pair_id}"
        assert row_text(pair_id, None).plain.split()[0] == str(pair_id) == str(app.pairs_list.ids[1])


def _settled(app):
    async def run_before(pilot):
        await until(pilot, lambda: loaded(app))
        await settle(pilot)
    return run_before


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_main_screen_sizes(tmp_path, snap_compare, size):
    app = make_app(build_store(tmp_path / "s.sqlite", rows=ROWS + MANY[:30]), tmp_path)
    assert snap_compare(app, terminal_size=size, run_before=_settled(app))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_main_screen_judged_sizes(tmp_path, snap_compare, size):
    """Both panels (statistics and the judge's figures) on a judged and labeled store of four models."""
    app = make_app(judged_store(tmp_path / "s.sqlite"), tmp_path)

    async def run_before(pilot):
        await until(pilot, lambda: _panels_shown(app))
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_snapshot_pair_view_sizes(tmp_path, snap_compare, size):
    from af_tui.tui.screens.pair import PairScreen

    app = make_app(build_store(tmp_path / "s.sqlite"), tmp_path)

    async def run_before(pilot):
        await _settled(app)(pilot)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        await settle(pilot)

    assert snap_compare(app, terminal_size=size, run_before=run_before)


async def test_filter_dialog_buttons_reachable_at_80x24(tmp_path):
    from textual.widgets import Button

    from af_tui.tui.screens.filters import FilterScreen

    app = make_app(build_store(tmp_path / "s.sqlite"), tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        await settle(pilot)
        box = app.screen.query_one("FilterScreen > Vertical")
        assert box.outer_size.height <= 24 and box.outer_size.width <= 80  # the dialog fits; its body scrolls
        apply = app.screen.query_one("#apply", Button)
        box.scroll_to_widget(apply, animate=False)
        await settle(pilot)
        assert apply.region.y + apply.region.height <= 24  # on screen once scrolled to
        await pilot.press("ctrl+s")  # and ctrl+s applies from anywhere
        await until(pilot, lambda: app.screen is app.main)


async def check_live_run(app, pilot, path) -> None:
    """With a run going on a judged and labeled store the run monitor is one line, and the judge's figures
    (unchanged while a run samples) fold to their title: the list keeps 18 rows or more at 100×30 (it had 16).
    They unfold when the run ends; J unfolds them at once and then the user's choice stands."""
    import sqlite3

    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE runs SET status = 'running'")
    monitor, judge = app.main.query_one("#monitor"), app.main.query_one("#judge-figures")
    await until(pilot, lambda: _panels_shown(app) and monitor.display)
    await settle(pilot)
    assert monitor.size.height == 1 and "fixture" in str(monitor.render()).splitlines()[0]
    assert judge.has_class("-folded") and "folded (J unfolds)" in str(judge.border_title)
    assert app.pairs_list.size.height >= 18
    await pilot.press("M")  # one line already: M opens it (the models' line), M folds it again
    await settle(pilot)
    assert monitor.size.height >= 2 and "sim/" in str(monitor.render())
    await pilot.press("M")
    await settle(pilot)
    assert monitor.size.height == 1
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE runs SET status = 'done'")
    await until(pilot, lambda: not monitor.display and not judge.has_class("-folded"))
    await settle(pilot)
    assert app.pairs_list.size.height >= 18 and judge.size.height >= 2
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE runs SET status = 'running'")
    await until(pilot, lambda: monitor.display and judge.has_class("-folded"))
    await pilot.press("J")
    assert not judge.has_class("-folded")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE runs SET status = 'done'")
    await until(pilot, lambda: not monitor.display)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE runs SET status = 'running'")
    await until(pilot, lambda: monitor.display)
    await settle(pilot)
    assert not judge.has_class("-folded")  # J said so
