"""inferlab.bench.stats: order-statistic and bootstrap CIs against scipy and seeded simulations."""

import math

import numpy as np
import pytest
from scipy import stats as sps

from inferlab.bench import stats
from inferlab.errors import InvalidValueError

# A lognormal(mu, sigma) has median exp(mu) and q-quantile exp(mu + sigma * z_q): the truth the
# intervals must cover. Timings look like this (skewed, heavy right tail).
MU, SIGMA = -7.0, 0.5


def true_quantile(q: float) -> float:
    return math.exp(MU + SIGMA * sps.norm.ppf(q))


@pytest.mark.parametrize("n", [1, 5, 6, 7, 10, 51, 100, 368, 1000, 5000])
@pytest.mark.parametrize("q", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_ranks_match_scipy_binomial(n, q, level):
    low, high, coverage = stats.order_statistic_ranks(n, q, level)
    alpha = 1 - level
    assert low == int(sps.binom.ppf(alpha / 2, n, q))
    assert high == min(int(sps.binom.ppf(1 - alpha / 2, n, q)) + 1, n + 1)
    # P(X_(l) <= true quantile <= X_(u)) = P(l <= B <= u - 1), B ~ Binomial(n, q)
    exact = sps.binom.cdf(high - 1, n, q) - (sps.binom.cdf(low - 1, n, q) if low >= 1 else 0.0)
    assert coverage == pytest.approx(exact, abs=1e-9)
    assert coverage >= level - 1e-12


def test_binomial_cdf_large_n_does_not_underflow():
    cdf = stats._binomial_cdf(100_000, 0.5)
    assert cdf[-1] == pytest.approx(1.0)
    k = np.arange(49_000, 51_000, 250)
    np.testing.assert_allclose(cdf[k], sps.binom.cdf(k, 100_000, 0.5), atol=1e-9)


def test_min_samples_closed_form():
    # (1 - level)/2 = 0.025: the median needs 0.5**n <= 0.025 (n = 6), the p99 0.99**n (n = 368)
    assert stats.min_samples(0.5) == 6
    assert stats.min_samples(0.99) == 368
    for q, level in [(0.5, 0.99), (0.9, 0.95), (0.01, 0.95), (0.999, 0.9)]:
        n = stats.min_samples(q, level)
        x = np.arange(1.0, n + 1)
        assert stats.quantile_ci(x, q, level).bounded
        assert not stats.quantile_ci(x[:-1], q, level).bounded


def test_quantile_ci_small_samples_are_unbounded():
    ci = stats.quantile_ci([3.0, 1.0, 2.0, 5.0, 4.0], 0.5)  # 5 < 6 samples
    assert ci.low == -math.inf and ci.high == math.inf and not ci.bounded
    assert ci.estimate == 3.0
    ci = stats.quantile_ci(np.arange(1.0, 101.0), 0.99)  # an upper bound needs 368
    assert math.isfinite(ci.low) and ci.high == math.inf


def test_quantile_ci_closed_form_six_samples():
    # n = 6, median: ranks (1, 6), coverage 1 - 2 / 64 = 0.96875
    ci = stats.quantile_ci([6.0, 2.0, 4.0, 1.0, 5.0, 3.0], 0.5, 0.95)
    assert (ci.low, ci.high, ci.estimate) == (1.0, 6.0, 3.5)
    assert ci.coverage == pytest.approx(1 - 2 / 64)
    assert ci.n == 6 and ci.q == 0.5 and ci.method == "order statistics"
    assert 3.5 in ci and 7.0 not in ci
    assert "95% CI" in str(ci)


def _coverage(n, q, method, trials=200):
    hits = 0
    for seed in range(trials):
        x = np.random.default_rng(seed).lognormal(MU, SIGMA, n)
        if method == "order":
            ci = stats.quantile_ci(x, q, 0.95)
        else:
            ci = stats.bootstrap_ci(x, q, 0.95, n_boot=1000, seed=seed)
        hits += true_quantile(q) in ci
    return hits / trials


@pytest.mark.parametrize(
    ("n", "q", "method"),
    [(11, 0.5, "order"), (51, 0.5, "order"), (1000, 0.99, "order"), (51, 0.5, "bootstrap")],
)
def test_ci_covers_true_quantile_of_seeded_lognormal(n, q, method):
    assert _coverage(n, q, method) >= 0.90  # level 0.95; 200 seeded trials


def test_order_ci_is_not_absurdly_wide():
    x = np.random.default_rng(0).lognormal(MU, SIGMA, 1001)
    ci = stats.quantile_ci(x, 0.5)
    # the median of 1001 samples: ranks ~ 501 ± 31, so about ±0.06 sigma in the log domain
    assert 0 < math.log(ci.high / ci.low) < 0.15


def test_bootstrap_is_seeded_and_reproducible():
    x = np.random.default_rng(1).lognormal(MU, SIGMA, 40)
    a = stats.bootstrap_ci(x, 0.5, seed=3)
    b = stats.bootstrap_ci(x, 0.5, seed=3)
    c = stats.bootstrap_ci(x, 0.5, seed=4)
    assert a == b and a != c
    assert a.low <= a.estimate <= a.high and a.method == "bootstrap"


def test_ratio_ci_covers_known_ratio():
    hits = 0
    for seed in range(100):
        rng = np.random.default_rng(seed)
        slow = 2.0 * rng.lognormal(MU, SIGMA, 41)  # true median ratio: exactly 2
        fast = rng.lognormal(MU, SIGMA, 41)
        hits += 2.0 in stats.ratio_ci(slow, fast, n_boot=500, seed=seed)
    assert hits >= 88


def test_mad_and_outliers_closed_form():
    x = [1.0, 2.0, 3.0, 4.0, 100.0]
    assert stats.mad(x) == 1.0  # |x - 3| = 2, 1, 0, 1, 97 -> median 1
    # threshold 3 + 3.5 * 1 / 0.6745 = 8.19: only 100 is slow; fast values never count
    assert stats.outlier_mask(x).tolist() == [False, False, False, False, True]
    assert stats.outlier_mask([-100.0, 1.0, 2.0, 3.0, 4.0]).tolist() == [False] * 5
    # MAD = 0 (most samples equal): the mean absolute deviation stands in
    assert stats.outlier_mask([1.0, 1.0, 1.0, 1.0, 100.0]).tolist() == [False] * 4 + [True]
    assert not stats.outlier_mask([2.0] * 5).any()
    # rel: also at least 5 % above the median
    assert not stats.outlier_mask([1.0, 1.001, 1.002, 1.001, 1.02], rel=0.05).any()
    assert stats.outlier_mask([1.0, 1.001, 1.002, 1.001, 1.02], rel=0.0)[-1]


def test_quantile_matches_numpy():
    x = np.random.default_rng(2).random(17)
    for q in (0.0, 0.25, 0.5, 0.99, 1.0):
        assert stats.quantile(x, q) == pytest.approx(np.quantile(x, q))


@pytest.mark.parametrize(
    "call",
    [
        lambda: stats.quantile_ci([], 0.5),
        lambda: stats.quantile_ci([1.0, float("nan")], 0.5),
        lambda: stats.quantile_ci([[1.0, 2.0]], 0.5),
        lambda: stats.quantile_ci(["a"], 0.5),
        lambda: stats.quantile_ci([1.0, 2.0], 1.0),
        lambda: stats.quantile_ci([1.0, 2.0], 0.5, level=95),
        lambda: stats.quantile_ci([1.0, 2.0], 0.5, level=True),
        lambda: stats.order_statistic_ranks(0, 0.5),
        lambda: stats.order_statistic_ranks(2.5, 0.5),
        lambda: stats.min_samples(0.0),
        lambda: stats.bootstrap_ci([1.0, 2.0], n_boot=10),
        lambda: stats.ratio_ci([1.0], [0.0]),
        lambda: stats.outlier_mask([1.0, 2.0], k=0),
        lambda: stats.outlier_mask([1.0, 2.0], rel=-1),
        lambda: stats.quantile([1.0], 2),
    ],
)
def test_bad_arguments_raise_invalid_value(call):
    with pytest.raises(InvalidValueError):
        call()
