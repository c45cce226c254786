"""GridSampler: Keras Tuner's order, resuming after a restart, and several workers on one
study never running a point twice."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from collections import Counter

import pytest

from tunewise import HyperParameters, Study, TrialState
from tunewise.samplers import GridSampler, SamplingContext
from tunewise.space import point_id
from tunewise.trial import FrozenTrial


def grid_study(fn, max_trials, *, storage=None, hps=None, seed=0, sampler="grid", name="g"):
    study = Study(name, objective="loss", storage=storage, sampler=sampler, seed=seed,
                  hyperparameters=hps)
    study.optimize(fn, max_trials=max_trials, show_progress=False,
                   max_consecutive_failed_trials=None)
    return study


def order(study, *names):
    return [tuple(t.hyperparameters.get(n) for n in names) for t in study.trials]


def three(trial):
    hp = trial.hp
    a = hp.Int("a", 1, 3, default=2)
    b = hp.Choice("b", ["x", "y"])
    c = hp.Boolean("c")
    return {"loss": a + (b == "y") + c}


# Keras Tuner's GridSearch: the defaults first, then an odometer in which the last-defined
# hyperparameter turns fastest, each one's values in the order [default, the others in order];
# a hyperparameter that turns over goes back to its default and carries into the one before
# (checked against keras-tuner 1.4.8's GridSearchOracle, declared and define-by-run)
KERAS_TUNER_ORDER = [(2, "x", False), (2, "x", True), (2, "y", False), (2, "y", True),
                     (1, "x", False), (1, "x", True), (1, "y", False), (1, "y", True),
                     (3, "x", False), (3, "x", True), (3, "y", False), (3, "y", True)]


def declared_three() -> HyperParameters:
    hp = HyperParameters()
    hp.Int("a", 1, 3, default=2)
    hp.Choice("b", ["x", "y"])
    hp.Boolean("c")
    return hp


# -- order -------------------------------------------------------------------------------------
def test_a_declared_space_is_walked_in_keras_tuner_order():
    study = grid_study(three, 100, hps=declared_three())
    assert order(study, "a", "b", "c") == KERAS_TUNER_ORDER
    assert "exhausted" in study.stop_reason


def test_a_define_by_run_space_starts_with_the_defaults_then_follows_the_same_order():
    study = grid_study(three, 100)
    assert study.trials[0].hyperparameters == {"a": 2, "b": "x", "c": False}
    assert order(study, "a", "b", "c") == KERAS_TUNER_ORDER


def test_a_conditional_space_resets_children_to_their_defaults_when_the_parent_turns():
    def fn(trial):
        hp = trial.hp
        model = hp.Choice("model", ["mlp", "cnn"], default="cnn")
        with hp.conditional_scope("model", "cnn"):
            hp.Int("kernel", 3, 7, step=2, default=5)
            hp.Boolean("pool")
        with hp.conditional_scope("model", "mlp"):
            hp.Choice("units", [32, 64])
        return {"loss": float(model == "mlp")}

    study = grid_study(fn, 100)
    assert [t.hyperparameters for t in study.trials] == [
        {"model": "cnn", "kernel": 5, "pool": False},  # the defaults
        {"model": "cnn", "kernel": 5, "pool": True},
        {"model": "cnn", "kernel": 3, "pool": False},
        {"model": "cnn", "kernel": 3, "pool": True},
        {"model": "cnn", "kernel": 7, "pool": False},
        {"model": "cnn", "kernel": 7, "pool": True},
        {"model": "mlp", "units": 32},
        {"model": "mlp", "units": 64},
    ]


def test_the_first_trial_of_a_define_by_run_conditional_space_is_all_defaults():
    def fn(trial):
        hp = trial.hp
        opt = hp.Choice("optimizer", ["adam", "sgd"])
        with hp.conditional_scope("optimizer", "sgd"):
            hp.Float("momentum", 0.0, 0.9, step=0.3)
        hp.Float("lr", 1e-4, 1e-1, sampling="log", default=1e-3)
        return {"loss": float(opt == "sgd")}

    study = grid_study(fn, 3)
    assert study.trials[0].hyperparameters == {"optimizer": "adam", "lr": 1e-3}
    assert study.trials[1].hyperparameters["optimizer"] == "adam"


def test_a_continuous_float_contributes_ten_values_with_both_ends():
    def fn(trial):
        return {"loss": trial.hp.Float("x", 0.0, 1.0)}

    study = grid_study(fn, 100)
    xs = [t.hyperparameters["x"] for t in study.trials]
    assert len(xs) == 10
    assert xs == sorted(xs) and xs[0] == 0.0 and xs[-1] == 1.0
    assert xs == pytest.approx([i / 9 for i in range(10)])
    assert "exhausted" in study.stop_reason


def test_a_default_inside_a_range_comes_first_then_the_values_in_order():
    def fn(trial):
        return {"loss": float(trial.hp.Int("units", 32, 160, step=32, default=96))}

    study = grid_study(fn, 100)
    assert [t.hyperparameters["units"] for t in study.trials] == [96, 32, 64, 128, 160]


def test_the_seed_does_not_change_the_grid():
    assert order(grid_study(three, 6, seed=1), "a", "b", "c") == \
        order(grid_study(three, 6, seed=99), "a", "b", "c") == KERAS_TUNER_ORDER[:6]


# -- the sampler on its own --------------------------------------------------------------------
def test_propose_skips_tried_and_claimed_points_and_returns_none_at_the_end():
    hp = declared_three()
    sampler = GridSampler()

    def ctx(trials):
        return SamplingContext(space=hp.space, trials=trials, objectives=[], rng=None)

    def tried(n, values, claimed_only=False):
        key = point_id(values)
        return FrozenTrial(number=n, state=TrialState.RUNNING, hyperparameters=values, key=key,
                           params_key=point_id({**values, "extra": 1}) if claimed_only else key)

    as_dicts = [dict(zip("abc", p)) for p in KERAS_TUNER_ORDER]
    assert sampler.propose(ctx([])) == as_dicts[0]
    trials = [tried(0, as_dicts[0]), tried(1, as_dicts[2], claimed_only=True)]
    assert sampler.propose(ctx(trials)) == as_dicts[1]
    trials.append(tried(2, as_dicts[1]))
    assert sampler.propose(ctx(trials)) == as_dicts[3]  # 2 was claimed by another worker
    # a fresh sampler (a new process) finds the same next point from the history alone
    assert GridSampler().propose(ctx(trials)) == as_dicts[3]
    everything = [tried(i, v) for i, v in enumerate(as_dicts)]
    assert sampler.propose(ctx(everything)) is None
    assert GridSampler().propose(ctx(everything)) is None


# -- resuming ----------------------------------------------------------------------------------
def test_the_grid_resumes_after_a_restart_without_running_a_point_twice(tmp_path):
    db = f"sqlite:///{tmp_path / 'g.db'}"
    for stop in (1, 5, 9):  # three runs, three Study objects, as three processes would make
        grid_study(three, stop, storage=db)
    study = grid_study(three, 100, storage=db)
    assert order(study, "a", "b", "c") == KERAS_TUNER_ORDER
    assert "exhausted" in study.stop_reason


def test_an_interrupted_grid_point_runs_again_first_on_resume(tmp_path):
    db = f"sqlite:///{tmp_path / 'g.db'}"
    calls = []

    def ctrl_c_at_3(trial):
        calls.append(trial.number)
        if trial.number == 3:
            raise KeyboardInterrupt
        return three(trial)

    with pytest.raises(KeyboardInterrupt):
        grid_study(ctrl_c_at_3, 100, storage=db)
    study = Study("g", objective="loss", storage=db, sampler="grid", seed=0)
    assert study.trials[3].state == TrialState.INTERRUPTED
    calls.clear()
    study.optimize(three_logged(calls), max_trials=100, show_progress=False)
    assert calls[0] == 3  # the interrupted point first, then the rest of the grid
    assert order(study, "a", "b", "c") == KERAS_TUNER_ORDER
    assert all(t.state == TrialState.COMPLETED for t in study.trials)


def three_logged(calls):
    def fn(trial):
        calls.append(trial.number)
        return three(trial)
    return fn


# -- several workers ---------------------------------------------------------------------------
def warm_up(pause: float) -> None:
    import tunewise.storage.sql  # noqa: F401

    time.sleep(pause)  # so that each process takes one of the warm-up tasks


def grid_worker(db: str, log: str, start_at: float):
    """One process running grid search on a shared SQLite study (run in a spawned process)."""
    try:
        def fn(trial):
            hp = trial.hp
            a, b, c = hp.Int("a", 0, 4), hp.Choice("b", ["x", "y", "z"]), hp.Boolean("c")
            with open(log, "a") as f:
                f.write(f"{trial.number} {os.getpid()} {json.dumps(hp.values, sort_keys=True)}\n")
            time.sleep(0.03)  # long enough that both processes take part, even on a busy machine
            return {"loss": a + (b == "y") + 0.5 * c}

        time.sleep(max(0.0, start_at - time.time()))
        study = Study("g", objective="loss", storage=db, sampler="grid", seed=0)
        study.optimize(fn, max_trials=1000, show_progress=False)
        return study.stop_reason, None
    except BaseException:  # noqa: BLE001 - reported to the test
        return None, traceback.format_exc()


def test_two_processes_on_one_sqlite_file_never_run_a_point_twice(tmp_path):
    db, log = f"sqlite:///{tmp_path / 'g.db'}", str(tmp_path / "runs.log")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        pool.map(warm_up, [0.2] * 2, chunksize=1)  # both processes started, tunewise imported
        start_at = time.time() + 0.3
        outcomes = pool.starmap_async(grid_worker, [(db, log, start_at)] * 2).get(timeout=120)
    errors = [error for _, error in outcomes if error]
    assert not errors, "\n".join(errors)
    assert all("exhausted" in reason for reason, _ in outcomes)
    runs = [line.split(" ", 2) for line in open(log).read().splitlines()]
    executed = Counter(values for _, _, values in runs)
    assert len(executed) == 5 * 3 * 2 and set(executed.values()) == {1}  # every point, once
    assert Counter(number for number, _, _ in runs).most_common(1)[0][1] == 1
    study = Study("g", objective="loss", storage=db, sampler="grid")
    assert len(study.trials) == 30
    assert all(t.state == TrialState.COMPLETED for t in study.trials)
    assert len({pid for _, pid, _ in runs}) == 2, "both processes ran trials"
