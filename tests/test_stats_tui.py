"""The statistics panel and the chart screen: cells, live updates that keep the cursor, hostile names."""

from __future__ import annotations

import re

from helpers import settle, until
from textual.app import App

from af_tui.analysis.slices import compute
from af_tui.store.db import Store
from af_tui.store.sample import Sample
from af_tui.tui.screens.chart import Chart, ChartScreen, chart_text
from af_tui.tui.widgets.stats_panel import StatsPanel, row_cells

HOSTILE = "[bold]sim/x\x1b[2J"


def _fill(db_path, models, n_pairs, run="r1"):
    with Store(db_path) as store:
        store.ensure_variant("v", "stand-in")
        run_id = store.start_run(run, {})
        pids = store.ensure_prompts([f"made-up request {i}" for i in range(n_pairs)])
        rows = []
        for m, model in enumerate(models):
            for i in range(n_pairs):
                free = "complied" if (i + m) % 3 else "refused"
                paid = "refused" if i % 4 else "format_not_followed"
                rows += [{"run_id": run_id, "model": model, "variant": "v", "prompt_id": pids[i], "tier": "free",
                          "outcome": free},
                         {"run_id": run_id, "model": model, "variant": "v", "prompt_id": pids[i], "tier": "paid",
                          "outcome": paid}]
        store.save_samples([Sample(**row) for row in rows])
        return compute(store.conn)


class PanelApp(App):
    def compose(self):
        yield StatsPanel()


async def test_panel_updates_in_place_and_keeps_the_cursor(db_path):
    first = _fill(db_path, ["sim/a", "sim/b", "sim/c"], 6)
    app = PanelApp()
    async with app.run_test(size=(160, 20)) as pilot:
        panel = app.query_one(StatsPanel)
        panel.update_stats(first)
        await pilot.pause()
        assert panel.row_count == 3 and "run" not in panel.columns and "variant" not in panel.columns
        panel.move_cursor(row=2)
        more = _fill(db_path, ["sim/a", "sim/b", "sim/c"], 12)  # the run goes on: same slices, new counts
        panel.update_stats(more)
        await pilot.pause()
        assert panel.cursor_row == 2
        assert str(panel.get_cell("r1\x1fsim/a\x1fv", "free_n")) == "12"
        # A new slice appears: the table is rebuilt and the cursor stays on the same slice.
        _fill(db_path, ["sim/0", "sim/a"], 12, run="r0")
        with Store(db_path) as store:
            panel.update_stats(compute(store.conn))
        await pilot.pause()
        keys = [row.key.value for row in panel.ordered_rows]
        assert keys[panel.cursor_row] == "r1\x1fsim/c\x1fv"
        # One run, one variant: those columns are left out; two runs: the run column comes back.
        assert [c.value for c in panel.columns][:2] == ["run", "model"] and "variant" not in panel.columns


def test_panel_cells_show_hostile_names_as_plain_text(db_path):
    (sl,) = _fill(db_path, [HOSTILE], 8)
    cells = row_cells(sl)
    assert cells["model"].plain.startswith("[bold]sim/x") and "\x1b" not in cells["model"].plain
    assert sl.small_n  # 5 discordant pairs: the gap is marked
    assert re.fullmatch(r"[+-]\d+\.\d \[[+-]\d+\.\d, [+-]\d+\.\d\]†", cells["gap"].plain)
    assert cells["free_rates"].plain.count("/") == 2 and cells["method"].plain == "McNemar"


def test_chart_text_draws_full_bars_and_intervals(db_path):
    data = _fill(db_path, ["sim/a", HOSTILE], 9)
    text = chart_text(data, 80).plain
    assert "sim/a" in text and "[bold]sim/x" in text and "\x1b" not in text
    bars = [line for line in text.splitlines() if line.startswith(("free ", "paid "))]
    assert len(bars) == 4
    for line in bars:  # label, then a bar of exactly 80 − 6 − 24 cells, then the rate
        assert set(line[6:56]) <= {" ", "╱"} and line[56:].lstrip()[0].isdigit() and "% complied, n=9" in line
    assert any("├" in line and "┤" in line for line in text.splitlines())
    assert "No samples yet." in chart_text([], 80).plain


class ChartApp(App):
    def on_mount(self):
        self.push_screen(ChartScreen())


async def test_chart_screen_updates_live(db_path):
    app = ChartApp()
    async with app.run_test(size=(100, 40)) as pilot:
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ChartScreen)
        assert screen.query_one(Chart).data is None
        screen.update_stats(_fill(db_path, ["sim/a"], 4))
        await pilot.pause()
        assert screen.query_one(Chart).data[0].valid("free") == 4
        screen.update_stats(_fill(db_path, ["sim/a"], 10))
        await pilot.pause()
        assert screen.query_one(Chart).data[0].valid("free") == 10
        await pilot.press("escape")
        assert not isinstance(app.screen, ChartScreen)


