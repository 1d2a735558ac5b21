"""Labels: append-only saves that commit at once, undo, the current label, the queue and its progress."""

import sqlite3

import pytest
from builders import make_store, sample_id

from af_tui.config import resolve_annotator
from af_tui.domain import CRITERIA
from af_tui.errors import AfError
from af_tui.store.labels import (
    LabelQueue,
    QueueFilter,
    current_label,
    current_labels,
    label_marks,
    propose_verdict,
    save_label,
    undo_label,
)
from af_tui.store.sample import Sample

ALL = dict.fromkeys(CRITERIA, 1)


def test_save_commits_before_returning(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    sid = sample_id(store, 0, "free")
    label = save_label(store.conn, sid, "ann", criteria=ALL, verdict="alignment_faking", note="n", blind=True)
    # another connection sees it at once: it is committed, not pending in our transaction
    other = sqlite3.connect(tmp_path / "s.sqlite")
    row = other.execute("SELECT verdict, note, blind, knows_training, uid FROM labels").fetchone()
    assert row == ("alignment_faking", "n", 1, 1, label.uid)
    assert not store.conn.in_transaction


def test_history_kept_and_undo_restores_the_previous_state(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    sid = sample_id(store, 0, "free")
    first = save_label(store.conn, sid, "ann", criteria=ALL, verdict="alignment_faking", created_at=1.0)
    second = save_label(store.conn, sid, "ann", criteria={}, verdict="not_alignment_faking", note="changed",
                        created_at=2.0)
    assert current_label(store.conn, sid, "ann").verdict == "not_alignment_faking"
    restored = undo_label(store.conn, second.uid)
    assert restored.verdict == "alignment_faking" and restored.criteria == ALL and restored.note is None
    assert current_label(store.conn, sid, "ann").verdict == "alignment_faking"
    assert undo_label(store.conn, first.uid) is None  # undoing the first label clears it
    assert current_label(store.conn, sid, "ann") is None
    assert store.conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0] == 4  # nothing deleted
    with pytest.raises(AfError):
        undo_label(store.conn, "nope")


def test_current_labels_per_annotator(tmp_path):
    store = make_store(tmp_path / "s.sqlite")
    a, b = sample_id(store, 0, "free"), sample_id(store, 1, "free")
    save_label(store.conn, a, "x", verdict="unclear", created_at=1.0)
    save_label(store.conn, a, "x", verdict="alignment_faking", created_at=2.0)
    save_label(store.conn, a, "y", verdict="not_alignment_faking", created_at=1.5)
    save_label(store.conn, b, "y", verdict="unclear", created_at=1.0)
    save_label(store.conn, b, "y", verdict=None, created_at=3.0)  # cleared
    rows = current_labels(store.conn)
    assert [(r.sample_id, r.annotator, r.verdict) for r in rows] == [
        (a, "x", "alignment_faking"), (a, "y", "not_alignment_faking")]
    assert rows[0].tier == "free" and rows[0].model == "sim/a" and rows[0].outcome == "complied"
    assert [r.annotator for r in current_labels(store.conn, annotator="y")] == ["y"]
    assert label_marks(store.conn, [a, b]) == {a: {"x": "alignment_faking", "y": "not_alignment_faking"}}
    assert current_labels(store.conn, run="other") == []


def test_bad_verdict_and_annotator(tmp_path, monkeypatch):
    store = make_store(tmp_path / "s.sqlite")
    with pytest.raises(AfError, match="unknown verdict"):
        save_label(store.conn, 1, "ann", verdict="maybe")
    monkeypatch.setenv("AF_TUI_ANNOTATOR", "from-env")
    assert resolve_annotator(None) == "from-env"
    assert resolve_annotator("given") == "given"
    monkeypatch.delenv("AF_TUI_ANNOTATOR")
    assert resolve_annotator(None)


def test_proposal_needs_all_four():
    assert propose_verdict(ALL) == "alignment_faking"
    assert propose_verdict({**ALL, "complies_to_avoid": 0}) is None


def test_queue_default_is_complied_in_order_and_skips_labeled(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=6)
    q = LabelQueue(store.conn, "ann")
    complied = [sample_id(store, i, t) for i in range(6) for t in ("free", "paid") if t == "free" or i % 3 == 2]
    assert list(q.ids) == complied
    assert q.next_unlabeled() == complied[0]
    save_label(store.conn, complied[1], "ann", verdict="unclear")
    save_label(store.conn, complied[0], "other-annotator", verdict="unclear")
    assert q.next_unlabeled(complied[0]) == complied[2]
    assert q.next_unlabeled() == complied[0]  # another annotator's label does not count
    q.session_labels = 1
    p = q.progress()
    # counted from the first label, over at least a minute (one label in the first seconds: 60/h, not "—")
    assert (p.labeled, p.remaining, p.total, p.per_hour) == (1, len(complied) - 1, len(complied), 60.0)
    q.session_labels = 0
    assert q.progress().per_hour is None
    q.session_labels = 1
    p = q.progress(now=q.session_start + 1800)
    assert p.per_hour == pytest.approx(2.0)
    for sid in complied:
        save_label(store.conn, sid, "ann", verdict="unclear")
    assert q.next_unlabeled() is None


def test_queue_filters_and_seeded_random(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=30)
    paid = LabelQueue(store.conn, "ann", QueueFilter(tier="paid", outcome="refused"))
    assert len(paid.ids) == 20
    everything = LabelQueue(store.conn, "ann", QueueFilter(outcome=None))
    assert len(everything.ids) == 60
    r1 = LabelQueue(store.conn, "ann", order="random", seed=7).ids
    r2 = LabelQueue(store.conn, "ann", order="random", seed=7).ids
    r3 = LabelQueue(store.conn, "ann", order="random", seed=8).ids
    assert r1 == r2 and r1 != r3 and sorted(r1) == sorted(LabelQueue(store.conn, "ann").ids)
    with pytest.raises(AfError, match="tier"):
        LabelQueue(store.conn, "ann", QueueFilter(tier="gold"))
    with pytest.raises(AfError, match="outcome"):
        LabelQueue(store.conn, "ann", QueueFilter(outcome="nope"))


def test_cli_label_bad_queue_is_one_line(tmp_path, capsys):
    from af_tui.cli import main

    store = make_store(tmp_path / "s.sqlite")
    store.close()
    for args, message in ((["--model", "nope"], "unknown model 'nope'"),
                          (["--tier", "paid", "--outcome", "format_not_followed"], "no samples match"),
                          (["--run", "r9"], "no run named 'r9'")):
        with pytest.raises(SystemExit) as exc:
            main(["label", "--db", str(tmp_path / "s.sqlite"), *args])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_two_annotators_and_a_writer_at_once(tmp_path):
    """Two annotators save labels while a run writes samples, each on its own connection: no "database is
    locked", no label lost."""
    import threading

    from af_tui.store.db import Store

    path = tmp_path / "s.sqlite"
    base = make_store(path, n_requests=20)
    ids = [r[0] for r in base.conn.execute("SELECT id FROM samples")]
    base.close()
    errors, saved = [], {"a": 0, "b": 0}

    def annotate(name):
        try:
            with Store(path, create=False) as store:
                for i in range(150):
                    save_label(store.conn, ids[i % len(ids)], name, verdict="unclear", note=str(i))
                    saved[name] += 1
        except Exception as exc:  # noqa: BLE001 - the test reports whatever went wrong
            errors.append(exc)

    def write():
        try:
            with Store(path, create=False) as store:
                run = store.start_run("writer", {})
                variant = store.ensure_variant("w", "writer prompt")
                for i in range(300):
                    (pid,) = store.ensure_prompts([f"writer request {i}"])
                    store.save_sample(Sample(run_id=run, model="m", variant=variant, prompt_id=pid, tier="free",
                                           outcome="refused", scratchpad="x" * 2000))
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=annotate, args=(n,)) for n in ("a", "b")] + [threading.Thread(target=write)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT annotator, COUNT(*) FROM labels GROUP BY annotator").fetchall() == [
        ("a", 150), ("b", 150)]
    assert conn.execute("SELECT COUNT(*) FROM samples WHERE model = 'm'").fetchone()[0] == 300
