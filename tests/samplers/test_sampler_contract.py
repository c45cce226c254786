"""The sampler contract: every sampler passes the same cases, run through ``tunewise.Study``.

Add a new sampler to ``SAMPLERS`` (and to ``STOCHASTIC`` when its sequence depends on the seed)
and it is held to every case here: each kind of hyperparameter, conditional spaces, failures,
reproducibility, resuming, and a clean stop when a finite space is used up.
"""

from __future__ import annotations

import itertools
import math

import pytest

from tunewise import HyperParameters, Study, TrialState
from tunewise.samplers import Sampler, make_sampler
from tunewise.space import canonical_key
from tunewise.storage import InMemoryStorage

SAMPLERS = ["random", "grid"]  # "bayesian", "tpe", ... join here as they arrive
STOCHASTIC = {"random"}  # samplers whose sequence depends on the seed

pytestmark = pytest.mark.parametrize("sampler", SAMPLERS)


def run(fn, sampler, max_trials, *, seed=0, storage=None, name="c", declare=False, **kwargs):
    hps = None
    if declare:  # the same space declared up front, as Keras Tuner's hyperparameters= does
        hps = HyperParameters()
        (declare if callable(declare) else fn)(_Fake(hps))
    study = Study(name, objective="loss", storage=storage, sampler=sampler, seed=seed,
                  hyperparameters=hps)
    kwargs.setdefault("max_consecutive_failed_trials", None)
    study.optimize(fn, max_trials=max_trials, show_progress=False, **kwargs)
    return study


class _Fake:
    """Enough of a trial for a training function to declare its space."""

    def __init__(self, hp):
        self.hp, self.number, self.seed = hp, -1, 0


def points(study):
    return [t.hyperparameters for t in study.trials]


def seen_by_function(log):
    """A training function wrapper that records the values it saw."""
    def wrap(fn):
        def inner(trial):
            result = fn(trial)
            log.append(dict(trial.hp.values))
            return result
        return inner
    return wrap


# -- spaces -----------------------------------------------------------------------------------
def ints(trial):
    hp = trial.hp
    a = hp.Int("a", -3, 12)
    b = hp.Int("b", 10, 1000, sampling="log")
    c = hp.Int("c", 0, 100, step=10)
    d = hp.Int("d", 2, 256, step=2, sampling="log")  # the step is a multiplier: 2, 4, ..., 256
    e = hp.Int("e", 5, 5)
    return {"loss": float(a + b + c + d + e)}


def check_ints(v):
    assert set(v) == {"a", "b", "c", "d", "e"}
    assert all(type(x) is int for x in v.values()), v
    assert -3 <= v["a"] <= 12
    assert 10 <= v["b"] <= 1000
    assert v["c"] in range(0, 101, 10)
    assert v["d"] in [2 ** k for k in range(1, 9)]
    assert v["e"] == 5


def floats(trial):
    hp = trial.hp
    x = hp.Float("x", -1.0, 1.0)
    lr = hp.Float("lr", 1e-5, 1e-1, sampling="log")
    m = hp.Float("momentum", 0.5, 0.999, sampling="reverse_log")
    s = hp.Float("s", 0.0, 1.0, step=0.25)
    return {"loss": x + lr + m + s}


def check_floats(v):
    assert set(v) == {"x", "lr", "momentum", "s"}
    assert all(type(x) is float for x in v.values()), v
    assert -1.0 <= v["x"] <= 1.0
    assert 1e-5 <= v["lr"] <= 1e-1
    assert 0.5 <= v["momentum"] <= 0.999
    assert v["s"] in (0.0, 0.25, 0.5, 0.75, 1.0)


def categoricals(trial):
    hp = trial.hp
    act = hp.Choice("activation", ["relu", "tanh", "gelu"])
    units = hp.Choice("units", [16, 64, 256])
    rate = hp.Choice("rate", [0.1, 0.3])
    bn = hp.Boolean("batch_norm")
    flag = hp.Choice("flag", [True, False])
    opt = hp.Fixed("optimizer", "adam")
    return {"loss": units / 100 + rate + bn + flag + (act == "gelu") + (opt == "sgd")}


def check_categoricals(v):
    assert set(v) == {"activation", "units", "rate", "batch_norm", "flag", "optimizer"}
    assert v["activation"] in ("relu", "tanh", "gelu")
    assert v["units"] in (16, 64, 256) and type(v["units"]) is int
    assert v["rate"] in (0.1, 0.3) and type(v["rate"]) is float
    assert type(v["batch_norm"]) is bool and type(v["flag"]) is bool
    assert v["optimizer"] == "adam"