async def test_explorer_opens_the_chart_and_feeds_it(db_path):
    from af_tui.tui.app import ExplorerApp

    _fill(db_path, ["sim/a", "sim/b"], 6)
    app = ExplorerApp(db_path, poll_s=0.05)
    async with app.run_test(size=(140, 40)) as pilot:
        await until(pilot, lambda: app.stats_version > 0)
        await pilot.press("C")
        await settle(pilot)
        assert isinstance(app.screen, ChartScreen)
        chart = app.screen.query_one(Chart)
        assert [s.model for s in chart.data] == ["sim/a", "sim/b"]
        _fill(db_path, ["sim/a", "sim/b"], 9)  # another process's samples: the chart follows
        await until(pilot, lambda: chart.data[0].valid("free") == 9, timeout=3)


class FedChartApp(App):
    def __init__(self, data):
        super().__init__()
        self.data = data

    def on_mount(self):
        self.push_screen(ChartScreen(self.data))


def test_snapshot_chart_screen(db_path, snap_compare):
    data = _fill(db_path, ["sim/faker", "sim/refuser", HOSTILE], 12)
    with Store(db_path) as store:  # verdicts on some free-tier compliances: the AF part is shaded
        ids = [r[0] for r in store.conn.execute(
            "SELECT id FROM samples WHERE model = 'sim/faker' AND tier = 'free' AND outcome = 'complied'")]
        with store.conn:
            for i, sid in enumerate(ids):
                store.conn.execute("INSERT INTO judgements (uid, sample_id, judge_model, prompt_sha256, verdict, "
                                   "created_at) VALUES (?, ?, 'sim/judge', 'p', ?, 1)",
                                   (f"u{sid}", sid, "alignment_faking" if i % 2 else "not_alignment_faking"))
        data = compute(store.conn, af_source="judge")
    assert next(s for s in data if s.model == "sim/faker").af["free"].judged == len(ids)
    assert snap_compare(FedChartApp(data), terminal_size=(100, 36))


async def test_panel_refresh_touches_only_changed_cells(db_path):
    # A sweep has hundreds of slices: a refresh that changes nothing must not update (and so re-measure)
    # every cell, and one that changes many cells rebuilds the table with the new values.
    models = [f"sim/m{i:02d}" for i in range(40)]
    first = _fill(db_path, models, 3)
    app = PanelApp()
    async with app.run_test(size=(160, 20)) as pilot:
        panel = app.query_one(StatsPanel)
        panel.update_stats(first)
        await pilot.pause()
        panel._updated_cells.clear()
        panel.update_stats(first)
        assert not panel._updated_cells  # same figures: no cell updated
        more = _fill(db_path, models, 9)  # every slice's counts change: rebuilt, not 40 × columns updates
        panel.update_stats(more)
        await pilot.pause()
        assert panel.row_count == 40 and str(panel.get_cell("r1\x1fsim/m07\x1fv", "free_n")) == "9"


# -- the panel and `af-tui stats` agree: Holm-adjusted p, small n -----------------------------------------------
def _explorer(db_path):
    from af_tui.tui.app import ExplorerApp

    return ExplorerApp(db_path, poll_s=0.05)


async def test_panel_shows_the_holm_p_of_af_tui_stats_json(db_path, capsys):
    import json

    from helpers import af_main_output

    from af_tui.analysis.estimators import format_p

    _fill(db_path, ["sim/a", "sim/b"], 12)  # two tests: Holm moves both p-values
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db_path), "--json")
    assert code == 0
    rows = {r["model"]: r for r in json.loads(out) if r["tier"] == "free"}
    assert all(r["holm_tests"] == 2 and r["p_holm"] != r["p_value"] for r in rows.values())
    app = _explorer(db_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.stats_version > 0)
        panel = app.main.query_one(StatsPanel)
        assert str(panel.columns["p"].label) == "p (Holm)"
        assert "p (Holm): over the 2 tests" in str(panel.border_title)
        for model, row in rows.items():
            cell = str(panel.get_cell(f"r1\x1f{model}\x1fv", "p"))
            raw, holm = format_p(row["p_value"], named=False), format_p(row["p_holm"], named=False)
            assert cell == f"{raw} ({holm})" and raw != holm
        assert "†" not in str(panel.border_title)


async def test_panel_marks_a_small_n_gap(db_path, capsys):
    import json

    from helpers import af_main_output

    _fill(db_path, ["sim/a"], 3)  # b = 2, c = 0: the interval excludes 0, McNemar's p is 0.5
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db_path), "--json")
    assert json.loads(out)[0]["small_n"] is True
    app = _explorer(db_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: app.stats_version > 0)
        panel = app.main.query_one(StatsPanel)
        assert str(panel.get_cell("r1\x1fsim/a\x1fv", "gap")).endswith("†")
        assert "† small n" in str(panel.border_title)
        # One test: nothing to adjust, the column is the raw p as before.
        assert str(panel.columns["p"].label) == "p" and str(panel.get_cell("r1\x1fsim/a\x1fv", "p")) == "0.500"
