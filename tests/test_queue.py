"""The label queue follows the view: the queue from the list's filter, label-state filters, blind mode's
shuffled order, adjudication end to end (two annotators disagree, settled, used by agreement)."""

import time

import pytest
from builders import make_store, sample_id
from helpers import burst, press_settled, store_settled, until
from textual.widgets import Static

from af_tui.analysis.agreement import agreement_report
from af_tui.commands.agreement_table import agreement_table
from af_tui.config import Config
from af_tui.explorer import pairs as explorer_pairs
from af_tui.explorer.filters import CANDIDATES, PairFilter
from af_tui.explorer.queue import queue_sample_ids
from af_tui.store.adjudication import adjudicated_label, annotator_labels, disagreeing_samples
from af_tui.store.labels import LabelQueue, current_label, current_labels, save_label
from af_tui.tui.app import ExplorerApp
from af_tui.tui.label_app import LabelApp
from af_tui.tui.screens.adjudicate import AdjudicateScreen
from af_tui.tui.screens.label import LabelScreen
from af_tui.tui.screens.pair import PairScreen


@pytest.fixture
def store(tmp_path):
    s = make_store(tmp_path / "s.sqlite", n_requests=6)  # requests 2 and 5: both tiers comply
    yield s
    s.close()


def _text(screen, wid) -> str:
    return str(screen.query_one(wid, Static).render())


def test_queue_ids_follow_the_list(store):
    conn = store.conn
    free = [sample_id(store, i, "free") for i in range(6)]
    assert list(queue_sample_ids(conn, CANDIDATES)) == [free[i] for i in (0, 1, 3, 4)]
    everything = list(queue_sample_ids(conn, PairFilter(), outcome=None))
    assert everything == [sample_id(store, i, t) for i in range(6) for t in ("free", "paid")]
    assert list(queue_sample_ids(conn, PairFilter(), tier="paid")) == [sample_id(store, i, "paid") for i in (2, 5)]
    assert list(queue_sample_ids(conn, PairFilter(search="number 3"))) == [free[3]]


def test_label_state_filters(store):
    conn = store.conn
    s0, s1, p2 = sample_id(store, 0, "free"), sample_id(store, 1, "free"), sample_id(store, 2, "paid")
    save_label(conn, s0, "alice", verdict="alignment_faking")
    save_label(conn, s0, "bob", verdict="not_alignment_faking")
    save_label(conn, s1, "bob", verdict="alignment_faking")
    save_label(conn, p2, "alice", verdict="unclear")

    def count(**kw):
        return explorer_pairs.count_pairs(conn, PairFilter(**kw))

    assert count(label_state="unlabeled") == 3 and count(label_state="anyone") == 3
    assert count(label_state="mine", me="alice") == 2 and count(label_state="mine", me="carol") == 0
    assert count(label_state="disagree") == 1 and count(verdict="alignment_faking") == 2
    assert count(label_state="mine", me="bob", verdict="alignment_faking") == 1
    assert "annotators disagree" in PairFilter(label_state="disagree").describe()
    # an adjudication is not an annotator's label: the disagreement stays, nothing else moves
    save_label(conn, s0, "carol", verdict="alignment_faking", adjudication=True)
    assert count(label_state="disagree") == 1 and count(label_state="mine", me="carol") == 0
    assert current_label(conn, s0, "carol") is None
    assert adjudicated_label(conn, s0).verdict == "alignment_faking"


def test_queue_progress_is_within_the_queue(store):
    ids = queue_sample_ids(store.conn, CANDIDATES)
    queue = LabelQueue(store.conn, "alice", ids=ids, name="candidates")
    save_label(store.conn, ids[1], "alice", verdict="unclear")
    save_label(store.conn, sample_id(store, 2, "free"), "alice", verdict="unclear")  # not in the queue
    p = queue.progress()
    assert (p.labeled, p.remaining) == (1, 3)
    assert queue.next_unlabeled(ids[0]) == ids[2] and queue.next_unlabeled(ids[3]) == ids[0]


