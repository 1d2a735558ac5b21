"""Estimators over counts, pure (no I/O): Wilson intervals (and Wilson at a request-clustered effective
sample size), Newcombe's differences of proportions (paired and unpaired), the exact McNemar test, the
request-clustered t interval and MOVER for a difference of gaps.

Each is checked against scipy / statsmodels or a published worked example (tests/test_stats.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # scipy.stats.norm.ppf(0.975)


def format_p(p: float | None, *, named: bool = True) -> str:
    """The one way af-tui writes a p-value, on every screen and in every table: three decimals, and
    "< 0.001" below that (APA style). named: "p = 0.012" / "p < 0.001"; else "0.012" / "< 0.001" for a
    column already headed p. None (no test) is "–"."""
    if p is None or math.isnan(p):
        return "–"
    value = "< 0.001" if p < 0.001 else f"= {p:.3f}"
    return f"p {value}" if named else value.removeprefix("= ")


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: sorted ascending, the i-th smallest (from 0) times
    (m - i), made non-decreasing, capped at 1. The same figures as statsmodels' multipletests(method="holm")
    (tests/test_stats_clustered.py checks them against it), without its full garbage collection on every call,
    which held the GIL for 60-300 ms in the explorer's statistics worker and froze the screen meanwhile."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, p_values[i] * (m - rank)))
        adjusted[i] = running
    return adjusted


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for k of n (no continuity correction); None when n is 0."""
    if n <= 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    # Exact ends at 0 of n and n of n (the closed form leaves a rounding crumb there).
    return (0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half))


@dataclass(frozen=True)
class ClusterSums:
    """A proportion k/n whose samples fall into requests (clusters) g with k_g of n_g: the number of requests
    and the sums Σk_g², Σk_g·n_g, Σn_g², from which the request-clustered variance of k/n follows."""

    requests: int
    kk: float
    kn: float
    nn: float

    @classmethod
    def of(cls, per_request: list[tuple[int, int]]) -> ClusterSums:
        """From (k_g, n_g) per request (requests with n_g = 0 left out)."""
        per_request = [(k, n) for k, n in per_request if n > 0]
        return cls(len(per_request), math.fsum(k * k for k, _ in per_request),
                   math.fsum(k * n for k, n in per_request), math.fsum(n * n for _, n in per_request))


CLUSTERED_WILSON = "Wilson, effective n by request"


def effective_n(k: int, n: int, sums: ClusterSums) -> float:
    """n / design effect for k/n when samples share requests.

    The design effect is the request-clustered variance of k/n (the ratio estimator's linearised variance
    with the usual G/(G−1) correction, G requests: equal to statsmodels' OLS intercept with
    cov_type='cluster') over the binomial p(1−p)/n. It is kept within [1, n/G]: below 1 would claim more
    than independent samples, above n/G more than the within-request correlation of 1 allows (equal request
    sizes). With k = 0 or k = n the variance says nothing (it is 0 whatever the correlation): the effective n
    is then the number of requests, the cautious end, so that ten requests asked ten times and never
    complying read as ten requests never complying."""
    g = sums.requests
    floor = float(min(max(g, 1), n))
    if k <= 0 or k >= n or g < 2:
        return floor
    p = k / n
    resid = max(0.0, sums.kk - 2 * p * sums.kn + p * p * sums.nn)  # Σ (k_g − p·n_g)²
    var = g / (g - 1) * resid / (n * n)
    if var <= 0:
        return float(n)
    return min(float(n), max(floor, p * (1 - p) / var))


def clustered_wilson(k: int, n: int, sums: ClusterSums | None, z: float = Z95) -> tuple[float, float] | None:
    """Wilson's interval for k/n at the effective sample size (`effective_n`): the design-effect adjustment
    of survey statistics (Kish 1965; as in Korn & Graubard 1998 for Clopper–Pearson). Without sums (no
    request repeats) it is Wilson's interval over the samples."""
    if n <= 0:
        return None
    if sums is None:
        return wilson(k, n, z)
    n_eff = effective_n(k, n, sums)
    if n_eff >= n:
        return wilson(k, n, z)
    p = k / n
    denom = 1 + z * z / n_eff
    centre = (p + z * z / (2 * n_eff)) / denom
    half = z * math.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff * n_eff)) / denom
    return (0.0 if k == 0 else max(0.0, centre - half), 1.0 if k == n else min(1.0, centre + half))


@dataclass(frozen=True)
class Estimate:
    """A difference with its 95% interval and, when there is a test, its p-value."""

    estimate: float
    low: float | None  # None (with `note`) when the interval cannot be estimated
    high: float | None
    p_value: float | None = None
    method: str = ""
    note: str | None = None  # e.g. "not estimable: one request"

    @property
    def estimable(self) -> bool:
        return self.low is not None and self.high is not None


def newcombe_unpaired(k1: int, n1: int, k2: int, n2: int, z: float = Z95) -> Estimate | None:
    """k1/n1 − k2/n2 with Newcombe's (1998, method 10) hybrid score interval for independent proportions."""
    if n1 <= 0 or n2 <= 0:
        return None
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson(k1, n1, z)
    l2, u2 = wilson(k2, n2, z)
    d = p1 - p2
    return Estimate(d, d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2), None, "unpaired")


