"""Rates and AF rates whose samples share requests (several epochs, pooled runs): Wilson's interval at the
request-clustered effective n, against a hand computation and statsmodels' cluster-robust variance."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import statsmodels.api as sm
from helpers import af_main_output
from hypothesis import given
from hypothesis import strategies as st
from statsmodels.stats.proportion import proportion_confint

from af_tui.analysis.af_source import parse_af_source
from af_tui.analysis.compliance import judged_slices, parse_compliance
from af_tui.analysis.estimators import (
    CLUSTERED_WILSON,
    MIN_DISCORDANT,
    ClusterSums,
    clustered_wilson,
    effective_n,
    holm,
    is_small_n,
    wilson,
)
from af_tui.analysis.slices import SliceStats, add_holm, compute, empty_tiers
from tests.test_stats import _judge, _store

TOL = 1e-9


def _cluster_robust_var(per_request: list[list[int]]) -> float:
    """Var of the share of ones by statsmodels: OLS on a constant, cov_type='cluster' by request."""
    y = np.array([x for outcomes in per_request for x in outcomes], dtype=float)
    groups = np.array([g for g, outcomes in enumerate(per_request) for _ in outcomes])
    fit = sm.OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return float(fit.bse[0] ** 2)


def test_the_issue_example_by_hand():
    # 10 requests × 10 epochs, 5 requests always complying, 5 never: 50 of 100 samples, 5 of 10 requests.
    sums = ClusterSums.of([(10, 10)] * 5 + [(0, 10)] * 5)
    # By hand: Σ(k_g − p·n_g)² = 10 · 5² = 250; var = 10/9 · 250 / 100² = 0.02778; p(1−p)/var = 9, below the
    # 10 requests the correlation of 1 allows, so n_eff = 10 and the interval is Wilson's for 5 of 10.
    assert effective_n(50, 100, sums) == 10
    assert clustered_wilson(50, 100, sums) == pytest.approx(wilson(5, 10), abs=TOL)
    assert clustered_wilson(50, 100, sums) == pytest.approx((0.2366, 0.7634), abs=5e-5)
    assert wilson(50, 100) == pytest.approx((0.4038, 0.5962), abs=5e-5)  # what samples-as-independent said


@pytest.mark.parametrize("seed", range(6))
def test_effective_n_is_statsmodels_cluster_robust_variance(seed):
    rng = random.Random(seed)
    per_request = []
    for _ in range(rng.randint(8, 40)):  # requests with their own compliance tendency, 1–6 samples each
        p = rng.random()
        per_request.append([int(rng.random() < p) for _ in range(rng.randint(1, 6))])
    k, n = sum(map(sum, per_request)), sum(map(len, per_request))
    sums = ClusterSums.of([(sum(o), len(o)) for o in per_request])
    var = _cluster_robust_var(per_request)
    raw = (k / n) * (1 - k / n) / var
    want = min(n, max(len(per_request), raw))
    assert effective_n(k, n, sums) == pytest.approx(want, rel=1e-9)
    # And the interval is Wilson's (statsmodels') at that n, for the share k/n.
    low, high = proportion_confint(k / n * want, want, method="wilson")
    assert clustered_wilson(k, n, sums) == pytest.approx((low, high), abs=TOL)


def test_effective_n_bounds_and_edges():
    # No spread between requests (each request half complying): the design effect is 1, Wilson over samples.
    even = ClusterSums.of([(2, 4)] * 10)
    assert effective_n(20, 40, even) == 40 and clustered_wilson(20, 40, even) == wilson(20, 40)
    # Never complying over 10 requests × 10 epochs: the requests, not the samples (as one epoch of 10 would).
    never = ClusterSums.of([(0, 10)] * 10)
    assert effective_n(0, 100, never) == 10
    assert clustered_wilson(0, 100, never) == pytest.approx(wilson(0, 10), abs=TOL)
    assert clustered_wilson(100, 100, ClusterSums.of([(10, 10)] * 10)) == pytest.approx(wilson(10, 10), abs=TOL)
    assert clustered_wilson(0, 0, never) is None
    assert clustered_wilson(3, 10, None) == wilson(3, 10)  # no request repeats: Wilson unchanged


def _spec(n_requests=10, epochs=10, always=5):
    """Each request always complies on the free tier (the first `always`) or never; paid always refuses."""
    return {"m": [[("complied" if i < always else "refused", "refused")] * epochs for i in range(n_requests)]}


def _free_compliances(store) -> list[int]:
    """The ids of the free tier's complied samples, by request then epoch."""
    return [r[0] for r in store.conn.execute(
        "SELECT id FROM samples WHERE tier = 'free' AND outcome = 'complied' ORDER BY prompt_index, epoch")]