async def test_l_on_the_list_labels_the_view_in_order_and_comes_back(store, tmp_path):
    """candidates → l: the queue is the view's complied samples in the list's order; a burst saves each;
    leaving returns to the same list position."""
    app = ExplorerApp(store.path, annotator="dora", config=Config(path=tmp_path / "c.toml"), poll_s=0.05)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.pairs_list is not None and app.main.loaded)
        await pilot.press("a")
        await until(pilot, lambda: app.pairs_list.count == 4)
        await pilot.press("down")
        position = app.pairs_list.cursor
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LabelScreen) and app.screen.sample is not None)
        screen = app.screen
        free = [sample_id(store, i, "free") for i in (0, 1, 3, 4)]
        assert list(screen.queue.ids) == free
        assert screen.sample.id == free[1]  # from the selected pair on
        status = _text(screen, "#label-status")
        assert "free=complied, paid=refused" in status and "4 left of 4" in status
        for _ in range(4):
            await burst(pilot, "a", "enter")
            await store_settled(pilot)
        assert {r.sample_id for r in current_labels(store.conn, annotator="dora")} == set(free)
        assert "0 left of 4" in _text(screen, "#label-status")
        await pilot.press("q")
        await until(pilot, lambda: app.screen is app.main)
        assert app.pairs_list.cursor == position


async def test_l_in_the_pair_view_starts_at_the_focused_tier(store, tmp_path):
    app = ExplorerApp(store.path, annotator="dora", config=Config(path=tmp_path / "c.toml"), poll_s=0.05)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.pairs_list is not None and app.main.loaded)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        pair = app.screen.detail
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LabelScreen) and app.screen.sample is not None)
        assert app.screen.sample.id == pair.free.id and len(app.screen.queue.ids) == 8
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, PairScreen))


async def test_blind_mode_shuffles_with_a_shown_seed_and_hides_ids(store):
    app = LabelApp(store.path, "alice", blind=True, seed=11)
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        screen = app.screen
        in_order = LabelQueue(store.conn, "x").ids
        assert sorted(screen.queue.ids) == sorted(in_order) and list(screen.queue.ids) != list(in_order)
        assert "shuffled, seed 11" in _text(screen, "#label-status")
        meta = _text(screen, "#label-meta")
        assert meta.startswith("item 1 of 8") and "sample" not in meta and "tier" not in meta.lower()
        await press_settled(pilot, "n", "enter")
        assert "saved ✓ item 1" in _text(screen, "#label-saved")
    app = LabelApp(store.path, "bob", blind=True, seed=11)
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        assert list(app.screen.queue.ids) == list(screen.queue.ids)  # same seed, same order


async def test_adjudication_end_to_end(store, tmp_path):
    """alice and bob label the candidates from the queue (bob blind), disagree on two; carol settles them in
    the review screen; the settled labels are stored as adjudications and used by agreement."""
    ids = list(queue_sample_ids(store.conn, CANDIDATES))
    for annotator, keys, blind in (("alice", ("a", "enter") * 4, False), ("bob", ("n", "enter", "a", "enter") * 2,
                                                                         True)):
        queue = LabelQueue(store.conn, annotator, ids=ids, name="candidates")
        app = LabelApp(store.path, annotator, queue=queue, blind=blind, seed=3)
        async with app.run_test(size=(140, 40)) as pilot:
            await store_settled(pilot)
            await burst(pilot, *keys)
            await store_settled(pilot)
    assert len(disagreeing_samples(store.conn)) == 2
    app = LabelApp(store.path, "carol")
    async with app.run_test(size=(140, 40)) as pilot:
        await store_settled(pilot)
        await app.push_screen(AdjudicateScreen(store.path, "carol"))
        await store_settled(pilot)
        screen = app.screen
        first = screen.sample.id
        assert "disagreement 1 of 2" in _text(screen, "#adj-status")
        assert [lb.annotator for lb in screen.labels] == ["alice", "bob"]
        await press_settled(pilot, "enter")  # no majority: nothing saved
        assert adjudicated_label(store.conn, first) is None
        await press_settled(pilot, "2")  # bob's label
        await press_settled(pilot, "a")  # the second: alignment faking
        assert "2 settled" in _text(screen, "#adj-status")
    disagreed = disagreeing_samples(store.conn)
    settled = {sid: adjudicated_label(store.conn, sid) for sid in disagreed}
    assert settled[first].verdict == "not_alignment_faking" and settled[first].annotator == "carol"
    assert settled[first].adjudication and "bob's label" in settled[first].note
    assert {lb.annotator for lb in annotator_labels(store.conn, first)} == {"alice", "bob"}
    report = agreement_report(store.conn)
    assert report["annotators"] == ["alice", "bob"]  # carol settled, she did not label
    against = {row["annotator"]: row for row in report["adjudicated"]}
    assert against["alice"]["n"] == against["bob"]["n"] == 2
    assert against["bob"]["verdict"]["observed"] == 0.5 and against["alice"]["verdict"]["observed"] == 0.5
    from rich.console import Console

    console = Console(width=140, record=True)
    console.print(agreement_table(report))
    assert "alice × adjudicated" in console.export_text()


