"""Export: CSV and JSON Lines that round-trip through pandas, formula neutralisation, hostile text, bad
paths and filters (one line, non-zero exit, nothing written)."""

import csv
import json
import os
from datetime import datetime

import pandas as pd
import pytest
from builders import make_store, sample_id
from helpers import af_main

from af_tui.domain import CRITERIA
from af_tui.errors import AfError
from af_tui.io.export import COLUMNS, ExportFilter, export
from af_tui.safe_text import neutralise
from af_tui.store.labels import save_label

HOSTILE = {
    (0, "free"): ("=HYPERLINK(\"http://evil\",\"x\")\nsecond line, with \"quotes\"", "+1+cmd|' /C calc'!A0"),
    (0, "paid"): ("-2+3", "@SUM(A1:A9)"),
    (1, "free"): ("\tTAB first", "\rCR first"),
    (1, "paid"): ("[bold]markup[/] \x1b[31mred\x1b]8;;http://x\x07link\x1b]8;;\x07 \x1b]52;c;aGk=\x07",
                  "bidi \u202eevil\u202c zero\u200bwidth, NUL\x00 and café ☃"),
    (2, "free"): ("multi\r\nline\r\nCRLF", "x" * 100_000),
}


def _unneutralise(v):
    return v[1:] if isinstance(v, str) and v[:1] == "'" and v[1:2] in ("=", "+", "-", "@", "\t", "\r") else v


def test_neutralise():
    for bad in ("=1+1", "+1", "-1", "@A1", "\tx", "\rx"):
        assert neutralise(bad) == "'" + bad
    for fine in ("hello", " =not first", "", "'quoted"):
        assert neutralise(fine) == fine


@pytest.fixture
def labeled(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=4, texts=HOSTILE)
    s0, s1 = sample_id(store, 0, "free"), sample_id(store, 1, "free")
    save_label(store.conn, s0, "alice", criteria=dict.fromkeys(CRITERIA, 1), verdict="alignment_faking",
               note="=cmd note\nline 2", blind=True, created_at=1_700_000_100.25)
    save_label(store.conn, s0, "bob", criteria={"knows_training": 1}, verdict="not_alignment_faking",
               created_at=1_700_000_200.5)
    save_label(store.conn, s1, "alice", verdict="unclear", created_at=1_700_000_300)
    save_label(store.conn, s1, "alice", verdict="alignment_faking", created_at=1_700_000_400)
    return store


def test_csv_round_trip_with_pandas(labeled, tmp_path):
    out = tmp_path / "out.csv"
    result = export(labeled.conn, out)
    # 8 samples; s0 has two annotators -> 9 rows
    assert result.rows == 9 and result.format == "csv"
    raw = out.read_bytes()
    assert raw.startswith(b"run,model,variant,") and b"\r\n" in raw
    df = pd.read_csv(out, keep_default_na=False, dtype=str)
    assert tuple(df.columns) == COLUMNS and len(df) == 9
    store_rows = list(labeled.iter_query(
        "SELECT s.id, r.name AS run, s.model, s.variant, s.tier, s.outcome, s.scratchpad, s.output, p.text "
        "AS request, s.completed_at FROM samples s JOIN runs r ON r.id = s.run_id JOIN prompts p "
        "ON p.id = s.prompt_id"))
    by_id = {r["id"]: r for r in store_rows}
    for _, row in df.iterrows():
        s = by_id[int(row["sample_id"])]
        for col in ("run", "model", "variant", "tier", "outcome", "scratchpad", "output", "request"):
            assert _unneutralise(row[col]) == s[col], col
        assert datetime.fromisoformat(row["completed_at"]).timestamp() == s["completed_at"]
    labels = df[df["annotator"] != ""]
    assert sorted(zip(labels["sample_id"].astype(int), labels["annotator"], labels["verdict"], strict=True)) == [
        (sample_id(labeled, 0, "free"), "alice", "alignment_faking"),
        (sample_id(labeled, 0, "free"), "bob", "not_alignment_faking"),
        (sample_id(labeled, 1, "free"), "alice", "alignment_faking"),  # the current label, not the older one
    ]
    alice = labels[(labels["annotator"] == "alice") & (labels["verdict"] == "alignment_faking")].iloc[0]
    assert alice["note"] == "'=cmd note\nline 2"  # neutralised, multi-line kept
    assert alice["blind"] == "1" and alice["knows_training"] == "1"
    assert datetime.fromisoformat(alice["labeled_at"]).timestamp() == 1_700_000_100.25


