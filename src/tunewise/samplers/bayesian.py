"""Bayesian optimisation with a Gaussian process."""

from __future__ import annotations

import math
import warnings
from typing import Any, Sequence

import numpy as np

from ..space import HyperParameter, UnitEncoder, point_id
from ..space.types import Boolean, Choice, Fixed
from ..trial import FrozenTrial, TrialState
from .base import Sampler, SamplingContext
from .random import RandomSampler

_PENDING = (TrialState.RUNNING, TrialState.WAITING)
_WORST = (TrialState.FAILED, TrialState.PRUNED)


class BayesianSampler(Sampler):
    """Gaussian-process Bayesian optimisation for mixed and conditional spaces.

    How it proposes the next trial:

    - **Initial design.** The first ``num_initial_points`` trials (default: one more than the
      number of hyperparameters, at least 5 and at most 10) follow a scrambled Sobol sequence
      over the space, which covers it more evenly than random draws.
    - **The space.** Values are mapped to the unit cube: log-scaled ranges on the log scale,
      integers and stepped ranges as their positions, and each unordered ``Choice`` as one
      column per value (one-hot), so that no order is invented between categories. A
      hyperparameter that is inactive in a trial takes a constant (0.5, or no category).
    - **The model.** The objective is turned into a loss; losses beyond the upper fence of
      their distribution (diverged runs, far worse than the rest) are pulled in
      logarithmically, so that an outlier does not set the scale, and the result is
      standardised. A Matérn-5/2 kernel has
      one length scale per column, fitted by maximum a posteriori under log-normal priors that
      widen with the dimension (so the fit stays sane with few points), from two starting
      points. Beyond ``fit_points`` trials the kernel's hyperparameters are fitted on a subset
      (the best quarter and a random sample of the rest); the model is always conditioned
      on every trial.
    - **Failures and pending trials.** A failed or pruned trial enters the model with the
      worst value seen, so proposals move away from where training fails or falls behind. A running trial enters with the
      model's own prediction (the "kriging believer"), which removes the uncertainty around it:
      parallel workers get different proposals.
    - **The acquisition.** The logarithm of expected improvement, computed stably far in the
      tail. It is maximised over a pool of random configurations and of perturbations of the
      best trials, then the best few are refined by L-BFGS-B with analytic gradients in the
      continuous coordinates, and integer and stepped values are rounded to the nearest
      allowed value. The best candidate not yet tried wins; in a finite space no point is
      proposed twice.
    - **Several objectives.** Each proposal scalarises them with random weights (ParEGO's
      augmented Chebyshev), so successive proposals cover the Pareto front.

    Every choice is a function of the study's seed and its history, so a resumed study
    continues the same sequence and a seed reproduces a run.

    >>> import tunewise
    >>> study = tunewise.Study("bo", objective="loss", sampler="bayesian", seed=0)
    >>> def fn(trial):
    ...     x = trial.hp.Float("x", -2.0, 2.0)
    ...     return (x - 0.5) ** 2
    >>> study.optimize(fn, max_trials=15, show_progress=False)
    >>> abs(study.best_hyperparameters()[0]["x"] - 0.5) < 0.1
    True
    """

    name = "bayesian"

    def __init__(self, num_initial_points: int | None = None, *, candidates: int = 512,
                 fit_points: int = 100) -> None:
        if num_initial_points is not None and num_initial_points < 1:
            raise ValueError(f"num_initial_points must be at least 1, got {num_initial_points}.")
        if candidates < 16:
            raise ValueError(f"candidates must be at least 16, got {candidates}.")
        if fit_points < 10:
            raise ValueError(f"fit_points must be at least 10, got {fit_points}.")
        self.num_initial_points = num_initial_points
        self.candidates = candidates
        self.fit_points = fit_points
        self._random = RandomSampler()
        self._cache_signature: Any = None
        self._cache: dict[str, np.ndarray] = {}

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "num_initial_points": self.num_initial_points,
                "candidates": self.candidates, "fit_points": self.fit_points}

    def __repr__(self) -> str:
        return (f"BayesianSampler(num_initial_points={self.num_initial_points}, "
                f"candidates={self.candidates}, fit_points={self.fit_points})")

    def initial_points(self, space: Sequence[HyperParameter]) -> int:
        if self.num_initial_points is not None:
            return self.num_initial_points
        tunable = sum(not isinstance(hp, Fixed) for hp in space)
        return min(10, max(5, tunable + 1))

    # -- proposal ----------------------------------------------------------------------------
    def propose(self, ctx: SamplingContext) -> dict[str, Any] | None:
        space = ctx.space
        completed = [t for t in ctx.trials if t.state == TrialState.COMPLETED and _finite(t.score)]
        if not space or len(completed) < self.initial_points(space):
            return self._initial(ctx)
        layout = _Layout(space)
        if layout.encoder.dims == 0:
            return self._random.propose(ctx)
        signature = tuple(hp.definition() for hp in space)
        if signature != self._cache_signature:  # encodings depend on the space only
            self._cache_signature, self._cache = signature, {}
        model = _Model(ctx, layout, completed, self.fit_points, self._cache)
        return self._maximise(ctx, layout, model, completed)

    def _initial(self, ctx: SamplingContext) -> dict[str, Any] | None:
        """The next point of a scrambled Sobol sequence over the space; random draws once the
        point is taken (in a finite space) or when another worker claimed it first."""
        space = ctx.space
        index = len(ctx.trials)
        if space and index < 256:
            from scipy.stats import qmc
            sobol = qmc.Sobol(len(space), scramble=True, seed=ctx.seed)
            u = sobol.random_base2(max(1, math.ceil(math.log2(index + 1))))[index]
            values = _Layout(space).decode(u)
            if point_id(values) not in ctx.seen:
                return values
        return self._random.propose(ctx)

    def _maximise(self, ctx: SamplingContext, layout: "_Layout", model: "_Model",
                  completed: list[FrozenTrial]) -> dict[str, Any] | None:
        U = self._pool(ctx, layout, model, completed)
        X = layout.encode(U)
        scores = model.acquisition(X)
        starts = _distinct_best(X, scores, 8)
        refined = self._refine(layout, model, U[starts], X[starts])
        U = np.vstack([U, refined])
        scores = np.concatenate([scores, model.acquisition(layout.encode(refined))])
        seen = ctx.seen
        tried: set[str] = set()
        for i in np.argsort(-scores, kind="stable"):
            values = layout.decode(U[i])
            key = point_id(values)
            if key in tried:
                continue
            if key not in seen:
                return values
            tried.add(key)
            if len(tried) > 256:
                break
        return self._random.propose(ctx)  # the best candidates were all tried already

    def _pool(self, ctx: SamplingContext, layout: "_Layout", model: "_Model",
              completed: list[FrozenTrial]) -> np.ndarray:
        """Candidates as unit coordinates, one column per hyperparameter: uniform draws,
        and perturbations of the best trials at three scales."""
        rng = ctx.rng
        n_local = self.candidates // 2
        uniform = rng.random((self.candidates - n_local, layout.width))
        best = [completed[i].hyperparameters for i in np.argsort(model.y_completed)[:5]]
        centres = np.array([layout.to_unit(v, rng) for v in best])
        local = centres[np.arange(n_local) % len(best)]
        scale = np.array([0.02, 0.08, 0.25])[np.arange(n_local) % 3][:, None]
        change = rng.random(local.shape) < min(1.0, 2.0 / max(1, layout.tunable))
        numeric = layout.numeric_mask[None, :]
        moved = np.where(numeric, np.clip(local + rng.normal(0.0, 1.0, local.shape) * scale,
                                          0.0, 1.0), rng.random(local.shape))
        local = np.where(change, moved, local)
        return np.vstack([uniform, local])

    def _refine(self, layout: "_Layout", model: "_Model", U0: np.ndarray, X0: np.ndarray
                ) -> np.ndarray:
        """L-BFGS-B on the continuous relaxation of the numeric coordinates active at each
        start, all starts at once (their sum separates); rounding happens when encoded."""
        from scipy import optimize

        mask = np.zeros_like(X0, dtype=bool)
        active = layout.active(U0)
        for j, col in layout.numeric_columns:
            mask[:, col] = active[:, j]
        if not mask.any():
            return U0[:0]

        def objective(z: np.ndarray) -> tuple[float, np.ndarray]:
            Xr = X0.copy()
            Xr[mask] = z
            value, grad = model.acquisition(Xr, grad=True)
            return -float(value.sum()), -grad[mask]

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = optimize.minimize(objective, X0[mask], jac=True, method="L-BFGS-B",
                                    bounds=[(0.0, 1.0)] * int(mask.sum()),
                                    options={"maxiter": 100})
        Xr = X0.copy()
        Xr[mask] = np.clip(res.x, 0.0, 1.0)
        U = U0.copy()
        for j, col in layout.numeric_columns:
            U[:, j] = np.where(mask[:, col], Xr[:, col], U[:, j])
        return U


