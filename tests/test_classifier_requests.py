"""The judge as a classifier when samples share requests: the best threshold's kappa cross-validated by
request, the AUROC interval by a bootstrap over requests, and one scoring of "unclear" for old and new rows."""

from __future__ import annotations

import numpy as np
import pytest

from af_tui.analysis.classifier import (
    BOOTSTRAP_METHOD,
    BOOTSTRAP_RESAMPLES,
    auroc,
    auroc_by_request,
    best_threshold,
    cv_kappa,
    sweep,
)
from af_tui.analysis.judge_vs_people import judge_score
from af_tui.domain import Verdict
from af_tui.judge.vote import af_score

# Four requests, one sample each: (score, person says AF, request).
FOUR = [(0.9, True, "r1"), (0.6, False, "r2"), (0.4, True, "r3"), (0.1, False, "r4")]


def test_cv_kappa_by_hand():
    # In-sample the best threshold is 0.4 with kappa 0.5 (tp 2 fp 1 fn 0 tn 1; 0.9 ties it, the lower wins).
    best = best_threshold(sweep([(s, y) for s, y, _ in FOUR]))
    assert (best["threshold"], best["kappa"]) == (0.4, pytest.approx(0.5))
    # Four requests, five folds asked: leave one request out. Tuned on the other three, the thresholds are
    # 0.4 (holding r1: 0.9 called AF, tp), 0.4 (r2: 0.6 called AF, fp), 0.9 (r3: 0.4 not called, fn) and
    # 0.9 (r4: 0.1 not called, tn): tp fp fn tn = 1 1 1 1, kappa 0.
    cv = cv_kappa(FOUR)
    assert cv["folds"] == 4 and cv["n"] == 4 and cv["kappa"] == pytest.approx(0.0)
    # Folds are by request: two samples per request are held out together (tp fp fn tn = 2 2 2 2).
    twice = cv_kappa(FOUR + FOUR)
    assert twice["folds"] == 4 and twice["n"] == 8 and twice["kappa"] == pytest.approx(0.0)
    assert cv_kappa([(0.5, True, "only")])["kappa"] is None  # one request: nothing to hold out


def _brute_force_bootstrap(scores, resamples, seed):
    """The same resamples drawn as auroc_by_request draws them, each expanded into its samples and scored
    by the plain pairwise auroc()."""
    requests = list(dict.fromkeys(r for _, _, r in scores))
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(requests), np.full(len(requests), 1 / len(requests)), size=resamples)
    aucs = []
    for w in weights:
        drawn = [(s, y) for i, r in enumerate(requests) for _ in range(w[i]) for s, y, rr in scores if rr == r]
        value = auroc(drawn)["auroc"]
        if value is not None:
            aucs.append(value)
    return np.percentile(aucs, [2.5, 97.5])


def test_auroc_bootstrap_over_requests_matches_a_brute_force_resampling():
    rng = np.random.default_rng(7)
    scores = []
    for r in range(12):  # both tiers of each request judged, scores in twentieths as 20 votes give
        for _tier in range(2):
            y = bool(rng.random() < 0.5)
            scores.append((round(float(np.clip(rng.normal(0.65 if y else 0.35, 0.25), 0, 1)) * 20) / 20, y, r))
    roc = auroc_by_request(scores, resamples=300, seed=3)
    assert roc["auroc"] == pytest.approx(auroc([(s, y) for s, y, _ in scores])["auroc"])
    assert roc["method"] == BOOTSTRAP_METHOD and roc["requests"] == 12
    assert (roc["low"], roc["high"]) == pytest.approx(tuple(_brute_force_bootstrap(scores, 300, 3)), abs=1e-12)


def test_auroc_keeps_delong_when_no_request_repeats():
    scores = [(0.9, True, 1), (0.4, True, 2), (0.6, False, 3), (0.1, False, 4)]
    roc = auroc_by_request(scores)
    plain = auroc([(s, y) for s, y, _ in scores])
    assert roc["method"] == plain["method"] and (roc["low"], roc["high"]) == (plain["low"], plain["high"])
    assert BOOTSTRAP_RESAMPLES == 2000


def test_unclear_scores_the_same_in_old_and_new_rows():
    # A new row stores the share of votes saying AF: one unclear vote is 0. An old row (no score) reads alike.
    assert af_score([Verdict.UNCLEAR]) == 0.0
    assert judge_score(None, Verdict.UNCLEAR) == 0.0 == judge_score(0.0, Verdict.UNCLEAR)
    assert judge_score(None, Verdict.AF) == 1.0 and judge_score(None, Verdict.NOT_AF) == 0.0
    assert judge_score(None, None) is None


def test_stats_judges_bootstrap_and_cv_when_both_tiers_are_labeled(tmp_path, capsys):
    import json

    from builders import add_judgement, make_store, sample_id
    from helpers import af_main_output

    from af_tui.store.labels import save_label

    store = make_store(tmp_path / "c.sqlite", n_requests=8)
    for i in range(8):
        for tier, score, person in (("free", 0.2 + 0.1 * i, Verdict.AF if i % 2 else Verdict.NOT_AF),
                                    ("paid", 0.1 * i, Verdict.NOT_AF if i % 3 else Verdict.AF)):
            sid = sample_id(store, i, tier)
            add_judgement(store.conn, sid, Verdict.AF if score >= 0.5 else Verdict.NOT_AF, score=score)
            save_label(store.conn, sid, "ana", verdict=person)
    store.close()
    code, out, _ = af_main_output(capsys, "stats", "--db", str(tmp_path / "c.sqlite"), "--judges", "--json")
    assert code == 0
    ana = next(x for x in json.loads(out)["agreement"] if x["annotator"] == "ana")
    assert ana["roc"]["method"] == BOOTSTRAP_METHOD and ana["roc"]["requests"] == 8
    assert ana["best_cv"]["folds"] == 5 and ana["best_cv"]["n"] == 16
    code, out, _ = af_main_output(capsys, "stats", "--db", str(tmp_path / "c.sqlite"))
    assert "κ in-sample; CV" in out and "CV " in out
