"""A search with many matches paints its first screenful before it is counted: the head is read on its own
(each pair of a window checked against the index, else the usual plan), the rest and the count follow in a
later step; the ids agree with reading the search whole."""

from __future__ import annotations

import pytest
from builders import build_store, make_app, make_store
from helpers import loaded, status_text, until

from af_tui.explorer import filters
from af_tui.explorer.filters import PairFilter
from af_tui.explorer.pair_ids import read_pair_ids
from af_tui.explorer.pairs import ordered_search_head, pair_ids, search_head

# make_store(30): "reasoning I TIER" in every scratchpad, "answer I free" in every free output, "help" in the
# refusals (two requests in three), "request number I" in every request
WORDS = ["reasoning", "answer", "help", "request", "paid", "number 2*", "nothing"]


@pytest.fixture
def store(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=30)
    yield store
    store.close()


@pytest.mark.parametrize("window", [1, 4, 1000])
def test_the_head_is_the_first_ids_of_the_whole_search(store, monkeypatch, window):
    monkeypatch.setattr(filters, "FEW_SAMPLE_MATCHES", 0)  # every search counts as common
    for word in WORDS:
        whole = list(pair_ids(store.conn, PairFilter(search=word)))
        for limit in (1, 7, 30, 31):
            ids, complete = search_head(store.conn, PairFilter(search=word), limit, window=window)
            assert list(ids) == whole[:limit], (word, limit)
            assert complete == (len(whole) < limit), (word, limit)


@pytest.mark.parametrize("window", [1, 4, 1000])
def test_the_head_reaches_a_selected_pair_further_down(store, monkeypatch, window):
    """The list keeps its selected pair: the ids up to it, then a screenful after it."""
    monkeypatch.setattr(filters, "FEW_SAMPLE_MATCHES", 0)
    every = list(pair_ids(store.conn, PairFilter()))
    for word in WORDS:
        whole = list(pair_ids(store.conn, PairFilter(search=word)))
        for keep in (every[0], every[9], every[17], every[-1]):
            ids, complete = search_head(store.conn, PairFilter(search=word), 3, keep=keep, window=window)
            after = [i for i in whole if i > keep]
            expected = whole[:3] if len(whole) <= 3 or keep <= whole[2] else \
                [i for i in whole if i <= keep] + after[:3]
            assert list(ids) == expected, (word, keep)
            # complete: nothing is left to read; else a whole screenful came after the selected pair
            assert list(ids) == whole if complete else len(ids) >= 3 and list(ids) != whole[:len(ids) - 1], (word, keep)


@pytest.fixture
def two_models(store):
    """make_store's 30 requests by sim/a, then by sim/0 in reverse: the model and request orders differ
    from arrival."""
    from af_tui.store.sample import Sample

    run_id = store.conn.execute("SELECT id FROM runs").fetchone()[0]
    prompts = [r[0] for r in store.conn.execute("SELECT id FROM prompts ORDER BY id DESC")]
    store.save_samples([
        Sample(run_id=run_id, model="sim/0", variant="stand_in", prompt_id=pid, prompt_index=29 - i, tier=tier,
               epoch=0, outcome="complied", scratchpad=f"reasoning again {i}", output=f"answer {i} {tier}",
               completed_at=1_700_000_100 + i)
        for i, pid in enumerate(prompts) for tier in ("free", "paid")])
    return store


@pytest.mark.parametrize("order", ["model", "request"])
@pytest.mark.parametrize("window", [4, 25, 1000])
def test_a_search_in_an_indexed_order_starts_with_its_head(two_models, monkeypatch, order, window):
    monkeypatch.setattr(filters, "FEW_SAMPLE_MATCHES", 0)
    every = list(pair_ids(two_models.conn, PairFilter(search="reasoning", order=order)))
    assert every != sorted(every)  # the order is not the arrival's
    for word in [*WORDS, "again"]:
        f = PairFilter(search=word, order=order)
        whole = list(pair_ids(two_models.conn, f))
        for limit in (1, 7, 60, 61):
            head = ordered_search_head(two_models.conn, f, limit, window=window)
            if head is None:  # fewer matches than a screenful among the window's pairs: read whole
                assert window < 60 and len([i for i in whole if i in set(
                    pair_ids(two_models.conn, PairFilter(order=order))[:window])]) < limit
                continue
            ids, complete = head
            assert list(ids) == whole[:limit], (word, limit)
            assert complete == (len(whole) < limit), (word, limit)


def test_a_search_in_model_order_is_read_uncounted_then_whole(two_models, monkeypatch):
    monkeypatch.setattr(filters, "FEW_SAMPLE_MATCHES", 0)
    f = PairFilter(search="reasoning", order="model")
    whole = list(pair_ids(two_models.conn, f))
    head = read_pair_ids(two_models.conn, f, None, head_rows=5, first_page=3)
    assert list(head.ids) == whole[:5] and not head.counted
    # the selected pair outside the head: the search is read whole, to find where it is
    kept = read_pair_ids(two_models.conn, f, whole[40], head_rows=5, first_page=3)
    assert list(kept.ids) == whole and kept.counted and whole[40] in kept.rows


def test_a_common_search_is_read_uncounted_and_the_rest_follows(store, monkeypatch):
    monkeypatch.setattr(filters, "FEW_SAMPLE_MATCHES", 0)
    f = PairFilter(search="help")
    whole = list(pair_ids(store.conn, f))
    assert len(whole) == 20
    head = read_pair_ids(store.conn, f, None, head_rows=5, first_page=3)
    assert list(head.ids) == whole[:5] and not head.counted and head.count is None
    assert set(head.rows) == set(whole[:3])  # the first screenful's rows come with it
    assert list(pair_ids(store.conn, f, after_id=head.ids[-1])) == whole[5:]  # the later step: rest and count
    # a search with few matches is read whole and counted at once, as before
    monkeypatch.setattr(filters, "FEW_SAMPLE_MATCHES", 5_000)
    few = read_pair_ids(store.conn, f, None, head_rows=5, first_page=3)
    assert list(few.ids) == whole and few.counted


async def test_the_first_page_arrives_before_the_count(tmp_path, monkeypatch):
    """In the app: the list shows a search's first rows with "2+ … counting…" and the count comes after."""
    from af_tui.tui import pairs_loading

    monkeypatch.setattr(filters, "FEW_SAMPLE_MATCHES", 0)
    monkeypatch.setattr(pairs_loading, "HEAD_ROWS", 2)
    seen = []
    original = pairs_loading.PairsLoading.on_pair_ids_loaded

    def record(self, message):
        original(self, message)
        if message.pair_filter.search:
            seen.append((len(message.ids), message.counted, message.complete, len(self.pairs_list.rows),
                         status_text(self)))

    monkeypatch.setattr(pairs_loading.PairsLoading, "on_pair_ids_loaded", record)
    app = make_app(build_store(tmp_path / "s.sqlite"), tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: loaded(app))
        await pilot.press("slash")
        app.main.query_one("#search").value = "Turn"  # in every pair's scratchpads
        await pilot.press("enter")
        await until(pilot, lambda: app.main.complete and app.main.pair_filter.search == "Turn")
        assert "showing 6 of 6 pairs" in status_text(app)
    first, last = seen[0], seen[-1]
    assert first[:3] == (2, False, False) and first[3] >= 2  # two ids with their rows, not counted
    assert "showing 2+ of 6 pairs" in first[4] and "counting…" in first[4]
    assert last[:3] == (6, True, True) and "counting" not in last[4]
