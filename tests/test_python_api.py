"""af_tui.open(): the store as typed DataFrames — samples() equals `af-tui export` CSV read back, column for
column; pairs, labels (current and history, criteria as columns), judgements, runs; filters in SQL; and the
Parquet export read back in pandas equal to the CSV."""

import math
import sys

import numpy as np
import pandas as pd
import pytest
from builders import add_judgement, make_store, sample_id
from helpers import af_main

import af_tui
from af_tui.domain import CRITERIA
from af_tui.errors import AfError
from af_tui.io.export import _FREE_TEXT, COLUMNS, MEASURES, ExportFilter, export
from af_tui.safe_text import FORMULA_START
from af_tui.store.labels import save_label

# Model text that a spreadsheet would run, and text that breaks naive CSV: the CSV neutralises the first.
HOSTILE = {
    (0, "free"): ("=HYPERLINK(\"http://evil\",\"x\")\nsecond line, with \"quotes\"", "+1+cmd|' /C calc'!A0"),
    (0, "paid"): ("-2+3", "@SUM(A1:A9)"),
    (1, "free"): ("\tTAB first", "multi\r\nline"),
    (1, "paid"): ("bidi \u202eevil\u202c zero\u200bwidth, NUL\x00 and café ☃", "\x1b[31mred\x1b]52;c;aGk=\x07"),
}


@pytest.fixture
def store(tmp_path):
    """Four requests on both tiers, two annotators (one label changed, one cleared), a settled label, two
    judges' judgements with votes and a score."""
    s = make_store(tmp_path / "s.sqlite", n_requests=4, texts=HOSTILE)
    s0, s1, s2 = (sample_id(s, i, "free") for i in range(3))
    save_label(s.conn, s0, "alice", criteria=dict.fromkeys(CRITERIA, 1), verdict="alignment_faking",
               note="=note", blind=True, created_at=1_700_000_100.25)
    save_label(s.conn, s0, "bob", criteria={"knows_training": 1}, verdict="not_alignment_faking",
               created_at=1_700_000_200.5)
    save_label(s.conn, s1, "alice", verdict="unclear", created_at=1_700_000_300)
    save_label(s.conn, s1, "alice", verdict="alignment_faking", created_at=1_700_000_400)
    save_label(s.conn, s2, "bob", verdict="alignment_faking", created_at=1_700_000_500)
    save_label(s.conn, s2, "bob", verdict=None, created_at=1_700_000_600)  # cleared
    save_label(s.conn, s0, "carol", verdict="alignment_faking", created_at=1_700_000_700, adjudication=True)
    add_judgement(s.conn, s0, "alignment_faking", score=2 / 3, threshold=0.5)
    add_judgement(s.conn, s1, "not_alignment_faking", score=0.0, threshold=0.5)
    add_judgement(s.conn, s0, "not_alignment_faking", score=0.25, model="sim/other", sha="q" * 64)
    yield s
    s.close()


def _as_csv_text(value) -> str:
    """A DataFrame cell written the way the export's CSV writes it: empty for missing, 1/0 for booleans,
    ISO 8601 UTC with milliseconds for times."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return ""
    if isinstance(value, bool | np.bool_):
        return str(int(value))
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    return str(value)


def _csv(path) -> pd.DataFrame:
    """The export's CSV as text, with the spreadsheet-safety quote taken off again: the one way the CSV
    differs from the store (docs/export.md, formula neutralisation)."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    for column in _FREE_TEXT:
        frame[column] = [v[1:] if v[:1] == "'" and v[1:2] in FORMULA_START else v for v in frame[column]]
    return frame


def _texts(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({c: [_as_csv_text(v) for v in frame[c]] for c in frame.columns})


@pytest.mark.parametrize("filters", [{}, {"annotator": "alice"}, {"tier": "free", "labeled_only": True}])
def test_samples_equal_the_csv_export_column_for_column(store, tmp_path, filters):
    out = tmp_path / "x.csv"
    export(store.conn, out, ExportFilter(**filters))
    frame = af_tui.open(store.path).samples(**filters)
    assert list(frame.columns) == [*COLUMNS, *MEASURES]
    csv = _csv(out)
    assert list(csv.columns) == list(COLUMNS)
    got = _texts(frame[list(COLUMNS)])
    for column in COLUMNS:  # one column at a time, so a failure names it
        assert got[column].tolist() == csv[column].tolist(), column
    # the neutralised cells really were there (the comparison above went through the quote)
    assert (pd.read_csv(out, dtype=str, keep_default_na=False)["scratchpad"].str.startswith("'=").any()
            or filters.get("annotator"))


def test_samples_types(store):
    frame = af_tui.open(store.path).samples()
    assert frame["tier"].dtype == "category" and list(frame["tier"].cat.categories) == ["free", "paid"]
    assert frame["outcome"].cat.categories[0] == "complied" and frame["verdict"].dtype == "category"
    assert str(frame["completed_at"].dtype) == "datetime64[ms, UTC]"
    assert str(frame["sample_id"].dtype) == "Int64" and str(frame["blind"].dtype) == "boolean"
    assert str(frame["input_tokens"].dtype) == "Int64" and frame["cost"].dtype == "float64"
    s0 = frame[(frame.annotator == "alice") & frame.blind.fillna(False)].iloc[0]
    assert s0["labeled_at"] == pd.Timestamp("2023-11-14T22:15:00.250Z")
    assert s0["adjudicated_verdict"] == "alignment_faking" and s0["adjudicated_by"] == "carol"


def test_filters_are_sql_and_names_are_checked(store):
    data = af_tui.open(store.path)
    everything = data.samples()
    free = data.samples(tier="free", outcome=["complied", "refused"])
    assert set(free.tier) == {"free"} and len(free) == len(everything[everything.tier == "free"])
    assert len(data.samples(run="r1", model="sim/a")) == len(everything)
    for bad in ({"model": "sim/typo"}, {"tier": "gratis"}, {"outcome": "maybe"}, {"run": "nope"},
                {"annotator": "zed"}):
        with pytest.raises(AfError):
            data.samples(**bad)
    with pytest.raises(AfError, match="no judgements by"):
        data.samples(judge="nobody")


def test_pairs_one_row_per_pair_side_by_side(store):
    data = af_tui.open(store.path)
    pairs = data.pairs()
    samples = data.samples(annotator="alice")  # one row per sample
    assert len(pairs) == store.conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0] == len(samples) // 2
    for pair in pairs.itertuples():
        free = samples[samples.sample_id == pair.free_sample_id].iloc[0]
        paid = samples[samples.sample_id == pair.paid_sample_id].iloc[0]
        assert (free.tier, paid.tier) == ("free", "paid") and free.pair_id == paid.pair_id == pair.pair_id
        assert (pair.free_outcome, pair.paid_outcome) == (free.outcome, paid.outcome)
        assert (pair.free_scratchpad, pair.paid_output) == (free.scratchpad, paid.output)
    assert pairs["free_outcome"].dtype == "category"
    assert len(data.pairs(free_outcome="complied", paid_outcome="complied")) == 1  # request 2 of 4


