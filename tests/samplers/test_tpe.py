"""TPESampler: it learns (beats random search, concentrates near the optimum), respects
types and conditional spaces, handles several objectives, steers away from failures and
spreads pending trials apart. The shared cases (reproducibility, resuming, exhaustion) are
in test_sampler_contract.py."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from tunewise import HyperParameters, Objective, Study, TrialState
from tunewise.samplers import RandomSampler, SamplingContext, make_sampler
from tunewise.samplers.tpe import _FAILED, _RAN, TPESampler
from tunewise.space import point_id
from tunewise.trial import FrozenTrial

SEEDS = range(5)


def run(fn, sampler, max_trials, seed=0, objective="loss"):
    study = Study("t", objective=objective, sampler=sampler, seed=seed)
    study.optimize(fn, max_trials=max_trials, show_progress=False,
                   max_consecutive_failed_trials=None)
    return study


def best_scores(fn, sampler_factory, max_trials, seeds=SEEDS):
    return [run(fn, sampler_factory(), max_trials, seed=s).best_trial.score for s in seeds]


def quadratic4(trial):
    centre = (1.3, -2.1, 0.7, 3.3)
    return sum((trial.hp.Float(f"x{i}", -5.0, 5.0) - c) ** 2 for i, c in enumerate(centre))


def branin(trial):
    x, y = trial.hp.Float("x", -5.0, 10.0), trial.hp.Float("y", 0.0, 15.0)
    value = ((y - 5.1 / (4 * math.pi ** 2) * x ** 2 + 5 / math.pi * x - 6) ** 2
             + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x) + 10)
    return value - 0.397887  # the global minimum is 0


# -- settings ---------------------------------------------------------------------------------------
def test_make_sampler_builds_it_and_its_config_is_json_settings():
    sampler = make_sampler("tpe")
    assert isinstance(sampler, TPESampler)
    assert sampler.config() == {"name": "tpe", "n_startup_trials": 10, "n_candidates": 24,
                                "gamma": None, "multivariate": True, "prior_weight": 1.0,
                                "max_bad_trials": 1000}
    custom = TPESampler(n_startup_trials=5, gamma=0.2, multivariate=False, max_bad_trials=300)
    assert custom.config()["gamma"] == 0.2 and custom.config()["multivariate"] is False
    assert "n_startup_trials=5" in repr(custom) and "max_bad_trials=300" in repr(custom)
    assert TPESampler().config() == TPESampler().config()


@pytest.mark.parametrize("kwargs", [
    {"n_startup_trials": -1}, {"n_candidates": 0}, {"gamma": 0.0}, {"gamma": 1.5},
    {"gamma": True}, {"multivariate": "yes"}, {"prior_weight": 0.0}, {"max_bad_trials": 0},
    {"n_candidates": 2.5}])
def test_invalid_settings_are_refused_with_the_setting_named(kwargs):
    (name,) = kwargs
    with pytest.raises(ValueError, match=name):
        TPESampler(**kwargs)


# -- learning ---------------------------------------------------------------------------------------
def test_it_starts_with_random_proposals_then_uses_the_model():
    sampler = TPESampler(n_startup_trials=7)
    study = run(quadratic4, sampler, 12, seed=4)
    reference = run(quadratic4, RandomSampler(), 12, seed=4)
    points = [t.hyperparameters for t in study.trials]
    random_points = [t.hyperparameters for t in reference.trials]
    assert points[:7] == random_points[:7]  # the startup is plain random search
    assert points[7:] != random_points[7:]


@pytest.mark.parametrize("multivariate", [True, False], ids=["multivariate", "independent"])
def test_it_beats_random_search_on_a_quadratic(multivariate):
    tpe = best_scores(quadratic4, lambda: TPESampler(multivariate=multivariate), 50)
    rand = best_scores(quadratic4, RandomSampler, 50)
    print(f"\n4-d quadratic, 50 trials, best loss: tpe {np.mean(tpe):.3f}, random {np.mean(rand):.3f}")
    # measured over 6 sets of 5 seeds: 0.08-0.17 (multivariate), 0.11-0.20 (independent)
    assert np.mean(tpe) < 0.4 * np.mean(rand)


def test_it_beats_random_search_on_branin():
    # on the log scale, since one run in five or so spends its trials in the wrong one of
    # Branin's three valleys
    tpe = np.log10(best_scores(branin, TPESampler, 50))
    rand = np.log10(best_scores(branin, RandomSampler, 50))
    print(f"\nBranin, 50 trials, mean log10 regret: tpe {tpe.mean():.2f}, random {rand.mean():.2f}")
    # measured over 8 sets of 5 seeds: 0.45 to 1.24 lower
    assert tpe.mean() < rand.mean() - 0.3


def test_proposals_concentrate_near_the_optimum():
    def fn(trial):
        x = trial.hp.Float("x", 0.0, 10.0)
        lr = trial.hp.Float("lr", 1e-5, 1e-1, sampling="log")
        return (x - 7.0) ** 2 / 25 + (math.log10(lr) + 3.0) ** 2 / 4

    for seed in (0, 1):
        study = run(fn, TPESampler(), 60, seed=seed)
        late = [t.hyperparameters for t in study.trials[40:]]
        near = [abs(v["x"] - 7.0) < 1.5 and abs(math.log10(v["lr"]) + 3.0) < 0.6 for v in late]
        # random search lands in that box 0.3 * 0.3 = 9% of the time
        assert sum(near) >= 0.5 * len(late), late


# -- types and conditional spaces -------------------------------------------------------------------
def network(trial):
    """A conditional space with every type; the best is a cnn with 5 layers of 128 filters,
    max pooling of size 2, dropout 0.25, lr 1e-3, batch norm on."""
    hp = trial.hp
    model = hp.Choice("model", ["linear", "mlp", "cnn"])
    lr = hp.Float("lr", 1e-5, 1e-1, sampling="log")
    bn = hp.Boolean("batch_norm")
    hp.Fixed("optimizer", "adam")
    loss = (math.log10(lr) + 3.0) ** 2 / 4 + 0.3 * (not bn)
    with hp.conditional_scope("model", ["mlp", "cnn"]):
        dropout = hp.Float("dropout", 0.0, 0.5, step=0.05)
    with hp.conditional_scope("model", "mlp"):
        units = hp.Int("units", 16, 1024, sampling="log")
    if model == "linear":
        return loss + 1.5
    loss += 4 * (dropout - 0.25) ** 2
    if model == "mlp":
        return loss + 0.6 + (math.log2(units) - 8) ** 2 / 20
    with hp.conditional_scope("model", "cnn"):
        layers = hp.Int("layers", 1, 8)
        filters = hp.Choice("filters", [16, 32, 64, 128, 256])
        pooling = hp.Choice("pooling", ["max", "avg", "none"])
        with hp.conditional_scope("pooling", ["max", "avg"]):
            size = hp.Int("pool_size", 2, 4)
    loss += (layers - 5) ** 2 / 10 + abs(math.log2(filters) - 7) / 4 + 0.3 * (pooling != "max")
    return loss + (0.2 * (size - 2) if size is not None else 0.3)


def check_network(v):
    expected = {"model", "lr", "batch_norm", "optimizer"}
    if v["model"] != "linear":
        expected.add("dropout")
    if v["model"] == "mlp":
        expected.add("units")
    if v["model"] == "cnn":
        expected |= {"layers", "filters", "pooling"}
        if v["pooling"] != "none":
            expected.add("pool_size")
    assert set(v) == expected, v
    assert type(v["lr"]) is float and 1e-5 <= v["lr"] <= 1e-1
    assert type(v["batch_norm"]) is bool and v["optimizer"] == "adam"
    if "dropout" in v:
        assert type(v["dropout"]) is float
        assert round(v["dropout"] / 0.05, 9) == round(v["dropout"] / 0.05)
    if "units" in v:
        assert type(v["units"]) is int and 16 <= v["units"] <= 1024
    if "layers" in v:
        assert type(v["layers"]) is int and 1 <= v["layers"] <= 8
        assert type(v["filters"]) is int and v["filters"] in (16, 32, 64, 128, 256)
        assert v["pooling"] in ("max", "avg", "none")
    if "pool_size" in v:
        assert type(v["pool_size"]) is int and 2 <= v["pool_size"] <= 4


def test_proposals_respect_types_and_conditions_and_learn_in_a_conditional_space():
    tpe, rand = [], []
    for seed in SEEDS:
        study = run(network, TPESampler(), 60, seed=seed)
        for t in study.trials:
            check_network(t.hyperparameters)
        tried = [t.hyperparameters for t in study.trials]
        assert {v["model"] for v in tried} == {"linear", "mlp", "cnn"}
        assert {v["pooling"] for v in tried if v["model"] == "cnn"} == {"max", "avg", "none"}
        tpe.append(study.best_trial.score)
        rand.append(run(network, RandomSampler(), 60, seed=seed).best_trial.score)
    print(f"\nconditional space, 60 trials, best loss: tpe {np.mean(tpe):.3f}, "
          f"random {np.mean(rand):.3f}")
    # measured over 5 sets of 3 seeds: 0.25x to 0.65x (a run may settle in the mlp branch,
    # a local optimum at 0.6)
    assert np.mean(tpe) < 0.8 * np.mean(rand)


def test_a_child_the_good_trials_lack_is_drawn_from_its_prior():
    # every startup trial takes the 'a' branch, so no good trial has 'b_width'; a candidate
    # that switches to 'b' still gets a valid, varied width
    space = HyperParameters()
    space.Choice("branch", ["a", "b"])
    space.Float("a_rate", 0.0, 1.0, parent_name="branch", parent_values="a")
    space.Int("b_width", 1, 100, parent_name="branch", parent_values="b")
    trials = [_record(i, {"branch": "a", "a_rate": (i + 0.5) / 12}, float(i)) for i in range(12)]
    sampler = TPESampler(n_candidates=8)
    proposals = [sampler.propose(_context(space, trials, seed)) for seed in range(60)]
    widths = [p["b_width"] for p in proposals if p["branch"] == "b"]
    for p in proposals:
        assert set(p) == ({"branch", "a_rate"} if p["branch"] == "a" else {"branch", "b_width"})
    assert widths and all(type(w) is int and 1 <= w <= 100 for w in widths)
    assert len(set(widths)) >= min(5, len(widths))
    rates = [p["a_rate"] for p in proposals if p["branch"] == "a"]
    assert np.mean(rates) < 0.35  # the good 'a' trials have small rates


def test_the_best_category_is_found():
    values = ["a", "b", "c", "d", "e"]
    loss = {"a": 1.0, "b": 2.0, "c": 0.0, "d": 2.0, "e": 1.5}

    def fn(trial):
        return loss[trial.hp.Choice("c", values)] + (trial.hp.Float("x", 0.0, 1.0) - 0.5) ** 2

    late = []
    for seed in (0, 1, 2):
        late += [t.hyperparameters["c"] for t in run(fn, TPESampler(), 40, seed=seed).trials[20:]]
    assert late.count("c") > 0.5 * len(late)  # random: 20%


def test_categories_are_not_treated_as_ordered():
    # the good trials all chose "a"; the bad ones chose every category alike. An ordinal
    # kernel would spill from "a" onto its neighbour "b" more than onto the far "e"
    space = HyperParameters()
    space.Choice("c", ["a", "b", "c", "d", "e"])
    space.Float("x", 0.0, 1.0)
    trials = [_record(i, {"c": "a", "x": 0.1 * i}, float(i)) for i in range(3)]
    trials += [_record(3 + i, {"c": "abcde"[i % 5], "x": (i % 7) / 7}, 10.0 + i)
               for i in range(30)]
    sampler = TPESampler(n_startup_trials=5)
    counts = {v: 0 for v in "abcde"}
    for seed in range(300):
        counts[sampler.propose(_context(space, trials, seed))["c"]] += 1
    others = [counts[v] for v in "bcde"]
    assert counts["a"] > 0.5 * 300, counts
    assert max(others) - min(others) < 25, counts  # "b" is no closer to "a" than "e" is


# -- several objectives -----------------------------------------------------------------------------
def tradeoff(trial):
    x, y = trial.hp.Float("x", 0.0, 1.0), trial.hp.Float("y", 0.0, 1.0)
    return {"f1": x + 0.5 * y, "f2": (1 - x) ** 2 + 0.5 * y}  # y = 0 is on the front


def hypervolume(points, ref=(1.5, 1.5)):
    front = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    volume, best_f2 = 0.0, ref[1]
    for f1, f2 in front:
        if f2 < best_f2:
            volume += (ref[0] - f1) * (best_f2 - f2)
            best_f2 = f2
    return volume


def test_several_objectives_give_a_spread_pareto_front_better_than_random():
    objectives = [Objective("f1", "min"), Objective("f2", "min")]
    tpe, rand = [], []
    for seed in SEEDS:
        for sampler, out in ((TPESampler(), tpe), (RandomSampler(), rand)):
            study = run(tradeoff, sampler, 40, seed=seed, objective=objectives)
            assert all(isinstance(t.score, tuple) for t in study.trials)
            out.append(hypervolume([t.score for t in study.trials]))
            if isinstance(sampler, TPESampler):
                front = study.best_trials()
                assert len(front) >= 4
                xs = sorted(t.hyperparameters["x"] for t in front)
                assert xs[-1] - xs[0] > 0.3  # spread along the trade-off, not one point
                late = [t.hyperparameters["y"] for t in study.trials[20:]]
                assert np.median(late) < 0.2  # it learned that y only costs
    print(f"\nhypervolume: tpe {np.mean(tpe):.4f}, random {np.mean(rand):.4f}")
    assert np.mean(tpe) > np.mean(rand)


def test_the_pareto_split_prefers_the_first_fronts():
    from tunewise.samplers.tpe import _pareto_order
    y = np.array([[1.0, 1.0], [0.0, 2.0], [2.0, 0.0], [2.0, 2.0], [1.5, 1.5], [3.0, 3.0]])
    order = list(_pareto_order(y, len(y)))
    assert len(_pareto_order(y, 2)) == 3  # the first front is enough
    assert set(order[:3]) == {0, 1, 2}  # the non-dominated front
    assert set(order[3:5]) == {3, 4} and order[5] == 5
    assert order[:3][-1] == 0  # the extremes of a front come before its crowded middle


# -- failures and pending trials ------------------------------------------------------------------
def test_a_region_that_fails_is_avoided():
    # the loss says nothing about x: only the failures tell the sampler to avoid x > 0.7
    def fn(trial):
        x, y = trial.hp.Float("x", 0.0, 1.0), trial.hp.Float("y", 0.0, 1.0)
        if x > 0.7:
            raise RuntimeError("out of memory")
        return (y - 0.3) ** 2

    shares = []
    for seed in (0, 1, 2):
        study = run(fn, TPESampler(), 50, seed=seed)
        late = study.trials[15:]
        shares.append(np.mean([t.hyperparameters["x"] > 0.7 for t in late]))
        assert any(t.state == TrialState.FAILED for t in study.trials)
    assert np.mean(shares) < 0.15, shares  # random search: 30%; measured on 8 seeds: 3%


def test_pending_trials_get_different_proposals():
    study = run(quadratic4, TPESampler(), 15, seed=1)
    first, second = study.ask(), study.ask()  # two workers, neither has told yet
    assert first.hp.values != second.hp.values
    pending = [first, second] + [study.ask() for _ in range(4)]
    points = np.array([[t.hp.values[f"x{i}"] for i in range(4)] for t in pending]) / 10
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(points) for b in points[i + 1:]]
    assert min(gaps) > 0.01, points


def test_failed_pruned_and_pending_trials_join_the_bad_set():
    space = HyperParameters()
    space.Float("x", 0.0, 1.0)
    trials = [_record(i, {"x": i / 20}, float(i)) for i in range(20)]
    others = {TrialState.FAILED: 20, TrialState.PRUNED: 21, TrialState.RUNNING: 22,
              TrialState.WAITING: 23, TrialState.INTERRUPTED: 24}
    trials += [_record(n, {"x": 0.5 + n / 100}, None, state) for state, n in others.items()]
    trials.append(_record(25, {"x": 0.99}, float("nan")))  # completed, but no usable score
    good, bad, labels = TPESampler()._split(_context(space, trials, 0))
    assert [t.number for t in good] == [0, 1]  # min(ceil(0.1 * 20), 25) best of 20 scored
    assert [t.number for t in bad] == list(range(2, 26))
    # what the failure model learns from: failed (and NaN) vs ran (completed, pruned)
    failed = {t.number for t, label in zip(bad, labels) if label == _FAILED}
    ran = {t.number for t, label in zip(bad, labels) if label == _RAN}
    assert failed == {20, 25} and ran == set(range(2, 20)) | {21}


def test_a_pending_trial_pushes_the_next_proposal_away():
    space = HyperParameters()
    space.Float("x", 0.0, 1.0)
    space.Float("y", 0.0, 1.0)
    rng = np.random.default_rng(0)
    trials = []
    for i in range(30):
        x, y = rng.random(2)
        trials.append(_record(i, {"x": x, "y": y}, (x - 0.5) ** 2 + (y - 0.5) ** 2))
    sampler = TPESampler()
    alone = [sampler.propose(_context(space, trials, s)) for s in range(30)]
    # other workers are evaluating the three points the sampler likes first
    pending = [_record(30 + j, alone[j], None, TrialState.RUNNING) for j in range(3)]
    crowded = [sampler.propose(_context(space, trials + pending, s)) for s in range(30)]

    def distance(ps):
        return np.mean([min(math.hypot(p["x"] - q.hyperparameters["x"],
                                       p["y"] - q.hyperparameters["y"]) for q in pending)
                        for p in ps[3:]])

    assert distance(crowded) > 1.2 * distance(alone)


# -- discrete spaces ---------------------------------------------------------------------------------
def test_a_discrete_space_is_used_up_without_repeats():
    def fn(trial):
        a = trial.hp.Int("a", 0, 3)
        b = trial.hp.Choice("b", ["x", "y", "z"])
        return {"loss": a + "xyz".index(b)}

    study = run(fn, TPESampler(n_startup_trials=3), 30, seed=0)
    keys = [point_id(t.hyperparameters) for t in study.trials]
    assert len(keys) == 12 == len(set(keys))
    assert "exhausted" in study.stop_reason
    # the model's proposals come first while untried points remain near the best
    assert {(t.hyperparameters["a"], t.hyperparameters["b"]) for t in study.trials[:8]} >= {(0, "x")}


def test_integer_and_stepped_ranges_find_their_best_values():
    def fn(trial):
        hp = trial.hp
        units = hp.Int("units", 8, 4096, sampling="log")
        layers = hp.Int("layers", 1, 6)
        rate = hp.Float("rate", 0.0, 0.9, step=0.1)
        return (math.log2(units) - 9) ** 2 / 9 + (layers - 2) ** 2 / 4 + (rate - 0.3) ** 2

    hits, shares = 0, []
    for seed in (0, 1, 2):
        study = run(fn, TPESampler(), 50, seed=seed)
        for t in study.trials:
            v = t.hyperparameters
            assert type(v["units"]) is int and type(v["layers"]) is int and type(v["rate"]) is float
            assert round(v["rate"] * 10, 9) == round(v["rate"] * 10)
        best = study.best_trial.hyperparameters
        hits += abs(math.log2(best["units"]) - 9) < 1 and best["layers"] == 2
        late = [t.hyperparameters["layers"] for t in study.trials[25:]]
        shares.append(late.count(2) / len(late))
    # measured on 12 seeds: 11 runs find layers=2 and then take it 60-90% of the time, one
    # stays on layers=1 (TPE exploits: a run can settle next to the optimum)
    assert hits >= 2
    assert np.mean(shares) > 0.35, shares  # random: 1 in 6


# -- determinism and speed ---------------------------------------------------------------------------
def test_its_cache_is_only_a_speed_up():
    shared = TPESampler()
    fresh = [run(network, TPESampler(), 18, seed=s) for s in (0, 1)]
    reused = [run(network, shared, 18, seed=s) for s in (0, 1)]  # one instance, two studies
    for a, b in zip(fresh, reused):
        assert [t.hyperparameters for t in a.trials] == [t.hyperparameters for t in b.trials]
    history = reused[0].trials
    ctx = _context_from(reused[0], history, 5)
    assert shared.propose(ctx) == TPESampler().propose(_context_from(reused[0], history, 5))


def test_proposal_time_is_reported():
    """Prints the proposal time on a 7-d space (timing is not asserted; see benchmarks/)."""
    space = HyperParameters()
    space.Int("batch_size", 16, 512, sampling="log")
    space.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    space.Float("momentum", 0.1, 0.99)
    space.Float("weight_decay", 1e-5, 1e-1)
    space.Int("num_layers", 1, 5)
    space.Int("max_units", 64, 1024, sampling="log")
    space.Float("max_dropout", 0.0, 1.0)
    rng = np.random.default_rng(0)
    random = RandomSampler()
    trials = []
    for i in range(1000):
        values = random.propose(_context(space, [], i))
        trials.append(_record(i, values, float(rng.random())))
    sampler = TPESampler()
    for n in (100, 300, 1000):
        sampler.propose(_context(space, trials[:n], 0))  # fills the encoding cache
        times = []
        for s in range(5):
            start = time.perf_counter()
            proposal = sampler.propose(_context(space, trials[:n], s))
            times.append(time.perf_counter() - start)
            assert set(proposal) == {hp.name for hp in space.space}
        print(f"\nTPE proposal, 7-d, {n} trials: {1e3 * np.median(times):.1f} ms")


# -- helpers -----------------------------------------------------------------------------------------
def _record(number, values, score, state=TrialState.COMPLETED):
    key = point_id(values)
    return FrozenTrial(number=number, state=state, hyperparameters=values, score=score,
                       key=key, params_key=key)


def _context(space, trials, seed, objectives=None):
    return SamplingContext(space=space.space, trials=list(trials),
                           objectives=objectives or [Objective("loss", "min")],
                           rng=np.random.default_rng([seed, len(trials)]))


def _context_from(study, trials, seed):
    return SamplingContext(space=study.hyperparameters.space, trials=list(trials),
                           objectives=study.objectives, rng=np.random.default_rng(seed))
