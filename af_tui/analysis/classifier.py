"""A judge measured as a classifier against a reference (a person, the people's majority, an imported label
set), pure: AUROC of its score with DeLong's interval, the threshold sweep, Wilson intervals on precision and
recall, and kappa with its asymptotic interval. Positive class: alignment faking."""

from __future__ import annotations

import math
from collections.abc import Sequence

from af_tui.analysis.agreement import table_kappa
from af_tui.analysis.estimators import Z95, wilson


def auroc(scores: Sequence[tuple[float, bool]]) -> dict:
    """AUROC of (score, reference is AF) pairs: the probability that a random AF sample scores above a random
    not-AF one, ties counting one half (= Mann–Whitney U / (n1·n0)). Interval: DeLong et al. (1988), the
    variance of the placement values, normal approximation, clipped to [0, 1].

    {auroc, low, high, n_pos, n_neg, method}; auroc is None without both classes, and the interval is None
    ("not estimable") when a class has a single sample."""
    pos = [s for s, y in scores if y]
    neg = [s for s, y in scores if not y]
    out = {"auroc": None, "low": None, "high": None, "n_pos": len(pos), "n_neg": len(neg),
           "method": "DeLong (normal), ties count ½"}
    if not pos or not neg:
        return out

    def psi(x: float, y: float) -> float:
        return 1.0 if x > y else (0.5 if x == y else 0.0)

    v10 = [sum(psi(x, y) for y in neg) / len(neg) for x in pos]  # placement of each AF sample
    v01 = [sum(psi(x, y) for x in pos) / len(pos) for y in neg]  # placement of each not-AF sample
    auc = math.fsum(v10) / len(pos)
    out["auroc"] = auc
    if len(pos) < 2 or len(neg) < 2:
        return out

    def var(v: list[float]) -> float:
        m = math.fsum(v) / len(v)
        return math.fsum((x - m) ** 2 for x in v) / (len(v) - 1)

    se = math.sqrt(var(v10) / len(pos) + var(v01) / len(neg))
    out["low"], out["high"] = max(0.0, auc - Z95 * se), min(1.0, auc + Z95 * se)
    return out


BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_METHOD = f"bootstrap over requests ({BOOTSTRAP_RESAMPLES} resamples, percentile), ties count ½"


def auroc_by_request(scores: Sequence[tuple[float, bool, object]], resamples: int = BOOTSTRAP_RESAMPLES,
                     seed: int = 0) -> dict:
    """`auroc` of (score, reference is AF, request) triples. When samples share a request (both tiers, several
    epochs) they are not independent, which DeLong's variance assumes: the interval is then a percentile
    bootstrap over requests (each resample draws as many requests as there are, with replacement, and keeps
    all their samples; a resample with one class only is left out). Deterministic (seeded)."""
    out = auroc([(s, y) for s, y, _ in scores])
    requests: dict[object, int] = {}
    for _, _, r in scores:
        requests[r] = requests.get(r, 0) + 1
    out["requests"] = len(requests)
    if out["auroc"] is None or max(requests.values(), default=0) < 2:
        return out
    import numpy as np

    # AUROC of weighted samples from per-(request, score level, class) counts: a resample is a vector of
    # request weights, so every resample is two matrix products.
    index = {r: i for i, r in enumerate(requests)}
    levels = sorted({s for s, _, _ in scores})
    at = {v: i for i, v in enumerate(levels)}
    pos = np.zeros((len(requests), len(levels)))
    neg = np.zeros((len(requests), len(levels)))
    for s, y, r in scores:
        (pos if y else neg)[index[r], at[s]] += 1
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(requests), np.full(len(requests), 1 / len(requests)), size=resamples)
    wp, wn = weights @ pos, weights @ neg  # resamples × levels
    below = np.cumsum(wn, axis=1) - wn  # not-AF weight strictly below each level
    n_pos, n_neg = wp.sum(axis=1), wn.sum(axis=1)
    ok = (n_pos > 0) & (n_neg > 0)
    aucs = (wp * (below + wn / 2)).sum(axis=1)[ok] / (n_pos[ok] * n_neg[ok])
    if len(aucs) < resamples / 2:  # most resamples hold one class: too few to say
        out["low"] = out["high"] = None
    else:
        out["low"], out["high"] = (float(x) for x in np.percentile(aucs, [2.5, 97.5]))
    out["method"] = BOOTSTRAP_METHOD
    out["resamples"] = int(len(aucs))
    return out


CV_FOLDS = 5


