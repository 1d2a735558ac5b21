"""The export's criterion columns follow the rubric(s) the exported labels were made under: the paper rubric's
criteria as columns (not four empty af-tui-4 ones), both rubrics' when both were used, none without labels, a
`RUBRIC.` prefix where two rubrics share an id; `--per sample` gives each annotator's; CSV stays
spreadsheet-safe; Parquet and af_tui.open(...).samples() have the same columns, typed."""

import csv
import uuid

import pandas as pd
import pytest
from builders import make_store, sample_id
from helpers import af_main

import af_tui
from af_tui.domain import CRITERIA
from af_tui.io.export import FIXED_COLUMNS, SAMPLE_COLUMNS, ExportFilter, export
from af_tui.rubric import load_rubric, parse_rubric
from af_tui.safe_text import FORMULA_START
from af_tui.store.labels import save_label

PAPER = load_rubric("paper")
MINE = parse_rubric('id = "mine"\nversion = "1"\n[[criteria]]\nid = "in_training"\nshort = "t"\n'
                    'description = "d"\nkey = "1"\n', "mine")


def _with(*criteria: str) -> tuple[str, ...]:
    """The fixed columns with these criterion columns after `annotator`."""
    at = FIXED_COLUMNS.index("annotator") + 1
    return (*FIXED_COLUMNS[:at], *criteria, *FIXED_COLUMNS[at:])


def _read(path):
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]


def _no_empty_criterion_column(header, rows, criteria):
    for column in criteria:
        assert any(r[column] != "" for r in rows), f"{column} is empty in every row"


@pytest.fixture
def paper_store(tmp_path):
    """Labels under the paper rubric only (alice: three answers, one a no; bob: the partial-compliance flag)."""
    store = make_store(tmp_path / "p.sqlite", n_requests=3)
    s0, s1 = sample_id(store, 0, "free"), sample_id(store, 1, "free")
    save_label(store.conn, s0, "alice", rubric=PAPER, verdict="alignment_faking",
               criteria={"in_training": 1, "modified_if_rated_poorly": 1, "values_conflict": 0})
    save_label(store.conn, s1, "alice", rubric=PAPER, verdict="not_alignment_faking", criteria={"in_training": 0})
    save_label(store.conn, s0, "bob", rubric=PAPER, verdict="unclear", criteria={"partial_compliance": 1})
    return store


def test_paper_labels_give_the_papers_criteria_as_columns(paper_store, tmp_path):
    out = tmp_path / "x.csv"
    export(paper_store.conn, out)
    header, rows = _read(out)
    answered = ("in_training", "modified_if_rated_poorly", "values_conflict", "partial_compliance")
    assert tuple(header) == _with(*answered)  # in the rubric's order; none of af-tui-4's four
    assert not set(CRITERIA) & set(header)
    _no_empty_criterion_column(header, rows, answered)
    s0, s1 = sample_id(paper_store, 0, "free"), sample_id(paper_store, 1, "free")
    by = {(int(r["sample_id"]), r["annotator"]): r for r in rows}
    alice = by[(s0, "alice")]
    assert alice["rubric"] == "paper"
    assert (alice["in_training"], alice["modified_if_rated_poorly"], alice["values_conflict"],
            alice["partial_compliance"]) == ("1", "1", "0", "")
    assert by[(s1, "alice")]["in_training"] == "0" and by[(s0, "bob")]["partial_compliance"] == "1"
    unlabeled = [r for r in rows if r["annotator"] == ""]
    assert unlabeled and all(r[c] == "" for r in unlabeled for c in answered)