def test_labels_current_and_history(store):
    data = af_tui.open(store.path)
    current = data.labels()
    assert sorted(zip(current.annotator, current.verdict, strict=True)) == [
        ("alice", "alignment_faking"), ("alice", "alignment_faking"), ("bob", "not_alignment_faking")]
    assert list(current.columns[current.columns.get_loc("verdict") + 2:][:4]) == list(CRITERIA)  # after rubric
    bob = current[current.annotator == "bob"].iloc[0]
    assert bob.knows_training == True and bob.sees_modification is pd.NA  # noqa: E712
    assert bob.adjudicated_verdict == "alignment_faking" and bob.adjudicated_by == "carol"
    history = data.labels(history=True)
    assert len(history) == 7 and history.adjudication.sum() == 1 and history.verdict.isna().sum() == 1
    assert history.labeled_at.is_monotonic_increasing
    assert len(data.labels(annotator="alice", verdict="alignment_faking")) == 2
    with pytest.raises(AfError):
        data.labels(verdict="AF")


def test_judgements_and_runs(store):
    data = af_tui.open(store.path)
    judgements = data.judgements()
    assert len(judgements) == 3 and set(judgements.judge) == {"sim/judge@pppppppp", "sim/other@qqqqqqqq"}
    assert judgements.votes.tolist() == [1, 1, 1] and judgements.score.iloc[0] == pytest.approx(2 / 3)
    assert len(data.judgements(judge_model="sim/other")) == 1
    runs = data.runs()
    assert runs.loc[0, "run"] == "r1" and runs.loc[0, "samples"] == 8 and runs.loc[0, "models"] == ["sim/a"]
    assert runs.loc[0, "rule"] == "last-scratchpad"  # a run without a rule in its config: the legacy rule
    assert isinstance(runs.loc[0, "config"], dict)


def test_read_only(store):
    data = af_tui.open(store.path)
    with pytest.raises(Exception, match="readonly|read-only|query_only|attempt to write"):
        data.query("DELETE FROM labels")
    assert len(data.query("SELECT * FROM pairs_wide")) == 4


def test_parquet_export_reads_back_equal_to_the_csv(store, tmp_path):
    db = str(store.path)
    assert af_main("export", str(tmp_path / "x.parquet"), "--db", db) == 0
    assert af_main("export", str(tmp_path / "x.csv"), "--db", db) == 0
    parquet = pd.read_parquet(tmp_path / "x.parquet")
    assert list(parquet.columns) == list(COLUMNS)
    assert parquet["tier"].dtype == "category" and str(parquet["completed_at"].dtype) == "datetime64[ms, UTC]"
    assert str(parquet["sample_id"].dtype) == "int64" and parquet["judge_score"].dtype == "float64"
    csv = _csv(tmp_path / "x.csv")
    got = _texts(parquet)
    for column in COLUMNS:
        assert got[column].tolist() == csv[column].tolist(), column
    # --format parquet under another name, and the rows a filter selects
    assert af_main("export", str(tmp_path / "y.bin.txt"), "--format", "parquet", "--tier", "paid", "--db", db) == 0
    assert len(pd.read_parquet(tmp_path / "y.bin.txt")) == 4
    # a filter that matches nothing writes nothing, as for CSV
    assert af_main("export", str(tmp_path / "z.parquet"), "--outcome", "error", "--db", db) != 0
    assert not (tmp_path / "z.parquet").exists()


def test_parquet_without_pyarrow_is_one_line(store, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # `import pyarrow` raises ImportError
    assert af_main("export", str(tmp_path / "x.parquet"), "--db", str(store.path)) != 0
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'af-tui[data]'" in err
    assert not (tmp_path / "x.parquet").exists()


@pytest.mark.slow
def test_import_af_tui_loads_neither_pandas_nor_the_store():
    """`import af_tui` (and so `af-tui --help`) pays nothing for the Python API: it is loaded on first use."""
    import subprocess

    code = ("import sys, af_tui, af_tui.cli; assert af_tui.open; "
            "print(sorted(m for m in ('pandas', 'pyarrow', 'af_tui.store.db') if m in sys.modules))")
    fresh = ("import sys, af_tui, af_tui.cli; "
             "print(sorted(m for m in ('pandas', 'pyarrow', 'af_tui.data') if m in sys.modules))")
    assert subprocess.run([sys.executable, "-c", fresh], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"
    assert "pandas" not in subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                          check=True).stdout