def conditional(trial):
    hp = trial.hp
    model = hp.Choice("model", ["mlp", "cnn", "linear"])
    with hp.conditional_scope("model", "cnn"):
        kernel = hp.Int("kernel", 3, 7, step=2)
        pooling = hp.Choice("pooling", ["max", "avg"])
        with hp.conditional_scope("pooling", "max"):
            pool_size = hp.Int("pool_size", 2, 3)
    with hp.conditional_scope("model", ["mlp", "cnn"]):
        dropout = hp.Float("dropout", 0.0, 0.5, step=0.25)
    units = hp.Int("units", 8, 32, step=8, parent_name="model", parent_values="mlp")
    # inactive hyperparameters read as None inside the function
    assert (kernel is None) == (model != "cnn")
    assert (pool_size is None) == (model != "cnn" or pooling != "max")
    assert (units is None) == (model != "mlp")
    assert (dropout is None) == (model == "linear")
    return {"loss": (kernel or 0) + (pool_size or 0) + (units or 0) + (dropout or 0)}


def check_conditional(v):
    expected = {"model"}
    if v["model"] == "cnn":
        expected |= {"kernel", "pooling", "dropout"}
        if v["pooling"] == "max":
            expected.add("pool_size")
    elif v["model"] == "mlp":
        expected |= {"units", "dropout"}
    assert set(v) == expected, v  # inactive hyperparameters are absent
    assert v.get("kernel", 3) in (3, 5, 7)
    assert v.get("pool_size", 2) in (2, 3)
    assert v.get("units", 8) in (8, 16, 24, 32)
    assert v.get("dropout", 0.0) in (0.0, 0.25, 0.5)


# the number of distinct active combinations of ``conditional``
CONDITIONAL_SIZE = 4 * 3 + 3 * (2 + 1) * 3 + 1  # mlp: units x dropout; cnn: kernel x (max: 2 pool sizes, avg) x dropout; linear


def conv_blocks(trial):
    """The seeds' loop: the number of blocks, then one ``filters_i`` per block."""
    hp = trial.hp
    n = hp.Int("conv_blocks", 1, 3)
    filters = [hp.Choice(f"filters_{i}", [16, 32]) for i in range(n)]
    dense = hp.Choice("dense", [64, 128])
    return {"loss": sum(filters) / n + dense / 100}


def check_conv_blocks(v):
    n = v["conv_blocks"]
    assert n in (1, 2, 3)
    assert all(v[f"filters_{i}"] in (16, 32) for i in range(n))  # each block has its filters
    assert v["dense"] in (64, 128)
    assert set(v) <= {"conv_blocks", "dense", "filters_0", "filters_1", "filters_2"}


SPACES = {
    "int": (ints, check_ints),
    "float": (floats, check_floats),
    "categorical": (categoricals, check_categoricals),
    "conditional": (conditional, check_conditional),
    "conv_blocks": (conv_blocks, check_conv_blocks),
}


# -- proposals stay inside the space ---------------------------------------------------------
@pytest.mark.parametrize("space", list(SPACES))
@pytest.mark.parametrize("declare", [False, True], ids=["define-by-run", "declared"])
def test_proposals_lie_in_the_space_with_the_right_types(sampler, space, declare):
    fn, check = SPACES[space]
    log = []
    study = run(seen_by_function(log)(fn), sampler, 40, declare=declare and fn, seed=3)
    trials = study.trials
    assert len(trials) >= 1
    assert [t.state for t in trials] == [TrialState.COMPLETED] * len(trials)
    for t in trials:
        check(t.hyperparameters)
    # what is recorded is what the function saw
    assert [t.hyperparameters for t in trials] == log
    if "exhausted" not in (study.stop_reason or ""):  # a finite space may end sooner
        assert len(trials) == 40


@pytest.mark.parametrize("space", ["conditional", "categorical"])
def test_the_whole_finite_space_is_visited_once(sampler, space):
    fn, check = SPACES[space]
    study = run(fn, sampler, 500, seed=1)
    keys = [tuple(sorted(p.items())) for p in points(study)]
    assert len(keys) == len(set(keys)), "a point was proposed twice"
    size = CONDITIONAL_SIZE if space == "conditional" else 3 * 3 * 2 * 2 * 2
    assert len(keys) == size
    assert "exhausted" in study.stop_reason


