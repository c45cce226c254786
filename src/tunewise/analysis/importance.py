"""Which hyperparameters mattered: a functional ANOVA of a random-forest surrogate.

The method (fANOVA, Hutter, Hoos and Leyton-Brown 2014, here by Monte Carlo): fit a random
forest to the completed trials' objective, then split the variance of its predictions over a
product distribution of the hyperparameters into the part each hyperparameter explains alone
(its main effect, the variance of the prediction averaged over all the others) and the part
each pair explains together beyond their main effects (the interaction). The product
distribution is that of the observed values of each hyperparameter, taken independently, so
the figures describe the region the search explored, not the whole space.

Conditional hyperparameters: an inactive one is a value of its own (it takes a column value
no active one has), so "this branch was off" is something the forest can split on.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..space import types as _types
from ..trial import TrialState

_INACTIVE = -1.0  # the column value of an inactive hyperparameter (active ones lie in [0, 1])


@dataclass
class Importance:
    """``main``: fraction of the variance each hyperparameter explains alone; ``pairs``: the
    fraction a pair explains together beyond its two main effects; ``trials``: how many
    completed trials the surrogate learnt from; ``r2``: its out-of-bag R² (how far to trust
    the figures; None when not computed)."""

    main: dict[str, float]
    pairs: dict[tuple[str, str], float] = field(default_factory=dict)
    metric: str = ""
    trials: int = 0
    r2: float | None = None

    def to_frame(self) -> Any:
        """The main effects, most important first, then the pairs (a pandas DataFrame)."""
        import pandas as pd

        rows = [{"hyperparameters": k, "kind": "main", "importance": v}
                for k, v in sorted(self.main.items(), key=lambda kv: -kv[1])]
        rows += [{"hyperparameters": f"{a} × {b}", "kind": "interaction", "importance": v}
                 for (a, b), v in sorted(self.pairs.items(), key=lambda kv: -kv[1])]
        return pd.DataFrame(rows, columns=["hyperparameters", "kind", "importance"])


def _columns(study: Any) -> list[Any]:
    """The tunable hyperparameters (Fixed ones and those never given a value are left out)."""
    trials = study.trials
    return [h for h in study.hyperparameters.space if not isinstance(h, _types.Fixed)
            and any(h.name in t.hyperparameters for t in trials)]


def _encode(hp: Any, value: Any) -> float:
    if value is None:
        return _INACTIVE
    if isinstance(hp, (_types.Choice, _types.Boolean)):
        values = list(hp.values)
        return values.index(value) / max(len(values) - 1, 1) if value in values else _INACTIVE
    return float(hp.to_unit(value)) if hasattr(hp, "to_unit") else float(value)


def importance(study: Any, metric: str | None = None, interactions: bool = True,
               max_pairs: int = 15, n_trees: int = 100, samples: int = 256,
               seed: int = 0) -> Importance:
    """The importance of each hyperparameter, and of the pairs among the most important
    (``max_pairs`` at most), for ``metric`` (default: the objective) over the completed
    trials. Needs scikit-learn and at least 5 completed trials.

    Raises ValueError for a study with fewer completed trials, no tunable hyperparameter,
    or (without ``metric``) several objectives.
    """
    from sklearn.ensemble import RandomForestRegressor

    from .frames import metric_value, resolve_metric

    metric, _direction = resolve_metric(study, metric)
    cols = _columns(study)
    if not cols:
        raise ValueError(f"Study {study.name!r} has no tunable hyperparameter to rank.")
    done = [t for t in study.trials if t.state == TrialState.COMPLETED and metric_value(t, metric) is not None]
    if len(done) < 5:
        raise ValueError(f"Study {study.name!r} has {len(done)} completed trials with "
                         f"{metric!r}; importance needs at least 5.")
    x = np.array([[_encode(h, t.hyperparameters.get(h.name)) for h in cols] for t in done])
    y = np.array([metric_value(t, metric) for t in done], dtype=float)
    names = [h.name for h in cols]
    if np.ptp(y) == 0:
        return Importance({n: 0.0 for n in names}, {}, metric, len(done), None)
    forest = RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=2, max_features=1.0,
                                   bootstrap=True, oob_score=len(done) >= 10, random_state=seed)
    forest.fit(x, y)
    r2 = float(forest.oob_score_) if len(done) >= 10 else None

    rng = np.random.default_rng(seed)
    base = np.column_stack([rng.choice(x[:, j], size=samples) for j in range(x.shape[1])])
    total = float(np.var(forest.predict(base)))
    if total <= 0:
        return Importance({n: 0.0 for n in names}, {}, metric, len(done), r2)

    def grid(j: int, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Up to ``k`` values of column j with their weights in the observed distribution."""
        values, counts = np.unique(x[:, j], return_counts=True)
        if len(values) > k:  # quantile midpoints, equal weights
            values = np.quantile(x[:, j], (np.arange(k) + 0.5) / k)
            counts = np.ones(k)
        return values, counts / counts.sum()

    cache: dict[tuple[tuple[int, ...], int], float] = {}

    def effect(js: tuple[int, ...], k: int) -> float:
        """The variance of the prediction averaged over all columns but ``js`` (one batched
        prediction over every grid point)."""
        if (js, k) in cache:
            return cache[(js, k)]
        grids = [grid(j, k) for j in js]
        combos = list(itertools.product(*[range(len(g[0])) for g in grids]))
        z = np.tile(base, (len(combos), 1))
        weights = np.ones(len(combos))
        for c, combo in enumerate(combos):
            rows = slice(c * samples, (c + 1) * samples)
            for j, (values, ws), i in zip(js, grids, combo):
                z[rows, j] = values[i]
                weights[c] *= ws[i]
        m = forest.predict(z).reshape(len(combos), samples).mean(axis=1)
        mu = float(np.sum(m * weights))
        cache[(js, k)] = float(np.sum(weights * (m - mu) ** 2))
        return cache[(js, k)]

    main_var = {j: effect((j,), 16) for j in range(len(cols))}
    main = {names[j]: min(v / total, 1.0) for j, v in main_var.items()}
    pairs: dict[tuple[str, str], float] = {}
    if interactions and len(cols) > 1:
        top = sorted(range(len(cols)), key=lambda j: -main_var[j])
        k = max(2, min(len(top), int(math.floor((1 + math.sqrt(1 + 8 * max_pairs)) / 2))))
        for a, b in itertools.combinations(sorted(top[:k]), 2):
            joint = effect((a, b), 8)
            # the main effects on the same coarse grids, so that the difference is consistent
            va, vb = effect((a,), 8), effect((b,), 8)
            pairs[(names[a], names[b])] = max(joint - va - vb, 0.0) / total
    return Importance(main, pairs, metric, len(done), r2)
