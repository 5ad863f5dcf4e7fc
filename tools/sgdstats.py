"""Statistics for sgdbench results: bootstrap intervals, two-sample comparisons, the batch-size
scaling fit S(B) = S_min (1 + B_crit / B), time to target, and tuning-budget curves.
Pure functions on numbers (numpy, scipy); knows nothing about result files (see sgdresults.py).
"""
import math

import numpy as np
from scipy import stats as _st


def _clean(values):
    x = np.asarray([v for v in values if v is not None], dtype=float)
    return x[np.isfinite(x)]


def bootstrap_ci(values, stat=np.mean, n=10000, alpha=0.05, seed=0):
    """Percentile bootstrap (1 - alpha) interval of stat(values): n resamples with replacement,
    drawn from numpy's PCG64 seeded with `seed`, so the same call gives the same interval.
    Returns (lo, hi); (v, v) for a single value; None for none. stat must accept axis=1."""
    x = _clean(values)
    if x.size == 0:
        return None
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    samples = x[rng.integers(0, x.size, size=(n, x.size))]
    s = np.asarray(stat(samples, axis=1), dtype=float)
    lo, hi = np.percentile(s, [50 * alpha, 100 - 50 * alpha])
    return float(lo), float(hi)


def compare(a, b):
    """Two independent samples (e.g. one number per seed for two methods).

    Returns a dict: n_a, n_b, mean_a, mean_b; u (Mann-Whitney U of a: the number of pairs (x in a,
    y in b) with x > y, ties counting one half); p_mw (two-sided Mann-Whitney p, scipy's 'auto'
    method: exact for small samples without ties, else the tie-corrected normal approximation); cles (the
    common-language effect size P(x > y) + P(x = y)/2 = u / (n_a n_b)); rank_biserial (2 cles - 1,
    in [-1, 1]: +1 when every a exceeds every b); p_welch (two-sided Welch t-test, None when both
    samples have zero variance or n < 2)."""
    x, y = _clean(a), _clean(b)
    if x.size == 0 or y.size == 0:
        raise ValueError("compare() needs at least one value in each sample")
    res = _st.mannwhitneyu(x, y, alternative="two-sided")
    u = float(res.statistic)
    cles = u / (x.size * y.size)
    p_welch = None
    if x.size >= 2 and y.size >= 2 and (np.var(x) > 0 or np.var(y) > 0):
        p_welch = float(_st.ttest_ind(x, y, equal_var=False).pvalue)
    return {"n_a": int(x.size), "n_b": int(y.size), "mean_a": float(x.mean()), "mean_b": float(y.mean()),
            "u": u, "p_mw": float(res.pvalue), "cles": cles, "rank_biserial": 2 * cles - 1, "p_welch": p_welch}


def fit_batch_scaling(B, S):
    """Least-squares fit of S(B) = S_min (1 + B_crit / B), i.e. S = S_min + (S_min B_crit) / B,
    linear in 1/B. Residuals are relative ((S_i - fit_i) / S_i), since steps to target spread
    over orders of magnitude and their noise grows with them. Returns (S_min, B_crit), or None
    with fewer than two distinct batch sizes or when the fit is not of that shape (S_min <= 0
    or B_crit <= 0: steps that do not fall with the batch size)."""
    B, S = np.asarray(B, dtype=float), np.asarray(S, dtype=float)
    ok = np.isfinite(B) & np.isfinite(S) & (B > 0) & (S > 0)
    B, S = B[ok], S[ok]
    if np.unique(B).size < 2:
        return None
    A = np.column_stack([np.ones_like(B), 1.0 / B]) / S[:, None]
    (s_min, slope), *_ = np.linalg.lstsq(A, np.ones_like(S), rcond=None)
    if s_min <= 0 or slope <= 0:
        return None
    return float(s_min), float(slope / s_min)


def scaling_curve(B, s_min, b_crit):
    """S(B) of the fit, at each batch size in B."""
    return s_min * (1.0 + b_crit / np.asarray(B, dtype=float))


def fit_batch_scaling_bootstrap(per_batch, n=2000, alpha=0.05, seed=0):
    """per_batch: {B: [S of each seed]}. Fits the seed means, then resamples the seeds within each
    batch size (with replacement, n times, seeded), refits, and takes percentile intervals.
    Returns None when the point fit fails, else a dict: s_min, b_crit, s_min_ci, b_crit_ci
    ((lo, hi), or None when no batch size has two seeds), boot_ok (resamples whose fit succeeded)."""
    Bs = sorted(b for b, v in per_batch.items() if _clean(v).size)
    vals = [_clean(per_batch[b]) for b in Bs]
    fit = fit_batch_scaling(Bs, [v.mean() for v in vals])
    if fit is None:
        return None
    out = {"s_min": fit[0], "b_crit": fit[1], "s_min_ci": None, "b_crit_ci": None, "boot_ok": 0}
    if max(v.size for v in vals) < 2:
        return out
    rng = np.random.default_rng(seed)
    means = np.column_stack([v[rng.integers(0, v.size, size=(n, v.size))].mean(axis=1) for v in vals])
    fits = [f for f in (fit_batch_scaling(Bs, m) for m in means) if f is not None]
    out["boot_ok"] = len(fits)
    if fits:
        f = np.asarray(fits)
        q = [50 * alpha, 100 - 50 * alpha]
        out["s_min_ci"] = tuple(float(v) for v in np.percentile(f[:, 0], q))
        out["b_crit_ci"] = tuple(float(v) for v in np.percentile(f[:, 1], q))
    return out


def time_to_target(B, S, t):
    """T(B) = S(B) * t(B) (steps to target times seconds per step) at each batch size.
    Returns (T list, the batch size with the smallest T)."""
    T = [s * x for s, x in zip(S, t)]
    i = min(range(len(T)), key=lambda j: T[j])
    return T, B[i]


def expected_best_of_k(scores, k, higher_is_better=True):
    """Exact expected best score after k draws, uniform with replacement, from a grid whose
    outcomes are `scores`: with x_(1) <= ... <= x_(n), P(max <= x_(i)) = (i/n)^k, so
    E[max] = sum_i x_(i) ((i/n)^k - ((i-1)/n)^k). Lower-is-better scores use the minimum."""
    x = sorted(scores) if higher_is_better else sorted((-v for v in scores))
    n = len(x)
    if n == 0 or k < 1:
        raise ValueError("expected_best_of_k needs a non-empty grid and k >= 1")
    e = math.fsum(v * ((i / n) ** k - ((i - 1) / n) ** k) for i, v in enumerate(x, start=1))
    return e if higher_is_better else -e


def tuning_curve(scores_per_seed, K=None, higher_is_better=True):
    """Expected best score after k = 1..K random learning-rate draws: computed exactly on each
    seed's grid of scores, then averaged over seeds. K defaults to the largest grid."""
    grids = [list(g) for g in scores_per_seed if len(g)]
    if not grids:
        return []
    K = K or max(len(g) for g in grids)
    return [float(np.mean([expected_best_of_k(g, k, higher_is_better) for g in grids])) for k in range(1, K + 1)]


def regime_bounds(b_crit, tolerance=0.1):
    """Batch sizes that bound the three regimes of S(B) = S_min (1 + B_crit/B): below
    tolerance*B_crit S is within 10% of perfect scaling (S_min B_crit / B); above B_crit/tolerance
    it is within 10% of S_min (maximal data parallelism); diminishing returns in between."""
    return tolerance * b_crit, b_crit / tolerance
