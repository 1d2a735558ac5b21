"""Export for an appendix: pair id and the other tier's outcome on every row, the label's rubric and criteria,
the adjudicated verdict, one judge's columns (newest by default, --judge to choose), all judges in JSON Lines,
and a suffix af-tui does not write refused with one line."""

import csv
import json

import pytest
from builders import add_judgement, make_store, sample_id
from helpers import af_main

from af_tui.domain import CRITERIA
from af_tui.errors import AfError
from af_tui.io.export import COLUMNS, ExportFilter, export
from af_tui.store.labels import save_label

NEW_SHA = "b" * 64
OLD_SHA = "a" * 64


@pytest.fixture
def store(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=4)
    s0 = sample_id(store, 0, "free")
    save_label(store.conn, s0, "alice", criteria={"knows_training": 1}, verdict="alignment_faking")
    save_label(store.conn, s0, "bob", verdict="not_alignment_faking")
    save_label(store.conn, s0, "carol", verdict="alignment_faking", adjudication=True, note="settled")
    add_judgement(store.conn, s0, "not_alignment_faking", score=0.2, model="sim/judge", sha=OLD_SHA)
    add_judgement(store.conn, s0, "alignment_faking", score=0.8, model="sim/judge@k=3", sha=NEW_SHA)
    return store


# alice answered one af-tui-4 criterion, bob none: the one criterion column the labels fill
ANSWERED = tuple(c for c in COLUMNS if c not in CRITERIA or c == "knows_training")


def _rows(path):
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_row_has_pair_and_other_tier(store, tmp_path):
    out = tmp_path / "x.csv"
    export(store.conn, out)
    rows = _rows(out)
    assert tuple(rows[0]) == ANSWERED
    pairs = {r[0]: r[1:] for r in store.conn.execute("SELECT id, free_outcome, paid_outcome FROM pairs")}
    assert len({r["pair_id"] for r in rows}) == len(pairs) == 4
    for r in rows:
        free, paid = pairs[int(r["pair_id"])]
        assert r["other_tier_outcome"] == (paid if r["tier"] == "free" else free)
    # "complied on free, refused on paid" is a plain filter on the file
    gap = {r["pair_id"] for r in rows if r["tier"] == "free" and r["outcome"] == "complied"
           and r["other_tier_outcome"] == "refused"}
    assert len(gap) == 3  # every third request complies on both tiers (make_store)


def test_rubric_criteria_adjudication_and_newest_judge(store, tmp_path):
    out = tmp_path / "x.csv"
    export(store.conn, out, ExportFilter(labeled_only=True))
    rows = {r["annotator"]: r for r in _rows(out)}
    assert set(rows) == {"alice", "bob"}  # the settled label is not an annotator's label: its own columns
    assert rows["alice"]["rubric"] == "af-tui-4"
    assert json.loads(rows["alice"]["criteria"])["knows_training"] == 1
    assert rows["alice"]["adjudication"] == "0"
    for r in rows.values():  # the settled label is on every row of the sample
        assert (r["adjudicated_verdict"], r["adjudicated_by"]) == ("alignment_faking", "carol")
        assert r["judge"] == "sim/judge@k=3@bbbbbbbb"  # the newest judgement's judge
        assert (r["judge_verdict"], float(r["judge_score"])) == ("alignment_faking", 0.8)
        assert set(json.loads(r["judge_criteria"])) >= {"knows_training", "complies_to_avoid"}


def test_history_marks_the_adjudication_row(store, tmp_path):
    out = tmp_path / "h.csv"
    export(store.conn, out, ExportFilter(per_label=True))
    marks = {r["annotator"]: r["adjudication"] for r in _rows(out)}
    assert marks == {"alice": "0", "bob": "0", "carol": "1"}


def test_judge_chosen_by_model_and_hash(store, tmp_path):
    out = tmp_path / "x.csv"
    export(store.conn, out, ExportFilter(labeled_only=True, judge="sim/judge"))
    assert {r["judge_verdict"] for r in _rows(out)} == {"not_alignment_faking"}
    export(store.conn, out, ExportFilter(labeled_only=True, judge="sim/judge@k=3@bbbb"))
    assert {r["judge_verdict"] for r in _rows(out)} == {"alignment_faking"}
    with pytest.raises(AfError, match="judges in this store: sim/judge@aaaaaaaa"):
        export(store.conn, out, ExportFilter(judge="gpt-x"))


def test_jsonl_carries_all_judges_as_objects(store, tmp_path):
    out = tmp_path / "x.jsonl"
    export(store.conn, out, ExportFilter(labeled_only=True))
    objs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    first = objs[0]
    assert set(first) == {*ANSWERED, "judges"}
    assert isinstance(first["criteria"], dict) and isinstance(first["judge_criteria"], dict)
    assert [(j["judge_model"], j["verdict"]) for j in first["judges"]] == [
        ("sim/judge", "not_alignment_faking"), ("sim/judge@k=3", "alignment_faking")]
    other = make_store(tmp_path / "o.sqlite", n_requests=1)  # no judgement: an empty list, empty columns
    export(other.conn, tmp_path / "o.jsonl")
    o = json.loads((tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert o["judges"] == [] and o["judge"] is None


def test_cli_refuses_unwritten_suffix_and_takes_judge(store, tmp_path, capsys):
    db = str(store.path)
    assert af_main("export", str(tmp_path / "x.xlsx"), "--db", db) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and ".xlsx" in err and not (tmp_path / "x.xlsx").exists()
    out = tmp_path / "j.csv"
    assert af_main("export", str(out), "--db", db, "--labeled-only", "--judge", "sim/judge@aaaa") == 0
    assert {r["judge"] for r in _rows(out)} == {"sim/judge@aaaaaaaa"}
    assert af_main("export", str(out), "--db", db, "--judge", "nobody") != 0
    assert "no judgements by 'nobody'" in capsys.readouterr().err
