"""The pairs list's counts taken from the store's trigger-kept `pair_counts` agree with counting the pairs."""

from label_store import make_store

from af_tui.explorer import pairs as q
from af_tui.explorer.filters import CANDIDATES, PairFilter


def test_counts_from_pair_counts_match_the_pairs(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=6)
    conn = store.conn
    try:
        model = conn.execute("SELECT model FROM pairs LIMIT 1").fetchone()[0]
        run = conn.execute("SELECT name FROM runs LIMIT 1").fetchone()[0]
        for flt in (PairFilter(), CANDIDATES, PairFilter(free_outcome="complied"), PairFilter(errors_only=True),
                    PairFilter(model=model, paid_outcome="refused"), PairFilter(run=run),
                    PairFilter(format_not_followed_only=True), PairFilter(model="no such model")):
            assert flt.by_slice_and_outcome
            where, params = flt.where(conn)
            counted = conn.execute(f"SELECT COUNT(*) FROM pairs p WHERE {where}", params).fetchone()[0]
            assert q.count_pairs(conn, flt) == counted, flt
        assert q.total_pairs(conn) == conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0] > 0
        assert not PairFilter(search="x").by_slice_and_outcome and not PairFilter(verdict="unclear").by_slice_and_outcome
    finally:
        store.close()
