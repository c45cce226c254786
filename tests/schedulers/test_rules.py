"""The decision rules of ASHA and median stopping on hand-made histories."""

from __future__ import annotations

from tunewise import FrozenTrial, Objective, TrialState
from tunewise.schedulers import ASHAScheduler, MedianScheduler, ScheduleContext

PAUSED, DONE, RUNNING = TrialState.PAUSED, TrialState.COMPLETED, TrialState.RUNNING
MAX = Objective("acc", "max")
MIN = Objective("loss", "min")


def trial(number, state, rungs=None, budget=None, intermediate=None):
    rungs = rungs or {}
    return FrozenTrial(number=number, state=state, hyperparameters={"x": number},
                       rungs=rungs, budget=budget or (max(rungs) if rungs else 1),
                       intermediate=intermediate or {})


# -- ASHA -----------------------------------------------------------------------------------
def test_asha_promotes_the_best_waiting_trial_of_the_top_third():
    asha = ASHAScheduler(max_epochs=9, factor=3)
    trials = [trial(i, PAUSED, {1: v}) for i, v in enumerate([0.5, 0.9, 0.7, 0.6, 0.8, 0.1])]
    decision = asha.next(ScheduleContext(trials, MAX))
    assert (decision.number, decision.budget) == (1, 3)  # 6 results: the top 2 are 1 and 4
    trials[1] = trial(1, RUNNING, {1: 0.9}, budget=3)
    assert asha.next(ScheduleContext(trials, MAX)).number == 4
    trials[4] = trial(4, PAUSED, {1: 0.8, 3: 0.85})
    decision = asha.next(ScheduleContext(trials, MAX))  # trial 2 is third: not in the top 2
    assert decision.is_new and decision.budget == 1


def test_asha_promotes_from_the_highest_rung_first():
    asha = ASHAScheduler(max_epochs=9, factor=3)
    trials = [trial(i, PAUSED, {1: 0.1 * i, 3: 0.1 * i}) for i in range(3)]
    trials += [trial(3 + i, PAUSED, {1: 0.05 * i}) for i in range(6)]
    decision = asha.next(ScheduleContext(trials, MAX))
    assert (decision.number, decision.budget) == (2, 9)  # rung 3 has 3 results: its best goes on


def test_asha_counts_a_failure_among_a_rungs_results_and_never_promotes_it():
    asha = ASHAScheduler(max_epochs=9, factor=3)
    two = [trial(0, PAUSED, {1: 0.9}), trial(1, PAUSED, {1: 0.8})]
    assert asha.next(ScheduleContext(two, MAX)).is_new  # 2 results: no top third yet
    assert asha.next(ScheduleContext(two, MAX, allow_new=False)) is None
    failed = trial(2, TrialState.FAILED, budget=1)
    decision = asha.next(ScheduleContext(two + [failed], MAX))
    assert (decision.number, decision.budget) == (0, 3)  # 3 results: the top one goes on
    lone = [failed, trial(3, TrialState.FAILED, budget=1), trial(4, PAUSED, {1: 0.1})]
    assert asha.next(ScheduleContext(lone, MAX)).number == 4  # the failed ones rank below


def test_asha_minimises_when_the_objective_does():
    asha = ASHAScheduler(max_epochs=3, factor=3)
    trials = [trial(i, PAUSED, {1: v}) for i, v in enumerate([0.3, 0.1, 0.2])]
    assert asha.next(ScheduleContext(trials, MIN)).number == 1


# -- median stopping ----------------------------------------------------------------------------
def curve(values):
    return {step: {"acc": v} for step, v in enumerate(values, start=1)}


def test_median_waits_for_its_startup_trials_and_warmup_steps():
    median = MedianScheduler(n_startup_trials=2, n_warmup_steps=2)
    done = [trial(0, DONE, intermediate=curve([0.5, 0.6, 0.7]))]
    bad = trial(9, RUNNING, intermediate=curve([0.1, 0.1, 0.1]))
    assert median.should_prune(ScheduleContext(done, MAX), bad, 3) is None  # 1 of 2 completed
    done.append(trial(1, DONE, intermediate=curve([0.4, 0.5, 0.6])))
    assert median.should_prune(ScheduleContext(done, MAX), bad, 1) is None  # warming up
    why = median.should_prune(ScheduleContext(done, MAX), bad, 3)
    assert why == ("its best acc so far, 0.1, is worse than the median of 2 completed trials "
                   "at step 3, 0.65")


def test_median_compares_the_best_so_far_and_only_completed_trials():
    median = MedianScheduler(n_startup_trials=1)
    others = [trial(0, DONE, intermediate=curve([0.5, 0.5])),
              trial(1, TrialState.PRUNED, intermediate=curve([0.0, 0.0])),  # not counted
              trial(2, DONE, intermediate=curve([0.7, 0.7]))]
    recovering = trial(9, RUNNING, intermediate=curve([0.8, 0.2]))  # its best so far: 0.8
    assert median.should_prune(ScheduleContext(others, MAX), recovering, 2) is None
    lagging = trial(9, RUNNING, intermediate=curve([0.55, 0.59]))  # median of 0.5, 0.7 = 0.6
    assert median.should_prune(ScheduleContext(others, MAX), lagging, 2) is not None
    # no completed trial reported this step: nothing to compare with
    assert median.should_prune(ScheduleContext(others, MAX), lagging, 5) is None
