"""Merge: two annotators' copies into a team store, matched by identity not row id, idempotent, never
overwriting; then their agreement against a hand-computed kappa; bad sources."""

import sqlite3

import pytest
from builders import make_store, sample_id
from helpers import af_main

from af_tui.analysis.agreement import agreement_report
from af_tui.errors import AfError
from af_tui.io.merge import merge_store
from af_tui.store.db import Store
from af_tui.store.labels import current_labels, save_label
from af_tui.store.sample import Sample
from af_tui.store.schema import SCHEMA_VERSION


def _copy(store, path):
    dest = sqlite3.connect(path)
    store.conn.backup(dest)
    dest.close()
    return Store(path)


@pytest.fixture
def copies(tmp_path):
    base = make_store(tmp_path / "base.sqlite", n_requests=8)
    alice, bob = _copy(base, tmp_path / "alice.sqlite"), _copy(base, tmp_path / "bob.sqlite")
    # alice and bob label the 8 free-tier samples: they agree on 6 of 8
    va = ["alignment_faking"] * 4 + ["not_alignment_faking"] * 4
    vb = ["alignment_faking"] * 3 + ["not_alignment_faking"] * 4 + ["alignment_faking"]
    for i in range(8):
        save_label(alice.conn, sample_id(alice, i, "free"), "alice", verdict=va[i])
        save_label(bob.conn, sample_id(bob, i, "free"), "bob", verdict=vb[i])
    # a sample only bob's copy has (a run the team store never saw)
    extra = bob.start_run("bob-only", {})
    (pid,) = bob.ensure_prompts(["only in bob's copy"])
    (sid,) = bob.save_samples([Sample(run_id=extra, model="sim/a", variant="stand_in", prompt_id=pid,
                                    prompt_index=0, tier="free", epoch=0, outcome="complied")])
    save_label(bob.conn, sid, "bob", verdict="unclear")
    # the team store holds the same samples under other row ids
    team = Store(tmp_path / "team.sqlite")
    other = team.start_run("zzz", {})
    team.ensure_variant("other", "another prompt")
    (p0,) = team.ensure_prompts(["shifts the ids"])
    team.save_samples([Sample(run_id=other, model="m", variant="other", prompt_id=p0, tier=t, outcome="refused")
                       for t in ("free", "paid")])
    team.close()
    team = make_store(tmp_path / "team.sqlite", n_requests=8)
    assert sample_id(team, 0, "free") != sample_id(alice, 0, "free")
    return team, alice, bob


def test_merge_two_annotators_then_kappa(copies):
    team, alice, bob = copies
    ra = merge_store(team.conn, alice.path, target_path=team.path)
    rb = merge_store(team.conn, bob.path, target_path=team.path)
    assert (ra.labels_merged, ra.labels_already, ra.labels_unmatched) == (8, 0, 0)
    assert (rb.labels_merged, rb.labels_already, rb.labels_unmatched) == (8, 0, 1)
    assert len(rb.unmatched_samples) == 1
    labels = current_labels(team.conn)
    assert len(labels) == 16
    # matched by identity: alice's label on request 3 sits on the team's sample for request 3
    assert {r.sample_id for r in labels if r.annotator == "alice"} == {
        sample_id(team, i, "free") for i in range(8)}
    # idempotent
    again = merge_store(team.conn, alice.path, target_path=team.path)
    assert (again.labels_merged, again.labels_already) == (0, 8)
    assert team.conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 16
    # hand-computed: alice 4 AF / 4 not, bob 4 AF / 4 not, agree on 6 of 8:
    # p_o = 0.75, p_e = 0.5*0.5 + 0.5*0.5 = 0.5, kappa = (0.75 - 0.5) / 0.5 = 0.5
    k = agreement_report(team.conn)["pairs"][0]["fields"]["verdict"]
    assert k["kappa"] == pytest.approx(0.5) and k["n"] == 8


def test_merge_never_overwrites_and_keeps_the_copy_unchanged(copies):
    team, alice, _ = copies
    sid = sample_id(team, 0, "free")
    save_label(team.conn, sid, "alice", verdict="unclear", created_at=9e9)  # a newer label already here
    before = alice.path.read_bytes()
    merge_store(team.conn, alice.path, target_path=team.path)
    assert alice.path.read_bytes() == before
    mine = [r for r in current_labels(team.conn, annotator="alice") if r.sample_id == sid]
    assert mine[0].verdict == "unclear"


def test_merge_cli_and_bad_sources(copies, tmp_path, capsys):
    team, alice, bob = copies
    team.close()
    assert af_main("merge", str(alice.path), str(bob.path), "--db", str(team.path)) == 0
    out = capsys.readouterr().out
    assert "8 labels merged, 0 already here, 0 unmatched" in out and "1 labeled samples of the copy" in out
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"hello")
    foreign = tmp_path / "foreign.sqlite"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    newer = tmp_path / "newer.sqlite"
    Store(newer).close()
    c = sqlite3.connect(newer)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.close()
    cases = [(tmp_path / "missing.sqlite", "no store"), (tmp_path, "directory"), (junk, "not a SQLite"),
             (foreign, "not an af-tui store"), (newer, "newer af-tui"), (team.path, "this store itself")]
    count = sqlite3.connect(team.path).execute("SELECT COUNT(*) FROM labels").fetchone()[0]
    for path, message in cases:
        # a bad copy after a good one: nothing is merged at all
        code = af_main("merge", str(alice.path), str(path), "--db", str(team.path))
        err = capsys.readouterr().err
        assert code != 0 and message in err and len(err.strip().splitlines()) == 1, (path, err)
    assert sqlite3.connect(team.path).execute("SELECT COUNT(*) FROM labels").fetchone()[0] == count
    with pytest.raises(AfError):
        merge_store(sqlite3.connect(team.path), junk)


def test_a_copys_answer_replaces_a_failed_judgement_but_never_an_answer(copies):
    import time
    import uuid

    team, alice, _ = copies

    def judge(store, sid, verdict, error=None):
        store.conn.execute(
            "INSERT INTO judgements (uid, sample_id, judge_model, prompt_sha256, verdict, parsed, error, created_at)"
            " VALUES (?, ?, 'sim/judge', 'abc', ?, ?, ?, ?)",
            (str(uuid.uuid4()), sid, verdict, 0 if error else 1, error, time.time()))
        store.conn.commit()

    judge(team, sample_id(team, 0, "free"), None, error="429 after retries")
    judge(team, sample_id(team, 1, "free"), "not_alignment_faking")
    judge(alice, sample_id(alice, 0, "free"), "alignment_faking")
    judge(alice, sample_id(alice, 1, "free"), "alignment_faking")
    for _ in range(2):  # merging again changes nothing
        merge_store(team.conn, alice.path, target_path=team.path)
        rows = dict(team.conn.execute(
            "SELECT sample_id, verdict FROM judgements WHERE judge_model = 'sim/judge'").fetchall())
        assert rows[sample_id(team, 0, "free")] == "alignment_faking"  # the failure was replaced
        assert rows[sample_id(team, 1, "free")] == "not_alignment_faking"  # an answer is never overwritten
        assert team.conn.execute("SELECT COUNT(*) FROM judgements").fetchone()[0] == 2
