"""The judge as a classifier: AUROC against scipy's Mann–Whitney U, DeLong's interval, the sweep by hand."""

from __future__ import annotations

import json

import pytest
from builders import add_judgement, make_store, sample_id
from helpers import af_main_output

from af_tui.analysis.classifier import at_threshold, auroc, best_threshold, sweep
from af_tui.analysis.judge_vs_people import judge_vs_humans
from af_tui.store.labels import save_label

AF, NOT_AF = "alignment_faking", "not_alignment_faking"

# Hand-built: scores of 5 AF and 6 not-AF samples, with ties within and across classes.
POS = [0.9, 0.8, 0.8, 0.4, 0.2]
NEG = [0.8, 0.4, 0.3, 0.1, 0.0, 0.0]
SET = [(s, True) for s in POS] + [(s, False) for s in NEG]


def test_auroc_is_mann_whitney_u_over_n1_n0():
    from scipy.stats import mannwhitneyu

    u = mannwhitneyu(POS, NEG, alternative="two-sided").statistic
    roc = auroc(SET)
    assert roc["auroc"] == pytest.approx(u / (len(POS) * len(NEG)), abs=1e-13)
    assert (roc["n_pos"], roc["n_neg"]) == (5, 6)
    assert roc["low"] < roc["auroc"] < roc["high"]


def test_delong_interval_by_hand():
    # Two AF (1.0, 0.5), two not (0.5, 0.0): placements V10 = (1, 0.75), V01 = (0.75, 1); AUC 0.875;
    # var = var(V10)/2 + var(V01)/2 = 0.03125/2 * 2 = 0.03125
    roc = auroc([(1.0, True), (0.5, True), (0.5, False), (0.0, False)])
    assert roc["auroc"] == 0.875
    se = 0.03125 ** 0.5
    assert roc["low"] == pytest.approx(0.875 - 1.959963984540054 * se)
    assert roc["high"] == 1.0  # clipped


def test_auroc_undefined_or_not_estimable():
    assert auroc([(1.0, True), (0.0, True)])["auroc"] is None  # one class
    one = auroc([(1.0, True), (0.0, False), (0.5, False)])
    assert one["auroc"] == 1.0 and one["low"] is None  # a class of one: no variance to estimate


def test_sweep_by_hand():
    # scores 1, .6, .6, .2 for AF; .6, .2, 0 for not AF
    data = [(1.0, True), (0.6, True), (0.6, True), (0.2, True), (0.6, False), (0.2, False), (0.0, False)]
    rows = sweep(data)
    assert [r["threshold"] for r in rows] == [0.0, 0.2, 0.6, 1.0]
    by = {r["threshold"]: r for r in rows}
    # ≥0: everything AF: tp 4 fp 3 fn 0 tn 0
    assert (by[0.0]["tp"], by[0.0]["fp"], by[0.0]["fn"], by[0.0]["tn"]) == (4, 3, 0, 0)
    assert by[0.0]["precision"] == pytest.approx(4 / 7) and by[0.0]["recall"] == 1.0
    assert by[0.0]["kappa"] == pytest.approx(0.0)
    # ≥0.2: tp 4 fp 2 fn 0 tn 1. po = 5/7; pe = (6/7)(4/7) + (1/7)(3/7) = 27/49; kappa = (35/49-27/49)/(22/49)
    r = by[0.2]
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (4, 2, 0, 1)
    assert r["kappa"] == pytest.approx(8 / 22) and r["f1"] == pytest.approx(8 / 10)
    # ≥0.6: tp 3 fp 1 fn 1 tn 2. po = 5/7; pe = (4/7)(4/7) + (3/7)(3/7) = 25/49; kappa = 10/24
    r = by[0.6]
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (3, 1, 1, 2)
    assert r["kappa"] == pytest.approx(10 / 24) and r["precision"] == 0.75 and r["recall"] == 0.75
    # ≥1: tp 1 fp 0 fn 3 tn 3. po = 4/7; pe = (1/7)(4/7) + (6/7)(3/7) = 22/49; kappa = 6/27
    assert by[1.0]["kappa"] == pytest.approx(6 / 27) and by[1.0]["precision"] == 1.0
    assert best_threshold(rows)["threshold"] == 0.6


def test_wilson_and_kappa_intervals():
    from scipy.stats import binomtest
    from statsmodels.stats.inter_rater import cohens_kappa

    r = at_threshold([(1.0, True)] * 6 + [(0.0, True)] * 2 + [(1.0, False)] * 3 + [(0.0, False)] * 9, 0.5)
    lo, hi = binomtest(6, 9).proportion_ci(method="wilson")
    assert (r["precision_low"], r["precision_high"]) == pytest.approx((lo, hi), abs=1e-12)
    lo, hi = binomtest(6, 8).proportion_ci(method="wilson")
    assert (r["recall_low"], r["recall_high"]) == pytest.approx((lo, hi), abs=1e-12)
    k = cohens_kappa([[6, 2], [3, 9]])
    assert (r["kappa"], r["kappa_low"], r["kappa_high"]) == pytest.approx((k.kappa, k.kappa_low, k.kappa_upp))


def test_store_scores_auroc_and_old_rows(tmp_path, capsys):
    store = make_store(tmp_path / "c.sqlite", n_requests=6)
    conn = store.conn
    ids = [sample_id(store, i, "free") for i in range(6)]
    # 20 votes each: scores as shares; sample 5 is an old row with no score (verdict only: 1.0)
    scores = [0.9, 0.4, 0.6, 0.1, 0.0, None]
    people = [AF, AF, NOT_AF, NOT_AF, NOT_AF, AF]
    for sid, sc, who in zip(ids, scores, people, strict=True):
        verdict = AF if sc is None or sc >= 0.5 else NOT_AF
        add_judgement(conn, sid, verdict, score=sc)
        save_label(conn, sid, "ana", verdict=who)
    figs = {f["annotator"] or f["against"]: f for f in judge_vs_humans(conn)}
    a = figs["ana"]
    # AF scores .9 .4 1.0 vs not .6 .1 0: pairs won 3+2+3 of 9... (.9>.6,.1,0; .4>.1,0; 1>all) = 8/9
    assert a["roc"]["auroc"] == pytest.approx(8 / 9)
    assert a["best"]["threshold"] == 0.4  # calls .4 AF too: tp 3 fp 1 fn 0 tn 2
    store.close()
    code, out, _ = af_main_output(capsys, "stats", "--db", str(tmp_path / "c.sqlite"), "--judges", "--json")
    assert code == 0
    ana = next(x for x in json.loads(out)["agreement"] if x["annotator"] == "ana")
    assert ana["roc"]["auroc"] == pytest.approx(8 / 9) and len(ana["sweep"]) == 6
    code, out, _ = af_main_output(capsys, "stats", "--db", str(tmp_path / "c.sqlite"))
    assert "AUROC" in out and "Threshold sweep" in out
    code, out, _ = af_main_output(capsys, "stats", "--db", str(tmp_path / "c.sqlite"), "--judges", "--csv")
    lines = out.splitlines()
    assert "auroc" in lines[0].split(",") and sum(",threshold," in line for line in lines[1:]) == 12
