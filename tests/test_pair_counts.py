"""The pairs list's first read at scale: counts from the trigger-kept `pair_counts` agree with counting the
pairs; a selected pair beyond the first screenful costs the ids up to it, not all of them."""

from builders import make_store

from af_tui.explorer import pairs as explorer_pairs
from af_tui.explorer.filters import CANDIDATES, PairFilter
from af_tui.explorer.pair_ids import read_pair_ids


def test_counts_from_pair_counts_match_the_pairs(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=6)
    conn = store.conn
    try:
        model = conn.execute("SELECT model FROM pairs LIMIT 1").fetchone()[0]
        run = conn.execute("SELECT name FROM runs LIMIT 1").fetchone()[0]
        for pair_filter in (PairFilter(), CANDIDATES, PairFilter(free_outcome="complied"), PairFilter(errors_only=True),
                    PairFilter(model=model, paid_outcome="refused"), PairFilter(run=run),
                    PairFilter(format_not_followed_only=True), PairFilter(model="no such model")):
            assert pair_filter.by_slice_and_outcome
            where, params = pair_filter.where(conn)
            counted = conn.execute(f"SELECT COUNT(*) FROM pairs p WHERE {where}", params).fetchone()[0]
            assert explorer_pairs.count_pairs(conn, pair_filter) == counted, pair_filter
        assert explorer_pairs.total_pairs(conn) == conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0] > 0
        assert not PairFilter(search="x").by_slice_and_outcome and not PairFilter(verdict="unclear").by_slice_and_outcome
    finally:
        store.close()


def test_a_selected_pair_beyond_the_head_reads_ids_up_to_it_not_all(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=12)
    conn = store.conn
    try:
        every = list(explorer_pairs.pair_ids(conn, PairFilter()))
        keep = every[6]
        snap = read_pair_ids(conn, PairFilter(), keep, head_rows=2, first_page=4)
        conn.rollback()
        assert list(snap.ids) == every[:9] and snap.count == len(every)  # up to the pair, 2 after it
        assert keep in snap.rows
        snap = read_pair_ids(conn, PairFilter(), None, head_rows=2, first_page=4)
        conn.rollback()
        assert list(snap.ids) == every[:2] and snap.count == len(every)
        snap = read_pair_ids(conn, PairFilter(), every[-2], head_rows=2, first_page=4)
        conn.rollback()
        assert list(snap.ids) == every and snap.count is None  # it reached the end: complete
    finally:
        store.close()
