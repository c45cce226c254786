"""The Gaussian-process sampler's parts, and the auto sampler's rule. The behaviour every
sampler shares (spaces, failures, pending trials, resume, seeds) is in the contract suite."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from tunewise import HyperParameters, Objective, Study, TrialState
from tunewise.samplers import AutoSampler, BayesianSampler, SamplingContext
from tunewise.samplers._gp import GaussianProcess, _lengthscale_prior, _log_h, _neg_log_posterior
from tunewise.samplers.auto import GP_MAX_TRIALS
from tunewise.samplers.bayesian import _Layout, _warp
from tunewise.space import UnitEncoder
from tunewise.trial import FrozenTrial


def _data(n=30, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = np.sin(4 * X[:, 0]) + X[:, 1] ** 2
    return X, (y - y.mean()) / y.std(), rng


# -- the model -----------------------------------------------------------------------------------
def test_the_log_posterior_gradient_matches_finite_differences():
    X, y, rng = _data()
    mu, sigma = _lengthscale_prior(X.shape[1])
    for _ in range(3):
        theta = rng.normal(0, 0.7, X.shape[1] + 2) + np.r_[np.zeros(X.shape[1]), 0.0, -3.0]
        f = lambda t: _neg_log_posterior(t, X, y, mu, sigma)[0]  # noqa: E731
        g = lambda t: _neg_log_posterior(t, X, y, mu, sigma)[1]  # noqa: E731
        assert optimize.check_grad(f, g, theta) / np.linalg.norm(g(theta)) < 1e-4


def test_the_log_ei_gradient_matches_finite_differences():
    X, y, rng = _data()
    gp = GaussianProcess.fit(X, y, rng)
    for best in (y.min(), y.min() - 1.0, 0.0):
        for x in rng.random((3, X.shape[1])):
            f = lambda v: gp.log_ei(v[None, :], best)[0]  # noqa: E731
            g = lambda v: gp.log_ei(v[None, :], best, grad=True)[1][0]  # noqa: E731
            assert optimize.check_grad(f, g, x, epsilon=1e-7) <= 1e-3 * max(1.0, np.linalg.norm(g(x)))


def test_log_h_is_exact_where_it_can_be_checked_and_finite_far_in_the_tails():
    z = np.array([-20.0, -5.0, -1.0, 0.0, 0.5, 3.0])
    exact = np.log(z * stats.norm.cdf(z) + stats.norm.pdf(z))
    assert np.allclose(_log_h(z)[0], exact, rtol=1e-9, atol=1e-9)
    far = np.array([-1e4, -300.0, -26.0, 1e3, 1e8])
    value, slope = _log_h(far)
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(slope))
    assert np.all(np.diff(value) > 0)  # increasing in z
    # slope = Φ/h, from its asymptote -z - 2/z in the left tail to 1/z on the right
    assert slope[0] == pytest.approx(1e4, rel=1e-3) and slope[-1] == pytest.approx(1e-8, rel=1e-3)


def test_the_fitted_model_interpolates_and_is_uncertain_away_from_data():
    X, y, rng = _data(n=40, d=2)
    gp = GaussianProcess.fit(X, y, rng)
    mean, var = gp.predict(X)
    assert np.corrcoef(mean, y)[0, 1] > 0.99
    far = np.array([[5.0, 5.0]])
    assert gp.predict(far)[1][0] > 10 * var.mean()


def test_a_pending_point_loses_its_uncertainty():
    X, y, rng = _data(n=20, d=2)
    gp = GaussianProcess.fit(X, y, rng)
    point = np.array([[1.6, -0.5]])  # away from the data, where the model is unsure
    before = gp.predict(point)[1][0]
    after = gp.condition_on(point).predict(point)[1][0]
    assert after < 1e-3 * before


def test_the_output_warp_pulls_in_outliers_and_keeps_the_good_end_linear():
    rng = np.random.default_rng(1)
    good = rng.normal(0.1, 0.01, 40)
    diverged = np.concatenate([good, [0.9, 1.4, 2.3]])  # three runs blew up
    warped = _warp(diverged)
    assert np.array_equal(np.argsort(warped, kind="stable"), np.argsort(diverged, kind="stable"))
    assert warped.mean() == pytest.approx(0.0, abs=1e-9) and warped.std() == pytest.approx(1.0)
    plain = (diverged - diverged.mean()) / diverged.std()
    # the good runs are spread out, relative to the whole, several times more than by
    # standardising alone; among them the scale is linear, so differences keep their ratios
    assert warped[:40].std() > 3 * plain[:40].std()
    assert np.allclose(np.diff(np.sort(warped[:40])) / np.diff(np.sort(good)),
                       (warped[1] - warped[0]) / (good[1] - good[0]))
    clean = np.linspace(0.2, 0.5, 30) ** 2  # nothing beyond the fence: plain standardisation
    assert np.allclose(_warp(clean), (clean - clean.mean()) / clean.std())
    assert np.all(_warp(np.full(5, 3.0)) == 0.0)  # a constant objective is not an error


# -- the candidate encoding agrees with the space's own ----------------------------------------
def _mixed_space():
    hp = HyperParameters()
    hp.Int("layers", 1, 5)
    hp.Int("units", 16, 512, sampling="log")
    hp.Int("filters", 8, 64, step=8)
    hp.Float("lr", 1e-5, 1e-1, sampling="log")
    hp.Float("dropout", 0.0, 0.5, step=0.1)
    hp.Choice("act", ["relu", "tanh", "gelu"])
    hp.Choice("width", [32, 64, 128])  # numeric values: ordered
    hp.Boolean("bn")
    hp.Fixed("opt", "adam")
    with hp.conditional_scope("act", ["tanh", "gelu"]):
        hp.Float("slope", 0.0, 1.0)
        hp.Choice("init", ["a", "b"])
    return hp.space


def test_vectorised_candidates_encode_exactly_what_they_propose():
    space = _mixed_space()
    layout = _Layout(space)
    encoder = UnitEncoder(space)  # the space's own encoding, as the reference
    onehot = np.zeros(encoder.dims, dtype=bool)
    for hp in encoder.space:
        if encoder.is_categorical(hp):
            onehot[encoder.slices[hp.name]] = True
    U = np.random.default_rng(3).random((300, layout.width))
    X = layout.encode(U)
    for u, x in zip(U, X):
        values = layout.decode(u)
        expected = encoder.encode(values)
        expected[np.isnan(expected)] = np.where(onehot, 0.0, 0.5)[np.isnan(expected)]
        assert np.allclose(x, expected), values
        assert ("slope" in values) == (values["act"] != "relu")
        assert values["opt"] == "adam"


# -- the sampler ---------------------------------------------------------------------------------
def test_the_initial_design_is_a_sobol_sequence_that_stratifies_each_range():
    hp = HyperParameters()
    hp.Float("x", 0.0, 1.0)  # declared: a define-by-run first trial takes the defaults
    study = Study("s", objective="loss", sampler=BayesianSampler(num_initial_points=8), seed=3,
                  hyperparameters=hp)
    study.optimize(lambda t: t.hp.Float("x", 0.0, 1.0), max_trials=8, show_progress=False)
    xs = sorted(t.hyperparameters["x"] for t in study.trials)
    assert [math.floor(x * 8) for x in xs] == list(range(8))  # one point in each eighth


def test_it_finds_the_optimum_of_a_smooth_function_far_better_than_random():
    def branin(trial):
        x, y = trial.hp.Float("x", -5.0, 10.0), trial.hp.Float("y", 0.0, 15.0)
        return ((y - 5.1 / (4 * math.pi ** 2) * x ** 2 + 5 / math.pi * x - 6) ** 2
                + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10)

    def regret(sampler, seed):
        study = Study("b", objective="loss", sampler=sampler, seed=seed)
        study.optimize(branin, max_trials=30, show_progress=False)
        return study.best_trial.score - 0.397887

    gp = [regret("bayesian", s) for s in range(3)]
    rnd = [regret("random", s) for s in range(3)]
    assert max(gp) < 0.05 and np.mean(gp) < 0.1 * np.mean(rnd)


def test_maximised_objectives_are_turned_around():
    study = Study("m", objective=Objective("acc", "max"), sampler="bayesian", seed=1)
    study.optimize(lambda t: {"acc": -abs(t.hp.Float("x", 0.0, 1.0) - 0.8)}, max_trials=18,
                   show_progress=False)
    assert abs(study.best_trial.hyperparameters["x"] - 0.8) < 0.03
    late = [t.hyperparameters["x"] for t in study.trials[12:]]
    assert np.median(np.abs(np.array(late) - 0.8)) < 0.1


@pytest.mark.parametrize("kwargs, message", [
    ({"num_initial_points": 0}, "num_initial_points"),
    ({"candidates": 4}, "candidates"),
    ({"fit_points": 3}, "fit_points"),
])
def test_bad_settings_are_errors_that_name_them(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BayesianSampler(**kwargs)


def test_settings_are_stored_and_a_change_is_named_on_resume(tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    Study("s", objective="loss", storage=db, sampler=BayesianSampler(num_initial_points=4), seed=0)
    with pytest.raises(ValueError, match="sampler"):
        Study("s", objective="loss", storage=db, sampler=BayesianSampler(num_initial_points=6),
              seed=0)


# -- auto ----------------------------------------------------------------------------------------
def _ctx(space, n_finished):
    trials = [FrozenTrial(number=i, state=TrialState.COMPLETED, hyperparameters={}, score=1.0)
              for i in range(n_finished)]
    return SamplingContext(space=space, trials=trials, objectives=[Objective("loss", "min")],
                           rng=np.random.default_rng(0))


def test_auto_uses_the_gp_for_small_budgets_and_tpe_for_long_searches_and_wide_spaces():
    hp = HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Int("units", 8, 64)
    auto = AutoSampler()
    assert auto.choose(_ctx(hp.space, 0)) == "bayesian"
    assert auto.choose(_ctx(hp.space, GP_MAX_TRIALS - 1)) == "bayesian"
    assert auto.choose(_ctx(hp.space, GP_MAX_TRIALS)) == "tpe"
    tree = HyperParameters()
    model = tree.Choice("model", ["a", "b"])
    assert model == "a"
    for branch in ("a", "b"):
        with tree.conditional_scope("model", branch):
            tree.Float(f"x_{branch}", 0.0, 1.0)
            tree.Int(f"n_{branch}", 1, 4)
    assert auto.choose(_ctx(tree.space, 0)) == "bayesian"  # conditional: the GP did better
    wide = HyperParameters()
    for i in range(30):
        wide.Float(f"x{i}", 0.0, 1.0)
    assert auto.choose(_ctx(wide.space, 0)) == "tpe"


def test_auto_is_the_default_and_switches_without_losing_the_history(monkeypatch, tmp_path):
    monkeypatch.setattr("tunewise.samplers.auto.GP_MAX_TRIALS", 12)
    chosen = []
    original = AutoSampler.choose
    monkeypatch.setattr(AutoSampler, "choose",
                        lambda self, ctx: chosen.append(original(self, ctx)) or chosen[-1])

    def fn(trial):
        return (trial.hp.Float("x", -1.0, 1.0) - 0.3) ** 2 + 0.1 * trial.hp.Int("n", 0, 4)

    whole = Study("a", objective="loss", seed=2)
    assert type(whole.sampler).__name__ == "AutoSampler"
    whole.optimize(fn, max_trials=20, show_progress=False)
    assert chosen == ["bayesian"] * 12 + ["tpe"] * 8
    # TPE continues from everything the GP found, and a resumed study makes the same switch
    db = f"sqlite:///{tmp_path / 'a.db'}"
    for stop in (10, 14, 20):
        Study("a", objective="loss", storage=db, seed=2).optimize(fn, max_trials=stop,
                                                                  show_progress=False)
    resumed = Study("a", objective="loss", storage=db, seed=2)
    assert [t.hyperparameters for t in resumed.trials] == [t.hyperparameters for t in whole.trials]
    assert whole.best_trial.score < 0.01
