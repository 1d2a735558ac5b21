"""The store: schema, pairs kept by triggers, resume identity, bad files."""

import sqlite3

import pytest

from af_tui.domain import Outcome, Tier
from af_tui.errors import AfError
from af_tui.store.db import Store
from af_tui.store.sample import Sample
from af_tui.store.schema import SCHEMA_VERSION


def _sample(run_id, prompt_id, tier, outcome="complied", **kw):
    return Sample(run_id=run_id, model="sim/x", variant="v", prompt_id=prompt_id, prompt_index=0, tier=tier,
                  epoch=0, outcome=outcome, output="<request_fully_accepted/> hi", scratchpad="think", **kw)


def test_new_store_has_schema_and_wal(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_pairs_follow_samples_and_errors_are_replaced(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        run = store.start_run("r", {})
        store.ensure_variant("v", "system")
        (pid,) = store.ensure_prompts(["do a thing"])
        assert store.save_sample(_sample(run, pid, "free", "error", error="boom"))
        store.save_sample(_sample(run, pid, "paid", "refused"))
        pair = next(store.iter_query("SELECT * FROM pairs"))
        assert (pair["free_outcome"], pair["paid_outcome"]) == ("error", "refused")
        # the error is retried and replaced; a completed sample is never overwritten
        assert store.save_sample(_sample(run, pid, "free", "complied")) is not None
        assert store.save_sample(_sample(run, pid, "free", "refused")) is None
        pair = next(store.iter_query("SELECT * FROM pairs"))
        assert (pair["free_outcome"], pair["paid_outcome"]) == ("complied", "refused")
        assert store.conn.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 2
        hits = store.conn.execute("SELECT rowid FROM samples_fts WHERE samples_fts MATCH 'think'").fetchall()
        assert len(hits) == 2
        assert {k.tier for k in store.done_keys(run)} == {"free", "paid"}


def test_bad_files_get_one_line_errors_and_stay_untouched(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all")
    with pytest.raises(AfError, match="not a SQLite database"):
        Store(junk)
    assert junk.read_bytes() == b"not a database at all"
    with pytest.raises(AfError, match="no store"):
        Store(tmp_path / "missing.sqlite", create=False)
    with pytest.raises(AfError, match="directory"):
        Store(tmp_path)
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(AfError, match="not an af-tui store"):
        Store(other)
    newer = tmp_path / "newer.sqlite"
    Store(newer).close()
    c = sqlite3.connect(newer)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.close()
    with pytest.raises(AfError, match="newer af-tui"):
        Store(newer)


def test_variant_names_never_collide(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        assert store.ensure_variant("p", "one") == "p"
        assert store.ensure_variant("p", "one") == "p"
        assert store.ensure_variant("p", "two").startswith("p@")


def _open_and_close(path):
    Store(path).close()
    return True


@pytest.mark.slow
def test_concurrent_opens_of_an_old_store_migrate_once(tmp_path):
    """Several processes (served tabs, a run, the app) opening a store from an older af-tui at once."""
    from concurrent.futures import ProcessPoolExecutor

    from af_tui.store.schema import SCHEMA_V1

    for attempt in range(3):
        path = tmp_path / f"old{attempt}.sqlite"
        conn = sqlite3.connect(path)
        conn.executescript(SCHEMA_V1 + "; PRAGMA user_version = 1;")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.close()
        with ProcessPoolExecutor(4) as pool:
            assert all(pool.map(_open_and_close, [path] * 8))
        with Store(path) as store:
            assert store.conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
            assert store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_retried_error_keeps_what_the_failed_tries_spent(tmp_path):
    with Store(tmp_path / "s.sqlite") as store:
        run = store.start_run("r", {})
        store.ensure_variant("v", "system")
        (pid,) = store.ensure_prompts(["do a thing"])
        store.save_sample(_sample(run, pid, "free", "error", error="boom", attempts=6, cost=0.01))
        store.save_sample(_sample(run, pid, "free", "complied", attempts=2, cost=0.02))
        attempts, cost, outcome = store.conn.execute("SELECT attempts, cost, outcome FROM samples").fetchone()
        assert (attempts, outcome) == (8, "complied") and abs(cost - 0.03) < 1e-12


def test_the_sample_record_names_every_column_the_store_writes():
    from af_tui.store.sample import SAMPLE_FIELDS, Sample

    assert set(SAMPLE_FIELDS) == set(Store._SAMPLE_COLUMNS)
    sample = Sample(run_id=1, model="m", variant="v", prompt_id=2, tier="free", outcome="complied")
    assert (sample.tier, sample.outcome) == (Tier.FREE, Outcome.COMPLIED)
    with pytest.raises(ValueError):
        Sample(run_id=1, model="m", variant="v", prompt_id=2, tier="gratis", outcome="complied")


def _schema_and_rows(conn) -> tuple[list, dict, int]:
    objects = sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
    tables = [name for _, name, kind, *_ in conn.execute("PRAGMA main.table_list") if kind == "table"
              and not name.startswith("sqlite_")]
    rows = {name: sorted(conn.execute(f'SELECT * FROM "{name}"').fetchall()) for name in tables}
    return objects, rows, conn.execute("PRAGMA user_version").fetchone()[0]


def test_a_new_store_is_what_the_migrations_make(tmp_path):
    """A new store gets the migrations' end state in one step (schema.fresh_store): the same objects with the
    same SQL, the same starting rows and version as running each migration; its full-text search works (the
    full-text index's own shadow rows may be written differently, as after an FTS rebuild)."""
    import sqlite3

    from af_tui.store.schema import SCHEMA_VERSION, migrate

    stepwise = sqlite3.connect(":memory:", isolation_level=None)
    migrate(stepwise, 0)
    with Store(tmp_path / "new.sqlite") as store:
        fresh = _schema_and_rows(store.conn)
    assert fresh == _schema_and_rows(stepwise)
    assert fresh[2] == SCHEMA_VERSION and len(fresh[0]) > 50
    with Store(tmp_path / "new.sqlite") as store:  # and it reads, writes and searches as a migrated one
        [prompt_id] = store.ensure_prompts(["how to bake bread"])
        assert store.conn.execute("SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH 'bread'").fetchall() == [
            (prompt_id,)]
