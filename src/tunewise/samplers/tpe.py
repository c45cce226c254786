"""Tree-structured Parzen Estimator (TPE), multivariate and aware of conditional spaces.

TPE (Bergstra et al., 2011) splits the finished trials into a *good* set and a *bad* set, fits
a Parzen (kernel density) estimator to each, ``l(x)`` to the good and ``g(x)`` to the bad, and
proposes, among candidates drawn from ``l``, the one that maximises ``l(x) / g(x)``. This is
our own implementation; the facts it shares with Optuna's ``TPESampler`` (the default split,
the uniform prior component, the bandwidth floor, the shrinking categorical kernel) are said
where they are used.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri

from ..space import HyperParameter, point_id
from ..space import types as t
from ..trial import FrozenTrial, TrialState
from .base import Sampler, SamplingContext
from .random import RandomSampler

# How a dimension is modelled in unit space.
_CONTINUOUS = 0  # a Float range: a Gaussian kernel truncated to [0, 1]
_BINS = 1  # discrete values on equal bins of [0, 1] (Int, stepped Float, ordered Choice)
_LOG_BINS = 2  # an unstepped log / reverse_log Int: [min, max + 1) on the log scale, floored
_CATEGORICAL = 3  # an unordered Choice or a Boolean: no order between the values

_MAX_BINS = 1 << 20  # a discrete range with more values is modelled as continuous
_TABLE_BINS = 128  # up to this many values, bin masses are computed exactly, per bin pair
_WIDE_BIN = 0.75  # a bin wider than this many bandwidths gets its exact mass, not the midpoint
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_BANDWIDTH_SCALE = 1.0  # times Scott's rule
_PRIOR_SPREAD = 0.3  # the spread assumed for a set of fewer than two values (uniform: 0.29)
_MIN_BANDWIDTH = 1e-3  # no kernel narrower than a thousandth of the unit range
_CACHE_ROWS = 200_000  # encoded trials kept per space before the cache starts afresh
_CACHE_SPACES = 8  # spaces kept in the cache (a define-by-run space grows)
_PENDING = (TrialState.RUNNING, TrialState.WAITING, TrialState.INTERRUPTED)
_RAN, _FAILED, _PENDING_LABEL = 0, 1, 2  # what a bad trial is: ran (completed or pruned), ...
_INACTIVE = object()  # marks an inactive parent value while candidates are drawn


class _Dim:
    """One modelled hyperparameter: its column in the encoded matrix and how it is modelled.

    Encoded values: the unit code (``to_unit``, a bin centre for discrete values) for numeric
    kinds, the index of the value for a categorical one, NaN when inactive."""

    def __init__(self, hp: HyperParameter, col: int, kind: int, n: int) -> None:
        self.hp, self.col, self.kind, self.n = hp, col, kind, n
        self.log_prior = -math.log(n) if kind == _CATEGORICAL else 0.0  # uniform prior
        self.table = kind in (_BINS, _LOG_BINS) and n <= _TABLE_BINS
        if kind == _BINS:
            k = np.arange(n)
            self.centres, self.lo, self.hi = (k + 0.5) / n, k / n, (k + 1) / n
        elif kind == _LOG_BINS and self.table:
            # value v fills [v, v + 1) of [min, max + 1) on the log scale: to_unit(v - 0.5)
            # and to_unit(v + 0.5) are the edges of its bin
            v = [hp.min_value + k for k in range(n)]  # type: ignore[attr-defined]
            self.centres = np.array([hp.to_unit(x) for x in v])
            self.lo = np.array([hp.to_unit(x - 0.5) for x in v])
            self.hi = np.array([hp.to_unit(x + 0.5) for x in v])
        if self.table:
            self.cuts = 0.5 * (self.centres[1:] + self.centres[:-1])  # code -> bin index

    def bins_of(self, codes: np.ndarray) -> np.ndarray:
        """Bin index of each encoded value (NaN ones: 0, masked by the caller)."""
        return np.searchsorted(self.cuts, np.nan_to_num(codes, nan=0.0))


class _Layout:
    """How a space is encoded, with a cache of encoded trials (a pure speed-up: a row
    depends only on the space and the trial's values)."""

    def __init__(self, space: Sequence[HyperParameter]) -> None:
        self.dims: list[_Dim | None] = []  # per hyperparameter of the space; None: constant
        col = 0
        for hp in space:
            kind, n = _kind_of(hp)
            if kind is None:
                self.dims.append(None)
            else:
                self.dims.append(_Dim(hp, col, kind, n))
                col += 1
        self.width = col
        self.modelled = [d for d in self.dims if d is not None]
        self.parents = {p for hp in space for p, _ in hp.conditions}
        self.rows: dict[str, np.ndarray] = {}

    def encode(self, values: dict[str, Any]) -> np.ndarray:
        row = np.full(self.width, np.nan)
        for dim in self.modelled:
            value = values.get(dim.hp.name)
            if value is None:
                continue  # inactive in this trial
            # stored values fit their definitions: a name keeps one definition per study
            if dim.kind == _CATEGORICAL:
                row[dim.col] = dim.hp.values.index(dim.hp.cast(value))
            else:
                row[dim.col] = min(max(float(dim.hp.to_unit(value)), 0.0), 1.0)
        return row

    def matrix(self, trials: Sequence[FrozenTrial]) -> np.ndarray:
        rows = self.rows
        if len(rows) > _CACHE_ROWS:
            rows.clear()
        out = np.empty((len(trials), self.width))
        for i, trial in enumerate(trials):
            key = trial.params_key
            row = rows.get(key) if key else None
            if row is None:
                row = self.encode(trial.hyperparameters)
                if key:
                    rows[key] = row
            out[i] = row
        return out


def _kind_of(hp: HyperParameter) -> tuple[int | None, int]:
    if isinstance(hp, t.Fixed):
        return None, 1
    if isinstance(hp, t.Boolean) or (isinstance(hp, t.Choice) and not hp.ordered):
        n = len(hp.values)
        return (None, 1) if n <= 1 else (_CATEGORICAL, n)
    if not hp.is_discrete:
        return _CONTINUOUS, 0
    n = hp.n_values
    if n <= 1:
        return None, 1
    if n > _MAX_BINS:
        return _CONTINUOUS, 0
    if isinstance(hp, t.Int) and hp.step is None and hp.sampling != "linear":
        return _LOG_BINS, int(n)
    return _BINS, int(n)


class TPESampler(Sampler):
    """Tree-structured Parzen Estimator: model-based search, cheap per proposal.

    Parameters
    ----------
    n_startup_trials:
        Proposals are uniformly random (``RandomSampler``) until this many trials have
        completed with a finite score.
    n_candidates:
        Candidates drawn from the good-set density per proposal; the one with the highest
        ``log l(x) - log g(x)`` is proposed. More candidates exploit more.
    gamma:
        The share of the completed trials that forms the good set. ``None`` (the default)
        follows Optuna: ``min(ceil(0.1 * n), 25)`` trials for one objective, ``ceil(0.1 * n)``
        for several. A fraction in (0, 1] gives ``ceil(gamma * n)``.
    multivariate:
        ``True`` (the default): one joint estimator in which each trial is one kernel over
        all its active hyperparameters, so that interactions are learned. ``False``: one
        estimator per hyperparameter and candidates scored by the sum of the per-
        hyperparameter log ratios (the original, independent TPE).
    prior_weight:
        Weight of the uniform prior component in each estimator, relative to one trial.
    max_bad_trials:
        Cap on the bad set: when it holds more trials, a random subset of this size (drawn
        from ``ctx.rng``) stands for it, which keeps a proposal under about 10 ms however
        long the study (7 dimensions). ``None`` uses them all: about 10 ms at 2,000 trials,
        20 ms at 5,000. Caps down to 50 were measured to change nothing in quality.

    **The model.** Everything happens in the unit space of ``HyperParameter.to_unit``, which
    handles log, reverse_log and steps.

    - A continuous range has a Gaussian kernel truncated to [0, 1]. A discrete numeric one
      (Int, stepped Float, ordered Choice) has the same kernel, and a value's probability is
      the kernel's mass over the value's bin: exactly the chance that a draw from the kernel
      snaps (``from_unit``) to that value. (For more than 128 values, the density at the bin
      centre stands for the mass of a bin narrower than the kernel.)
    - An unordered Choice or a Boolean has a categorical kernel: the trial's value with
      probability ``1 - eps + eps / k``, each value with ``eps / k``, where
      ``eps = k / (n + 1 + k)`` shrinks as the set grows (Optuna's prior-weighted kernel).
      Categories are never treated as ordered.
    - Bandwidth, per set and hyperparameter: Scott's rule ``std * n ** (-1 / (d + 4))`` over
      the ``n`` trials of the set where it is active (``d`` modelled hyperparameters),
      clipped to ``[1 / min(100, n + 2), 1]``: Optuna's floor keeps a small set from
      collapsing onto its points.
    - Each estimator has a prior component, uniform over the space, of weight
      ``prior_weight``: any region stays reachable and no density is ever zero.

    **Conditional spaces.** A trial records only its active hyperparameters. A kernel
    component (one trial) is a generative process over the tree of the space: draw the
    hyperparameters in the space's order (parents first); skip one that is inactive given
    the values drawn so far; draw an active one from the component's kernel if the trial
    had it active, and from the uniform prior if not (a child the trial never had, because
    the candidate moved to another value of the parent). The density of a point under the
    component is the product, over the point's active hyperparameters only, of the kernel
    (where the trial has a value) or the prior (1 per unit length, 1/k per category). Each
    component is thus a proper distribution over the whole tree, and so are ``l`` and ``g``;
    both measure a point against the same base measure (that of its active
    hyperparameters), so ``l(x) / g(x)`` is well defined and comparable between candidates
    in different branches. Candidates are drawn by exactly this process, so the sampled and
    the scored densities agree.

    **The split.** The completed trials with a finite score are ranked by
    ``ctx.objectives[0]``'s direction (for several objectives: by non-dominated fronts, the
    last front admitted in order of crowding distance) and the best form the good set. The
    bad set is the rest, plus

    - failed and pruned trials, and completed ones without a finite score (a NaN loss):
      they steer proposals away from regions that fail or are stopped early;
    - pending trials (running, waiting, interrupted): the neighbourhood of a point that
      another worker is evaluating looks worse, so parallel workers spread out (Optuna's
      ``constant_liar`` does the same).

    **Failures.** In the bad set alone, failures weigh no more than the completed trials
    that were merely not good, so a good region next to one where training fails (a
    learning rate just below the one that diverges) would keep drawing proposals over the
    edge. Once a trial has failed, each candidate's score therefore also gets
    ``log P(success | x)``, a kernel regression of failed against ran (completed or
    pruned) trials with the same kernels, whose prior component stands for the overall
    failure rate: the expected improvement times the chance that the run succeeds.

    Randomness comes only from ``ctx.rng``, and nothing kept between calls changes a result,
    so a resumed study continues the same sequence. It never proposes a point in
    ``ctx.seen``: it takes the best untried candidate, and when every candidate was tried it
    hands over to ``RandomSampler``, which finds an untried point or reports exhaustion.

    >>> import tunewise
    >>> study = tunewise.Study("tpe", objective="loss", sampler=TPESampler(n_startup_trials=5),
    ...                        seed=0)
    >>> study.optimize(lambda trial: (trial.hp.Float("x", -2.0, 2.0) - 1.0) ** 2,
    ...                max_trials=30, show_progress=False)
    >>> abs(study.best_trial.hyperparameters["x"] - 1.0) < 0.3
    True
    """

    name = "tpe"

    def __init__(self, n_startup_trials: int = 10, n_candidates: int = 24,
                 gamma: float | None = None, multivariate: bool = True,
                 prior_weight: float = 1.0, max_bad_trials: int | None = 1000) -> None:
        if not _is_int(n_startup_trials) or n_startup_trials < 0:
            raise ValueError(f"n_startup_trials must be an integer >= 0, got {n_startup_trials!r}.")
        if not _is_int(n_candidates) or n_candidates < 1:
            raise ValueError(f"n_candidates must be an integer >= 1, got {n_candidates!r}.")
        if gamma is not None and (isinstance(gamma, bool) or not isinstance(gamma, (int, float))
                                  or not 0.0 < gamma <= 1.0):
            raise ValueError(
                f"gamma must be None (the default rule) or a fraction in (0, 1], got {gamma!r}.")
        if multivariate is not True and multivariate is not False:
            raise ValueError(f"multivariate must be True or False, got {multivariate!r}.")
        if isinstance(prior_weight, bool) or not isinstance(prior_weight, (int, float)) \
                or not (prior_weight > 0.0 and math.isfinite(prior_weight)):
            raise ValueError(f"prior_weight must be a positive number, got {prior_weight!r}.")
        if max_bad_trials is not None and (not _is_int(max_bad_trials) or max_bad_trials < 1):
            raise ValueError(
                f"max_bad_trials must be None or an integer >= 1, got {max_bad_trials!r}.")
        self.n_startup_trials = int(n_startup_trials)
        self.n_candidates = int(n_candidates)
        self.gamma = None if gamma is None else float(gamma)
        self.multivariate = multivariate
        self.prior_weight = float(prior_weight)
        self.max_bad_trials = None if max_bad_trials is None else int(max_bad_trials)
        self._layouts: dict[str, _Layout] = {}  # a speed-up only: see _Layout

    # -- settings --------------------------------------------------------------------------
    def config(self) -> dict[str, Any]:
        return {"name": self.name, "n_startup_trials": self.n_startup_trials,
                "n_candidates": self.n_candidates, "gamma": self.gamma,
                "multivariate": self.multivariate, "prior_weight": self.prior_weight,
                "max_bad_trials": self.max_bad_trials}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({settings})"

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_layouts"] = {}  # the cache is rebuilt from the space and the history
        return state

    # -- proposing -------------------------------------------------------------------------
    def propose(self, ctx: SamplingContext) -> dict[str, Any] | None:
        space = list(ctx.space)
        layout = self._layout(space) if space else None
        if layout is None or layout.width == 0:
            return RandomSampler().propose(ctx)
        good, bad, labels = self._split(ctx)
        if not good:
            return RandomSampler().propose(ctx)
        if self.max_bad_trials is not None and len(bad) > self.max_bad_trials:
            keep = np.sort(ctx.rng.choice(len(bad), size=self.max_bad_trials, replace=False))
            bad, labels = [bad[i] for i in keep], labels[keep]
        est_good = _Estimator(layout, layout.matrix(good), self.prior_weight)
        est_bad = _Estimator(layout, layout.matrix(bad), self.prior_weight)

        cands = _draw(space, layout, est_good, self.n_candidates, ctx.rng, self.multivariate)
        if self.multivariate or (labels == _FAILED).any():
            k_good, k_bad = est_good.log_kernels(cands), est_bad.log_kernels(cands)
        if self.multivariate:
            score = est_good.log_pdf_joint(*k_good) - est_bad.log_pdf_joint(*k_bad)
        else:
            score = est_good.log_pdf_independent(cands) - est_bad.log_pdf_independent(cands)
        if (labels == _FAILED).any():
            score += self._log_success(k_good, k_bad, labels)

        seen = ctx.seen
        for i in np.argsort(-score, kind="stable"):
            values = cands.values(int(i))
            if point_id(values) not in seen:
                return values
        return RandomSampler().propose(ctx)  # every candidate was tried: an untried point, or None

    def _log_success(self, k_good: tuple[np.ndarray, np.ndarray],
                     k_bad: tuple[np.ndarray, np.ndarray], labels: np.ndarray) -> np.ndarray:
        """log P(a candidate's training does not fail), by kernel regression on the trials
        that ran (the good, the bad that completed, the pruned) and those that failed, with
        the prior component standing for the overall failure rate."""
        (good, prior), bad = k_good, k_bad[0]
        failed, ran = bad[:, labels == _FAILED], bad[:, labels == _RAN]
        n_failed, n_ran = failed.shape[1], good.shape[1] + ran.shape[1]
        log_prior = math.log(self.prior_weight) + prior
        log_rate = math.log(n_failed / (n_failed + n_ran))
        log_failed = np.logaddexp(_logsumexp(failed), log_rate + log_prior)
        log_all = np.logaddexp(_logsumexp(np.concatenate([good, ran, failed], axis=1)), log_prior)
        return np.log1p(-np.minimum(np.exp(log_failed - log_all), 1.0 - 1e-12))

    def _layout(self, space: list[HyperParameter]) -> _Layout:
        key = json.dumps([hp.definition() for hp in space], sort_keys=True, default=str)
        layout = self._layouts.get(key)
        if layout is None:
            if len(self._layouts) >= _CACHE_SPACES:
                self._layouts.clear()
            layout = self._layouts[key] = _Layout(space)
        return layout

    def _split(self, ctx: SamplingContext
               ) -> tuple[list[FrozenTrial], list[FrozenTrial], np.ndarray]:
        """The good trials, the bad ones and what each bad one is (_RAN, _FAILED or
        _PENDING_LABEL); no good ones while the study is starting up."""
        n_obj = max(len(ctx.objectives), 1)
        signs = np.array([-1.0 if o.direction == "max" else 1.0 for o in ctx.objectives] or [1.0])
        scored: list[FrozenTrial] = []
        values: list[Any] = []
        others: list[FrozenTrial] = []
        labels: list[int] = []
        completed, failed, pruned = TrialState.COMPLETED, TrialState.FAILED, TrialState.PRUNED
        for trial in ctx.trials:
            state = trial.state
            if state == completed:
                score = trial.score
                if type(score) is float and n_obj == 1:  # the common case, fast
                    usable = math.isfinite(score)
                else:
                    score = _finite_score(score, n_obj)
                    usable = score is not None
                if usable:
                    scored.append(trial)
                    values.append(score)
                else:  # a NaN loss: training diverged
                    others.append(trial)
                    labels.append(_FAILED)
            elif state == failed or state == pruned or state in _PENDING:
                others.append(trial)
                labels.append(_FAILED if state == failed else _RAN if state == pruned
                              else _PENDING_LABEL)
        n = len(scored)
        if n < max(self.n_startup_trials, 1):
            return [], others, np.array(labels, dtype=np.int8)
        if self.gamma is not None:
            n_good = math.ceil(self.gamma * n)
        elif n_obj > 1:
            n_good = math.ceil(0.1 * n)
        else:
            n_good = min(math.ceil(0.1 * n), 25)
        n_good = min(max(n_good, 1), n)
        y = np.array(values, dtype=float).reshape(n, n_obj) * signs
        order = np.argsort(y[:, 0], kind="stable") if n_obj == 1 else _pareto_order(y, n_good)
        is_good = np.zeros(n, dtype=bool)
        is_good[order[:n_good]] = True
        good = [tr for tr, g in zip(scored, is_good) if g]
        rest = [tr for tr, g in zip(scored, is_good) if not g]
        return good, rest + others, np.array([_RAN] * len(rest) + labels, dtype=np.int8)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _finite_score(score: Any, n_obj: int) -> tuple[float, ...] | None:
    if score is None:
        return None
    parts = score if isinstance(score, (tuple, list)) else (score,)
    if len(parts) != n_obj:
        return None
    try:
        out = tuple(float(p) for p in parts)
    except (TypeError, ValueError):
        return None
    return out if all(math.isfinite(p) for p in out) else None


def _pareto_order(y: np.ndarray, needed: int) -> np.ndarray:
    """At least ``needed`` indices, by non-dominated front (every objective minimised), best
    front first; within a front, by crowding distance (the extremes and the least crowded
    first), which breaks the tie in the last front admitted."""
    n = len(y)
    # [i, j]: i dominates j, built one objective at a time to keep memory at n * n
    no_worse = np.ones((n, n), dtype=bool)
    better = np.zeros((n, n), dtype=bool)
    for j in range(y.shape[1]):
        col = y[:, j]
        no_worse &= col[:, None] <= col[None, :]
        better |= col[:, None] < col[None, :]
    dominates = no_worse & better
    n_dominators = dominates.sum(axis=0)
    remaining = np.ones(n, dtype=bool)
    out: list[np.ndarray] = []
    taken = 0
    while taken < needed and remaining.any():
        front = np.flatnonzero(remaining & (n_dominators == 0))
        out.append(front[np.argsort(-_crowding(y[front]), kind="stable")])
        taken += len(front)
        remaining[front] = False
        n_dominators = n_dominators - dominates[front].sum(axis=0)
        n_dominators[~remaining] = -1
    return np.concatenate(out)


def _crowding(y: np.ndarray) -> np.ndarray:
    n, k = y.shape
    if n <= 2:
        return np.full(n, np.inf)
    dist = np.zeros(n)
    for j in range(k):
        order = np.argsort(y[:, j], kind="stable")
        col = y[order, j]
        span = col[-1] - col[0]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span > 0:
            dist[order[1:-1]] += (col[2:] - col[:-2]) / span
    return dist


# -- candidates --------------------------------------------------------------------------------
class _Candidates:
    """Candidates drawn from the good estimator, encoded as trials are (NaN when
    inactive), with the bin of each discrete value; values are decoded on demand."""

    def __init__(self, space: list[HyperParameter], layout: _Layout, m: int) -> None:
        self.space, self.layout = space, layout
        self.codes = np.full((m, layout.width), np.nan)
        self.lo = np.zeros((m, layout.width))
        self.hi = np.ones((m, layout.width))
        self.bins = np.zeros((m, layout.width), dtype=np.intp)
        self.units = np.zeros((m, len(space)))  # the unit number each value decodes from
        self.active = np.zeros((m, len(space)), dtype=bool)

    def value(self, h: int, i: int) -> Any:
        hp, dim = self.space[h], self.layout.dims[h]
        if dim is None:
            return hp.from_unit(0.5)
        if dim.kind == _CATEGORICAL:
            return hp.values[int(self.units[i, h])]
        return hp.from_unit(float(self.units[i, h]))

    def values(self, i: int) -> dict[str, Any]:
        return {hp.name: self.value(h, i) for h, hp in enumerate(self.space) if self.active[i, h]}


def _pick(weights: np.ndarray, r: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights)
    return np.minimum(np.searchsorted(cum, r * cum[-1], side="right"), len(weights) - 1)


def _draw(space: list[HyperParameter], layout: _Layout, est: _Estimator, m: int,
          rng: np.random.Generator, multivariate: bool) -> _Candidates:
    """``m`` candidates from the estimator, parents before children (see TPESampler)."""
    cands = _Candidates(space, layout, m)
    decoded: dict[str, list[Any]] = {}  # values of the parents, per candidate
    comp = _pick(est.component_weights(None), rng.random(m)) if multivariate else None
    for h, (hp, dim) in enumerate(zip(space, layout.dims)):
        if hp.conditions:
            active = np.array(
                [all(p in decoded and decoded[p][i] is not _INACTIVE and decoded[p][i] in allowed
                     for p, allowed in hp.conditions) for i in range(m)], dtype=bool)
        else:
            active = np.ones(m, dtype=bool)
        cands.active[:, h] = active
        if dim is not None:
            if not multivariate:
                comp = _pick(est.component_weights(dim), rng.random(m))
            _draw_dim(dim, h, est, comp, active, cands, rng)
        if hp.name in layout.parents:
            decoded[hp.name] = [cands.value(h, i) if active[i] else _INACTIVE for i in range(m)]
    return cands


def _draw_dim(dim: _Dim, h: int, est: _Estimator, comp: np.ndarray, active: np.ndarray,
              cands: _Candidates, rng: np.random.Generator) -> None:
    c, m = dim.col, len(comp)
    mu = np.full(m, np.nan)
    own = comp < est.n  # the prior component is the last
    mu[own] = est.rows[comp[own], c]
    from_prior = np.isnan(mu)  # the prior, or a trial without this hyperparameter
    r = rng.random(m)
    if dim.kind == _CATEGORICAL:
        keep = rng.random(m) >= est.eps[c]
        x = np.where(from_prior | ~keep, np.minimum(np.floor(r * dim.n), dim.n - 1),
                     np.nan_to_num(mu))
    else:
        sigma = est.sigma[c]
        mu0 = np.where(from_prior, 0.5, mu)
        lo, hi = ndtr(-mu0 / sigma), ndtr((1.0 - mu0) / sigma)
        with np.errstate(divide="ignore", invalid="ignore"):
            kernel = mu0 + sigma * ndtri(lo + r * (hi - lo))  # inverse CDF, truncated
        x = np.clip(np.where(from_prior, r, np.nan_to_num(kernel, nan=0.5)), 0.0, 1.0)
    rows = np.flatnonzero(active)
    x = x[rows]
    if dim.kind in (_CATEGORICAL, _CONTINUOUS):
        cands.codes[rows, c] = x
        cands.units[rows, h] = x
    elif dim.kind == _BINS:
        k = np.minimum(np.floor(x * dim.n), dim.n - 1).astype(np.intp)
        cands.bins[rows, c] = k
        cands.codes[rows, c] = dim.centres[k]
        cands.lo[rows, c], cands.hi[rows, c] = dim.lo[k], dim.hi[k]
        cands.units[rows, h] = dim.centres[k]  # decodes to the value of bin k
    else:  # _LOG_BINS: the bin of a value is found by decoding it
        hp = dim.hp
        for i, u in zip(rows, x):
            value = hp.from_unit(float(u))
            cands.units[i, h] = u
            if dim.table:
                k = value - hp.min_value  # type: ignore[attr-defined]
                cands.bins[i, c] = k
                cands.codes[i, c], cands.lo[i, c], cands.hi[i, c] = \
                    dim.centres[k], dim.lo[k], dim.hi[k]
            else:
                cands.codes[i, c] = hp.to_unit(value)
                cands.lo[i, c], cands.hi[i, c] = hp.to_unit(value - 0.5), hp.to_unit(value + 0.5)


# -- the Parzen estimator ------------------------------------------------------------------------
class _Estimator:
    """A mixture of one product kernel per trial and a uniform prior component (the last)."""

    def __init__(self, layout: _Layout, rows: np.ndarray, prior_weight: float) -> None:
        self.layout, self.rows = layout, rows
        n, width = rows.shape
        self.n = n
        weights = np.append(np.ones(n), prior_weight)
        self.weights = weights / weights.sum()
        self.log_w = np.log(self.weights)
        self.present = present = ~np.isnan(rows)
        self.all_present = present.all(axis=0)
        self.mus = np.where(present, rows, 0.5)
        counts = present.sum(axis=0)
        d = max(width, 1)
        self.sigma = np.ones(width)
        self.eps = np.ones(width)
        self.bins: dict[int, np.ndarray] = {}
        self.log_z: dict[int, np.ndarray] = {}
        std = rows.std(axis=0) if n >= 2 else np.zeros(width)
        masses: list[int] = []  # columns that need each kernel's mass on [0, 1]
        for dim in layout.modelled:
            c = dim.col
            k = int(counts[c])
            if dim.kind == _CATEGORICAL:
                self.eps[c] = dim.n / (k + 1 + dim.n)
                continue
            if k < 2:
                spread = _PRIOR_SPREAD
            else:
                spread = std[c] if self.all_present[c] else float(np.std(rows[present[:, c], c]))
            sigma = _BANDWIDTH_SCALE * spread * k ** (-1.0 / (d + 4)) if k >= 1 else 1.0
            floor = max(1.0 / min(100.0, k + 2.0), _MIN_BANDWIDTH)
            self.sigma[c] = min(max(sigma, floor), 1.0)
            if dim.table:
                self.bins[c] = dim.bins_of(rows[:, c])
            else:
                masses.append(c)
        if masses:
            mu, sigma = self.mus[:, masses], self.sigma[masses]
            log_z = np.log(np.maximum(ndtr((1.0 - mu) / sigma) - ndtr(-mu / sigma), 1e-300))
            self.log_z = {c: log_z[:, j] for j, c in enumerate(masses)}

    def component_weights(self, dim: _Dim | None) -> np.ndarray:
        """Mixture weights; with ``dim``, only the trials where it is active and the prior."""
        if dim is None:
            return self.weights
        return np.append(self.weights[:-1] * self.present[:, dim.col], self.weights[-1])

    def _log_kernel(self, dim: _Dim, cands: _Candidates, idx: np.ndarray) -> np.ndarray:
        """Log kernel density, (candidates ``idx``) x (trials), prior where a trial lacks it."""
        c = dim.col
        x = cands.codes[idx, c]
        if dim.kind == _CATEGORICAL:
            eps, k = self.eps[c], dim.n
            out = np.where(x[:, None] == self.rows[None, :, c],
                           math.log(1.0 - eps + eps / k), math.log(eps / k))
        elif dim.table:
            # the mass of a kernel centred on each bin over each candidate's bin, then
            # looked up for the bin of each trial
            sigma, centres = self.sigma[c], dim.centres
            k = cands.bins[idx, c]
            lo, hi = dim.lo[k][:, None], dim.hi[k][:, None]
            log_z = np.log(ndtr((1.0 - centres) / sigma) - ndtr(-centres / sigma))
            table = _log_mass((lo - centres) / sigma, (hi - centres) / sigma) \
                - log_z - np.log(hi - lo)
            out = table[:, self.bins[c]]
        else:
            sigma, mu = self.sigma[c], self.mus[:, c]
            diff = x[:, None] - mu
            out = diff * diff
            out *= -0.5 / (sigma * sigma)
            out += -math.log(sigma) - _LOG_SQRT_2PI - self.log_z[c]
            if dim.kind != _CONTINUOUS:
                # midpoint rule for a bin narrow next to the kernel, the exact mass otherwise
                lo, hi = cands.lo[idx, c], cands.hi[idx, c]
                wide = np.flatnonzero(hi - lo > _WIDE_BIN * sigma)
                if len(wide):
                    lw, hw = lo[wide, None], hi[wide, None]
                    out[wide] = _log_mass((lw - mu) / sigma, (hw - mu) / sigma) \
                        - self.log_z[c] - np.log(hw - lw)
        if not self.all_present[c]:
            out = np.where(self.present[None, :, c], out, dim.log_prior)
        return out

    def log_kernels(self, cands: _Candidates) -> tuple[np.ndarray, np.ndarray]:
        """Log density of each candidate under each trial's component, (m, n), and under the
        prior component, (m,): the product over the candidate's active hyperparameters."""
        m = len(cands.codes)
        total = np.zeros((m, self.n))
        prior = np.zeros(m)
        for dim in self.layout.modelled:
            active = ~np.isnan(cands.codes[:, dim.col])
            if active.all():
                total += self._log_kernel(dim, cands, np.arange(m))
                prior += dim.log_prior
            elif active.any():
                idx = np.flatnonzero(active)
                total[idx] += self._log_kernel(dim, cands, idx)
                prior[idx] += dim.log_prior
        return total, prior

    def log_pdf_joint(self, kernels: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """Log density of the mixture, from ``log_kernels``."""
        total = np.empty((len(prior), self.n + 1))
        np.add(kernels, self.log_w[:-1], out=total[:, : self.n])
        total[:, self.n] = prior + self.log_w[-1]
        return _logsumexp(total)

    def log_pdf_independent(self, cands: _Candidates) -> np.ndarray:
        m = len(cands.codes)
        out = np.zeros(m)
        for dim in self.layout.modelled:
            idx = np.flatnonzero(~np.isnan(cands.codes[:, dim.col]))
            if not len(idx):
                continue
            w = self.component_weights(dim)
            with np.errstate(divide="ignore"):
                log_w = np.log(w / w.sum())
            k = np.empty((len(idx), self.n + 1))
            k[:, : self.n] = self._log_kernel(dim, cands, idx)
            k[:, self.n] = dim.log_prior
            out[idx] += _logsumexp(k + log_w)
        return out


def _log_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) for a <= b, taken on the side of the mean that keeps precision."""
    flip = a > 0
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    with np.errstate(divide="ignore"):
        return np.log(ndtr(hi) - ndtr(lo))


def _logsumexp(a: np.ndarray) -> np.ndarray:
    top = np.max(a, axis=1)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return top + np.log(np.sum(np.exp(a - top[:, None]), axis=1))
