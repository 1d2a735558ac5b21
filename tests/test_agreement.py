"""Agreement figures against published worked examples and hand-computed ones."""

import pytest
from builders import make_store, sample_id

from af_tui.analysis.agreement import (
    agreement_line,
    agreement_report,
    agreement_rows,
    cohen_kappa,
    confusion_table,
    krippendorff_alpha,
)
from af_tui.commands.agreement_table import agreement_table
from af_tui.store.labels import save_label


def test_cohen_kappa_wikipedia_example():
    # Wikipedia, "Cohen's kappa", worked example: 50 proposals, yes/yes 20, yes/no 5, no/yes 10, no/no 15:
    # p_o = 0.7, p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, kappa = 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    k = cohen_kappa(a, b, ["yes", "no"])
    assert k["kappa"] == pytest.approx(0.4)
    assert k["observed"] == pytest.approx(0.7) and k["n"] == 50
    assert k["low"] < 0.4 < k["high"]
    assert confusion_table(a, b, ["yes", "no"]) == (["yes", "no"], [[20, 5], [10, 15]])


def test_cohen_kappa_edge_cases():
    assert cohen_kappa([], [])["kappa"] is None
    same = cohen_kappa(["x"] * 4, ["x"] * 4)
    assert same["kappa"] is None and same["observed"] == 1.0  # chance agreement is 1: undefined
    k = cohen_kappa(["a", None, "b"], ["a", "b", "b"])  # a missing rating leaves the item out
    assert k["n"] == 2 and k["kappa"] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        cohen_kappa(["a"], ["a", "b"])


def test_krippendorff_alpha_published_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal data with missing values,
    # 4 observers x 12 units: alpha = 0.743
    raw = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [{f"o{i}": raw[i][j] for i in range(4)} for j in range(12)]
    result = krippendorff_alpha(units)
    assert result["alpha"] == pytest.approx(0.743, abs=5e-4)
    assert result["n"] == 11 and result["raters"] == 4  # the last unit has one value: not pairable


def test_report_on_two_annotators_hand_computed(tmp_path):
    store = make_store(tmp_path / "s.sqlite", n_requests=10)
    # 10 free-tier samples; x and y agree on 7 verdicts (AF AF AF not not not not) and differ on 3.
    x = ["alignment_faking"] * 3 + ["not_alignment_faking"] * 4 + ["alignment_faking"] * 3
    y = ["alignment_faking"] * 3 + ["not_alignment_faking"] * 4 + ["not_alignment_faking"] * 3
    for i in range(10):
        sid = sample_id(store, i, "free")
        save_label(store.conn, sid, "x", verdict=x[i], criteria={"knows_training": 1})
        save_label(store.conn, sid, "y", verdict=y[i], criteria={"knows_training": 1})
    report = agreement_report(store.conn)
    assert report["annotators"] == ["x", "y"] and report["samples"] == 10
    k = report["pairs"][0]["fields"]["verdict"]
    # x: 6 AF / 4 not; y: 3 AF / 7 not. p_o = 0.7; p_e = 0.6*0.3 + 0.4*0.7 = 0.46; kappa = 0.24/0.54
    assert k["kappa"] == pytest.approx(0.24 / 0.54) and k["n"] == 10
    assert report["pairs"][0]["fields"]["knows_training"]["kappa"] is None  # all 1: undefined
    assert report["overall"]["verdict"]["n"] == 10 and report["overall"]["verdict"]["alpha"] is not None
    table = agreement_table(report)
    assert table.row_count == 10
    rows = agreement_rows(report).rows  # the same table as data, below Rich
    assert len(rows) == 10 and rows[0].who == "x × y" and rows[0].field == "verdict"
    assert rows[0].figure == pytest.approx(0.24 / 0.54) and rows[0].n == 10 and not rows[0].over_all
    assert [r.over_all for r in rows[-5:]] == [True] * 5 and rows[-5].who == "all 2 (Krippendorff's α)"
    line = agreement_line(report)
    assert line.startswith("verdict agreement: α ") and "κ x×y 0.44 (n 10)" in line


def test_cli_agreement_and_stats_section(tmp_path, capsys):
    from af_tui.cli import main

    store = make_store(tmp_path / "s.sqlite", n_requests=4)
    for i, (vx, vy) in enumerate([("alignment_faking",) * 2, ("not_alignment_faking",) * 2,
                                  ("alignment_faking", "unclear"), ("unclear",) * 2]):
        sid = sample_id(store, i, "free")
        save_label(store.conn, sid, "x", verdict=vx)
        save_label(store.conn, sid, "y", verdict=vy)
    store.close()
    main(["agreement", "--db", str(tmp_path / "s.sqlite"), "--json"])
    import json

    report = json.loads(capsys.readouterr().out)
    assert report["pairs"][0]["n"] == 4 and report["overall"]["verdict"]["n"] == 4
    main(["stats", "--db", str(tmp_path / "s.sqlite")])
    out = capsys.readouterr().out
    assert "annotator agreement" in out and "x × y" in out


def test_criteria_agreement_counts_only_what_both_set_under_one_rubric(tmp_path):
    from af_tui.rubric import load_rubric

    paper = load_rubric("paper")
    store = make_store(tmp_path / "s.sqlite", n_requests=6)
    # in_training: x and y both set it on samples 0-3 (agree on 0, 1, 3; differ on 2); on 4 only x set it
    xs = [1, 0, 1, 1, 1, None]
    ys = [1, 0, 0, 1, None, None]
    for i in range(6):
        sid = sample_id(store, i, "free")
        save_label(store.conn, sid, "x", rubric=paper, verdict="unclear", criteria={"in_training": xs[i]})
        save_label(store.conn, sid, "y", rubric=paper, verdict="unclear", criteria={"in_training": ys[i]})
    # z labels under the old four-criterion rubric: no criterion of hers is compared with x's or y's
    save_label(store.conn, sample_id(store, 0, "free"), "z", verdict="unclear", criteria={"knows_training": 1})
    report = agreement_report(store.conn)
    assert report["rubrics"] == ["paper@2", "af-tui-4@1"]
    xy = next(p for p in report["pairs"] if (p["a"], p["b"]) == ("x", "y"))
    k = xy["fields"]["in_training"]
    assert k["n"] == 4 and k["observed"] == pytest.approx(0.75)  # not set is left out, never "no"
    # x: 1 0 1 1, y: 1 0 0 1 -> p_o 0.75, p_e = 0.75*0.5 + 0.25*0.5 = 0.5, kappa 0.5
    assert k["kappa"] == pytest.approx(0.5)
    assert xy["fields"]["partial_compliance"]["n"] == 0
    xz = next(p for p in report["pairs"] if (p["a"], p["b"]) == ("x", "z"))
    assert xz["n"] == 1 and xz["fields"]["in_training"]["n"] == 0 and xz["fields"]["knows_training"]["n"] == 0
    assert report["overall"]["in_training"]["n"] == 4
    names = [f["field"] for f in report["fields"]]
    assert names[:2] == ["verdict", "in_training"] and "knows_training" in names
    table = agreement_table(report)
    assert table.row_count == 3 * len(names) + len(names)