def test_the_first_proposal_of_a_new_space_is_valid(sampler):
    # the sampler sees an empty space before the function has defined anything
    study = run(categoricals, sampler, 1)
    check_categoricals(study.trials[0].hyperparameters)


# -- exhaustion -----------------------------------------------------------------------------
def six_points(trial):
    trial.hp.Choice("act", ["relu", "tanh", "gelu"])
    trial.hp.Boolean("bn")
    return {"loss": 1.0}


@pytest.mark.parametrize("declare", [False, True], ids=["define-by-run", "declared"])
def test_a_used_up_discrete_space_stops_cleanly_without_repeats(sampler, declare):
    study = run(six_points, sampler, 20, declare=declare, seed=2)
    got = points(study)
    assert len(got) == 6
    expected = [{"act": a, "bn": b} for a in ("relu", "tanh", "gelu") for b in (False, True)]
    assert sorted(map(str, got)) == sorted(map(str, expected))
    assert "exhausted" in study.stop_reason
    # asking again changes nothing: the study is complete
    study.optimize(six_points, max_trials=20, show_progress=False)
    assert len(study.trials) == 6 and "exhausted" in study.stop_reason


def test_a_budget_smaller_than_the_space_is_respected(sampler):
    study = run(six_points, sampler, 4)
    assert len(study.trials) == 4
    assert len({str(p) for p in points(study)}) == 4
    assert study.stop_reason == "max_trials=4 reached"


# -- failures ---------------------------------------------------------------------------------
def fails_on_part(trial):
    a = trial.hp.Int("a", 0, 5)
    b = trial.hp.Choice("b", ["x", "y"])
    c = trial.hp.Float("c", 0.0, 1.0)
    if a >= 4 or (b == "y" and a == 0):
        raise ValueError(f"cannot train with a={a}, b={b}")
    return {"loss": a + c}


def test_failures_are_recorded_and_the_search_goes_on(sampler):
    study = run(fails_on_part, sampler, 30, seed=5)
    trials = study.trials
    assert len(trials) == 30
    failed = [t for t in trials if t.state == TrialState.FAILED]
    done = [t for t in trials if t.state == TrialState.COMPLETED]
    assert len(failed) + len(done) == 30
    assert failed and done
    for t in failed:
        a, b = t.hyperparameters["a"], t.hyperparameters["b"]
        assert a >= 4 or (b == "y" and a == 0)
        assert t.error == f"ValueError: cannot train with a={a}, b={b}"
        assert "Traceback" in t.traceback and "fails_on_part" in t.traceback
        assert t.score is None
    for t in done:
        assert t.score == t.hyperparameters["a"] + t.hyperparameters["c"]
    assert study.best_trial.state == TrialState.COMPLETED


def test_a_failed_point_of_a_discrete_space_is_not_proposed_again(sampler):
    def fn(trial):
        a = trial.hp.Int("a", 0, 3)
        b = trial.hp.Boolean("b")
        if b:
            raise RuntimeError("b breaks it")
        return {"loss": float(a)}

    study = run(fn, sampler, 50)
    keys = [str(p) for p in points(study)]
    assert len(keys) == 8 == len(set(keys))
    assert sum(t.state == TrialState.FAILED for t in study.trials) == 4


# -- reproducibility --------------------------------------------------------------------------
@pytest.mark.parametrize("space", ["float", "conditional", "conv_blocks"])
def test_the_same_seed_gives_the_same_sequence(sampler, space):
    fn, _ = SPACES[space]
    assert points(run(fn, sampler, 15, seed=42)) == points(run(fn, sampler, 15, seed=42))


@pytest.mark.parametrize("space", ["float", "int", "conditional"])
def test_another_seed_gives_another_sequence(sampler, space):
    fn, _ = SPACES[space]
    first, second = points(run(fn, sampler, 12, seed=1)), points(run(fn, sampler, 12, seed=2))
    if sampler in STOCHASTIC:
        assert first != second
        assert first[1:] != second[1:]
    else:
        assert first == second  # a deterministic sampler ignores the seed


@pytest.mark.parametrize("space", ["float", "conditional", "conv_blocks"])
def test_a_resumed_study_continues_the_uninterrupted_sequence(sampler, space, tmp_path):
    fn, _ = SPACES[space]
    whole = run(fn, sampler, 16, seed=9, storage=f"sqlite:///{tmp_path / 'whole.db'}")
    db = f"sqlite:///{tmp_path / 'parts.db'}"
    for stop in (1, 2, 7, 11, 16):  # a new Study object, as a new process would make
        run(fn, sampler, stop, seed=9, storage=db)
    resumed = Study("c", objective="loss", storage=db, sampler=sampler, seed=9)
    assert points(resumed) == points(whole)
    assert [t.score for t in resumed.trials] == [t.score for t in whole.trials]


