"""A small Gaussian-process regression model for the Bayesian sampler: a Matérn-5/2 kernel
with one length scale per input, hyperparameters fitted by maximum a posteriori with
analytic gradients, and the log expected improvement with its gradient in the inputs.

Inputs live in the unit cube; outputs are already transformed and standardised by the
caller, so the prior mean is zero and the signal variance is near one.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import linalg, optimize, special

_SQRT5 = math.sqrt(5.0)
_MIN_NOISE = 1e-6
_JITTER = 1e-8


def _matern(X1: np.ndarray, X2: np.ndarray, inv_ls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Correlation matrix (unit signal variance) and the scaled distances r."""
    A, B = X1 * inv_ls, X2 * inv_ls
    sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    r = np.sqrt(np.maximum(sq, 0.0))
    e = np.exp(-_SQRT5 * r)
    return (1.0 + _SQRT5 * r + (5.0 / 3.0) * sq.clip(min=0.0)) * e, r


def _lengthscale_prior(dims: int) -> tuple[float, float]:
    """Location and scale of a log-normal prior on each length scale. Its median grows as
    the square root of the number of inputs, so that more inputs do not make the model
    assume a rougher function (Hvarfner, Hellsten and Nardi, 2024); the base, a median of
    0.56·sqrt(d) on the unit cube, is shorter than theirs (4.1·sqrt(d)): with theirs the
    model stayed too smooth on Hartmann-6 and LCBench (benchmarks/RESULTS.md)."""
    return math.sqrt(2.0) - 2.0 + 0.5 * math.log(max(dims, 1)), math.sqrt(3.0)


# priors on log signal variance and log noise variance (outputs are standardised)
_SIGNAL_PRIOR = (0.0, 1.0)
_NOISE_PRIOR = (-4.0, 1.0)