def test_every_formula_cell_is_neutralised(labeled, tmp_path):
    out = tmp_path / "out.csv"
    export(labeled.conn, out)
    with open(out, encoding="utf-8", newline="") as fh:
        cells = [c for row in csv.reader(fh) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=HYPERLINK(\"http://evil\",\"x\")\nsecond line, with \"quotes\"" in cells
    assert "'\rCR first" in cells and "'\tTAB first" in cells and "'-2+3" in cells
    assert "x" * 100_000 in cells


def test_filters_labeled_only_per_label_and_jsonl(labeled, tmp_path):
    out = tmp_path / "out.jsonl"
    assert export(labeled.conn, out, ExportFilter(labeled_only=True)).rows == 3
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {r["annotator"] for r in rows} == {"alice", "bob"}
    assert rows[0]["scratchpad"].startswith("=HYPERLINK")  # JSON Lines keeps the text as stored
    assert export(labeled.conn, out, ExportFilter(per_label=True)).rows == 4  # the whole history
    assert export(labeled.conn, out, ExportFilter(annotator="bob", labeled_only=True)).rows == 1
    assert export(labeled.conn, out, ExportFilter(annotator="bob")).rows == 8  # every sample, bob's labels
    assert export(labeled.conn, out, ExportFilter(tier="paid", outcome="refused")).rows > 0
    assert export(labeled.conn, tmp_path / "x.csv", fmt="jsonl").format == "jsonl"


def test_cli_export_and_bad_input(labeled, tmp_path, capsys):
    db = str(labeled.path)
    out = tmp_path / "cli.csv"
    assert af_main("export", str(out), "--db", db, "--labeled-only") == 0
    assert "wrote 3 rows" in capsys.readouterr().err
    before = out.read_bytes()
    cases = [
        ([str(tmp_path)], "is a directory"),
        ([str(tmp_path / "nope" / "x.csv")], "does not exist"),
        ([db], "the store itself"),
        ([str(out), "--run", "nope"], "no run named 'nope'"),
        ([str(out), "--model", "nope"], "unknown model"),
        ([str(out), "--annotator", "carol"], "unknown annotator"),
        ([str(out), "--outcome", "maybe"], "unknown outcome"),
        ([str(out), "--tier", "gold"], "unknown tier"),
        ([str(out), "--tier", "paid", "--outcome", "complied", "--labeled-only"], "no rows match"),
        ([str(out), "--format", "xml"], "xml"),
    ]
    for args, message in cases:
        code = af_main("export", *args, "--db", db)
        err = capsys.readouterr().err
        assert code != 0 and message in err, (args, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert out.read_bytes() == before  # the earlier export is untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".part")] == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_target(labeled, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(AfError, match="cannot write"):
            export(labeled.conn, locked / "x.csv")
    finally:
        locked.chmod(0o700)


def test_failure_midway_leaves_nothing(labeled, tmp_path, monkeypatch):
    out = tmp_path / "half.csv"
    import af_tui.io.export as ex

    def boom(*a, **k):
        yield from ()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ex, "iter_rows", boom)
    with pytest.raises(AfError, match="No space left"):
        export(labeled.conn, out)
    assert list(tmp_path.glob("*half*")) == []


def test_export_file_mode_follows_umask(labeled, tmp_path):
    old = os.umask(0o022)
    try:
        export(labeled.conn, tmp_path / "m.csv")
    finally:
        os.umask(old)
    assert (tmp_path / "m.csv").stat().st_mode & 0o777 == 0o644


def test_jsonl_round_trip_keeps_hostile_text_exactly(labeled, tmp_path):
    out = tmp_path / "all.jsonl"
    export(labeled.conn, out)
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").split("\n") if line]
    stored = {r["id"]: r for r in labeled.iter_query("SELECT id, scratchpad, output FROM samples")}
    assert len(rows) == 9
    for row in rows:
        s = stored[row["sample_id"]]
        assert (row["scratchpad"], row["output"]) == (s["scratchpad"], s["output"])
    assert any("NUL\x00" in r["output"] for r in rows) and any("\x1b]52" in r["scratchpad"] for r in rows)


def test_per_sample_one_row_per_sample_each_annotators_verdict_in_its_column(labeled, tmp_path, capsys):
    """`--per sample`: value_counts on a verdict column counts samples, not labels; the header says the layout
    (verdict:NAME columns, no annotator column)."""
    from af_tui.io.export import SAMPLE_COLUMNS

    out = tmp_path / "per-sample.csv"
    assert af_main("export", str(out), "--db", str(labeled.path), "--per", "sample") == 0
    assert "wrote 8 rows" in capsys.readouterr().err  # 8 samples (the default layout gives 9 rows)
    df = pd.read_csv(out, keep_default_na=False, dtype=str)
    # each annotator's verdict, rubric and the criteria they answered (alice all four of af-tui-4, bob one)
    assert tuple(df.columns) == (*SAMPLE_COLUMNS, "verdict:alice", "rubric:alice",
                                 *(f"{c}:alice" for c in CRITERIA), "verdict:bob", "rubric:bob",
                                 "knows_training:bob")
    assert "annotator" not in df.columns and df["sample_id"].is_unique
    by_id = df.set_index(df["sample_id"].astype(int))
    s0, s1 = sample_id(labeled, 0, "free"), sample_id(labeled, 1, "free")
    assert (by_id.loc[s0, "verdict:alice"], by_id.loc[s0, "verdict:bob"]) == ("alignment_faking",
                                                                              "not_alignment_faking")
    assert (by_id.loc[s1, "verdict:alice"], by_id.loc[s1, "verdict:bob"]) == ("alignment_faking", "")
    assert (by_id.loc[s0, "rubric:bob"], by_id.loc[s0, "knows_training:bob"]) == ("af-tui-4", "1")
    assert (by_id.loc[s1, "rubric:alice"], by_id.loc[s1, "knows_training:alice"]) == ("af-tui-4", "")
    assert df["verdict:alice"].value_counts()["alignment_faking"] == 2
    assert export(labeled.conn, out, ExportFilter(per="sample", labeled_only=True)).rows == 2
    for args in (["x.jsonl"], ["x.csv", "--per-label"], ["logs", "--format", "inspect"]):
        code = af_main("export", str(tmp_path / args[0]), *args[1:], "--db", str(labeled.path), "--per", "sample")
        err = capsys.readouterr().err
        assert code != 0 and "--per sample writes CSV" in err and len(err.strip().splitlines()) == 1, err
        # each names its own mistake: a .jsonl path was told it "cannot be combined with --per-label"
        assert ("--per-label" in err) == ("--per-label" in args), err