def test_a_resumed_study_with_failures_continues_the_same_sequence(sampler, tmp_path):
    whole = run(fails_on_part, sampler, 14, seed=4)
    db = f"sqlite:///{tmp_path / 'parts.db'}"
    for stop in (3, 4, 10, 14):
        run(fails_on_part, sampler, stop, seed=4, storage=db)
    resumed = Study("c", objective="loss", storage=db, sampler=sampler, seed=4)
    assert points(resumed) == points(whole)
    assert [t.state for t in resumed.trials] == [t.state for t in whole.trials]


def test_storage_does_not_change_the_sequence(sampler, tmp_path):
    in_memory = run(conditional, sampler, 12, seed=8)
    on_disk = run(conditional, sampler, 12, seed=8, storage=f"sqlite:///{tmp_path / 'd.db'}")
    assert points(in_memory) == points(on_disk)


def test_ask_and_tell_follow_the_same_sequence_as_optimize(sampler):
    reference = run(floats, sampler, 8, seed=6)
    study = Study("c", objective="loss", sampler=sampler, seed=6)
    for _ in range(8):
        trial = study.ask()
        study.tell(trial, floats(trial))
    assert points(study) == points(reference)


# -- values and scores agree ------------------------------------------------------------------
def test_log_ranges_are_searched_on_the_log_scale(sampler):
    def fn(trial):
        return {"loss": trial.hp.Float("lr", 1e-6, 1.0, sampling="log")}

    values = [p["lr"] for p in points(run(fn, sampler, 40, seed=12))]
    # whatever the strategy, a log range is not crowded into its top decade
    assert sum(v < 1e-1 for v in values) >= len(values) // 3
    assert all(1e-6 <= v <= 1.0 for v in values)


def test_every_trial_is_numbered_in_order(sampler):
    study = run(ints, sampler, 10)
    assert [t.number for t in study.trials] == list(range(10))
    assert all(math.isfinite(t.score) for t in study.trials)


def test_many_conditional_trials_keep_parents_and_children_consistent(sampler):
    study = run(conditional, sampler, CONDITIONAL_SIZE + 5, seed=13)
    for t in study.trials:
        check_conditional(t.hyperparameters)
    groups = {m: [p for p in points(study) if p["model"] == m] for m in ("mlp", "cnn", "linear")}
    assert all(groups.values()), "every branch is explored"
    assert len(groups["linear"]) == 1  # its only point, never repeated
    assert len({str(p) for p in itertools.chain(*groups.values())}) == CONDITIONAL_SIZE


# -- several workers ----------------------------------------------------------------------------
class _Overtaken(Sampler):
    """Wraps a sampler so that, once, another worker asks for a trial between this worker's
    look at the history and its claim of the proposed point: what happens when two processes
    ask at the same moment, made deterministic."""

    def __init__(self, inner: Sampler, other: Study) -> None:
        self.inner, self.other, self.done = inner, other, False
        self.name = inner.name

    def config(self):
        return self.inner.config()

    def propose(self, ctx):
        proposal = self.inner.propose(ctx)
        if not self.done and proposal is not None:
            self.done = True
            taken = self.other.ask()
            self.other.tell(taken, {"loss": 0.0})
        return proposal


def discrete_pair(trial):
    return {"loss": trial.hp.Int("a", 0, 4) + trial.hp.Choice("b", [0.5, 1.5])}


def continuous_pair(trial):
    return {"loss": trial.hp.Float("x", 0.0, 1.0) + trial.hp.Choice("b", [0.5, 1.5])}


@pytest.mark.parametrize("space", ["discrete", "continuous"])
def test_a_point_another_worker_took_meanwhile_is_not_run_twice(sampler, space):
    fn = discrete_pair if space == "discrete" else continuous_pair
    storage = InMemoryStorage()
    other = Study("w", objective="loss", storage=storage, sampler=sampler, seed=0)
    other.optimize(fn, max_trials=2, show_progress=False)  # the space is known from here on
    study = Study("w", objective="loss", storage=storage, seed=0,
                  sampler=_Overtaken(make_sampler(sampler), other))
    study.optimize(fn, max_trials=10, show_progress=False)
    keys = [canonical_key(t.hyperparameters) for t in study.trials]
    assert len(keys) == 10
    assert len(set(keys)) == 10, "a point ran twice"
