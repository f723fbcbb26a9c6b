"""The statistics behind the gates, decided on paired data.

- ``wilson_interval``: a proportion's confidence interval (absolute gates on pass rates).
- ``mcnemar_exact``: exact McNemar test on discordant pairs (two-sided p-value).
- ``paired_binary_difference``: difference of pass rates on the same cases with an exact
  interval conditional on the discordant pairs (Clopper-Pearson on b/(b+c)), the interval
  that matches the exact McNemar test.
- ``paired_bootstrap``: percentile bootstrap interval of the mean paired difference for
  continuous scores.
- ``non_inferiority``: PASS when the whole interval lies above -margin, FAIL when it lies
  below, INCONCLUSIVE when it straddles (the sample is too small to decide).

Checked against SciPy in tests/test_stats.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PASS, FAIL, INCONCLUSIVE, SKIPPED = "PASS", "FAIL", "INCONCLUSIVE", "SKIPPED"


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    from scipy.stats import norm

    z = norm.ppf(1 - (1 - confidence) / 2)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value: b ~ Binomial(b + c, 1/2) under no difference."""
    n = b + c
    if n == 0:
        return 1.0
    from scipy.stats import binom

    k = min(b, c)
    return min(1.0, 2 * binom.cdf(k, n, 0.5))


def clopper_pearson(k: int, n: int, confidence: float) -> tuple[float, float]:
    from scipy.stats import beta

    alpha = 1 - confidence
    lo = 0.0 if k == 0 else beta.ppf(alpha / 2, k, n - k + 1)
    hi = 1.0 if k == n else beta.ppf(1 - alpha / 2, k + 1, n - k)
    return float(lo), float(hi)


@dataclass
class Difference:
    estimate: float  # candidate minus baseline
    low: float
    high: float
    n: int
    method: str
    p_value: float | None = None
    detail: dict | None = None

    def as_dict(self) -> dict:
        return {"estimate": self.estimate, "ci_low": self.low, "ci_high": self.high, "n": self.n,
                "method": self.method, "p_value": self.p_value, **(self.detail or {})}


def paired_binary_difference(candidate: list[bool], baseline: list[bool], confidence: float = 0.95) -> Difference:
    """Pass-rate difference on the same cases, exact interval from the discordant pairs."""
    if len(candidate) != len(baseline):
        raise ValueError("paired data must have the same length")
    n = len(candidate)
    b = sum(1 for x, y in zip(candidate, baseline) if x and not y)  # candidate better
    c = sum(1 for x, y in zip(candidate, baseline) if y and not x)  # baseline better
    if n == 0:
        return Difference(0.0, -1.0, 1.0, 0, "mcnemar-exact", 1.0, {"b": 0, "c": 0})
    d = b + c
    estimate = (b - c) / n
    if d == 0:
        low = high = 0.0
    else:
        lo, hi = clopper_pearson(b, d, confidence)
        low, high = d / n * (2 * lo - 1), d / n * (2 * hi - 1)
    return Difference(estimate, low, high, n, "mcnemar-exact", mcnemar_exact(b, c), {"b": b, "c": c})


def paired_bootstrap(candidate: list[float], baseline: list[float], confidence: float = 0.95,
                     resamples: int = 4000, seed: int = 0) -> Difference:
    """Percentile bootstrap interval of the mean paired difference (resampling cases)."""
    import numpy as np

    if len(candidate) != len(baseline):
        raise ValueError("paired data must have the same length")
    diffs = np.asarray(candidate, dtype=float) - np.asarray(baseline, dtype=float)
    n = len(diffs)
    if n == 0:
        return Difference(0.0, -1.0, 1.0, 0, "paired-bootstrap")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    means = diffs[idx].mean(axis=1)
    alpha = 1 - confidence
    low, high = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return Difference(float(diffs.mean()), float(low), float(high), n, "paired-bootstrap",
                      detail={"resamples": resamples, "seed": seed})


def non_inferiority(diff: Difference, margin: float, min_samples: int) -> tuple[str, str]:
    """(verdict, reason) for H0: candidate worse than baseline by more than ``margin``."""
    if diff.n < min_samples:
        return INCONCLUSIVE, f"only {diff.n} paired cases (policy needs at least {min_samples})"
    ci = f"difference {diff.estimate:+.3f}, CI [{diff.low:+.3f}, {diff.high:+.3f}]"
    if diff.low > -margin:
        return PASS, f"non-inferior: {ci} lies above -{margin:g}"
    if diff.high < -margin:
        return FAIL, f"worse than baseline: {ci} lies below -{margin:g}"
    return INCONCLUSIVE, f"cannot decide: {ci} contains -{margin:g} (more cases would decide)"


def quantile_interval(values: list[float], q: float, confidence: float = 0.95, seed: int = 0,
                      resamples: int = 2000) -> dict:
    """The ``q`` quantile of ``values`` with a percentile-bootstrap confidence interval."""
    import numpy as np

    data = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    boot = np.quantile(data[rng.integers(0, len(data), size=(resamples, len(data)))], q, axis=1)
    alpha = (1 - confidence) / 2
    return {"value": float(np.quantile(data, q)), "ci_low": float(np.quantile(boot, alpha)),
            "ci_high": float(np.quantile(boot, 1 - alpha))}
