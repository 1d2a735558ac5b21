"""Switching the AF source: the app's cycle (V, the palette), the source named on screen, and a named source
that gives no verdict said in one line by `af-tui stats`."""

from __future__ import annotations

import pytest
from builders import add_judgement, make_store, sample_id
from helpers import af_main_output, settle, until

from af_tui.analysis.af_counts import judge_sources, missing_verdicts
from af_tui.analysis.af_source import AfSource, next_source, parse_af_source
from af_tui.store.labels import save_label

AF, NOT_AF = "alignment_faking", "not_alignment_faking"


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "s.sqlite", n_requests=4)
    yield s
    s.close()


def test_cycle_names_the_newest_judge_and_skips_judges_when_there_is_none():
    judges = ["sim/new@aaaa1111", "sim/old@bbbb2222"]
    names, src = [], AfSource()
    for _ in range(5):
        src = next_source(src, judges)
        names.append(src.name)
    assert names == ["people-blind", "people-then-judge:sim/new@aaaa1111", "judge:sim/new@aaaa1111",
                     "adjudicated", "people"]
    assert next_source(AfSource("people-blind"), judges).name == "people-then-judge:sim/new@aaaa1111"
    assert next_source(AfSource(), []).name == "people-blind"
    assert next_source(AfSource("people-blind"), []).name == "adjudicated"
    assert next_source(AfSource("adjudicated"), []).name == "people"
    # a judge source the cycle does not hold (another judge, from the command line) goes on to adjudicated
    assert next_source(parse_af_source("judge:sim/old"), judges).name == "adjudicated"


def test_judge_sources_newest_first_and_missing_verdicts(store):
    conn = store.conn
    free = [sample_id(store, i, "free") for i in range(4)]
    assert judge_sources(conn) == []
    add_judgement(conn, free[0], AF, model="sim/old", sha="bb" * 32)
    add_judgement(conn, free[1], NOT_AF, model="sim/new", sha="aa" * 32)
    add_judgement(conn, free[2], None, model="sim/comp", task="compliance", detail={"refused": False})
    assert judge_sources(conn) == ["sim/new@aaaaaaaa", "sim/old@bbbbbbbb"]
    assert missing_verdicts(conn, parse_af_source("judge:sim/old")) is None
    why = missing_verdicts(conn, parse_af_source("judge:sim/typo"))
    assert "sim/typo" in why and "sim/new@aaaaaaaa" in why
    assert missing_verdicts(conn, parse_af_source("people-then-judge:sim/new@cc")) is not None
    assert "adjudicated" in missing_verdicts(conn, parse_af_source("adjudicated"))
    assert missing_verdicts(conn, parse_af_source("people")) is None


def test_stats_cli_says_an_unknown_judge_and_an_empty_adjudicated_source(store, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    add_judgement(store.conn, sample_id(store, 0, "free"), AF, model="sim/j", sha="ab" * 32)
    path = str(store.path)
    code, _, err = af_main_output(capsys, "stats", "--db", path, "--af-source", "judge:sim/jj")
    assert code == 2 and err.count("\n") == 1 and "sim/j@abababab" in err
    code, out, err = af_main_output(capsys, "stats", "--db", path, "--af-source", "adjudicated")
    assert code == 0 and "no adjudicated label" in err and "AF source: adjudicated" in out
    code, _, err = af_main_output(capsys, "stats", "--db", path, "--af-source", "judge:sim/j")
    assert code == 0 and err == ""


async def test_v_cycles_the_panel_and_the_chart_and_names_the_source(store):
    from af_tui.tui.app import ExplorerApp
    from af_tui.tui.screens.chart import Chart
    from af_tui.tui.widgets.stats_panel import StatsPanel

    conn = store.conn
    free = [sample_id(store, i, "free") for i in range(4)]
    save_label(conn, free[0], "ana", verdict=NOT_AF)
    add_judgement(conn, free[0], AF, model="sim/j", sha="ab" * 32)
    add_judgement(conn, free[1], AF, model="sim/j", sha="ab" * 32)
    app = ExplorerApp(store.path, poll_s=0.05)

    async def stats_after(version: int) -> None:
        await until(pilot, lambda: app.stats_version > version, timeout=4)

    async with app.run_test(size=(100, 30)) as pilot:
        await stats_after(0)
        panel = app.main.query_one(StatsPanel)
        assert str(panel.border_title).startswith("AF source: people")
        assert app.last_stats[0].af["free"].af == 0
        seen = []
        for _ in range(5):
            version = app.stats_version
            await pilot.press("V")
            await stats_after(version)
            sl = app.last_stats[0]
            seen.append((sl.af_source, sl.af["free"].af if "free" in sl.af else None))
            assert str(panel.border_title).startswith(f"AF source: {sl.af_source}")
        assert [s for s, _ in seen] == ["people-blind", "people-then-judge:sim/j@abababab", "judge:sim/j@abababab",
                                        "adjudicated", "people"]
        assert seen[1][1] == 1 and seen[2][1] == 2  # people's not-AF wins over the judge where it exists
        palette = {c.title: c for c in app.get_system_commands(app.screen)}
        assert "now people" in palette["stats: switch AF source"].help
        await pilot.press("C")
        await settle(pilot)
        version = app.stats_version
        await pilot.press("V")
        await stats_after(version)
        chart = app.screen.query_one(Chart)
        assert chart.data[0].af_source == "people-blind"
