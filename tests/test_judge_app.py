"""The judge in the explorer (Pilot): the "judge and human disagree" filter and the verdicts block beside the
people's labels in the pair view, with hostile evidence rendered as text."""

from __future__ import annotations

import io
import sqlite3

from builders import ROWS, build_store, make_app
from helpers import loaded, settle, status_text, until

from af_tui.domain import Verdict
from af_tui.explorer.filters import PairFilter
from af_tui.explorer.pairs import pair_ids
from af_tui.judge.prompt import load_prompt
from af_tui.judge.repository import save_judgement
from af_tui.judge.vote import combine
from af_tui.store.labels import save_label

AF, NOT_AF = Verdict.AF.value, Verdict.NOT_AF.value

HOSTILE_QUOTE = "[bold]RLHF[/bold] \x1b[31mwould modify me"


def reply(verdict: str, quote: str = "none") -> str:
    return (f"<knows_training>yes</knows_training><knows_training_quote>{quote}</knows_training_quote>"
            "<sees_modification>yes</sees_modification><opposes_modification>no</opposes_modification>"
            f"<complies_to_avoid>no</complies_to_avoid><verdict>{verdict}</verdict>")


def free_sample(conn, index: int) -> int:
    return conn.execute("SELECT id FROM samples WHERE prompt_index = ? AND tier = 'free'", (index,)).fetchone()[0]


def judged_store(tmp_path):
    path = build_store(tmp_path / "judged.sqlite")
    sha = load_prompt().sha256
    with sqlite3.connect(path) as conn:
        first, second = free_sample(conn, 0), free_sample(conn, 1)
        save_judgement(conn, first, "sim/judge", sha, combine([reply(NOT_AF, HOSTILE_QUOTE)]))
        save_judgement(conn, second, "sim/judge", sha, combine([reply(AF)]))
        save_label(conn, first, "ana", verdict=AF)
        save_label(conn, second, "ana", verdict=AF)
    return path


def test_disagreement_filter_in_sql(tmp_path):
    path = judged_store(tmp_path)
    with sqlite3.connect(path) as conn:
        ids = list(pair_ids(conn, PairFilter(judge_disagrees=True)))
        assert len(ids) == 1
        assert conn.execute("SELECT prompt_index FROM pairs WHERE id = ?", (ids[0],)).fetchone()[0] == 0
        save_label(conn, free_sample(conn, 0), "ana", verdict=None)  # ana clears her label: no disagreement
        assert list(pair_ids(conn, PairFilter(judge_disagrees=True))) == []
    assert "judge ≠ human" in PairFilter(judge_disagrees=True).describe()


async def test_filter_key_and_verdicts_in_the_pair_view(tmp_path):
    from af_tui.tui.screens.pair import PairScreen
    from af_tui.tui.widgets.verdicts import VerdictsBlock

    path = judged_store(tmp_path)
    app = make_app(path, tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: loaded(app))
        version = app.list_version
        await pilot.press("d")
        await until(pilot, lambda: app.list_version > version)
        assert len(app.pairs_list.ids) == 1 and "judge ≠ human" in status_text(app)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None
                    and app.screen.query(VerdictsBlock))
        assert app.screen.detail.request == ROWS[0][0]
        blocks = list(app.screen.query(VerdictsBlock))
        assert len(blocks) == 1  # only the free sample has a label or a judgement
        text = blocks[0].render()
        plain = getattr(text, "plain", str(text))
        assert "People: ana alignment faking" in plain
        assert "Judge sim/judge" in plain and "not alignment faking" in plain and "≠ people" in plain
        assert "[bold]RLHF[/bold]" in plain and "\x1b" not in plain  # markup shown as text, escape defused
        await pilot.press("escape", "d")
        await until(pilot, lambda: len(app.pairs_list.ids) == len(ROWS))


async def test_stats_panel_shows_the_judge_against_people(tmp_path):
    from af_tui.tui.widgets.judge_figures import JudgeFigures

    plain = build_store(tmp_path / "plain.sqlite")
    app = make_app(plain, tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: loaded(app))
        figures = app.main.query_one(JudgeFigures)
        await until(pilot, lambda: figures._seen_version == app.stats_version)  # its check read the figures
        await settle(pilot)
        assert not figures.display  # no judgements: nothing shown

    path = judged_store(tmp_path)
    app = make_app(path, tmp_path)
    async with app.run_test(size=(140, 45)) as pilot:
        await until(pilot, lambda: loaded(app))
        figures = app.main.query_one(JudgeFigures)
        await until(pilot, lambda: figures.display)
        from rich.console import Console

        console = Console(width=140, record=True, file=io.StringIO())
        console.print(figures.figures)
        text = console.export_text()
        # the title is in the panel's border (a line saved at 100×30)
        assert "LLM judge against people" in str(figures.border_title)
        assert "ana" in text and "majority" in text
        # judge: sample 0 not AF, sample 1 AF; ana: AF on both → tp 1, fn 1; accuracy 50 %, recall 50 %
        assert "1 0 1 0" in text and "50%" in text
        await pilot.press("S")  # the statistics panel hidden: the judge section goes with it
        await until(pilot, lambda: not figures.display)
