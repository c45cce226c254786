"""RandomSampler: uniform on each hyperparameter's scale, seeded, no repeats in a discrete
space, a clean end when a finite space is used up."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest

from tunewise import HyperParameters, Study
from tunewise.samplers import RandomSampler, SamplingContext
from tunewise.space import point_id
from tunewise.trial import FrozenTrial, TrialState

# chi-square critical values at p = 0.001, by degrees of freedom: a fair sampler fails one
# of these only once in a thousand seeds, and the seeds below are fixed
CHI2_999 = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47, 7: 24.32}


def draws(space: HyperParameters, n: int, seed: int = 0, trials=()) -> list[dict]:
    sampler = RandomSampler()
    return [sampler.propose(SamplingContext(space=space.space, trials=list(trials), objectives=[],
                                            rng=np.random.default_rng([seed, i])))
            for i in range(n)]


def chi_square(counts: Counter, categories: list) -> float:
    n = sum(counts.values())
    expected = n / len(categories)
    return sum((counts.get(c, 0) - expected) ** 2 / expected for c in categories)


def with_continuous(build) -> HyperParameters:
    """A space with a continuous Float beside the hyperparameters under test, so that draws
    are independent (a discrete space would avoid repeats)."""
    hp = HyperParameters()
    build(hp)
    hp.Float("noise", 0.0, 1.0)
    return hp


def record(number: int, values: dict) -> FrozenTrial:
    key = point_id(values)
    return FrozenTrial(number=number, state=TrialState.COMPLETED, hyperparameters=values,
                       key=key, params_key=key)


# -- uniformity ----------------------------------------------------------------------------------
def test_a_choice_is_drawn_uniformly():
    values = ["relu", "tanh", "gelu", "elu", "selu"]
    space = with_continuous(lambda hp: hp.Choice("act", values))
    counts = Counter(d["act"] for d in draws(space, 5000, seed=1))
    assert set(counts) == set(values)
    assert chi_square(counts, values) < CHI2_999[4], counts


def test_an_int_range_and_a_boolean_are_drawn_uniformly():
    space = with_continuous(lambda hp: (hp.Int("n", 1, 8), hp.Boolean("flag")))
    got = draws(space, 4000, seed=2)
    ints = Counter(d["n"] for d in got)
    assert chi_square(ints, list(range(1, 9))) < CHI2_999[7], ints
    flags = Counter(d["flag"] for d in got)
    assert chi_square(flags, [False, True]) < CHI2_999[1], flags


def test_a_stepped_range_is_drawn_uniformly_over_its_steps():
    space = with_continuous(lambda hp: (hp.Int("units", 32, 128, step=32),
                                        hp.Float("rate", 0.0, 0.3, step=0.1)))
    got = draws(space, 4000, seed=3)
    units = Counter(d["units"] for d in got)
    assert chi_square(units, [32, 64, 96, 128]) < CHI2_999[3], units
    rates = Counter(d["rate"] for d in got)
    assert set(rates) == {0.0, 0.1, 0.2, 0.3}
    assert chi_square(rates, [0.0, 0.1, 0.2, 0.3]) < CHI2_999[3], rates


def test_a_linear_float_is_uniform_over_its_range():
    space = with_continuous(lambda hp: hp.Float("x", -2.0, 2.0))
    xs = [d["x"] for d in draws(space, 4000, seed=4)]
    assert all(-2.0 <= x <= 2.0 for x in xs)
    quarters = Counter(min(int((x + 2.0) // 1.0), 3) for x in xs)
    assert chi_square(quarters, [0, 1, 2, 3]) < CHI2_999[3], quarters


def test_a_log_float_is_uniform_over_the_decades():
    space = with_continuous(lambda hp: hp.Float("lr", 1e-5, 1e-1, sampling="log"))
    lrs = [d["lr"] for d in draws(space, 4000, seed=5)]
    assert all(1e-5 <= v <= 1e-1 for v in lrs)
    decades = Counter(min(int(math.floor(math.log10(v))), -2) for v in lrs)
    assert chi_square(decades, [-5, -4, -3, -2]) < CHI2_999[3], decades


def test_a_reverse_log_float_is_the_mirror_of_a_log_float():
    lo, hi = 0.5, 0.999
    space = with_continuous(lambda hp: hp.Float("momentum", lo, hi, sampling="reverse_log"))
    values = [d["momentum"] for d in draws(space, 4000, seed=6)]
    assert all(lo <= v <= hi for v in values)
    mirrored = [hi + lo - v for v in values]  # log-uniform on [lo, hi]
    halves = Counter(m < math.sqrt(lo * hi) for m in mirrored)
    assert chi_square(halves, [False, True]) < CHI2_999[1], halves
    assert np.median(values) > (lo + hi) / 2  # dense near the maximum


def test_an_unstepped_log_int_reaches_both_ends_and_favours_small_values():
    space = with_continuous(lambda hp: hp.Int("units", 1, 1024, sampling="log"))
    values = [d["units"] for d in draws(space, 3000, seed=7)]
    assert min(values) == 1 and max(values) >= 700
    assert sum(v <= 32 for v in values) > 0.4 * len(values)  # half the log scale is [1, 32]


# -- reproducibility and purity -------------------------------------------------------------------
def test_the_same_rng_gives_the_same_proposal_and_the_sampler_keeps_no_state():
    space = with_continuous(lambda hp: (hp.Int("n", 1, 100), hp.Choice("c", ["a", "b", "c"])))
    assert draws(space, 50, seed=8) == draws(space, 50, seed=8)
    sampler = RandomSampler()
    ctx = lambda: SamplingContext(space=space.space, trials=[], objectives=[],  # noqa: E731
                                  rng=np.random.default_rng(123))
    first = sampler.propose(ctx())
    for _ in range(5):
        sampler.propose(ctx())
    assert sampler.propose(ctx()) == first
    assert draws(space, 50, seed=9) != draws(space, 50, seed=8)


def test_a_seeded_study_gives_the_same_trials_every_time():
    def fn(trial):
        return {"loss": trial.hp.Float("x", 0.0, 1.0) + trial.hp.Int("n", 0, 1000)}

    runs = []
    for _ in range(2):
        study = Study("r", objective="loss", sampler="random", seed=2024)
        study.optimize(fn, max_trials=10, show_progress=False)
        runs.append([t.hyperparameters for t in study.trials])
    assert runs[0] == runs[1]
    assert len({str(p) for p in runs[0]}) == 10


# -- discrete spaces: no repeats, a clean end ------------------------------------------------------
def test_no_point_repeats_until_a_200_point_space_is_used_up():
    def fn(trial):
        return {"loss": float(trial.hp.Int("a", 0, 199))}

    study = Study("r", objective="loss", sampler="random", seed=0)
    study.optimize(fn, max_trials=250, show_progress=False)
    values = [t.hyperparameters["a"] for t in study.trials]
    assert sorted(values) == list(range(200))  # each point once: no early stop on duplicates
    assert "exhausted" in study.stop_reason
    # random order, not a walk through the range
    assert values[:20] != sorted(values[:20])
    assert max(values[:20]) - min(values[:20]) > 100


def test_propose_returns_none_only_when_every_point_was_tried():
    hp = HyperParameters()
    hp.Choice("act", ["relu", "tanh"])
    hp.Int("n", 1, 3)
    every = [{"act": a, "n": n} for a in ("relu", "tanh") for n in (1, 2, 3)]
    tried = [record(i, v) for i, v in enumerate(every[:-1])]
    # one point left: every seed finds it
    for seed in range(20):
        assert draws(hp, 1, seed=seed, trials=tried) == [every[-1]]
    tried.append(record(5, every[-1]))
    assert draws(hp, 3, trials=tried) == [None, None, None]


def test_a_claimed_point_counts_as_tried_even_if_its_values_were_recorded_differently():
    # a define-by-run trial records more values than were proposed; its claim key is the
    # proposal, and that point is not proposed again
    hp = HyperParameters()
    hp.Boolean("b")
    claimed = FrozenTrial(number=0, state=TrialState.RUNNING, hyperparameters={"b": False, "x": 1},
                          key=point_id({"b": False}),
                          params_key=point_id({"b": False, "x": 1}))
    assert all(d == {"b": True} for d in draws(hp, 10, trials=[claimed]))


def test_a_conditional_space_is_used_up_by_active_points_only():
    def fn(trial):
        model = trial.hp.Choice("model", ["a", "b"])
        with trial.hp.conditional_scope("model", "b"):
            trial.hp.Int("depth", 1, 3)
        return {"loss": 1.0 if model == "a" else 0.0}

    study = Study("r", objective="loss", sampler="random", seed=5)
    study.optimize(fn, max_trials=50, show_progress=False)
    got = sorted(str(t.hyperparameters) for t in study.trials)
    assert got == sorted(str(p) for p in [{"model": "a"}, {"model": "b", "depth": 1},
                                          {"model": "b", "depth": 2}, {"model": "b", "depth": 3}])
    assert "exhausted" in study.stop_reason


def test_a_continuous_space_never_runs_out():
    def fn(trial):
        trial.hp.Choice("c", ["x", "y"])
        return {"loss": trial.hp.Float("f", 0.0, 1.0)}

    study = Study("r", objective="loss", sampler="random", seed=1)
    study.optimize(fn, max_trials=30, show_progress=False)
    assert len(study.trials) == 30
    assert study.stop_reason == "max_trials=30 reached"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_budget_equal_to_a_small_space_covers_it_exactly(seed):
    def fn(trial):
        return {"loss": float(trial.hp.Int("a", 0, 5))}

    study = Study("r", objective="loss", sampler="random", seed=seed)
    study.optimize(fn, max_trials=6, show_progress=False)
    assert sorted(t.hyperparameters["a"] for t in study.trials) == list(range(6))


def test_a_huge_branch_beside_small_ones_is_drawn_from_without_listing_it(monkeypatch):
    from tunewise.space import types

    listed = types.Int.all_values

    def all_values(self):
        assert self.n_values < 10**6, f"listed every value of {self.name!r}"
        return listed(self)

    monkeypatch.setattr(types.Int, "all_values", all_values)

    def fn(trial):
        model = trial.hp.Choice("model", [f"m{i}" for i in range(30)])
        with trial.hp.conditional_scope("model", "m0"):
            trial.hp.Int("seed", 0, 10**12)  # listing it would take terabytes
        return {"loss": float(model == "m0")}

    study = Study("r", objective="loss", sampler="random", seed=3)
    study.optimize(fn, max_trials=60, show_progress=False)
    points = [str(t.hyperparameters) for t in study.trials]
    assert len(points) == 60 == len(set(points))  # the 29 small branches, then the huge one
    assert sum(t.hyperparameters["model"] == "m0" for t in study.trials) >= 31