def newcombe_paired(a: int, b: int, c: int, d: int, z: float = Z95) -> Estimate | None:
    """Difference of paired proportions (a + b)/n − (a + c)/n, Newcombe (1998) method 10.

    a: both complied, b: only the first (free) complied, c: only the second (paid), d: neither. The
    correlation phi uses Newcombe's correction (ad − bc shrunk by n/2 when positive, kept when negative)."""
    n = a + b + c + d
    if n <= 0:
        return None
    diff, low, high = _newcombe_paired_interval(a, b, c, d, z)
    return Estimate(diff, low, high, mcnemar_exact(b, c), "paired")


def _newcombe_paired_interval(a: float, b: float, c: float, d: float, z: float) -> tuple[float, float, float]:
    """The difference and Newcombe's method-10 interval of newcombe_paired (counts may be scaled, non-integer)."""
    n = a + b + c + d
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson(a + b, n, z)
    l2, u2 = wilson(a + c, n, z)
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    phi = 0.0
    if margins:
        ad_bc = a * d - b * c
        corrected = ad_bc - n / 2 if ad_bc > n / 2 else (ad_bc if ad_bc < 0 else 0.0)
        phi = corrected / math.sqrt(margins)
    diff = p1 - p2
    dl, du = p1 - l1, u2 - p2
    el, eu = u1 - p1, p2 - l2
    low = diff - math.sqrt(max(0.0, dl * dl - 2 * phi * dl * du + du * du))
    high = diff + math.sqrt(max(0.0, el * el - 2 * phi * el * eu + eu * eu))
    return diff, max(-1.0, low), min(1.0, high)


def mcnemar_exact(b: int, c: int) -> float:
    """Exact McNemar p-value (two-sided) on the discordant pairs; 1.0 when there are none."""
    if b + c == 0:
        return 1.0
    # = scipy.stats.binomtest(b, b + c, 0.5).pvalue (the tests check it): with p = 1/2 the distribution is
    # symmetric, so the two-sided p is twice the smaller tail. The ufunc is far faster than binomtest
    # (bench/README.md), which matters for a live panel of many slices.
    from scipy.special import bdtr

    return float(min(1.0, 2.0 * bdtr(min(b, c), b + c, 0.5)))


# The fewest discordant pairs with which the exact McNemar test can reach p < 0.05: its smallest p-value is
# 2·½^(b+c) (every discordant pair one way), 0.0625 at 5 pairs and 0.031 at 6.
MIN_DISCORDANT = 6


def is_small_n(b: float, c: float) -> bool:
    """Whether a paired gap's interval and its McNemar test can disagree: with 1–5 discordant pairs the test
    cannot reach p < 0.05 whatever their split, while Newcombe's interval can exclude 0 (2 pairs, b = 2,
    c = 0: [+7.0, +100] pp with p = 0.5). With none discordant the estimate is 0 and both agree."""
    return 0 < round(b + c) < MIN_DISCORDANT


def scaled_paired(a: int, b: int, c: int, d: int, requests: int, estimate: float) -> Estimate | None:
    """A clustered gap whose requests all have the same difference (no spread for the t interval): Newcombe's
    paired interval and the exact McNemar test on the pair table scaled to one pair per request (`requests`
    over the pairs), the cautious end of the design effect, as the rates use. It is the single-epoch figure
    of the same requests when each request's pairs are alike."""
    n = a + b + c + d
    if n <= 0 or requests <= 0:
        return None
    k = requests / n
    _, low, high = _newcombe_paired_interval(a * k, b * k, c * k, d * k, Z95)
    return Estimate(estimate, low, high, mcnemar_exact(round(b * k), round(c * k)), "paired, clustered by request")


def clustered_gap(differences: list[float]) -> Estimate | None:
    """Mean of per-request differences with a one-sample t interval and t-test (requests as clusters)."""
    return clustered_gap_from_sums(len(differences), math.fsum(differences),
                                   math.fsum(x * x for x in differences))


def clustered_gap_from_sums(m: int, total: float, squares: float) -> Estimate | None:
    """clustered_gap from m requests, the sum of their differences and the sum of their squares (what the
    store's request_pairs table gives in one query).

    With one request, or every request giving the same difference, there is no spread to estimate: the
    interval and the test are None and `note` says why ("not estimable: …"), rather than a zero-width
    interval that would look like certainty. (For the second, slices.finish_slice then gives the single-epoch
    figure of the requests, `scaled_paired`.)"""
    if m <= 0:
        return None
    method = "paired, clustered by request"
    mean = total / m
    var = max(0.0, (squares - total * total / m) / (m - 1)) if m > 1 else 0.0
    if var <= 1e-12:
        why = "one request" if m == 1 else f"all {m} requests have the same difference"
        return Estimate(mean, None, None, None, method, f"not estimable: {why}")
    from scipy.special import stdtr, stdtrit  # Student t CDF and its inverse (ufuncs: fast for the panel)

    se = math.sqrt(var / m)
    t_crit = float(stdtrit(m - 1, 0.975))
    p = float(2 * stdtr(m - 1, -abs(mean / se)))
    return Estimate(mean, max(-1.0, mean - t_crit * se), min(1.0, mean + t_crit * se), p, method)


def mover_difference(a: Estimate, b: Estimate) -> Estimate:
    """a − b for two independent estimates with intervals (MOVER, Zou & Donner 2008); not estimable when
    either interval is not."""
    d = a.estimate - b.estimate
    if not (a.estimable and b.estimable):
        return Estimate(d, None, None, None, "MOVER, independent", "not estimable: a gap has no interval")
    low = d - math.hypot(a.estimate - a.low, b.high - b.estimate)
    high = d + math.hypot(a.high - a.estimate, b.estimate - b.low)
    return Estimate(d, low, high, None, "MOVER, independent")

