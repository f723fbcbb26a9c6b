"""The gate statistics, checked against SciPy on known inputs."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as sps

from llmops_ci.evaluation.stats import (FAIL, INCONCLUSIVE, PASS, clopper_pearson, mcnemar_exact, non_inferiority,
                                        paired_binary_difference, paired_bootstrap, wilson_interval)


@pytest.mark.parametrize("b, c", [(0, 0), (5, 1), (1, 5), (10, 10), (3, 17), (40, 22)])
def test_mcnemar_exact_matches_scipy_binomtest(b, c):
    expected = 1.0 if b + c == 0 else sps.binomtest(b, b + c, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-12)


def test_mcnemar_known_value():
    # b=1, c=9: p = 2 * P(X <= 1 | n=10, 1/2) = 2 * 11/1024
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)


@pytest.mark.parametrize("k, n", [(0, 10), (3, 10), (10, 10), (17, 40)])
def test_clopper_pearson_matches_scipy(k, n):
    ci = sps.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert clopper_pearson(k, n, 0.95) == pytest.approx((ci.low, ci.high), abs=1e-12)


def test_wilson_matches_scipy():
    ci = sps.binomtest(33, 40).proportion_ci(confidence_level=0.95, method="wilson")
    assert wilson_interval(33, 40) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_paired_binary_difference_counts_discordant_pairs():
    cand = [True] * 30 + [False] * 2 + [True] * 6 + [False] * 2
    base = [True] * 30 + [True] * 2 + [False] * 6 + [False] * 2
    d = paired_binary_difference(cand, base)
    assert d.detail == {"b": 6, "c": 2} and d.n == 40
    assert d.estimate == pytest.approx(4 / 40)
    lo, hi = clopper_pearson(6, 8, 0.95)
    assert (d.low, d.high) == pytest.approx((8 / 40 * (2 * lo - 1), 8 / 40 * (2 * hi - 1)))
    assert d.p_value == pytest.approx(sps.binomtest(6, 8, 0.5).pvalue)


def test_paired_bootstrap_agrees_with_scipy_bootstrap():
    rng = np.random.default_rng(1)
    base = rng.uniform(0, 1, 200)
    cand = base + rng.normal(0.05, 0.1, 200)
    ours = paired_bootstrap(list(cand), list(base), resamples=8000, seed=3)
    ref = sps.bootstrap((cand - base,), np.mean, confidence_level=0.95, n_resamples=8000, method="percentile",
                        random_state=np.random.default_rng(3))
    assert ours.estimate == pytest.approx(float(np.mean(cand - base)))
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.004)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.004)


def test_paired_bootstrap_matches_closed_form_for_large_n():
    rng = np.random.default_rng(7)
    d = rng.normal(0.02, 0.2, 3000)
    ours = paired_bootstrap(list(d), [0.0] * len(d), resamples=4000, seed=0)
    se = d.std(ddof=0) / np.sqrt(len(d))
    assert ours.low == pytest.approx(d.mean() - 1.96 * se, abs=0.0015)
    assert ours.high == pytest.approx(d.mean() + 1.96 * se, abs=0.0015)


def test_non_inferiority_three_outcomes():
    same = [True] * 200
    assert non_inferiority(paired_binary_difference(same, same), 0.05, 20)[0] == PASS
    worse = paired_binary_difference([False] * 100 + [True] * 100, [True] * 200)
    assert non_inferiority(worse, 0.05, 20)[0] == FAIL
    small = paired_binary_difference([True, False, True, True], [True, True, True, True])
    assert non_inferiority(small, 0.05, 20)[0] == INCONCLUSIVE
    # enough cases, but an interval that straddles -margin
    straddle = paired_binary_difference([False] * 4 + [True] * 36, [True] * 40)
    verdict, reason = non_inferiority(straddle, 0.05, 20)
    assert verdict == INCONCLUSIVE and "contains -0.05" in reason