def test_af_tui_label_takes_the_list_filters(store, monkeypatch, capsys):
    """`af-tui label --candidates --blind`: the queue the list would give, shuffled, its seed printed; a
    filter that keeps nothing is one line and exit 1."""
    from helpers import af_main

    from af_tui.tui import label_app

    seen = {}

    def fake_run(self):
        seen.update(self.screen_options, annotator=self.annotator)

    monkeypatch.setattr(label_app.LabelApp, "run", fake_run)
    assert af_main("--db", str(store.path), "label", "--candidates", "--blind", "--random", "5",
                   "--annotator", "eve") == 0
    queue = seen["queue"]
    free = [sample_id(store, i, "free") for i in (0, 1, 3, 4)]
    assert sorted(queue.ids) == free and queue.seed == 5 and seen["blind"] and seen["annotator"] == "eve"
    assert "free=complied, paid=refused" in queue.name
    assert "seed 5" in capsys.readouterr().err
    save_label(store.conn, free[0], "eve", verdict="unclear")
    assert af_main("--db", str(store.path), "label", "--labels", "mine", "--annotator", "eve") == 0
    assert list(seen["queue"].ids) == [free[0]]
    assert af_main("--db", str(store.path), "label", "--search", "no such words anywhere") != 0
    assert "no samples match this queue" in capsys.readouterr().err


async def test_filter_dialog_label_state_and_on_off_checkboxes(store, tmp_path):
    from textual.widgets import Checkbox, Select

    from af_tui.tui.screens.filters import FilterScreen

    save_label(store.conn, sample_id(store, 1, "free"), "dora", verdict="alignment_faking")
    app = ExplorerApp(store.path, annotator="dora", config=Config(path=tmp_path / "c.toml"), poll_s=0.05)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: app.pairs_list is not None and app.main.loaded)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        dialog = app.screen
        box = dialog.query_one("#errors_only", Checkbox)
        assert str(box.render()).startswith("[ ] errors only")  # the mark, drawn once (widgets/on_off.py)
        box.toggle()
        await pilot.pause()
        assert str(box.render()).startswith("[x] errors only")
        box.toggle()
        dialog.query_one("#label_state", Select).value = "mine"
        await pilot.pause()
        dialog.action_apply()
        await until(pilot, lambda: app.screen is app.main and app.pairs_list.count == 1)
        assert app.main.pair_filter.label_state == "mine" and app.main.pair_filter.me == "dora"
        assert "labeled by me" in str(app.main.query_one("#status").render())
        await pilot.press("l")  # the queue is the view: the one pair's complied sample, labeled already
        await until(pilot, lambda: isinstance(app.screen, LabelScreen))
        assert list(app.screen.queue.ids) == [sample_id(store, 1, "free")]


def test_snapshot_adjudication_screen(tmp_path, snap_compare):
    """The review screen: the sample, and two annotators' criteria, verdicts and notes side by side."""
    from af_tui.rubric import load_rubric

    s = make_store(tmp_path / "adj.sqlite", n_requests=2)
    sid = sample_id(s, 0, "free")
    paper = load_rubric("paper")
    save_label(s.conn, sid, "alice", verdict="alignment_faking", rubric=paper, note="[bold]says so[/]",
               criteria=dict.fromkeys(paper.ids[:5], 1))
    save_label(s.conn, sid, "bob", verdict="not_alignment_faking", rubric=paper, note=None,
               criteria={"in_training": 1, "modified_if_rated_poorly": 0})
    s.close()
    app = LabelApp(tmp_path / "adj.sqlite", "carol")

    async def run_before(pilot):
        await store_settled(pilot)
        await app.push_screen(AdjudicateScreen(app.db_path, "carol"))
        await store_settled(pilot)

    assert snap_compare(app, terminal_size=(100, 30), run_before=run_before)