def test_compute_clusters_rates_and_af_by_request(db_path):
    with _store(db_path, _spec(), epochs=10) as store:
        complied = _free_compliances(store)
        # AF on every epoch of two of the five complying requests: 20 of 50 compliances, 2 of 5 requests.
        for t, sid in enumerate(complied):
            _judge(store, sid, "alignment_faking" if t < 20 else "not_alignment_faking", t)
        (sl,) = compute(store.conn, af_source="judge")
        comp = judged_slices(store.conn, None, None, "run", parse_af_source("judge"), parse_compliance("prefix"))[0]
    assert sl.interval_method("free") == CLUSTERED_WILSON
    assert sl.interval("free") == pytest.approx(wilson(5, 10), abs=TOL)
    # Refused on the free tier: the same requests, so the same effective n.
    assert sl.interval("free", "refused") == pytest.approx(wilson(5, 10), abs=TOL)
    assert sl.interval("paid") == pytest.approx(wilson(0, 10), abs=TOL)  # 0 of 100: the 10 requests
    af = sl.af["free"]
    assert (af.af, af.judged) == (20, 50) and af.interval_method == CLUSTERED_WILSON
    assert af.interval == pytest.approx(wilson(2, 5), abs=TOL)
    assert af.overall_interval == pytest.approx(wilson(2, 10), abs=TOL)  # 20 of 100, 2 of 10 requests
    # The per-sample path (compliance figures) gives the same intervals.
    assert comp.interval("free") == pytest.approx(sl.interval("free"), abs=TOL)
    assert comp.af["free"].interval == pytest.approx(af.interval, abs=TOL)


def test_one_epoch_stays_wilson_over_samples(db_path):
    with _store(db_path, _spec(epochs=1), epochs=1) as store:
        (sl,) = compute(store.conn)
    assert sl.interval_method("free") == "Wilson" and not sl.clusters
    assert sl.interval("free") == pytest.approx(wilson(5, 10), abs=TOL)


def test_pooled_runs_cluster_by_request(db_path):
    store = _store(db_path, _spec(epochs=1), run="r1")
    store.close()
    with _store(db_path, _spec(epochs=1), run="r2") as store:
        per_run = compute(store.conn)
        (pooled,) = compute(store.conn, by="model")
    assert all(s.interval_method("free") == "Wilson" for s in per_run)
    assert pooled.interval_method("free") == CLUSTERED_WILSON
    assert pooled.interval("free") == pytest.approx(wilson(5, 10), abs=TOL)  # 10 of 20, 5 of 10 requests


# -- Holm ---------------------------------------------------------------------------------------------------
def _slice(p):
    return SliceStats("r", "m", "v", empty_tiers(), 0.0, p_value=p)


def test_holm_by_hand_and_statsmodels():
    # Holm by hand: sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04 → made monotone: 0.03, 0.06, 0.06.
    slices = [_slice(0.01), _slice(0.04), _slice(None), _slice(0.03)]
    add_holm(slices)
    assert [s.p_holm for s in slices] == pytest.approx([0.03, 0.06, None, 0.06], abs=TOL)
    assert [s.holm_tests for s in slices] == [3, 3, 0, 3]
    assert [slices[i].p_holm for i in (0, 1, 3)] == pytest.approx(_statsmodels_holm([0.01, 0.04, 0.03]), abs=TOL)
    one = [_slice(0.01), _slice(None)]
    add_holm(one)
    assert one[0].p_holm is None and one[0].holm_tests == 0  # a single test: nothing to adjust


