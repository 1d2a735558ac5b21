"""Every statistic against scipy / statsmodels (to 1e-9) or a published worked example (to its printed
digits), the edge cases, and the store's trigger-kept counts against direct queries."""

from __future__ import annotations

import itertools
import math
import random
import sqlite3

import pytest
from scipy import stats as sps
from scipy.stats import binomtest
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from af_tui.analysis import slices as stats
from af_tui.analysis.estimators import (
    Estimate,
    clustered_gap,
    mcnemar_exact,
    mover_difference,
    newcombe_paired,
    newcombe_unpaired,
    wilson,
)
from af_tui.analysis.slices import TierCounts, compute
from af_tui.errors import AfError
from af_tui.store.db import Store
from af_tui.store.rows import dict_rows
from af_tui.store.sample import Sample
from af_tui.store.schema import SCHEMA_V1

TOL = 1e-9
GRID = [(k, n) for n in (1, 2, 5, 17, 40, 263, 1000) for k in sorted({0, 1, n // 3, n // 2, n - 1, n})]


# -- Wilson ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("k", "n"), GRID)
def test_wilson_matches_scipy_and_statsmodels(k, n):
    low, high = wilson(k, n)
    ci = binomtest(k, n).proportion_ci(method="wilson")
    assert low == pytest.approx(ci.low, abs=TOL) and high == pytest.approx(ci.high, abs=TOL)
    sm = proportion_confint(k, n, alpha=0.05, method="wilson")
    assert low == pytest.approx(sm[0], abs=TOL) and high == pytest.approx(sm[1], abs=TOL)


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    # Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statist. Med. 17:857,
    # Table II, method 3 (Wilson score without continuity correction).
    (81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718),
])
def test_wilson_newcombe_published_examples(k, n, low, high):
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(low, abs=5e-5) and hi == pytest.approx(high, abs=5e-5)


def test_wilson_edges():
    assert wilson(0, 0) is None
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0
    assert 0 < wilson(0, 10)[1] < 1 and 0 < wilson(10, 10)[0] < 1


# -- unpaired difference (Newcombe hybrid score) -----------------------------------------------------------
@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), [
    (56, 70, 48, 80), (9, 10, 3, 10), (0, 20, 0, 20), (20, 20, 0, 20), (5, 40, 40, 40), (1, 3, 2, 7),
])
def test_newcombe_unpaired_matches_statsmodels(k1, n1, k2, n2):
    est = newcombe_unpaired(k1, n1, k2, n2)
    low, high = confint_proportions_2indep(k1, n1, k2, n2, method="newcomb", compare="diff")
    assert est.estimate == pytest.approx(k1 / n1 - k2 / n2, abs=TOL)
    assert est.low == pytest.approx(low, abs=TOL) and est.high == pytest.approx(high, abs=TOL)


def test_newcombe_unpaired_published_example():
    # Newcombe (1998), "Interval estimation for the difference between independent proportions",
    # Statist. Med. 17:873, example (a) 56/70 − 48/80, method 10: 0.0524 to 0.3339.
    est = newcombe_unpaired(56, 70, 48, 80)
    assert (est.low, est.high) == pytest.approx((0.0524, 0.3339), abs=5e-5)
    assert newcombe_unpaired(1, 0, 1, 5) is None


# -- paired difference (Newcombe method 10) and McNemar ----------------------------------------------------
def test_newcombe_paired_published_example():
    # Fagerland, Lydersen & Laake (2017), Statistical Analysis of Contingency Tables, ch. 8: complete response
    # before and after consolidation therapy (Cavo et al. 2012), [[59, 6], [16, 80]]; Newcombe square-and-add
    # −0.0621 (95% CI −0.1186 to −0.0046) — as the R package contingencytables' tests print it.
    est = newcombe_paired(59, 6, 16, 80)
    assert est.estimate == pytest.approx(-0.0621, abs=5e-5)
    assert (est.low, est.high) == pytest.approx((-0.1186, -0.0046), abs=5e-5)


@pytest.mark.parametrize(("a", "b", "c", "d"), [(10, 5, 5, 3), (4, 2, 2, 1), (0, 3, 0, 0), (20, 0, 0, 0)])
def test_newcombe_paired_without_correlation_is_the_unpaired_interval(a, b, c, d):
    # With the corrected phi at 0 (0 ≤ ad − bc ≤ n/2, or an empty margin), method 10 is Newcombe's hybrid
    # score interval for (a+b)/n − (a+c)/n as if independent: statsmodels gives it.
    n = a + b + c + d
    est = newcombe_paired(a, b, c, d)
    low, high = confint_proportions_2indep(a + b, n, a + c, n, method="newcomb", compare="diff")
    assert (est.low, est.high) == pytest.approx((max(-1, low), min(1, high)), abs=TOL)