class _Layout:
    """The model's encoding (``X``) of a space. Candidates are arrays with one unit
    coordinate per hyperparameter (``U``), turned into ``X`` with activity from the
    conditions, all vectorised. A coordinate maps to a value through the hyperparameter's own
    ``from_unit``; a discrete numeric one is encoded at the position of the value it maps to,
    so what the model scores is what will be proposed. Trials' values are encoded the same
    way: an inactive hyperparameter takes no category, or the middle of its range."""

    def __init__(self, space: Sequence[HyperParameter]) -> None:
        self.hps = list(space)
        self.encoder = encoder = UnitEncoder(space)
        self.onehot = np.zeros(encoder.dims, dtype=bool)
        self.groups = np.zeros(encoder.dims, dtype=int)  # a categorical's columns share one
        for i, hp in enumerate(encoder.space):
            self.groups[encoder.slices[hp.name]] = i
            if encoder.is_categorical(hp):
                self.onehot[encoder.slices[hp.name]] = True
        self.width = len(self.hps)
        self.index = {hp.name: j for j, hp in enumerate(self.hps)}
        self.numeric_columns: list[tuple[int, int]] = []
        self.categorical: list[tuple[int, slice, int]] = []
        self.discrete: list[int] = []
        self.numeric_mask = np.zeros(self.width, dtype=bool)
        for j, hp in enumerate(self.hps):
            if isinstance(hp, Fixed):
                continue
            sl = encoder.slices[hp.name]
            if encoder.is_categorical(hp):
                self.categorical.append((j, sl, len(hp.values)))
                continue
            self.numeric_columns.append((j, sl.start))
            self.numeric_mask[j] = True
            if hp.is_discrete:
                self.discrete.append(j)
        self.tunable = len(self.numeric_columns) + len(self.categorical)

    def active(self, U: np.ndarray) -> np.ndarray:
        act = np.ones(U.shape, dtype=bool)
        for j, hp in enumerate(self.hps):
            for parent, allowed in hp.conditions:
                p = self.index.get(parent)
                if p is None:
                    act[:, j] = False
                    continue
                act[:, j] &= act[:, p] & self._allowed(p, U[:, p], allowed)
        return act

    def _allowed(self, p: int, u: np.ndarray, allowed: Any) -> np.ndarray:
        hp = self.hps[p]
        if isinstance(hp, Fixed):
            return np.full(len(u), hp.default in allowed)
        if isinstance(hp, (Choice, Boolean)):
            k = len(hp.values)
            ok = np.array([v in allowed for v in hp.values])
            return ok[np.clip(np.floor(u * k).astype(int), 0, k - 1)]
        return np.array([hp.from_unit(float(x)) in allowed for x in u], dtype=bool)

    def encode(self, U: np.ndarray) -> np.ndarray:
        act = self.active(U)
        X = np.zeros((len(U), self.encoder.dims))
        for j, col in self.numeric_columns:
            u = U[:, j]
            if j in self.discrete:  # the position of the value the coordinate maps to
                hp = self.hps[j]
                u = np.array([hp.to_unit(hp.from_unit(float(x))) for x in u])
            X[:, col] = np.where(act[:, j], u, 0.5)
        rows = np.arange(len(U))
        for j, sl, k in self.categorical:
            idx = np.clip(np.floor(U[:, j] * k).astype(int), 0, k - 1)
            X[rows[act[:, j]], sl.start + idx[act[:, j]]] = 1.0
        return X

    def decode(self, u: np.ndarray) -> dict[str, Any]:
        act = self.active(u[None, :])[0]
        values: dict[str, Any] = {}
        for j, hp in enumerate(self.hps):
            if act[j]:
                values[hp.name] = hp.default if isinstance(hp, Fixed) else hp.from_unit(float(u[j]))
        return values

    def to_unit(self, values: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
        """Coordinates of a trial's values; a hyperparameter it lacks gets a random one."""
        u = rng.random(self.width)
        for j, hp in enumerate(self.hps):
            if hp.name in values and not isinstance(hp, Fixed):
                u[j] = hp.to_unit(values[hp.name])
        return u

    def encode_trials(self, trials: Sequence[FrozenTrial], cache: dict[str, np.ndarray]
                      ) -> np.ndarray:
        """Encoded values of trials, cached by point (a speed-up only: the cache belongs to
        this space)."""
        encoder = self.encoder
        rows = []
        for t in trials:
            key = t.params_key or point_id(t.hyperparameters)
            x = cache.get(key)
            if x is None:
                values = t.hyperparameters
                # A hyperparameter without conditions that a trial lacks joined the space
                # later (define-by-run): the trial ran with what the code did without it,
                # which Keras Tuner's semantics call its default.
                absent = {hp.name: hp.default for hp in encoder.space
                          if not hp.conditions and hp.name not in values}
                x = encoder.encode({**values, **absent} if absent else values)
                missing = np.isnan(x)
                if missing.any():  # inactive
                    x[missing] = np.where(self.onehot[missing], 0.0, 0.5)
                cache[key] = x
            rows.append(x)
        return np.array(rows, dtype=float).reshape(len(rows), encoder.dims)


def _distinct_best(X: np.ndarray, scores: np.ndarray, k: int) -> list[int]:
    out: list[int] = []
    seen: set[bytes] = set()
    for i in np.argsort(-scores, kind="stable"):
        key = X[i].tobytes()
        if key not in seen:
            seen.add(key)
            out.append(int(i))
            if len(out) == k:
                break
    return out


class _Model:
    """The GP fitted to a study's history, and the value its proposals must beat."""

    def __init__(self, ctx: SamplingContext, layout: _Layout, completed: list[FrozenTrial],
                 fit_points: int, cache: dict[str, np.ndarray]) -> None:
        from ._gp import GaussianProcess

        rng = ctx.rng
        y = _warp(_losses(completed, ctx.objectives, rng))
        self.y_completed = y
        # Failed trials, and pruned ones (stopped early for doing worse than the rest; under a
        # multi-fidelity scheduler, those stopped below the budget the model learns from).
        failed = [t for t in ctx.trials if t.state in _WORST and t.hyperparameters]
        pending = [t for t in ctx.trials if t.state in _PENDING and t.hyperparameters]
        X = layout.encode_trials(completed, cache)
        if failed:  # failures count as the worst result seen
            X = np.vstack([X, layout.encode_trials(failed, cache)])
            y = np.concatenate([y, np.full(len(failed), y.max())])
        if len(y) > fit_points:  # fit the kernel on the best quarter and a sample of the rest
            ranked = np.argsort(y, kind="stable")
            keep = ranked[:fit_points // 4]
            rest = ranked[fit_points // 4:]
            keep = np.concatenate([keep, rng.choice(rest, fit_points - len(keep), replace=False)])
            fitted = GaussianProcess.fit(X[keep], y[keep], rng, layout.groups)
            gp = GaussianProcess(X, y, fitted.log_ls, fitted.log_signal, fitted.log_noise)
        else:
            gp = GaussianProcess.fit(X, y, rng, layout.groups)
        self.best = float(self.y_completed.min())
        if pending:
            # the kriging believer: running trials count as results equal to the model's
            # prediction, which also becomes the value to beat if it is the lowest
            X_pending = layout.encode_trials(pending, cache)
            self.best = min(self.best, float(gp.predict(X_pending)[0].min()))
            gp = gp.condition_on(X_pending)
        self.gp = gp

    def acquisition(self, X: np.ndarray, grad: bool = False):
        return self.gp.log_ei(X, self.best, grad=grad)


# -- helpers -----------------------------------------------------------------------------------
def _finite(score: Any) -> bool:
    if score is None:
        return False
    values = score if isinstance(score, tuple) else (score,)
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def _losses(trials: list[FrozenTrial], objectives: Sequence[Any], rng: np.random.Generator
            ) -> np.ndarray:
    """One loss per trial (lower is better): the objective, or for several objectives an
    augmented Chebyshev scalarisation with random weights (ParEGO)."""
    signs = np.array([1.0 if o.direction == "min" else -1.0 for o in objectives] or [1.0])
    F = np.array([t.score if isinstance(t.score, tuple) else (t.score,) for t in trials],
                 dtype=float) * signs
    if F.shape[1] == 1:
        return F[:, 0]
    lo, hi = F.min(0), F.max(0)
    F = (F - lo) / np.where(hi > lo, hi - lo, 1.0)
    w = rng.dirichlet(np.ones(F.shape[1]))
    return (F * w).max(1) + 0.05 * (F * w).sum(1)


def _warp(y: np.ndarray) -> np.ndarray:
    """Losses as the model sees them: values beyond the upper fence (the third quartile plus
    1.5 interquartile ranges: diverged runs, a model that predicts one class) are pulled in
    logarithmically, then everything is standardised. The good end stays linear, so the model
    still sees how much better the best trials are; an outlier no longer sets the scale.

    (A power transform of the whole range, as HEBO uses, and a rank-based copula were tried:
    both made the model over-confident near the best point and stall on Branin; see
    benchmarks/RESULTS.md.)"""
    sd = y.std()
    if not np.isfinite(sd) or sd == 0:
        return np.zeros_like(y)
    q1, q3 = np.percentile(y, [25, 75])
    iqr = max(q3 - q1, 1e-9 * sd)
    fence = q3 + 1.5 * iqr
    y = np.where(y > fence, fence + iqr * np.log1p(np.maximum(y - fence, 0.0) / iqr), y)
    return (y - y.mean()) / y.std()