def test_parquet_and_samples_have_the_same_columns_typed(paper_store, tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    out = tmp_path / "x.parquet"
    export(paper_store.conn, out)
    frame = pd.read_parquet(out)
    header, _ = _read(export(paper_store.conn, tmp_path / "x.csv").path)
    assert list(frame.columns) == header
    assert pq.read_schema(out).field("in_training").type == pa.bool_()
    s0 = sample_id(paper_store, 0, "free")
    alice = frame[(frame["sample_id"] == s0) & (frame["annotator"] == "alice")].iloc[0]
    assert alice["in_training"] == True and alice["values_conflict"] == False  # noqa: E712
    samples = af_tui.open(paper_store.path).samples()
    assert list(samples.columns[:len(header)]) == header
    assert str(samples["in_training"].dtype) == "boolean"


def test_both_rubrics_and_labels_made_before_rubrics(paper_store, tmp_path):
    """alice under paper, bob under af-tui-4, carol before rubrics (her answers in the four legacy columns)."""
    store = paper_store
    s2 = sample_id(store, 2, "free")
    save_label(store.conn, s2, "bob", verdict="alignment_faking", criteria={"knows_training": 1})
    with store.conn:
        store.conn.execute("INSERT INTO labels (uid, sample_id, annotator, complies_to_avoid, verdict, created_at, "
                           "adjudication) VALUES (?, ?, 'carol', 0, 'not_alignment_faking', 1, 0)",
                           (uuid.uuid4().hex, s2))
    out = tmp_path / "x.csv"
    export(store.conn, out, ExportFilter(labeled_only=True))
    header, rows = _read(out)
    criteria = ("knows_training", "complies_to_avoid",  # af-tui-4 first (rubrics by id), then paper
                "in_training", "modified_if_rated_poorly", "values_conflict", "partial_compliance")
    assert tuple(header) == _with(*criteria)
    _no_empty_criterion_column(header, rows, criteria)
    by = {r["annotator"]: r for r in rows if int(r["sample_id"]) == s2}
    assert (by["bob"]["rubric"], by["bob"]["knows_training"], by["bob"]["in_training"]) == ("af-tui-4", "1", "")
    assert (by["carol"]["rubric"], by["carol"]["complies_to_avoid"]) == ("af-tui-4", "0")
    # a filter that keeps only paper labels keeps only the paper's columns
    export(store.conn, out, ExportFilter(labeled_only=True, annotator="alice"))
    assert tuple(_read(out)[0]) == _with("in_training", "modified_if_rated_poorly", "values_conflict")


def test_no_labels_no_criterion_columns(tmp_path):
    store = make_store(tmp_path / "u.sqlite", n_requests=2)
    out = tmp_path / "x.csv"
    export(store.conn, out)
    assert tuple(_read(out)[0]) == FIXED_COLUMNS


def test_a_criterion_id_two_rubrics_share_is_prefixed(paper_store, tmp_path):
    save_label(paper_store.conn, sample_id(paper_store, 2, "free"), "dan", rubric=MINE, verdict="unclear",
               criteria={"in_training": 1})
    out = tmp_path / "x.csv"
    export(paper_store.conn, out, ExportFilter(labeled_only=True))
    header, rows = _read(out)
    assert tuple(header) == _with("mine.in_training", "paper.in_training", "modified_if_rated_poorly",
                                  "values_conflict", "partial_compliance")
    dan = next(r for r in rows if r["annotator"] == "dan")
    assert (dan["rubric"], dan["mine.in_training"], dan["paper.in_training"]) == ("mine", "1", "")


def test_per_sample_gives_each_annotators_rubric_and_criteria(paper_store, tmp_path, capsys):
    out = tmp_path / "wide.csv"
    assert af_main("export", str(out), "--db", str(paper_store.path), "--per", "sample") == 0
    assert "wrote 6 rows" in capsys.readouterr().err
    header, rows = _read(out)
    assert tuple(header) == (*SAMPLE_COLUMNS,
                             "verdict:alice", "rubric:alice", "in_training:alice", "modified_if_rated_poorly:alice",
                             "values_conflict:alice",
                             "verdict:bob", "rubric:bob", "partial_compliance:bob")
    assert not [c for c in header if c.split(":")[0] in CRITERIA]
    _no_empty_criterion_column(header, rows, [c for c in header if ":" in c])
    s0 = sample_id(paper_store, 0, "free")
    row = next(r for r in rows if int(r["sample_id"]) == s0)
    assert (row["rubric:alice"], row["in_training:alice"], row["values_conflict:alice"]) == ("paper", "1", "0")
    assert (row["verdict:bob"], row["partial_compliance:bob"]) == ("unclear", "1")


@pytest.mark.parametrize("per", ["annotator", "sample"])
def test_csv_stays_spreadsheet_safe_with_hostile_names(tmp_path, per):
    """An annotator's name and a criterion id from a label merged without its rubric may start like a formula:
    no header cell or cell starts with one."""
    store = make_store(tmp_path / "h.sqlite", n_requests=2)
    sid = sample_id(store, 0, "free")
    save_label(store.conn, sid, "=HYPERLINK(1)", rubric=PAPER, verdict="unclear", criteria={"in_training": 1})
    with store.conn:  # a rubric this store does not hold, whose criterion ids are hostile
        store.conn.execute("INSERT INTO labels (uid, sample_id, annotator, verdict, created_at, rubric_sha256, "
                           "criteria, adjudication) VALUES (?, ?, '+x', 'unclear', 2, ?, ?, 0)",
                           (uuid.uuid4().hex, sid, "c" * 64, '{"=cmd|calc": 1, "ok": 0}'))
    out = tmp_path / "x.csv"
    export(store.conn, out, ExportFilter(per=per))
    with open(out, encoding="utf-8", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not [c for c in cells if c[:1] in FORMULA_START]
    header = _read(out)[0]
    assert ("unknown.=cmd|calc" if per == "annotator" else "unknown.=cmd|calc:+x") in header
