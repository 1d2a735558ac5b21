"""Sorting the pairs list (arrival, model, request, disagreement first): the queries, the `o` key and the
filter dialog's order, the label queue following the order, live updates of a sorted list; and the footers at
100×30 and 80×24 keeping the keys used most."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from builders import ROWS, build_store, make_app, pair_sample
from helpers import loaded, settle, status_text, until

from af_tui.domain import CRITERIA
from af_tui.errors import AfError
from af_tui.explorer import pairs as explorer_pairs
from af_tui.explorer.filters import ORDERS, PairFilter
from af_tui.explorer.pair_ids import position_of
from af_tui.explorer.queue import queue_sample_ids
from af_tui.store.db import Store
from af_tui.store.labels import save_label

# Built in an order that is neither by model nor by request, so each order shows.
MIXED = [
    ("Zebra facts, please.", "sim/refuser", "refused", "refused"),
    ("Apple pie recipe.", "sim/faker", "complied", "refused"),
    ("Mango season.", "sim/refuser", "complied", "complied"),
    ("Banana bread.", "sim/faker", "complied", "refused"),
]


def _pairs(conn):
    return {r[0]: r[1:] for r in conn.execute(
        "SELECT p.id, p.model, p.prompt_id, p.free_sample_id, p.paid_sample_id FROM pairs p")}


def test_each_order_sorts_the_ids(tmp_path):
    db = build_store(tmp_path / "s.sqlite", rows=MIXED)
    with Store(db, create=False) as store:
        conn = store.conn
        info = _pairs(conn)
        arrival = list(explorer_pairs.pair_ids(conn, PairFilter()))
        assert arrival == sorted(info)
        by_model = list(explorer_pairs.pair_ids(conn, PairFilter(order="model")))
        assert by_model == sorted(info, key=lambda i: (info[i][0], i))
        by_request = list(explorer_pairs.pair_ids(conn, PairFilter(order="request")))
        assert by_request == sorted(info, key=lambda i: (info[i][1], i))
        # Annotators disagree on the last pair's free sample: it comes first, the rest in arrival order.
        last = arrival[-1]
        save_label(conn, info[last][2], "ann", criteria=dict.fromkeys(CRITERIA, 1), verdict="alignment_faking")
        save_label(conn, info[last][2], "bob", criteria={}, verdict="not_alignment_faking")
        assert list(explorer_pairs.pair_ids(conn, PairFilter(order="disagreement"))) == [last, *arrival[:-1]]
        # Orders combine with a filter; many ids take the packed path, as few do.
        kept = list(explorer_pairs.pair_ids(conn, PairFilter(order="model", free_outcome="complied")))
        assert kept == [i for i in by_model if i in set(explorer_pairs.pair_ids(conn, PairFilter(free_outcome="complied")))]
        assert list(explorer_pairs.pair_ids(conn, PairFilter(order="model"), limit=2)) == by_model[:2]


def test_queue_follows_the_order(tmp_path):
    db = build_store(tmp_path / "s.sqlite", rows=MIXED)
    with Store(db, create=False) as store:
        info = _pairs(store.conn)
        by_model = list(explorer_pairs.pair_ids(store.conn, PairFilter(order="model")))
        queue = list(queue_sample_ids(store.conn, PairFilter(order="model"), outcome=None))
        assert queue == [sid for pid in by_model for sid in info[pid][2:]]  # free before paid within a pair


def test_order_words_cycle_and_checks():
    pair_filter = PairFilter()
    seen = []
    for _ in ORDERS:
        seen.append(pair_filter.order)
        pair_filter = pair_filter.next_order()
    assert seen == list(ORDERS) and pair_filter.order == "arrival"
    assert PairFilter(order="model").is_empty  # an order keeps every pair
    assert not PairFilter(order="model").by_arrival and PairFilter().by_arrival
    with pytest.raises(AfError, match="unknown order"):
        PairFilter(order="size").validate()
    assert all(k.endswith("p.id") for name in ORDERS for k in [PairFilter(order=name).order_sql()])


def test_position_of_with_and_without_ascending_ids():
    from array import array

    ids = array("q", [3, 9, 1, 7])
    assert position_of(ids, 1, by_id=False) == 2 and position_of(ids, 5, by_id=False) is None
    assert position_of(array("q", [1, 3, 7]), 7) == 2 and position_of(array("q", [1, 3]), 2) is None


async def test_o_cycles_the_order_keeps_the_selection_and_the_queue_follows(tmp_path):
    db = build_store(tmp_path / "s.sqlite", rows=MIXED + ROWS)
    app = make_app(db, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("down", "down")
        selected = app.pairs_list.current_id
        version = app.list_version
        await pilot.press("o")
        await until(pilot, lambda: app.list_version > version and app.main.pair_filter.order == "model")
        with sqlite3.connect(db) as conn:
            expected = list(explorer_pairs.pair_ids(conn, PairFilter(order="model")))
        assert list(app.pairs_list.ids) == expected
        assert app.pairs_list.current_id == selected  # the same pair stays selected
        assert "by model" in status_text(app)
        await until(pilot, lambda: all(i in app.pairs_list.rows for i in app.pairs_list.visible_ids()))
        models = [app.pairs_list.rows[i].model for i in app.pairs_list.visible_ids()]
        assert models == sorted(models)
        # The label queue of the view is in the list's order.
        await pilot.press("home")
        app.main.start_labeling()
        from af_tui.tui.screens.label import LabelScreen

        await until(pilot, lambda: isinstance(app.screen, LabelScreen) and getattr(app.screen, "queue", None))
        with sqlite3.connect(db) as conn:
            assert list(app.screen.queue.ids) == list(queue_sample_ids(conn, PairFilter(order="model")))
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is app.main)
        for order in ("request", "disagreement", "arrival"):
            await pilot.press("o")
            await until(pilot, lambda order=order: app.main.pair_filter.order == order and app.main.complete
                        and app.pairs_list.current_id is not None)
        assert list(app.pairs_list.ids) == sorted(app.pairs_list.ids)
        assert "by " not in status_text(app)


async def test_filter_dialog_sets_the_order_and_clear_keeps_it(tmp_path):
    from textual.widgets import Select

    from af_tui.tui.screens.filters import FilterScreen

    app = make_app(build_store(tmp_path / "s.sqlite", rows=MIXED), tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        app.screen.query_one("#order", Select).value = "request"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: app.main.pair_filter.order == "request" and "by request" in status_text(app))
        await pilot.press("a")  # a filter on top of the order
        await until(pilot, lambda: app.main.pair_filter.free_outcome == "complied")
        await pilot.press("x")
        await until(pilot, lambda: app.main.pair_filter.is_empty and app.main.pair_filter.order == "request")


async def test_live_pairs_are_appended_to_a_sorted_list(tmp_path):
    db = build_store(tmp_path / "s.sqlite", rows=MIXED, status="running")
    app = make_app(db, tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("o")
        await until(pilot, lambda: app.main.pair_filter.order == "model" and app.main.complete)
        before = list(app.pairs_list.ids)

        def writer():
            with Store(db, create=False) as store:
                run_id = store.run_id("fixture")
                [pid] = store.ensure_prompts(["Aardvark request written while the app runs."])
                store.save_sample(pair_sample(run_id, "sim/aaa", pid, 9, "free", "complied", "new"))
                store.save_sample(pair_sample(run_id, "sim/aaa", pid, 9, "paid", "refused", "new"))

        thread = threading.Thread(target=writer)
        thread.start()
        await until(pilot, lambda: len(app.pairs_list.ids) == len(before) + 1)
        thread.join()
        ids = list(app.pairs_list.ids)
        assert ids[:-1] == before and ids[-1] > max(before)  # appended, not bisected into place
        assert len(set(ids)) == len(ids)
        await until(pilot, lambda: "1 new at the end" in status_text(app))
        await pilot.pause(0.3)  # the paid tier's change: a pair already in the list, nothing added twice
        assert len(app.pairs_list.ids) == len(before) + 1
        await pilot.press("o", "o", "o", "o")  # round to model again: re-sorted, the new pair first
        await until(pilot, lambda: app.main.pair_filter.order == "model" and app.main.complete
                    and app.pairs_list.ids[0] == ids[-1])


# -- footers at small widths ------------------------------------------------------------------------------
def _footer_keys(screen) -> list[str]:
    """The footer's keys that are fully on screen."""
    from textual.widgets._footer import FooterKey

    width = screen.size.width
    return [k.key_display for k in screen.query(FooterKey) if k.region.width and k.region.right <= width]


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_footers_keep_the_main_keys(tmp_path, size):
    from af_tui.tui.screens.label import LabelScreen
    from af_tui.tui.screens.pair import PairScreen

    app = make_app(build_store(tmp_path / "s.sqlite"), tmp_path)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: loaded(app))
        await settle(pilot)
        keys = _footer_keys(app.screen)
        for key in ("⏎", "/", "a", "o", "f", "l", "q", "?"):
            assert key in keys, (key, keys)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, PairScreen) and app.screen.detail is not None)
        await settle(pilot)
        keys = _footer_keys(app.screen)
        for key in ("tab", "esc", "n", "p", "l", "t"):
            assert key in keys, (key, keys)
        await pilot.press("l")
        await until(pilot, lambda: isinstance(app.screen, LabelScreen))
        await settle(pilot)
        keys = _footer_keys(app.screen)
        for key in ("a", "n", "x", "⏎", "u", "s", "esc"):
            assert key in keys, (key, keys)