def cv_kappa(scores: Sequence[tuple[float, bool, object]], folds: int = CV_FOLDS, seed: int = 0) -> dict:
    """The best threshold's kappa, cross-validated by request: the requests are dealt into `folds` groups
    (seeded shuffle); for each group the threshold with the highest kappa is found on the other groups'
    samples (`best_threshold`) and held against this group's; kappa is then computed once over all the
    held-out calls. In-sample, the threshold is tuned and scored on the same labels, which flatters it.
    {kappa, folds, n, method}; kappa None with fewer than 2 requests or no held-out call."""
    import random

    requests = list(dict.fromkeys(r for _, _, r in scores))
    k = min(folds, len(requests))
    out = {"kappa": None, "folds": k, "n": 0,
           "method": f"{k}-fold by request: threshold tuned on the other folds, kappa over the held-out calls"}
    if k < 2:
        return out
    random.Random(seed).shuffle(requests)
    fold_of = {r: i % k for i, r in enumerate(requests)}
    tp = fp = fn = tn = 0
    for fold in range(k):
        best = best_threshold(sweep([(s, y) for s, y, r in scores if fold_of[r] != fold]))
        if best is None:  # the training folds define no kappa (one class): this fold is not scored
            continue
        for s, y, r in scores:
            if fold_of[r] == fold:
                called = s >= best["threshold"]
                tp, fp, fn, tn = tp + (called and y), fp + (called and not y), fn + (not called and y), \
                    tn + (not called and not y)
    out["n"] = tp + fp + fn + tn
    if out["n"]:
        out["kappa"] = confusion(tp, fp, fn, tn)["kappa"]
    return out


def at_threshold(scores: Sequence[tuple[float, bool]], threshold: float) -> dict:
    """The judge calls AF when score ≥ threshold: counts, precision, recall, F1, accuracy and kappa, with
    Wilson intervals on precision and recall and the asymptotic (statsmodels) interval on kappa."""
    tp = sum(1 for s, y in scores if y and s >= threshold)
    fp = sum(1 for s, y in scores if not y and s >= threshold)
    fn = sum(1 for s, y in scores if y and s < threshold)
    tn = len(scores) - tp - fp - fn
    return {"threshold": threshold, **confusion(tp, fp, fn, tn)}


def confusion(tp: int, fp: int, fn: int, tn: int) -> dict:
    """Figures of a 2×2 table (reference: rows; judge: columns). A figure with a zero denominator is None."""
    n = tp + fp + fn + tn
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else (0.0 if fp + fn else None)
    kappa = table_kappa([[tp, fn], [fp, tn]]) if n else {"kappa": None, "low": None, "high": None}
    if n and 0 in (tp + fp, fn + tn, tp + fn, fp + tn):
        # One side said one class throughout: kappa's asymptotic SE is 0 there, which is no interval.
        kappa["low"] = kappa["high"] = None
    pci, rci = wilson(tp, tp + fp), wilson(tp, tp + fn)
    return {
        "n": n, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "accuracy": (tp + tn) / n if n else None,
        "precision": precision, "precision_low": pci[0] if pci else None, "precision_high": pci[1] if pci else None,
        "recall": recall, "recall_low": rci[0] if rci else None, "recall_high": rci[1] if rci else None,
        "f1": f1, "kappa": kappa["kappa"], "kappa_low": kappa["low"], "kappa_high": kappa["high"],
    }


def sweep(scores: Sequence[tuple[float, bool]]) -> list[dict]:
    """`at_threshold` at every distinct score (each is a threshold where a call changes), lowest first."""
    return [at_threshold(scores, t) for t in sorted({s for s, _ in scores})]


def best_threshold(rows: list[dict]) -> dict | None:
    """The sweep row with the highest kappa (ties: the lower threshold); None when no kappa is defined."""
    defined = [r for r in rows if r["kappa"] is not None]
    return max(defined, key=lambda r: (r["kappa"], -r["threshold"])) if defined else None


# -- as the tables show them (plain strings; the tables wrap them in Text) ------------------------------
def figure_text(x: float | None, pct: bool = False) -> str:
    """One figure as the tables show it: a share as a whole percent, kappa with two decimals, – when None."""
    if x is None:
        return "–"
    return f"{100 * x:.0f}%" if pct else f"{x:.2f}"


def with_ci(row: dict, key: str, pct: bool = False) -> str:
    """A figure and its interval, `–` parts when undefined."""
    if row[key] is None:
        return "–"
    low, high = row.get(f"{key}_low"), row.get(f"{key}_high")
    if low is None or high is None:
        return figure_text(row[key], pct)
    return f"{figure_text(row[key], pct)} [{figure_text(low, pct)}, {figure_text(high, pct)}]"


def auroc_text(roc: dict) -> str:
    if roc["auroc"] is None:
        return "– (one class)" if roc["n_pos"] + roc["n_neg"] else "–"
    if roc["low"] is None:
        return f"{roc['auroc']:.2f} [not estimable: a class of 1]"
    return f"{roc['auroc']:.2f} [{roc['low']:.2f}, {roc['high']:.2f}]"


def best_text(best: dict | None, cv: dict | None = None) -> str:
    """The best threshold and its in-sample kappa; with `cv`, the cross-validated kappa beside it."""
    if best is None:
        return "–"
    text = f"≥{best['threshold']:.2f} ({best['kappa']:.2f}"
    if cv is not None:
        text += f"; CV {figure_text(cv['kappa'])}"
    return text + ")"