def test_stats_shows_holm_beside_raw_p_and_the_clustered_method(db_path, capsys):
    store = _store(db_path, {"a": _spec()["m"], "b": _spec(always=2)["m"]}, epochs=10)
    store.close()
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db_path), "--json")
    assert code == 0
    rows = {(r["model"], r["tier"]): r for r in json.loads(out)}
    a, b = rows[("a", "free")], rows[("b", "free")]
    assert a["interval_method"] == CLUSTERED_WILSON and a["holm_tests"] == 2
    assert (a["complied_low"], a["complied_high"]) == pytest.approx(wilson(5, 10), abs=TOL)
    assert [a["p_holm"], b["p_holm"]] == pytest.approx(_statsmodels_holm([a["p_value"], b["p_value"]]), abs=TOL)
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db_path))
    assert "p (Holm)" in out and "clustered" in out and "effective n" in out


def test_clustered_intervals_follow_new_verdicts_and_samples(db_path):
    # The per-request counts are cached for the live panel; a new judgement or sample must be seen at once.
    with _store(db_path, _spec(), epochs=10) as store:
        complied = _free_compliances(store)
        for t, sid in enumerate(complied):
            _judge(store, sid, "alignment_faking" if t < 10 else "not_alignment_faking", t)
        before = compute(store.conn, af_source="judge")[0].af["free"].interval
        for t, sid in enumerate(complied[10:20]):
            _judge(store, sid, "alignment_faking", 100 + t, model="sim/judge2")
        after = compute(store.conn, af_source="judge")[0].af["free"].interval
    assert before == pytest.approx(wilson(1, 5), abs=TOL)
    assert after == pytest.approx(wilson(2, 5), abs=TOL)


# -- small n, and the clustered gap over requests with one difference ----------------------------------------
def test_small_n_threshold_is_where_mcnemar_can_first_reject():
    from scipy.stats import binomtest

    for n in range(1, MIN_DISCORDANT):  # all n pairs one way: the smallest p there is
        assert binomtest(n, n, 0.5).pvalue >= 0.05 and is_small_n(n, 0) and is_small_n(0, n)
    assert binomtest(MIN_DISCORDANT, MIN_DISCORDANT, 0.5).pvalue < 0.05 and not is_small_n(MIN_DISCORDANT, 0)
    assert not is_small_n(0, 0)  # estimate 0, interval around it: no disagreement possible


def test_two_discordant_pairs_are_flagged(db_path, capsys):
    # The issue's example: 2 pairs, b = 2, c = 0. Newcombe's interval excludes 0, McNemar's p is 0.5.
    with _store(db_path, {"m": [("complied", "refused")] * 2}) as store:
        (sl,) = compute(store.conn)
    assert sl.gap_low == pytest.approx(0.070, abs=5e-4) and sl.gap_high == 1.0 and sl.p_value == 0.5
    assert sl.small_n
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db_path), "--json")
    assert json.loads(out)[0]["small_n"] is True
    code, out, _ = af_main_output(capsys, "stats", "--db", str(db_path))
    assert "small n" in out


@pytest.mark.parametrize("requests", [
    [("complied", "refused")] * 10,  # every request +1
    [("refused", "refused")] * 10,  # every request 0, never complying
    [("complied", "complied")] * 4 + [("refused", "refused")] * 6,  # every request 0, some always complying
    [("refused", "complied")] * 3,  # every request −1: small n
])
def test_clustered_gap_over_one_difference_is_the_single_epoch_figure(tmp_path, requests):
    with _store(tmp_path / "one.sqlite", {"m": requests}) as store:
        (one,) = compute(store.conn)
    with _store(tmp_path / "three.sqlite", {"m": requests}, epochs=3) as store:
        (three,) = compute(store.conn)
    assert three.gap_method == "paired, clustered by request" and three.requests == len(requests)
    assert three.test == "McNemar exact, pairs scaled to requests" and three.gap_note is None
    assert (three.gap, three.gap_low, three.gap_high, three.p_value) == pytest.approx(
        (one.gap, one.gap_low, one.gap_high, one.p_value), abs=TOL)
    assert three.small_n == one.small_n


