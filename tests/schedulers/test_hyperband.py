"""Hyperband's arithmetic is Keras Tuner's, checked against Keras Tuner's own oracle; and
the view of a multi-fidelity history that model-based samplers learn from."""

from __future__ import annotations

import os
import tempfile

import pytest

from tunewise import FrozenTrial, HyperParameters, Objective, Study, TrialState
from tunewise.errors import SearchFinishedError
from tunewise.schedulers import ASHAScheduler, HyperbandScheduler

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Keras Tuner's threading calls

PAIRS = [(9, 3, 1), (27, 3, 1), (52, 3, 1), (100, 3, 1), (10, 2, 1), (20, 4, 1), (81, 3, 2),
         (2, 2, 1), (1, 3, 1)]


def keras_tuner_runs(max_epochs, factor, iterations):
    """(bracket, round, initial epoch, epochs) of every trial Keras Tuner's HyperbandOracle
    hands out, in order, for a loop that completes each trial at once."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    kt = pytest.importorskip("keras_tuner")
    hp = kt.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = kt.oracles.HyperbandOracle(objective=kt.Objective("score", "max"),
                                        max_epochs=max_epochs, factor=factor,
                                        hyperband_iterations=iterations, hyperparameters=hp,
                                        seed=1)
    oracle._set_project_dir(tempfile.mkdtemp(prefix="kt-hyperband-"), "p")
    oracle.verbose = 0
    runs = []
    while True:
        trial = oracle.create_trial("tuner0")
        if trial.status != "RUNNING":
            return runs
        v = trial.hyperparameters.values
        runs.append((v["tuner/bracket"], v["tuner/round"], v["tuner/initial_epoch"], v["tuner/epochs"]))
        oracle.update_trial(trial.trial_id, {"score": v["x"]})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)


def tunewise_runs(max_epochs, factor, iterations):
    scheduler = HyperbandScheduler(max_epochs=max_epochs, factor=factor,
                                   hyperband_iterations=iterations)
    space = HyperParameters()
    space.Float("x", 0.0, 1.0)
    study = Study("hb", objective=Objective("score", "max"), sampler="random",
                  scheduler=scheduler, seed=1, hyperparameters=space)
    runs = []
    while True:
        try:
            trial = study.ask()
        except SearchFinishedError:
            return runs
        record = study.trials[trial.number]
        s = scheduler.n_brackets - 1 - record.bracket % scheduler.n_brackets
        budgets = [b for _, b in scheduler.brackets[record.bracket % scheduler.n_brackets]]
        runs.append((s, budgets.index(trial.budget), trial.resume_step, trial.budget))
        study.tell(trial, {"score": trial.hp.get("x")})


@pytest.mark.parametrize("max_epochs, factor, iterations", PAIRS)
def test_the_runs_and_budgets_are_keras_tuners(max_epochs, factor, iterations):
    ours = tunewise_runs(max_epochs, factor, iterations)
    assert ours == keras_tuner_runs(max_epochs, factor, iterations)


def test_the_brackets_of_the_keras_tuner_documentation_example():
    assert HyperbandScheduler(max_epochs=9, factor=3).brackets == [
        [(9, 1), (3, 3), (1, 9)], [(5, 3), (2, 9)], [(3, 9)]]
    assert sum(n for b in HyperbandScheduler(9, 3).brackets for n, _ in b) == 23  # KT's count


def test_asha_climbs_hyperbands_ladder():
    assert ASHAScheduler(max_epochs=9, factor=3).rungs == [1, 3, 9]
    assert ASHAScheduler(max_epochs=52, factor=3).rungs == [2, 6, 18, 52]
    assert ASHAScheduler(max_epochs=27, factor=3, min_epochs=3).rungs == [3, 9, 27]


# -- what the sampler sees ----------------------------------------------------------------
def _trial(number, state, rungs, budget=None, intermediate=None):
    return FrozenTrial(number=number, state=state, hyperparameters={"x": number / 100},
                       rungs=rungs, budget=budget or (max(rungs) if rungs else 1),
                       intermediate=intermediate or {})


def test_the_sampler_learns_from_the_largest_budget_with_enough_results():
    paused, done = TrialState.PAUSED, TrialState.COMPLETED
    trials = [_trial(i, paused, {1: i / 10}) for i in range(10)]  # ten results at budget 1
    trials += [_trial(10 + i, paused, {1: 0.5, 3: 0.6 + i / 100}) for i in range(5)]  # five at 3
    trials += [_trial(15, done, {1: 0.9, 3: 0.95, 9: 0.99})]
    trials += [_trial(16, TrialState.RUNNING, {1: 0.2}, budget=3)]
    trials += [_trial(17, TrialState.FAILED, {}, budget=1)]
    trials += [_trial(18, done, {9: 0.7}, intermediate={3: {"acc": 0.65}})]  # bracket 0: from 9
    scheduler = HyperbandScheduler(max_epochs=9, factor=3)
    view = scheduler.sampler_trials(trials, Objective("acc", "max"), dimensions=2)
    # Budget 3 has 6 results with the one reported on the way (5 for 2 dimensions is enough);
    # budget 9 has only two.
    by = {t.number: t for t in view}
    assert [by[i].state for i in range(10)] == [TrialState.PRUNED] * 10  # stopped below 3
    assert [by[10 + i].score for i in range(5)] == [0.6 + i / 100 for i in range(5)]
    assert by[15].state == TrialState.COMPLETED and by[15].score == 0.95
    assert by[16].state == TrialState.RUNNING  # pending
    assert by[17].state == TrialState.FAILED
    assert by[18].state == TrialState.COMPLETED and by[18].score == 0.65
    # With more dimensions, budget 3 is not enough: budget 1, where most results are.
    view = scheduler.sampler_trials(trials, Objective("acc", "max"), dimensions=8)
    assert sum(t.state == TrialState.COMPLETED for t in view) == 17
    assert {t.number: t.score for t in view}[12] == 0.5
