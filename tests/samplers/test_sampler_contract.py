"""The sampler contract: every sampler passes the same cases, run through ``tunewise.Study``.

Add a new sampler to ``SAMPLERS`` (to ``STOCHASTIC`` when its sequence depends on the seed, to
``MODEL_BASED`` when it learns from the history) and it is held to every case here: each kind of
hyperparameter, conditional and growing spaces, failures, pending trials, several objectives,
serialisation, reproducibility, resuming, and a clean stop when a finite space is used up.
Model-based samplers are also held to a few outcomes of learning: they beat random search, they
steer away from failures, and they do not treat categories as ordered.

A sampler whose module is not written yet is skipped, with the reason, and only for that: any
other import error fails.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import math
import pickle

import numpy as np
import pytest

from tunewise import (
    FailedTrialError,
    HyperParameters,
    Objective,
    SpaceExhaustedError,
    Study,
    TrialPruned,
    TrialState,
)
from tunewise.samplers import Sampler, SamplingContext, make_sampler
from tunewise.space import UnitEncoder, canonical_key, point_id
from tunewise.storage import InMemoryStorage

SAMPLERS = ["random", "grid", "bayesian", "tpe", "auto"]
STOCHASTIC = {"random", "bayesian", "tpe", "auto"}  # samplers whose sequence depends on the seed
MODEL_BASED = {"bayesian", "tpe", "auto"}  # samplers that learn from the history
STARTUP = 10  # model-based samplers start with about this many initial-design proposals

# the modules a sampler is made of, while they are being written ("auto" chooses between the two)
_MODULES = {"bayesian": ("tunewise.samplers.bayesian",), "tpe": ("tunewise.samplers.tpe",),
            "auto": ("tunewise.samplers.bayesian", "tunewise.samplers.tpe")}


def for_samplers(names):
    return pytest.mark.parametrize("sampler", [s for s in SAMPLERS if s in names])


every_sampler = for_samplers(SAMPLERS)
model_based = for_samplers(MODEL_BASED)  # cases that only make sense for a sampler with a model


@pytest.fixture(autouse=True)
def _sampler_is_written(request):
    """Skip the cases of a sampler while a module it is made of does not exist. Only a missing
    file skips: once it exists, any error in importing or making the sampler fails."""
    callspec = getattr(request.node, "callspec", None)
    name = callspec.params.get("sampler") if callspec is not None else None
    if name is None:
        return
    missing = [m for m in _MODULES.get(name, ()) if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"sampler={name!r} is not written yet (no module {', '.join(missing)})")
    make_sampler(name)


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
@every_sampler
@pytest.mark.parametrize("space", list(SPACES))
@pytest.mark.parametrize("declare", [False, True], ids=["define-by-run", "declared"])
def test_proposals_lie_in_the_space_with_the_right_types(sampler, space, declare):
    fn, check = SPACES[space]
    log = []
    study = run(seen_by_function(log)(fn), sampler, STARTUP + 10, declare=declare and fn, seed=3)
    trials = study.trials
    assert len(trials) >= 1
    assert [t.state for t in trials] == [TrialState.COMPLETED] * len(trials)
    for t in trials:
        check(t.hyperparameters)
    # what is recorded is what the function saw
    assert [t.hyperparameters for t in trials] == log
    if "exhausted" not in (study.stop_reason or ""):  # a finite space may end sooner
        assert len(trials) == STARTUP + 10


@every_sampler
@pytest.mark.parametrize("space", ["conditional", "categorical"])
def test_the_whole_finite_space_is_visited_once(sampler, space):
    fn, _ = SPACES[space]
    study = run(fn, sampler, 500, seed=1)
    keys = [tuple(sorted(p.items())) for p in points(study)]
    assert len(keys) == len(set(keys)), "a point was proposed twice"
    size = CONDITIONAL_SIZE if space == "conditional" else 3 * 3 * 2 * 2 * 2
    assert len(keys) == size
    assert "exhausted" in study.stop_reason


@every_sampler
def test_the_first_proposal_of_a_new_space_is_valid(sampler):
    # the sampler sees an empty space before the function has defined anything
    study = run(categoricals, sampler, 1)
    check_categoricals(study.trials[0].hyperparameters)


# -- exhaustion -----------------------------------------------------------------------------
def six_points(trial):
    trial.hp.Choice("act", ["relu", "tanh", "gelu"])
    trial.hp.Boolean("bn")
    return {"loss": 1.0}


@every_sampler
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


@every_sampler
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


@every_sampler
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


@every_sampler
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
@every_sampler
@pytest.mark.parametrize("space", ["float", "conditional", "conv_blocks"])
def test_the_same_seed_gives_the_same_sequence(sampler, space):
    fn, _ = SPACES[space]
    # past the initial design, so that the model's proposals are compared too
    n = STARTUP + 6
    assert points(run(fn, sampler, n, seed=42)) == points(run(fn, sampler, n, seed=42))


@every_sampler
@pytest.mark.parametrize("space", ["float", "int", "conditional"])
def test_another_seed_gives_another_sequence(sampler, space):
    fn, _ = SPACES[space]
    n = STARTUP + 6
    first, second = points(run(fn, sampler, n, seed=1)), points(run(fn, sampler, n, seed=2))
    if sampler in STOCHASTIC:
        assert first != second
        assert first[1:] != second[1:]
        assert first[STARTUP:] != second[STARTUP:]  # the model's proposals too
    else:
        assert first == second  # a deterministic sampler ignores the seed


@every_sampler
@pytest.mark.parametrize("space", ["float", "conditional", "conv_blocks", "failures"])
def test_a_resumed_study_continues_the_uninterrupted_sequence(sampler, space, tmp_path):
    fn = fails_on_part if space == "failures" else SPACES[space][0]
    whole = run(fn, sampler, 18, seed=9, storage=f"sqlite:///{tmp_path / 'whole.db'}")
    db = f"sqlite:///{tmp_path / 'parts.db'}"
    # a new Study object, as a new process would make; the last parts resume the model's phase
    for stop in (1, 2, 7, 11, 14, 18):
        run(fn, sampler, stop, seed=9, storage=db)
    resumed = Study("c", objective="loss", storage=db, sampler=sampler, seed=9)
    assert points(resumed) == points(whole)
    assert [t.state for t in resumed.trials] == [t.state for t in whole.trials]
    assert [t.score for t in resumed.trials] == [t.score for t in whole.trials]
    if space == "failures":
        assert any(t.state == TrialState.FAILED for t in whole.trials)


@every_sampler
def test_storage_does_not_change_the_sequence(sampler, tmp_path):
    in_memory = run(conditional, sampler, 16, seed=8)
    on_disk = run(conditional, sampler, 16, seed=8, storage=f"sqlite:///{tmp_path / 'd.db'}")
    assert points(in_memory) == points(on_disk)


@every_sampler
def test_ask_and_tell_follow_the_same_sequence_as_optimize(sampler):
    reference = run(floats, sampler, 14, seed=6)
    study = Study("c", objective="loss", sampler=sampler, seed=6)
    for _ in range(14):
        trial = study.ask()
        study.tell(trial, floats(trial))
    assert points(study) == points(reference)


# -- values and scores agree ------------------------------------------------------------------
@every_sampler
def test_log_ranges_are_searched_on_the_log_scale(sampler):
    def fn(trial):
        return {"loss": trial.hp.Float("lr", 1e-6, 1.0, sampling="log")}

    values = [p["lr"] for p in points(run(fn, sampler, 40, seed=12))]
    # whatever the strategy, a log range is not crowded into its top decade
    assert sum(v < 1e-1 for v in values) >= len(values) // 3
    assert all(1e-6 <= v <= 1.0 for v in values)


@every_sampler
def test_every_trial_is_numbered_in_order(sampler):
    study = run(ints, sampler, 10)
    assert [t.number for t in study.trials] == list(range(10))
    assert all(math.isfinite(t.score) for t in study.trials)


@every_sampler
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


@every_sampler
@pytest.mark.parametrize("space", ["discrete", "continuous"])
def test_a_point_another_worker_took_meanwhile_is_not_run_twice(sampler, space):
    fn = discrete_pair if space == "discrete" else continuous_pair
    storage = InMemoryStorage()
    other = Study("w", objective="loss", storage=storage, sampler=make_sampler(sampler), seed=0)
    other.optimize(fn, max_trials=2, show_progress=False)  # the space is known from here on
    study = Study("w", objective="loss", storage=storage, seed=0,
                  sampler=_Overtaken(make_sampler(sampler), other))
    study.optimize(fn, max_trials=10, show_progress=False)
    keys = [canonical_key(t.hyperparameters) for t in study.trials]
    assert len(keys) == 10
    assert len(set(keys)) == 10, "a point ran twice"


# -- what the study hands a sampler, rebuilt by hand ----------------------------------------------
def context(study, trials=None, attempt=0):
    """The ``SamplingContext`` that ``study.ask()`` would build next."""
    trials = study.trials if trials is None else trials
    return SamplingContext(space=study.hyperparameters.space, trials=trials,
                           objectives=study.objectives, seed=study.seed,
                           rng=np.random.default_rng([study.seed, len(trials), attempt]))


def as_point(study, proposal):
    """The values a trial of ``proposal`` records: cast, defaults filled in, active only."""
    hps = study.hyperparameters
    by_name = {hp.name: hp for hp in hps.space}
    return hps.with_values({k: by_name[k].cast(v) for k, v in proposal.items()}).values


def unit_distances(space, values):
    """Pairwise distances between points in the unit cube of ``space``, each dimension in
    [0, 1] (an unordered Choice one-hot)."""
    encoder = UnitEncoder(space)
    X = np.nan_to_num(np.array([encoder.encode(v) for v in values]), nan=-1.0)
    return [float(np.linalg.norm(X[i] - X[j])) for i, j in itertools.combinations(range(len(X)), 2)]


# -- pending trials ---------------------------------------------------------------------------------
def bowl(trial):
    hp = trial.hp
    x = hp.Float("x", 0.0, 1.0)
    y = hp.Float("y", -2.0, 2.0)
    z = hp.Float("z", 1e-3, 1.0, sampling="log")
    return {"loss": (x - 0.3) ** 2 + (y - 0.5) ** 2 / 4 + (math.log10(z) + 1.5) ** 2 / 9}


def grid_of_twenty(trial):
    a = trial.hp.Int("a", 0, 4)
    b = trial.hp.Choice("b", ["p", "q", "r", "s"])
    return {"loss": abs(a - 2) + "pqrs".index(b) / 2}


@every_sampler
@pytest.mark.parametrize("seed", [0, 1])
def test_pending_trials_in_a_continuous_space_get_different_proposals(sampler, seed):
    study = run(bowl, sampler, 12, seed=seed)
    pending = [study.ask() for _ in range(4)]  # four workers ask before any of them tells
    values = [t.hp.values for t in pending]
    assert len({point_id(v) for v in values}) == 4, values
    assert all(t.state == TrialState.RUNNING for t in study.trials[12:])
    if sampler in MODEL_BASED:
        # not the same maximum of the acquisition four times over, a little apart
        closest = min(unit_distances(study.hyperparameters.space, values))
        assert closest > 0.01, f"near-duplicate pending proposals {values} (distance {closest:.2g})"
    for t in pending:
        study.tell(t, bowl(t))
    assert len(study.trials) == 16


@every_sampler
def test_a_running_trial_s_point_of_a_discrete_space_is_not_proposed_again(sampler):
    study = run(grid_of_twenty, sampler, 12, seed=3)
    told = {t.params_key for t in study.trials}
    for _ in range(8):  # the other 8 of the 20 points, each left running
        ctx = context(study)
        proposal = study.sampler.propose(ctx)
        assert proposal is not None
        assert point_id(as_point(study, proposal)) not in ctx.seen, \
            f"proposed {proposal}, which is already tried or running"
        study.ask()
    running = [t for t in study.trials if t.state == TrialState.RUNNING]
    assert len(running) == 8 and not {t.params_key for t in running} & told
    assert len({t.params_key for t in study.trials}) == 20
    # the whole space is taken: nothing is left to propose, and nothing is proposed twice
    assert study.sampler.propose(context(study)) is None
    with pytest.raises(SpaceExhaustedError):
        study.ask()


# -- failures told through ask and tell ------------------------------------------------------------
@every_sampler
@pytest.mark.parametrize("pattern", ["some", "all"])
@pytest.mark.parametrize("space", ["float", "conditional"])
def test_failures_told_by_the_user_do_not_stop_the_proposals(sampler, pattern, space):
    fn, check = SPACES[space]
    study = Study("t", objective="loss", sampler=sampler, seed=7)
    n = 16 if pattern == "all" else 22
    for i in range(n):
        trial = study.ask()
        metrics = fn(trial)  # defines the space
        # "some": only trial 5 succeeds before the model's phase, then every third fails
        fails = pattern == "all" or (i < STARTUP + 2 and i != 5) or i % 3 == 0
        if fails:
            study.tell(trial, state="failed", error=f"CUDA out of memory in trial {i}")
        else:
            study.tell(trial, metrics)
    trials = study.trials
    assert len(trials) == n
    for t in trials:
        check(t.hyperparameters)
    failed = [t for t in trials if t.state == TrialState.FAILED]
    assert all(t.error.startswith("CUDA out of memory") and t.score is None for t in failed)
    if pattern == "all":
        assert len(failed) == n
    keys = [t.params_key for t in trials]
    if space == "float":  # a continuous space: no point twice
        assert len(set(keys)) == n


# -- a space that grows -----------------------------------------------------------------------------
GROWS_AT = STARTUP + 2


def growing(trial):
    """Define-by-run: two hyperparameters join the space from trial ``GROWS_AT`` on."""
    hp = trial.hp
    x = hp.Float("x", 0.0, 1.0)
    n = hp.Int("n", 1, 4)
    loss = (x - 0.4) ** 2 + n / 10
    if trial.number >= GROWS_AT:
        lr = hp.Float("lr", 1e-4, 1e-1, sampling="log")
        act = hp.Choice("act", ["relu", "tanh", "gelu"])
        loss += (math.log10(lr) + 2.5) ** 2 / 4 + 0.2 * (act != "tanh")
    return {"loss": loss}


@every_sampler
def test_a_hyperparameter_that_joins_later_is_proposed_too(sampler):
    study = run(growing, sampler, GROWS_AT + 14, seed=11)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETED] * len(trials)
    for t in trials:
        v = t.hyperparameters
        assert 0.0 <= v["x"] <= 1.0 and v["n"] in (1, 2, 3, 4)
        assert ("lr" in v) == ("act" in v) == (t.number >= GROWS_AT)
    # from the trial after it joined, the sampler proposes the new ones as well
    later = [t.hyperparameters for t in trials[GROWS_AT + 1:]]
    assert all(1e-4 <= v["lr"] <= 1e-1 and type(v["lr"]) is float for v in later)
    assert all(v["act"] in ("relu", "tanh", "gelu") for v in later)
    lrs, acts = {v["lr"] for v in later}, {v["act"] for v in later}
    assert len(lrs) >= 2 and len(acts) >= 2, "the new hyperparameters kept their defaults"
    if sampler in STOCHASTIC:
        if sampler in ("bayesian", "auto") and len(lrs) < len(later) // 2:
            # Known limitation (noted on issue 3): once the objective shifts with the new
            # hyperparameters, improving on the old best looks hopeless to the GP, and
            # expected improvement chases variance into the corners of the new ranges.
            pytest.xfail("GP proposals for a late-joining hyperparameter stick to its bounds")
        assert len(lrs) >= len(later) // 2


# -- several objectives ------------------------------------------------------------------------------
def two_objectives(trial):
    hp = trial.hp
    x = hp.Float("x", 0.0, 1.0)
    width = hp.Int("width", 8, 256, sampling="log")
    act = hp.Choice("act", ["relu", "tanh", "gelu"])
    error = (x - 0.2) ** 2 + 0.3 * (act == "tanh") + 1.0 / width
    cost = (x - 0.8) ** 2 + width / 256
    return {"a": error, "b": cost}


@every_sampler
def test_a_study_with_two_objectives_gets_valid_proposals_and_a_pareto_front(sampler):
    study = Study("m", objective=[Objective("a", "min"), Objective("b", "min")],
                  sampler=sampler, seed=2)
    study.optimize(two_objectives, max_trials=20, show_progress=False,
                   max_consecutive_failed_trials=None)
    trials = study.trials
    assert len(trials) == 20
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 20
    for t in trials:
        v = t.hyperparameters
        assert set(v) == {"x", "width", "act"}
        assert 0.0 <= v["x"] <= 1.0 and 8 <= v["width"] <= 256 and type(v["width"]) is int
        assert v["act"] in ("relu", "tanh", "gelu")
        assert isinstance(t.score, tuple) and len(t.score) == 2
    assert len({t.params_key for t in trials}) == 20
    front = study.best_trials()
    assert front and all(t.state == TrialState.COMPLETED for t in front)


# -- serialisation ----------------------------------------------------------------------------------
@every_sampler
def test_the_config_is_json_and_names_the_sampler(sampler):
    config = make_sampler(sampler).config()
    assert isinstance(config.get("name"), str) and config["name"]
    assert json.loads(json.dumps(config)) == config


@every_sampler
def test_a_sampler_pickles_before_and_after_use_and_proposes_the_same(sampler):
    instance = make_sampler(sampler)
    before = pickle.loads(pickle.dumps(instance))
    study = Study("p", objective="loss", sampler=instance, seed=3)
    study.optimize(floats, max_trials=STARTUP + 4, show_progress=False)
    after = pickle.loads(pickle.dumps(instance))
    expected = instance.propose(context(study))
    assert expected is not None
    check_floats(as_point(study, expected))
    # the proposal is a function of the settings, the seed-derived rng and the history:
    # an unpickled copy, a copy taken before use and a fresh instance agree
    assert after.propose(context(study)) == expected
    assert before.propose(context(study)) == expected
    assert make_sampler(sampler).propose(context(study)) == expected
    # ...and so does the study's next trial
    assert study.ask().hp.values == as_point(study, expected)


@every_sampler
def test_a_study_made_with_an_instance_resumes_with_an_equal_instance(sampler, tmp_path):
    whole = Study("i", objective="loss", sampler=make_sampler(sampler), seed=5)
    whole.optimize(conditional, max_trials=STARTUP + 6, show_progress=False)
    db = f"sqlite:///{tmp_path / 'i.db'}"
    for stop in (STARTUP - 3, STARTUP + 2, STARTUP + 6):
        part = Study("i", objective="loss", storage=db, sampler=make_sampler(sampler), seed=5)
        part.optimize(conditional, max_trials=stop, show_progress=False)
    assert points(part) == points(whole)


# -- learning (model-based samplers) -----------------------------------------------------------------
LEARN_SEEDS = range(5)
LEARN_TRIALS = 30


def shifted_quadratic(trial):
    x = [trial.hp.Float(f"x{i}", -5.0, 5.0) for i in range(3)]
    return {"loss": (x[0] - 1.3) ** 2 + (x[1] + 2.1) ** 2 + (x[2] - 0.7) ** 2}


KIND_PENALTY = {"a": 0.9, "b": 0.4, "c": 1.2, "d": 0.0, "e": 0.7, "f": 1.0}  # "d" best, "c" worst


def kind_and_place(trial):
    """An unordered categorical whose best value is in the middle, beside two ranges."""
    kind = trial.hp.Choice("kind", list(KIND_PENALTY))
    x = trial.hp.Float("x", 0.0, 1.0)
    y = trial.hp.Float("y", 0.0, 1.0)
    return {"loss": KIND_PENALTY[kind] + 4 * (x - 0.62) ** 2 + 4 * (y - 0.27) ** 2}


def best_scores(fn, sampler, n, seeds):
    return [run(fn, sampler, n, seed=s).best_trial.score for s in seeds]


@model_based
@pytest.mark.parametrize("problem", ["quadratic", "categorical"])
def test_a_model_finds_better_points_than_random_search(sampler, problem):
    fn = shifted_quadratic if problem == "quadratic" else kind_and_place
    model = best_scores(fn, sampler, LEARN_TRIALS, LEARN_SEEDS)
    random = best_scores(fn, "random", LEARN_TRIALS, LEARN_SEEDS)
    assert np.mean(model) < 0.5 * np.mean(random), (model, random)
    # and not by a lucky seed: it wins on most of them
    assert sum(m < r for m, r in zip(model, random)) >= 4, (model, random)


def fails_beyond(trial):
    """Training fails for x > 0.6, and the loss falls towards that edge."""
    x = trial.hp.Float("x", 0.0, 1.0)
    y = trial.hp.Float("y", 0.0, 1.0)
    if x > 0.6:
        raise FailedTrialError(f"diverged with x={x:.3f}")
    return {"loss": (0.6 - x) + (y - 0.3) ** 2}


def pruned_beyond(trial):
    """As ``fails_beyond``, but the trials there are stopped early (pruned): under a
    multi-fidelity scheduler, the model sees trials stopped below its budget as pruned."""
    try:
        return fails_beyond(trial)
    except FailedTrialError:
        raise TrialPruned("worse than the median") from None


@model_based
@pytest.mark.parametrize("stopped", [TrialState.FAILED, TrialState.PRUNED])
def test_proposals_steer_away_from_where_training_fails(sampler, stopped, request):
    if sampler == "tpe" and stopped == TrialState.PRUNED:
        request.applymarker(pytest.mark.xfail(strict=True, reason=(
            "TPE counts a pruned trial as a bad result that ran, not as a failure; here, where "
            "the optimum borders the pruned region, its density ratio alone lands there 44% "
            "of the time (random search: 40%)")))
    share = []
    fn = fails_beyond if stopped == TrialState.FAILED else pruned_beyond
    for seed in range(4):
        study = run(fn, sampler, 30, seed=seed)
        trials = study.trials
        assert all((t.state == stopped) == (t.hyperparameters["x"] > 0.6) for t in trials)
        # the proposals made once the model has STARTUP completed trials to learn from
        completed = np.cumsum([t.state == TrialState.COMPLETED for t in trials])
        later = trials[int(np.argmax(completed >= STARTUP)) + 1:]
        assert len(later) >= 8
        share.append(np.mean([t.state == stopped for t in later]))
    # random search lands there 40% of the time
    assert np.mean(share) < 0.25, share


OPTIMIZERS = {"sgd": 0.6, "adam": 1.0, "rmsprop": 0.0, "adagrad": 0.9, "nadam": 0.3}


def optimizer_choice(trial):
    """The best category is in the middle of the list, between the two worst ones."""
    opt = trial.hp.Choice("optimizer", list(OPTIMIZERS))
    x = trial.hp.Float("x", 0.0, 1.0)
    return {"loss": OPTIMIZERS[opt] + 0.2 * (x - 0.5) ** 2}


@model_based
def test_categories_are_not_treated_as_ordered(sampler):
    found, later = [], []
    for seed in range(5):
        study = run(optimizer_choice, sampler, 25, seed=seed)
        found.append(study.best_trial.hyperparameters["optimizer"])
        later += [t.hyperparameters["optimizer"] for t in study.trials[15:]]
    # found (random search misses it in 25 trials once in ~260 seeds)...
    assert found.count("rmsprop") >= 4, found
    # ...then mostly proposed (random search: 20%)
    assert later.count("rmsprop") >= 0.5 * len(later), later