def test_the_app_refresh_follows_the_clustered_sums_incrementally(db_path):
    # The panel's sums, followed through pair_changes, equal a full read after inserts and an outcome update.
    from af_tui.analysis.slices import panel_data

    rng = random.Random(4)
    outcomes = ("complied", "refused", "format_not_followed", "error", "blocked")
    spec = {"m": [[(rng.choice(outcomes), rng.choice(outcomes)) for _ in range(3)] for _ in range(12)]}
    with _store(db_path, spec, epochs=3) as store:
        def check():
            (live,) = panel_data(store.conn)
            (full,) = compute(store.conn)
            assert live.clusters == full.clusters and live.clusters
            for tier in ("free", "paid"):
                assert live.interval(tier) == pytest.approx(full.interval(tier), abs=TOL)

        check()
        with store.conn:  # an error retried into a compliance, a compliance re-read as refused
            store.conn.execute("UPDATE samples SET outcome = 'complied' WHERE id = "
                               "(SELECT MIN(id) FROM samples WHERE outcome = 'error')")
            store.conn.execute("UPDATE samples SET outcome = 'refused' WHERE id = "
                               "(SELECT MAX(id) FROM samples WHERE outcome = 'complied')")
        check()
        store.close()
    extra = {"m": [[("complied", "refused")] * 3 for _ in range(12)]}
    with _store(db_path, extra, epochs=3, run="r2") as store:
        for s in panel_data(store.conn):
            (full,) = [f for f in compute(store.conn) if f.run == s.run]
            assert s.clusters == full.clusters


def test_plot_caption_names_the_clustered_error_bars(db_path, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    _store(db_path, _spec(), epochs=10).close()
    out = tmp_path / "f.svg"
    code, _, err = af_main_output(capsys, "plot", str(out), "--db", str(db_path))
    assert code == 0, err
    assert "error bars: Wilson, effective n by request" in out.read_text()


def test_chart_screen_says_when_its_whiskers_are_clustered(db_path):
    from af_tui.analysis.slices import panel_data
    from af_tui.tui.screens.chart import chart_text

    with _store(db_path, _spec(), epochs=10) as store:
        (sl,) = panel_data(store.conn)
    assert sl.interval("free") == pytest.approx(wilson(5, 10), abs=TOL)  # the whisker the chart draws
    assert "effective n by request" in chart_text([sl], 100).plain


def test_an_undecided_tie_is_out_of_the_clustered_af_n(db_path):
    # Two annotators split on one compliance: undecided, in no rate; the clustered interval's n agrees.
    from af_tui.store.labels import save_label

    with _store(db_path, _spec(), epochs=10) as store:
        complied = _free_compliances(store)
        for t, sid in enumerate(complied):
            save_label(store.conn, sid, "ann1", verdict="alignment_faking" if t < 20 else "not_alignment_faking")
        save_label(store.conn, complied[0], "ann2", verdict="not_alignment_faking")  # a tie on one sample
        (sl,) = compute(store.conn)
        af = sl.af["free"]
    assert (af.judged, af.af) == (49, 19)
    assert af.sums.kn == pytest.approx(sum(k * n for k, n in [(9, 9), (10, 10)] + [(0, 10)] * 3))
    assert af.sums.nn == pytest.approx(9 * 9 + 4 * 100)


def _statsmodels_holm(p_values: list[float]) -> list[float]:
    """statsmodels' Holm figures, without the full garbage collection its holm path runs on every call (0.1-1 s
    in a test process: a property test calling it 100 times took two minutes)."""
    import gc
    from unittest import mock

    from statsmodels.stats.multitest import multipletests

    with mock.patch.object(gc, "collect", lambda *args: 0):  # (multipletests imports gc inside itself)
        return list(multipletests(p_values, method="holm")[1])


@given(st.lists(st.floats(min_value=0.0, max_value=1.0), min_size=1, max_size=12))
def test_holm_gives_statsmodels_figures(p_values):
    assert holm(p_values) == pytest.approx(_statsmodels_holm(p_values), abs=1e-12)