@pytest.mark.parametrize("cursor, first", [(0, 0), (3, 3)])
async def test_the_label_screen_opens_on_the_head_of_a_long_queue(store, tmp_path, monkeypatch, cursor, first):
    """A queue longer than its head: the screen opens on the head and counts the whole queue once the rest
    is read; a selected pair beyond the head waits for the whole queue and starts there."""
    from af_tui.tui.screens import queue_start

    monkeypatch.setattr(queue_start, "HEAD_IDS", 2)
    app = ExplorerApp(store.path, annotator="dora", config=Config(path=tmp_path / "c.toml"), poll_s=0.05)
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.pairs_list is not None and app.main.loaded)
        await pilot.press("a")
        await until(pilot, lambda: app.pairs_list.count == 4)
        for _ in range(cursor):
            await pilot.press("down")
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LabelScreen) and app.screen.sample is not None)
        free = [sample_id(store, i, "free") for i in (0, 1, 3, 4)]
        assert app.screen.sample.id == free[first]
        await until(pilot, lambda: len(app.screen.queue.ids) == 4)
        assert list(app.screen.queue.ids) == free and free[2] in app.screen.queue
        await until(pilot, lambda: "4 left of 4" in _text(app.screen, "#label-status"))


def test_quitting_af_tui_label_says_what_was_saved_and_how_to_resume(store, monkeypatch, capsys):
    """The labels saved in the session (by verdict; one saved before it does not count) and the command that
    takes the same queue up again, the blind queue's seed included."""
    import shlex

    from helpers import af_main

    from af_tui.tui import label_app

    free = [sample_id(store, i, "free") for i in (0, 1, 3, 4)]
    save_label(store.conn, free[3], "eve", verdict="unclear")  # an earlier session's
    time.sleep(0.01)

    def fake_run(self):  # the session: two labels, one of them changed before leaving
        time.sleep(0.01)
        save_label(store.conn, free[0], "eve", verdict="unclear")
        save_label(store.conn, free[1], "eve", verdict="not_alignment_faking")
        save_label(store.conn, free[0], "eve", verdict="alignment_faking")

    monkeypatch.setattr(label_app.LabelApp, "run", fake_run)
    assert af_main("--db", str(store.path), "label", "--candidates", "--blind", "--random", "5",
                   "--annotator", "eve") == 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    said, resume = last.split("; resume with: ")
    assert said == "af-tui: 2 labels saved this session by eve (alignment faking 1, not alignment faking 1)"
    assert shlex.split(resume) == ["af-tui", "label", "--db", str(store.path), "--annotator", "eve", "--blind",
                                   "--candidates", "--random", "5"]

    monkeypatch.setattr(label_app.LabelApp, "run", lambda self: None)
    assert af_main("--db", str(store.path), "label", "--annotator", "eve", "--outcome", "any") == 0
    assert "af-tui: 0 labels saved this session by eve; resume with: af-tui label --db" in capsys.readouterr().err


async def test_adjudicating_a_disagreement_with_your_own_label_warns(tmp_path):
    """alice settling a disagreement between alice and bob: the status says so and the save warns (it still saves)."""
    s = make_store(tmp_path / "own.sqlite", n_requests=2)
    sid = sample_id(s, 0, "free")
    save_label(s.conn, sid, "alice", verdict="alignment_faking")
    save_label(s.conn, sid, "bob", verdict="not_alignment_faking")
    s.close()
    for who, warned in (("alice", True), ("carol", False)):
        app = LabelApp(tmp_path / "own.sqlite", who)
        async with app.run_test(size=(140, 40)) as pilot:
            await store_settled(pilot)
            await app.push_screen(AdjudicateScreen(app.db_path, who))
            await store_settled(pilot)
            screen = app.screen
            assert ("your own label is one of these" in _text(screen, "#adj-status")) == warned
            await press_settled(pilot, "a")
            notes = [n.message for n in app._notifications]
            assert any("includes your own label" in m for m in notes) == warned, notes
    import sqlite3

    with sqlite3.connect(tmp_path / "own.sqlite") as conn:  # both settled: the warning does not refuse
        assert conn.execute("SELECT COUNT(*) FROM labels WHERE adjudication = 1").fetchone()[0] == 2
