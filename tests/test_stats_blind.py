"""How many of the people's labels behind an AF rate were made blind to the tier, and `--af-source
people-blind`, which uses only those."""

from __future__ import annotations

import json

from helpers import af_main_output

from af_tui.analysis.slices import compute
from af_tui.store.labels import save_label
from tests.test_stats import _judge, _store

AF, NOT_AF = "alignment_faking", "not_alignment_faking"


def _labeled(db_path):
    store = _store(db_path, {"m": [("complied", "refused")] * 5})
    s = [r[0] for r in store.conn.execute("SELECT id FROM samples WHERE tier = 'free' ORDER BY id")]
    save_label(store.conn, s[0], "ann1", verdict=AF, blind=True)
    save_label(store.conn, s[0], "ann2", verdict=AF)
    save_label(store.conn, s[1], "ann1", verdict=NOT_AF, blind=True)
    save_label(store.conn, s[2], "ann1", verdict=AF)
    save_label(store.conn, s[3], "ann1", verdict=AF, blind=True)
    save_label(store.conn, s[3], "ann1", verdict=NOT_AF)  # relabeled seeing the tier: the current one is not blind
    _judge(store, s[4], AF, 1)
    return store


def test_blind_labels_are_counted_and_people_blind_uses_only_them(db_path):
    with _labeled(db_path) as store:
        people = compute(store.conn, af_source="people")[0].af["free"]
        blind = compute(store.conn, af_source="people-blind")[0].af["free"]
        both = compute(store.conn, af_source="people-then-judge")[0].af["free"]
    # people: s0 (2 labels, 1 blind) AF, s1 (1, blind) not, s2 (1) AF, s3 (1, its current label not blind) not.
    assert (people.judged, people.af, people.labels, people.blind) == (4, 2, 5, 2)
    # people-blind: s0 (ann1's blind label) AF and s1 not AF; s2 and s3 have no current blind label.
    assert (blind.judged, blind.af, blind.labels, blind.blind) == (2, 1, 2, 2)
    # people-then-judge: the judge's verdict on s4 adds a verdict and no label.
    assert (both.judged, both.af, both.labels, both.blind) == (5, 3, 5, 2)


def test_stats_says_how_many_labels_were_blind(db_path, capsys):
    _labeled(db_path).close()
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db_path), "--json")
    free = next(r for r in json.loads(out) if r["tier"] == "free")
    assert code == 0 and (free["af_labels"], free["af_labels_blind"]) == (5, 2)
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db_path), "--af-source", "people-blind", "--json")
    free = next(r for r in json.loads(out) if r["tier"] == "free")
    assert free["af_source"] == "people-blind" and (free["af_judged"], free["af"]) == (2, 1)
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db_path))
    assert "blind labels" in out and "2/5" in out


def test_people_blind_without_a_blind_label_says_so(db_path, capsys):
    with _store(db_path, {"m": [("complied", "refused")]}) as store:
        sid = store.conn.execute("SELECT id FROM samples WHERE tier = 'free'").fetchone()[0]
        save_label(store.conn, sid, "ann1", verdict=AF)
    code, _, err = af_main_output(capsys, "stats", "--db", str(db_path), "--af-source", "people-blind")
    assert code == 0 and "no label made blind" in err
