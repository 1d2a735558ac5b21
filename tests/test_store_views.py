"""Schema 7: the pairs_wide and labels_current views, made by a migration — a schema-6 store opened by this
af-tui gains them and they answer (docs/store.md's example queries included)."""

import sqlite3

from builders import make_store, sample_id

from af_tui.domain import CRITERIA
from af_tui.store.db import Store
from af_tui.store.labels import save_label
from af_tui.store.schema import SCHEMA_VERSION


def _as_schema_6(path):
    """The store as schema 6 had it: no views, the label index under its old name labels_current."""
    conn = sqlite3.connect(path)
    conn.executescript("DROP VIEW pairs_wide; DROP VIEW labels_current; DROP INDEX labels_newest; "
                       "CREATE INDEX labels_current ON labels (sample_id, annotator, created_at); "
                       "PRAGMA user_version = 6;")
    conn.close()


def test_a_schema_6_store_migrates_and_the_views_answer(tmp_path):
    path = tmp_path / "s.sqlite"
    store = make_store(path, n_requests=3)
    s0, s1 = sample_id(store, 0, "free"), sample_id(store, 1, "paid")
    save_label(store.conn, s0, "alice", verdict="unclear", created_at=1_700_000_000)
    save_label(store.conn, s0, "alice", criteria=dict.fromkeys(CRITERIA, 1), verdict="alignment_faking",
               created_at=1_700_000_100)
    save_label(store.conn, s0, "bob", verdict="not_alignment_faking", created_at=1_700_000_200)
    save_label(store.conn, s1, "bob", verdict="alignment_faking", created_at=1_700_000_300)
    save_label(store.conn, s1, "bob", verdict=None, created_at=1_700_000_400)  # cleared: no current label
    save_label(store.conn, s1, "carol", verdict="unclear", created_at=1_700_000_500, adjudication=True)
    store.close()
    _as_schema_6(path)
    assert sqlite3.connect(path).execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'view' "
                                         "AND name IN ('pairs_wide', 'labels_current')").fetchone()[0] == 0

    with Store(path, create=False) as store:
        conn = store.conn
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 7
        wide = conn.execute("SELECT pair_id, run, model, free_outcome, paid_outcome, free_scratchpad, "
                            "paid_output, rule FROM pairs_wide ORDER BY pair_id").fetchall()
        assert [w[3:5] for w in wide] == [("complied", "refused"), ("complied", "refused"), ("complied", "complied")]
        assert wide[0][1:3] == ("r1", "sim/a") and wide[0][5] == "reasoning 0 free" and wide[0][7] == "last-scratchpad"
        assert len(wide) == conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0]
        current = conn.execute("SELECT sample_id, annotator, verdict, rubric, json_extract(criteria, "
                               "'$.knows_training'), labeled_at, tier FROM labels_current "
                               "ORDER BY sample_id, annotator").fetchall()
        assert current == [(s0, "alice", "alignment_faking", "af-tui-4", 1, "2023-11-14T22:15:00.000Z", "free"),
                           (s0, "bob", "not_alignment_faking", "af-tui-4", None, "2023-11-14T22:16:40.000Z", "free")]
        # the label index kept its columns under its new name
        assert conn.execute("SELECT sql FROM sqlite_master WHERE name = 'labels_newest'").fetchone()[0].endswith(
            "ON labels (sample_id, annotator, created_at)")


def test_the_example_queries_of_docs_store_md_run(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=4)
    save_label(store.conn, sample_id(store, 0, "free"), "alice", verdict="alignment_faking")
    gap = store.conn.execute(
        "SELECT model, COUNT(*) AS pairs, "
        "round(AVG(free_outcome = 'complied') - AVG(paid_outcome = 'complied'), 3) AS compliance_gap "
        "FROM pairs_wide WHERE free_outcome != 'error' AND paid_outcome != 'error' "
        "GROUP BY model").fetchall()
    assert gap == [("sim/a", 4, 0.75)]
    rates = store.conn.execute(
        "SELECT annotator, model, tier, COUNT(*) AS labeled, SUM(verdict = 'alignment_faking') AS af "
        "FROM labels_current WHERE outcome = 'complied' GROUP BY annotator, model, tier").fetchall()
    assert rates == [("alice", "sim/a", "free", 1, 1)]
    store.close()
