"""Schema 9: the batches table. A schema-8 store gains it by migration; a batch's row is on disk before
af-tui waits on it, and its collection (samples, carried items, status) is one transaction."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest
from builders import make_store, pair_sample

from af_tui.store import batches
from af_tui.store.db import Store
from af_tui.store.schema import SCHEMA_VERSION


def test_a_schema_8_store_migrates_and_gains_the_batches_table(tmp_path):
    path = tmp_path / "old.sqlite"
    make_store(path, n_requests=2).close()
    conn = sqlite3.connect(path)
    conn.executescript("DROP TABLE batches; PRAGMA user_version = 8;")
    conn.close()
    with Store(path, create=False) as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 9
        assert store.conn.execute("SELECT COUNT(*) FROM batches").fetchone()[0] == 0
        assert store.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 4  # the samples kept


def test_record_submit_poll_collect_and_carry(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=1)
    run_id = store.run_id("r1")
    items = {"p1-free-t0": {"key": ["sim/b", "v", 1, "free", 0], "turn": 0},
             "p1-paid-t0": {"key": ["sim/b", "v", 1, "paid", 0], "turn": 0}}
    (row_id,) = batches.record_batches(store, [batches.NewBatch("sim", "sim/b", items, run_id=run_id, bytes=10)])
    (row,) = batches.open_batches(store, run_id)
    assert (row.status, row.batch_id, row.requests, row.items) == ("submitting", None, 2, items)
    batches.mark_submitted(store, row_id, "simbatch_1", "in_progress")
    batches.record_poll(store, row_id, "in_progress", 1, 0)
    # another connection sees it committed: a kill now leaves the provider's id on disk
    other = sqlite3.connect(store.path)
    assert other.execute("SELECT batch_id, status, done FROM batches").fetchone() == ("simbatch_1", "pending", 1)
    sample = replace(pair_sample(run_id, "sim/b", 1, 0, "paid", "refused", "a request"), variant="stand_in")
    carry = {"p1-free-t1": {"key": ["sim/b", "v", 1, "free", 0], "turn": 1}}
    batches.collect_batch(store, row_id, [sample], carry, provider_status="ended", done=2, failed=0)
    (row,) = batches.open_batches(store, run_id)  # still open: it carries an item for round 2
    assert row.status == "collected" and row.carry == carry and row.ended_at
    assert other.execute("SELECT COUNT(*) FROM samples WHERE model = 'sim/b'").fetchone()[0] == 1
    (new_id,) = batches.record_batches(store, [batches.NewBatch("sim", "sim/b", carry, round=2, run_id=run_id)],
                                       consumed=[row_id])
    assert [r.id for r in batches.open_batches(store, run_id)] == [new_id]
    listed = batches.list_batches(store, run="r1")
    assert [(b.round, b.status, b.run) for b in listed] == [(1, "collected", "r1"), (2, "submitting", "r1")]
    assert [b.id for b in batches.list_batches(store, open_only=True)] == [new_id]
    batches.set_status(store, new_id, "cancelled", "cancelled")
    assert batches.open_batches(store, run_id) == []


def test_a_failed_collection_leaves_the_batch_pending_and_no_sample(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=1)
    run_id = store.run_id("r1")
    (row_id,) = batches.record_batches(store, [batches.NewBatch("sim", "sim/b", {"a": {}}, run_id=run_id)])
    batches.mark_submitted(store, row_id, "b1")
    with pytest.raises(TypeError):
        batches.collect_batch(store, row_id, ["not a sample"], {}, provider_status="ended", done=1, failed=0)
    (row,) = batches.open_batches(store, run_id)
    assert row.status == "pending"