class GaussianProcess:
    """A fitted GP: ``GaussianProcess.fit(X, y, rng)``, then ``predict`` and ``log_ei``."""

    def __init__(self, X: np.ndarray, y: np.ndarray, log_ls: np.ndarray, log_signal: float,
                 log_noise: float, exact: int = 0) -> None:
        """``exact``: how many of the last rows are fantasies, known without noise."""
        self.X, self.y = X, y
        self.log_ls, self.log_signal, self.log_noise = log_ls, log_signal, log_noise
        self.exact = exact
        self.inv_ls = np.exp(-log_ls)
        self.signal = math.exp(log_signal)
        self.noise = math.exp(log_noise) + _MIN_NOISE
        K, _ = _matern(X, X, self.inv_ls)
        K = self.signal * K
        noise = np.full(len(X), self.noise + _JITTER)
        if exact:
            noise[len(X) - exact:] = _MIN_NOISE
        K[np.diag_indices_from(K)] += noise
        self.L = linalg.cholesky(K, lower=True)
        self.alpha = linalg.cho_solve((self.L, True), y)

    # -- fitting ---------------------------------------------------------------------------
    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, rng: np.random.Generator,
            groups: np.ndarray | None = None, restarts: int = 1, maxiter: int = 60
            ) -> "GaussianProcess":
        """Maximum a posteriori hyperparameters, from the priors' modes and ``restarts``
        random starting points drawn from the priors; the best optimum wins.

        ``groups[c]`` names the length scale of column ``c``: the one-hot columns of one
        categorical hyperparameter share one, so what the data say about the categories
        seen so far carries over to a category not yet tried."""
        n, cols = X.shape
        groups = np.arange(cols) if groups is None else np.asarray(groups)
        d = int(groups.max()) + 1 if cols else 0
        ls_mu, ls_sigma = _lengthscale_prior(d)
        # start at the prior's median length scale, capped so that the model is not flat
        start = np.concatenate([np.full(d, min(ls_mu, math.log(2.0))), [0.0, -4.0]])
        starts = [start]
        for _ in range(restarts if n <= 60 else 0):  # the posterior sharpens with data
            starts.append(np.concatenate([
                rng.normal(ls_mu, ls_sigma, d).clip(-3.0, 5.0),
                [rng.normal(*_SIGNAL_PRIOR), rng.normal(*_NOISE_PRIOR)]]))
        bounds = [(-4.0, 6.0)] * d + [(-4.0, 4.0), (math.log(_MIN_NOISE), 1.0)]
        best, best_val = starts[0], math.inf
        for s in starts:
            try:
                res = optimize.minimize(_neg_log_posterior, s,
                                        args=(X, y, ls_mu, ls_sigma, groups),
                                        jac=True, method="L-BFGS-B", bounds=bounds,
                                        options={"maxiter": maxiter})
            except (np.linalg.LinAlgError, ValueError):
                continue
            if np.isfinite(res.fun) and res.fun < best_val:
                best, best_val = res.x, float(res.fun)
        return cls(X, y, best[:d][groups], float(best[d]), float(best[d + 1]))

    def condition_on(self, X_new: np.ndarray) -> "GaussianProcess":
        """The same model with fantasy observations at ``X_new`` equal to its own mean
        there (the kriging believer), taken as exact: the uncertainty around points being
        evaluated vanishes, so the next proposal goes elsewhere."""
        if len(X_new) == 0:
            return self
        mean, _ = self.predict(X_new)
        return GaussianProcess(np.vstack([self.X, X_new]), np.concatenate([self.y, mean]),
                               self.log_ls, self.log_signal, self.log_noise,
                               exact=self.exact + len(X_new))

    # -- prediction ------------------------------------------------------------------------
    def correlation(self, Xc: np.ndarray) -> np.ndarray:
        """Kernel correlations (between 0 and 1) of candidates with the training inputs."""
        return _matern(Xc, self.X, self.inv_ls)[0]

    def predict(self, Xc: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance (of the latent function) at the rows of ``Xc``."""
        Ks = self.signal * self.correlation(Xc)
        mean = Ks @ self.alpha
        v = linalg.solve_triangular(self.L, Ks.T, lower=True)
        var = np.maximum(self.signal - (v * v).sum(0), 1e-12)
        return mean, var

    def log_ei(self, Xc: np.ndarray, best: float, grad: bool = False):
        """Log expected improvement below ``best`` (minimisation), computed stably far in
        the tail, and optionally its gradient in the inputs."""
        A = Xc * self.inv_ls
        B = self.X * self.inv_ls
        sq = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
        sq = np.maximum(sq, 0.0)
        r = np.sqrt(sq)
        e = np.exp(-_SQRT5 * r)
        Ks = self.signal * (1.0 + _SQRT5 * r + (5.0 / 3.0) * sq) * e
        mean = Ks @ self.alpha
        v = linalg.solve_triangular(self.L, Ks.T, lower=True, check_finite=False)
        var = np.maximum(self.signal - (v * v).sum(0), 1e-12)
        sd = np.sqrt(var)
        z = (best - mean) / sd
        log_h, dlogh_dz = _log_h(z)
        value = np.log(sd) + log_h
        if not grad:
            return value
        # dk/dx for the Matérn 5/2: -(5/3) s (1 + sqrt5 r) e^{-sqrt5 r} (x - X) / l^2
        G = -(5.0 / 3.0) * self.signal * (1.0 + _SQRT5 * r) * e  # (m, n)
        inv_ls2 = self.inv_ls ** 2
        # sum_j G_ij (x_i - X_j) * inv_ls2  =  (G.sum(1) x_i - G @ X) * inv_ls2
        Ga = G * self.alpha[None, :]
        dmean = (Ga.sum(1)[:, None] * Xc - Ga @ self.X) * inv_ls2
        w = linalg.solve_triangular(self.L, v, lower=True, trans="T", check_finite=False)
        Gw = G * w.T  # w = K^-1 k, one column per candidate
        dvar = -2.0 * (Gw.sum(1)[:, None] * Xc - Gw @ self.X) * inv_ls2
        dsd = dvar / (2.0 * sd[:, None])
        dz = -(dmean + z[:, None] * dsd) / sd[:, None]
        gradient = dsd / sd[:, None] + dlogh_dz[:, None] * dz
        return value, gradient


def _log_h(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log(z Φ(z) + φ(z)) and its derivative Φ(z) / (z Φ(z) + φ(z)), stable for very
    negative z through the scaled complementary error function."""
    log_phi = -0.5 * z * z - 0.5 * math.log(2.0 * math.pi)
    # z >= 0: no cancellation, h directly
    zp = np.maximum(z, 0.0)
    cdf_p = special.ndtr(zp)
    h_p = zp * cdf_p + np.exp(-0.5 * zp * zp) / math.sqrt(2.0 * math.pi)
    # z < 0: h = φ(z) (1 + z·mills) with mills = Φ(z)/φ(z) from the scaled erfc; far in the
    # left tail rounding eats 1 + z·mills, which is 1/z² (1 - 3/z²) there
    zn = np.minimum(z, 0.0)
    mills = math.sqrt(math.pi / 2.0) * special.erfcx(-zn / math.sqrt(2.0))
    zt = np.minimum(zn, -25.0)
    inner = np.where(zn < -25.0, (1.0 - 3.0 / (zt * zt)) / (zt * zt),
                     np.maximum(1.0 + zn * mills, 1e-300))
    positive = z >= 0.0
    log_h = np.where(positive, np.log(h_p), log_phi + np.log(inner))
    # d log h / dz = Φ / h; it tends to -z - 2/z in the left tail
    dlogh = np.where(positive, cdf_p / h_p,
                     np.where(zn < -25.0, -zt - 2.0 / zt, mills / inner))
    return log_h, dlogh


def _neg_log_posterior(theta: np.ndarray, X: np.ndarray, y: np.ndarray, ls_mu: float,
                       ls_sigma: float, groups: np.ndarray | None = None
                       ) -> tuple[float, np.ndarray]:
    n, cols = X.shape
    groups = np.arange(cols) if groups is None else groups
    d = len(theta) - 2
    log_ls, log_s, log_noise = theta[:d], theta[d], theta[d + 1]
    inv_ls = np.exp(-log_ls[groups])
    s, noise = math.exp(log_s), math.exp(log_noise) + _MIN_NOISE
    C, r = _matern(X, X, inv_ls)
    K = s * C
    K[np.diag_indices_from(K)] += noise + _JITTER
    try:
        L = linalg.cholesky(K, lower=True)
    except linalg.LinAlgError:
        return 1e25, np.zeros_like(theta)
    alpha = linalg.cho_solve((L, True), y)
    nll = 0.5 * y @ alpha + np.log(np.diag(L)).sum() + 0.5 * n * math.log(2 * math.pi)
    Kinv, info = linalg.lapack.dpotri(L, lower=1)  # the inverse from the factor: ~3x cheaper
    if info != 0:
        return 1e25, np.zeros_like(theta)
    Kinv = np.tril(Kinv) + np.tril(Kinv, -1).T
    W = np.outer(alpha, alpha) - Kinv  # d(log lik)/dK
    # d K / d log l_k = s (5/3)(1 + sqrt5 r) e^{-sqrt5 r} (x_ik - x_jk)^2 / l_k^2
    M = W * (s * (5.0 / 3.0) * (1.0 + _SQRT5 * r) * np.exp(-_SQRT5 * r))
    Xs = X * inv_ls
    rowsum = M.sum(1)
    g_cols = (2.0 * (rowsum @ (Xs * Xs)) - 2.0 * ((M @ Xs) * Xs).sum(0))
    g_ls = np.bincount(groups, weights=g_cols, minlength=d)
    g_s = (W * (s * C)).sum()
    g_noise = np.trace(W) * math.exp(log_noise)
    grad = -0.5 * np.concatenate([g_ls, [g_s, g_noise]])
    # log-normal priors on the length scales, signal and noise variance (on the log scale)
    prior = (0.5 * (((log_ls - ls_mu) / ls_sigma) ** 2).sum()
             + 0.5 * ((log_s - _SIGNAL_PRIOR[0]) / _SIGNAL_PRIOR[1]) ** 2
             + 0.5 * ((log_noise - _NOISE_PRIOR[0]) / _NOISE_PRIOR[1]) ** 2)
    grad[:d] += (log_ls - ls_mu) / ls_sigma ** 2
    grad[d] += (log_s - _SIGNAL_PRIOR[0]) / _SIGNAL_PRIOR[1] ** 2
    grad[d + 1] += (log_noise - _NOISE_PRIOR[0]) / _NOISE_PRIOR[1] ** 2
    return float(nll + prior), grad