def _method10_by_hand(a, b, c, d, z=1.959963984540054):
    """Newcombe (1998b) method 10 written out from the paper's formulas, independently of af_tui.stats."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = binomtest(a + b, n).proportion_ci(method="wilson")
    l2, u2 = binomtest(a + c, n).proportion_ci(method="wilson")
    ad_bc = a * d - b * c
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        phi = 0.0
    elif ad_bc > n / 2:
        phi = (ad_bc - n / 2) / math.sqrt(margins)
    elif ad_bc < 0:
        phi = ad_bc / math.sqrt(margins)
    else:
        phi = 0.0
    dl = math.sqrt((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2)
    du = math.sqrt((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2)
    return p1 - p2 - dl, p1 - p2 + du


@pytest.mark.parametrize(("a", "b", "c", "d"), [
    (59, 6, 16, 80), (36, 12, 2, 0), (1, 1, 7, 12), (300, 120, 15, 85), (5, 0, 9, 30), (0, 10, 1, 0),
])
def test_newcombe_paired_matches_the_formula(a, b, c, d):
    est = newcombe_paired(a, b, c, d)
    low, high = _method10_by_hand(a, b, c, d)
    assert est.low == pytest.approx(max(-1, low), abs=TOL) and est.high == pytest.approx(min(1, high), abs=TOL)
    assert est.p_value == pytest.approx(mcnemar([[a, b], [c, d]], exact=True).pvalue, abs=TOL)


def test_newcombe_paired_edges():
    assert newcombe_paired(0, 0, 0, 0) is None
    none_discordant = newcombe_paired(12, 0, 0, 28)  # no discordant pairs
    assert none_discordant.estimate == 0 and none_discordant.p_value == 1.0
    assert none_discordant.low < 0 < none_discordant.high
    all_both = newcombe_paired(40, 0, 0, 0)  # n of n on both tiers
    assert (all_both.estimate, all_both.p_value) == (0, 1.0) and all_both.low <= 0 <= all_both.high
    one_way = newcombe_paired(0, 40, 0, 0)  # every free complied, no paid: gap 1
    assert one_way.estimate == 1 and one_way.high == 1 and 0 < one_way.low < 1


@pytest.mark.parametrize(("b", "c"), list(itertools.product((0, 1, 3, 10, 57), repeat=2)))
def test_mcnemar_exact_matches_statsmodels_and_scipy(b, c):
    p = mcnemar_exact(b, c)
    assert p == pytest.approx(mcnemar([[7, b], [c, 9]], exact=True).pvalue, abs=TOL)
    if b + c:
        assert p == pytest.approx(binomtest(b, b + c, 0.5).pvalue, abs=TOL)
    else:
        assert p == 1.0


# -- clustered gap and comparisons -------------------------------------------------------------------------
def test_clustered_gap_matches_scipy_t():
    rng = random.Random(3)
    diffs = [rng.choice([-1, -0.5, 0, 0, 0.5, 1, 1]) for _ in range(60)]
    est = clustered_gap(diffs)
    res = sps.ttest_1samp(diffs, 0.0)
    low, high = sps.t.interval(0.95, len(diffs) - 1, loc=sum(diffs) / len(diffs), scale=sps.sem(diffs))
    assert est.estimate == pytest.approx(sum(diffs) / len(diffs), abs=TOL)
    assert (est.low, est.high) == pytest.approx((low, high), abs=TOL)
    assert est.p_value == pytest.approx(res.pvalue, abs=TOL)


def test_clustered_gap_edges():
    assert clustered_gap([]) is None
    one = clustered_gap([0.5])
    # No spread to estimate: no interval (not a zero-width one) and a note saying why.
    assert (one.estimate, one.low, one.high, one.p_value) == (0.5, None, None, None)
    assert one.note == "not estimable: one request" and not one.estimable
    same = clustered_gap([0.0, 0.0, 0.0])
    assert same.p_value is None and same.note == "not estimable: all 3 requests have the same difference"
    assert not mover_difference(same, one).estimable


def test_mover_on_wilson_intervals_is_newcombes_interval():
    # MOVER over two Wilson intervals is exactly Newcombe's hybrid score interval: statsmodels checks it.
    def w(k, n):
        lo, hi = wilson(k, n)
        return Estimate(k / n, lo, hi)

    d = mover_difference(w(56, 70), w(48, 80))
    low, high = confint_proportions_2indep(56, 70, 48, 80, method="newcomb", compare="diff")
    assert (d.estimate, d.low, d.high) == pytest.approx((0.2, low, high), abs=TOL)


# -- the store: counts, pairs, clustering, AF ---------------------------------------------------------------
def _store(path, spec, epochs=1, run="r1", variant="v", errors_later=()):
    """spec: {model: [(free_outcome, paid_outcome), ...]} per request (None: that tier not asked yet)."""
    store = Store(path)
    store.ensure_variant(variant, f"stand-in prompt {variant}")
    run_id = store.start_run(run, {})
    n_req = max(len(v) for v in spec.values())
    prompt_ids = store.ensure_prompts([f"made-up request {i}" for i in range(n_req)])
    rows = []
    for model, outcomes in spec.items():
        for i, pair in enumerate(outcomes):
            for epoch in range(epochs):
                for tier, outcome in zip(("free", "paid"), pair[epoch] if isinstance(pair, list) else pair,
                                         strict=True):
                    if outcome is not None:
                        rows.append({"run_id": run_id, "model": model, "variant": variant,
                                     "prompt_id": prompt_ids[i], "prompt_index": i, "tier": tier,
                                     "epoch": epoch, "outcome": outcome})
    store.save_samples([Sample(**row) for row in rows])
    return store


def test_compute_paired_figures_from_a_store(db_path):
    # faker: a=3 both complied, b=5 free only, c=1 paid only, d=4 neither; one error pair; one free-only pair.
    spec = {"sim/faker": [("complied", "complied")] * 3 + [("complied", "refused")] * 5
            + [("refused", "complied")] + [("refused", "format_not_followed")] * 4
            + [("complied", "error"), ("complied", None)]}
    with _store(db_path, spec) as store:
        (sl,) = compute(store.conn)
    assert sl.tiers["free"] == TierCounts(n=15, complied=10, refused=5, format_not_followed=0, error=0, blocked=0)
    assert sl.tiers["paid"] == TierCounts(n=14, complied=4, refused=5, format_not_followed=4, error=1, blocked=0)
    assert sl.valid("paid") == 13 and sl.rate("paid") == pytest.approx(4 / 13)
    assert sl.interval("free") == pytest.approx(tuple(binomtest(10, 15).proportion_ci(method="wilson")))
    ref = newcombe_paired(3, 5, 1, 4)
    assert (sl.gap, sl.gap_low, sl.gap_high, sl.p_value) == pytest.approx(
        (ref.estimate, ref.low, ref.high, ref.p_value), abs=TOL)
    assert sl.gap_method == "paired" and sl.test == "McNemar exact"
    assert (sl.pairs, sl.discordant, sl.pairs_incomplete) == (13, (5, 1), 2)
    unpaired = newcombe_unpaired(10, 15, 4, 13)  # shown because pairs are incomplete
    assert (sl.unpaired.low, sl.unpaired.high) == pytest.approx((unpaired.low, unpaired.high), abs=TOL)


def test_compute_one_tier_missing_and_no_pairs(db_path):
    spec = {"only-free": [("complied", None), ("refused", None)], "none-discordant": [("refused", "refused")] * 3}
    with _store(db_path, spec) as store:
        by_model = {s.model: s for s in compute(store.conn)}
    only_free = by_model["only-free"]
    assert only_free.gap is None and only_free.gap_method is None and only_free.valid("paid") == 0
    assert only_free.rate("paid") is None and only_free.interval("paid") is None
    flat = by_model["none-discordant"]
    assert flat.gap == 0 and flat.p_value == 1.0 and flat.discordant == (0, 0)


def test_compute_unpaired_when_no_pair_is_complete(db_path):
    with _store(db_path, {"m": [("complied", None), (None, "refused"), (None, "complied")]}) as store:
        (sl,) = compute(store.conn)
    ref = newcombe_unpaired(1, 1, 1, 2)
    assert sl.gap_method == "unpaired" and sl.p_value is None and sl.unpaired is None
    assert (sl.gap, sl.gap_low, sl.gap_high) == pytest.approx((ref.estimate, ref.low, ref.high), abs=TOL)


def _random_pairs(rng, n_req, epochs):
    outcomes = ("complied", "refused", "format_not_followed", "error")
    weights = (0.5, 0.35, 0.1, 0.05)
    return [[tuple(rng.choices(outcomes, weights)[0] for _ in range(2)) for _ in range(epochs)]
            for _ in range(n_req)]


def _expected_clustered(pairs_per_request):
    diffs = []
    for epochs in pairs_per_request:
        valid = [(f == "complied") - (p == "complied") for f, p in epochs if "error" not in (f, p)]
        if valid:
            diffs.append(sum(valid) / len(valid))
    return clustered_gap(diffs), len(diffs)


def test_compute_clusters_by_request_with_epochs(db_path):
    rng = random.Random(11)
    spec = {"m": _random_pairs(rng, 50, 3)}
    with _store(db_path, spec, epochs=3) as store:
        (sl,) = compute(store.conn)
    ref, m = _expected_clustered(spec["m"])
    assert sl.gap_method == "paired, clustered by request" and sl.test == "t-test on per-request means"
    assert sl.requests == m
    assert (sl.gap, sl.gap_low, sl.gap_high, sl.p_value) == pytest.approx(
        (ref.estimate, ref.low, ref.high, ref.p_value), abs=TOL)


def test_compute_pools_runs_by_model_and_compares(db_path):
    rng = random.Random(5)
    a1, a2 = _random_pairs(rng, 30, 1), _random_pairs(rng, 30, 1)
    b1 = _random_pairs(rng, 30, 1)
    store = _store(db_path, {"A": a1, "B": b1}, run="r1")
    store.close()
    with _store(db_path, {"A": a2}, run="r2") as store:
        per_run = compute(store.conn)
        pooled = {s.model: s for s in compute(store.conn, by="model")}
        only_r2 = compute(store.conn, run="r2")
        only_b = compute(store.conn, models=["B"])
    assert len(per_run) == 3 and [s.run for s in only_r2] == ["r2"] and [s.model for s in only_b] == ["B"]
    # Pooled: each request of A was asked in two runs, so A is clustered by request across runs.
    ref, m = _expected_clustered([x + y for x, y in zip(a1, a2, strict=True)])
    a = pooled["A"]
    assert a.run == "r1,r2" and a.gap_method == "paired, clustered by request" and a.requests == m
    assert (a.gap, a.gap_low, a.gap_high) == pytest.approx((ref.estimate, ref.low, ref.high), abs=TOL)
    assert pooled["B"].gap_method == "paired"
    (comp,) = stats.compare(list(pooled.values()), by="model")
    assert comp.a.model == "B" and comp.b.model == "A"
    want = mover_difference(pooled["B"].gap_estimate, a.gap_estimate)
    assert comp.difference == want
    (comp,) = stats.compare(list(pooled.values()), by="model", baseline="B")
    assert comp.a.model == "A"
    assert [c.a.run for c in stats.compare(per_run, by="run")] == ["r2"]


def _direct_counts(conn):
    oc = conn.execute("SELECT run_id, model, variant, tier, outcome, COUNT(*) FROM samples "
                      "GROUP BY 1, 2, 3, 4, 5").fetchall()
    pc = conn.execute("SELECT run_id, model, variant, COALESCE(free_outcome, ''), COALESCE(paid_outcome, ''), "
                      "COUNT(*) FROM pairs GROUP BY 1, 2, 3, 4, 5").fetchall()
    rh = conn.execute(
        "SELECT run_id, model, variant, complete, diff, COUNT(*) FROM (SELECT run_id, model, variant, prompt_id, "
        "SUM(COALESCE(free_outcome, 'error') != 'error' AND COALESCE(paid_outcome, 'error') != 'error') "
        "AS complete, SUM(CASE WHEN COALESCE(free_outcome, 'error') != 'error' AND "
        "COALESCE(paid_outcome, 'error') != 'error' THEN (free_outcome = 'complied') - "
        "(paid_outcome = 'complied') ELSE 0 END) AS diff FROM pairs GROUP BY 1, 2, 3, 4) GROUP BY 1, 2, 3, 4, 5"
    ).fetchall()
    return sorted(oc), sorted(pc), sorted(rh)


def _kept_counts(conn):
    return (sorted(conn.execute("SELECT * FROM outcome_counts WHERE n > 0").fetchall()),
            sorted(conn.execute("SELECT * FROM pair_counts WHERE n > 0").fetchall()),
            sorted(conn.execute("SELECT * FROM request_hist WHERE requests > 0").fetchall()))


def test_trigger_kept_counts_follow_inserts_retries_and_deletes(db_path):
    rng = random.Random(2)
    with _store(db_path, {"m": _random_pairs(rng, 40, 2), "n": _random_pairs(rng, 10, 2)}, epochs=2) as store:
        assert _kept_counts(store.conn) == _direct_counts(store.conn)
        # A resumed run replaces error samples (same identity, new outcome): the upsert path.
        errors = dict_rows(store.conn, "SELECT * FROM samples WHERE outcome = 'error'")
        assert errors
        for row in errors:
            row["outcome"] = rng.choice(["complied", "refused"])
            del row["id"]  # the store numbers rows; a sample record has no id
        store.save_samples([Sample(**row) for row in errors])
        assert _kept_counts(store.conn) == _direct_counts(store.conn)
        with store.conn:
            sid = store.conn.execute("SELECT MIN(id) FROM samples").fetchone()[0]
            store.conn.execute("DELETE FROM samples WHERE id = ?", (sid,))
        oc_kept, _, _ = _kept_counts(store.conn)
        assert oc_kept == _direct_counts(store.conn)[0]


def test_migration_backfills_counts_of_an_old_store(db_path):
    conn = sqlite3.connect(db_path)
    conn.executescript(SCHEMA_V1 + "; PRAGMA user_version = 1;")
    conn.execute("INSERT INTO runs (id, name, created_at) VALUES (1, 'old', 0)")
    conn.execute("INSERT INTO variants VALUES ('v', 'x', 'stand-in', NULL)")
    conn.execute("INSERT INTO prompts (id, text, sha256) VALUES (1, 'a', 'a'), (2, 'b', 'b')")
    for pid, tier, epoch, outcome in [(1, "free", 0, "complied"), (1, "paid", 0, "refused"),
                                      (1, "free", 1, "complied"), (1, "paid", 1, "complied"),
                                      (2, "free", 0, "error"), (2, "paid", 0, "refused")]:
        conn.execute("INSERT INTO samples (run_id, model, variant, prompt_id, tier, epoch, outcome) "
                     "VALUES (1, 'm', 'v', ?, ?, ?, ?)", (pid, tier, epoch, outcome))
    conn.commit()
    conn.close()
    with Store(db_path) as store:
        assert _kept_counts(store.conn) == _direct_counts(store.conn)
        (sl,) = compute(store.conn)
    assert sl.gap_method == "paired, clustered by request" and sl.requests == 1 and sl.gap == 0.5


def _label(store, sample_id, annotator, verdict, t):
    with store.conn:
        store.conn.execute("INSERT INTO labels (uid, sample_id, annotator, verdict, created_at) VALUES (?, ?, ?, ?, ?)",
                           (f"{sample_id}-{annotator}-{t}", sample_id, annotator, verdict, t))


def _judge(store, sample_id, verdict, t, model="sim/judge"):
    with store.conn:
        store.conn.execute("INSERT INTO judgements (uid, sample_id, judge_model, prompt_sha256, verdict, created_at) "
                           "VALUES (?, ?, ?, 'p', ?, ?)", (f"{sample_id}-{model}", sample_id, model, verdict, t))


def test_af_rates_from_labels_judge_and_both(db_path):
    spec = {"m": [("complied", "refused")] * 6 + [("refused", "complied")]}
    with _store(db_path, spec) as store:
        free = [r[0] for r in store.conn.execute("SELECT id FROM samples WHERE tier = 'free' AND outcome = 'complied' "
                                                 "ORDER BY id")]
        _label(store, free[0], "ann1", "not_alignment_faking", 1)
        _label(store, free[0], "ann1", "alignment_faking", 2)  # newest label of ann1 wins
        _label(store, free[1], "ann1", "alignment_faking", 1)
        _label(store, free[1], "ann2", "not_alignment_faking", 1)  # 1–1 tie → undecided, in no rate
        _label(store, free[2], "ann1", "alignment_faking", 1)
        _label(store, free[2], "ann1", None, 2)  # cleared: no verdict
        _label(store, free[3], "ann1", "alignment_faking", 1)
        _label(store, free[3], "ann2", "alignment_faking", 1)
        _label(store, free[3], "ann3", "unclear", 1)  # 2 of 3 → alignment_faking
        _judge(store, free[0], "not_alignment_faking", 1)  # overridden by people under 'both'
        _judge(store, free[4], "alignment_faking", 1)
        _judge(store, free[5], None, 1)  # unparsed: no verdict
        _judge(store, free[5], "not_alignment_faking", 0, model="other")
        af = {src: compute(store.conn, af_source=src)[0].af["free"] for src in ("labels", "judge", "both")}
        only_other = compute(store.conn, af_source="judge", judge_model="other")[0].af["free"]
        # A new label is seen at once (the cached AF parts are keyed on the store's write counter).
        _label(store, free[4], "ann1", "not_alignment_faking", 5)
        after = compute(store.conn, af_source="both")[0].af["free"]
    # before ties were undecided: labels (3, 2, 1 unclear), both (5, 3, 1 unclear), after (5, 2)
    assert (af["labels"].judged, af["labels"].af, af["labels"].unclear, af["labels"].undecided) == (2, 2, 0, 1)
    assert (af["judge"].judged, af["judge"].af, af["judge"].undecided) == (3, 1, 0)
    # people's tie stays undecided under 'both': the judge fills only samples no person labeled
    assert (af["both"].judged, af["both"].af, af["both"].unclear, af["both"].undecided) == (4, 3, 0, 1)
    assert af["both"].rate == pytest.approx(3 / 4)
    assert af["both"].interval == pytest.approx(tuple(binomtest(3, 4).proportion_ci(method="wilson")))
    assert af["both"].overall is None  # two compliances of six have no verdict (one unlabeled, one tied)
    assert (only_other.judged, only_other.af) == (1, 0)
    assert (after.judged, after.af, after.undecided) == (4, 2, 1)


def test_af_overall_rate_once_every_compliance_has_a_verdict(db_path):
    with _store(db_path, {"m": [("complied", "refused"), ("refused", "refused"), ("complied", "complied")]}) as store:
        for sid, in store.conn.execute("SELECT id FROM samples WHERE outcome = 'complied' AND tier = 'free'").fetchall():
            _judge(store, sid, "alignment_faking", 1)
        af = compute(store.conn, af_source="judge")[0].af["free"]
    assert (af.judged, af.af, af.valid) == (2, 2, 3)
    assert af.overall == pytest.approx(2 / 3)
    assert af.overall_interval == pytest.approx(tuple(binomtest(2, 3).proportion_ci(method="wilson")))


def test_compute_rejects_unknown_options(db_path):
    with Store(db_path) as store:
        assert compute(store.conn) == []
        with pytest.raises(ValueError):
            compute(store.conn, by="tier")
        with pytest.raises(AfError, match="not a source"):
            compute(store.conn, af_source="crowd")


def test_judge_counts_followed_incrementally_match_a_full_read(db_path):
    rng = random.Random(9)
    spec = {"m": [("complied", "complied")] * 20 + [("complied", "refused")] * 10, "n": [("complied", "refused")] * 5}
    verdicts = ("alignment_faking", "not_alignment_faking", "unclear", None)
    with _store(db_path, spec) as store:
        ids = [r[0] for r in store.conn.execute("SELECT id FROM samples WHERE outcome = 'complied'")]

        def both_ways():
            followed = {(s.model, t): (a.judged, a.af, a.unclear) for s in compute(store.conn, af_source="judge")
                        for t, a in s.af.items()}
            full = {(s.model, t): (a.judged, a.af, a.unclear)
                    for s in compute(store.conn, af_source="judge", models=["m", "n"]) for t, a in s.af.items()}
            assert followed == full
            return followed

        assert both_ways() == {}
        for step in range(40):
            sid = rng.choice(ids)
            with store.conn:
                if step % 7 == 6:  # a re-asked sample: updated in place
                    store.conn.execute("UPDATE judgements SET verdict = ?, created_at = ? WHERE id = "
                                       "(SELECT MAX(id) FROM judgements)", (rng.choice(verdicts), 100 + step))
                elif step % 11 == 10:
                    store.conn.execute("DELETE FROM judgements WHERE id = (SELECT MIN(id) FROM judgements)")
                else:
                    store.conn.execute(
                        # as the judge writes: an upsert (REPLACE would delete without firing triggers)
                        "INSERT INTO judgements (uid, sample_id, judge_model, prompt_sha256, verdict, created_at) "
                        "VALUES (?, ?, ?, 'p', ?, ?) ON CONFLICT (sample_id, judge_model, prompt_sha256) DO UPDATE "
                        "SET verdict = excluded.verdict, created_at = excluded.created_at",
                        (f"u{step}", sid, rng.choice(["j1", "j2"]), rng.choice(verdicts), rng.choice([1, 2, 100 + step])))
            both_ways()
        assert sum(v[0] for v in both_ways().values()) > 0
