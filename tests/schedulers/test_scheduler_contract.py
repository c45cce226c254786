"""The scheduler contract: every scheduler with every sampler, through ``tunewise.Study``.

The training function is a synthetic learning curve that keeps a real checkpoint (a JSON file
in ``trial.checkpoint_dir`` holding the epoch it reached) and logs every epoch it trains, so
each case can check what a scheduler must guarantee: budgets on its ladder, promotions of
the best, runs that continue from their checkpoint (every epoch of a trial trained once),
pauses and resumes through ask and tell, pruning, failures inside a rung, a worker killed in
the middle of a run, and two workers sharing one study.
"""

from __future__ import annotations

import collections
import json
import math
import multiprocessing
import os
import signal
import time

import pytest

from tunewise import FailedTrialError, HyperParameters, Objective, Study, TrialPruned, TrialState, load_study
from tunewise.errors import SearchFinishedError, TrialsPendingError
from tunewise.schedulers import (ASHAScheduler, HyperbandScheduler, MedianScheduler, Scheduler,
                                 make_scheduler)

MAX = 9
SCHEDULERS = {
    "hyperband": lambda: HyperbandScheduler(max_epochs=MAX, factor=3),
    "asha": lambda: ASHAScheduler(max_epochs=MAX, factor=3),
    "median": lambda: MedianScheduler(max_epochs=MAX, n_startup_trials=3),
}
SAMPLERS = ["random", "grid", "bayesian", "tpe", "auto"]
RUNGS = (1, 3, 9)
TRIALS = 17  # Hyperband(9, 3) runs 9 + 5 + 3 configurations; the others get as many

every_combination = pytest.mark.parametrize(
    "scheduler, sampler", [(a, b) for a in SCHEDULERS for b in SAMPLERS])
every_scheduler = pytest.mark.parametrize("scheduler", list(SCHEDULERS))


def quality(x: float, act: str) -> float:
    return 1.0 - (x - 0.3) ** 2 - (0.15 if act == "tanh" else 0.0)


def curve(q: float, epoch: int) -> float:
    return q * (1.0 - math.exp(-epoch / 2.0))


class Trainer:
    """A training function with a checkpoint; appends ``number epoch`` to a log file for
    every epoch it trains (a file, so that forked workers and killed runs leave a record)."""

    def __init__(self, log_path, fail=None, kill=None, delay=0.0):
        self.log_path = str(log_path)
        self.delay = delay  # seconds per epoch, so that parallel workers overlap
        self.fail = fail  # fail(trial, x, act) -> message or None
        self.kill = kill  # kill(trial, epoch) -> True to SIGKILL this process

    def __call__(self, trial):
        x = trial.hp.Float("x", 0.0, 1.0, step=0.05)
        act = trial.hp.Choice("act", ["relu", "tanh"])
        path = os.path.join(trial.checkpoint_dir, "ckpt.json")
        if trial.resume_step:
            with open(path) as f:
                assert json.load(f)["epoch"] == trial.resume_step  # the checkpoint it resumes
        else:
            assert not os.path.exists(path)
        if self.fail is not None and (why := self.fail(trial, x, act)):
            raise FailedTrialError(why)
        budget = trial.budget if trial.budget is not None else MAX
        q = quality(x, act)
        for epoch in range(trial.resume_step + 1, budget + 1):
            if self.kill is not None and self.kill(trial, epoch):
                os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(self.delay)
            with open(self.log_path, "a") as f:
                f.write(f"{trial.number} {epoch} {os.getpid()}\n")
            trial.report(epoch, {"acc": curve(q, epoch)})
        with open(path, "w") as f:
            json.dump({"epoch": budget}, f)
        return {"acc": curve(q, budget)}


def trained(log_path):
    """[(trial, epoch)] in the order they were trained."""
    if not os.path.exists(log_path):
        return []
    with open(log_path) as f:
        return [tuple(int(v) for v in line.split()[:2]) for line in f if line.strip()]


def make_study(tmp_path, scheduler, sampler, name="contract", storage=None, declared=False):
    space = None
    if declared:  # known before any trial ends (define-by-run learns it from finished ones)
        space = HyperParameters()
        space.Float("x", 0.0, 1.0, step=0.05)
        space.Choice("act", ["relu", "tanh"])
    return Study(name, objective=Objective("acc", "max"), sampler=sampler,
                 scheduler=SCHEDULERS[scheduler](), seed=3, hyperparameters=space,
                 storage=storage or f"sqlite:///{tmp_path / 'study.db'}")


def run(study, trainer, scheduler, **kwargs):
    kwargs.setdefault("max_trials", None if scheduler == "hyperband" else TRIALS)
    kwargs.setdefault("max_consecutive_failed_trials", None)
    study.optimize(trainer, show_progress=False, **kwargs)


def check_history(study, log):
    """What holds after any schedule: every epoch of a trial trained once, in order, from 1
    to where it stopped; reports match; budgets on the ladder; the best trial at the end."""
    per_trial = collections.defaultdict(list)
    for number, epoch in log:
        per_trial[number].append(epoch)
    for t in study.trials:
        epochs = per_trial.get(t.number, [])
        if t.state == TrialState.FAILED and not epochs:
            continue
        assert epochs == list(range(1, len(epochs) + 1)), (t.number, epochs)  # resumed, never redone
        assert sorted(t.intermediate) == epochs
        if t.state in (TrialState.COMPLETED, TrialState.PAUSED):
            assert t.budget == len(epochs) == max(t.rungs)
            assert t.rungs[t.budget] == pytest.approx(t.score)
        if t.state == TrialState.COMPLETED:
            assert t.budget == MAX
    best = study.best_trial
    assert best.state == TrialState.COMPLETED and best.budget_reached == MAX


# -- budgets, promotions, pruning ---------------------------------------------------------
@every_combination
def test_budgets_and_promotions(tmp_path, scheduler, sampler):
    study = make_study(tmp_path, scheduler, sampler)
    log = tmp_path / "epochs.log"
    run(study, Trainer(log), scheduler)
    trials = study.trials
    check_history(study, trained(log))
    assert len(trials) == TRIALS
    if scheduler == "median":
        assert {t.state for t in trials} <= {TrialState.COMPLETED, TrialState.PRUNED}
        pruned = [t for t in trials if t.state == TrialState.PRUNED]
        assert pruned, "median stopping stopped nothing on curves that differ this much"
        assert all(t.error.startswith("pruned at step") for t in pruned)
        assert study.stop_reason == f"max_trials={TRIALS} reached"
        return
    assert {t.state for t in trials} <= {TrialState.COMPLETED, TrialState.PAUSED}
    assert {b for t in trials for b in t.rungs} <= set(RUNGS)
    assert any(t.state == TrialState.PAUSED for t in trials)
    if scheduler == "hyperband":
        assert study.stop_reason == "the hyperband scheduler has run everything it plans"
        runs = collections.Counter()
        for t in trials:
            for b in t.rungs:
                runs[(t.bracket, b)] += 1
        expected = {(i, budget): n for i, rounds in enumerate(study.scheduler.brackets)
                    for n, budget in rounds}
        assert dict(runs) == expected
        # The promoted trials of each round are the best of the round before.
        for i, rounds in enumerate(study.scheduler.brackets):
            members = [t for t in trials if t.bracket == i]
            for (_, b_prev), (size, b) in zip(rounds, rounds[1:]):
                ranked = sorted((t for t in members if b_prev in t.rungs),
                                key=lambda t: (-t.rungs[b_prev], t.number))
                promoted = {t.number for t in members if b in t.rungs}
                assert promoted == {t.number for t in ranked[:size]}
    else:  # ASHA: at the end, the top third of every rung has gone on to the next
        for low, high in zip(RUNGS, RUNGS[1:]):
            ranked = sorted((t for t in trials if low in t.rungs),
                            key=lambda t: (-t.rungs[low], t.number))
            promoted = {t.number for t in ranked if high in t.rungs}
            assert {t.number for t in ranked[:len(ranked) // 3]} <= promoted
            assert len(ranked) // 3 >= 1


@every_combination
def test_results_say_how_far_each_trial_trained(tmp_path, scheduler, sampler):
    study = make_study(tmp_path, scheduler, sampler)
    run(study, Trainer(tmp_path / "epochs.log"), scheduler, max_trials=8)
    df = study.to_dataframe()
    assert list(df["budget"]) == [t.budget_reached for t in study.trials]
    assert list(df["stopped"]) == [t.state in (TrialState.PAUSED, TrialState.PRUNED)
                                   for t in study.trials]
    steps = study.to_dataframe(steps=True)
    assert len(steps) == sum(len(t.intermediate) for t in study.trials)
    assert list(steps.columns) == ["number", "state", "step", "acc"]
    first = study.trials[0]
    mine = steps[steps["number"] == 0]
    assert list(mine["step"]) == sorted(first.intermediate)
    assert list(mine["acc"]) == [m["acc"] for m in first.intermediate.values()]


# -- ask and tell -------------------------------------------------------------------------
def test_ask_hands_back_a_paused_trial_with_a_higher_budget(tmp_path):
    study = Study("ask", objective=Objective("acc", "max"), sampler="random",
                  scheduler=HyperbandScheduler(max_epochs=9, factor=3), seed=0)
    seen = []
    while True:
        try:
            trial = study.ask()
        except SearchFinishedError:
            break
        x = trial.hp.Float("x", 0.0, 1.0)
        seen.append((trial.number, trial.resume_step, trial.budget))
        record = study.tell(trial, {"acc": curve(quality(x, "relu"), trial.budget)})
        assert record.state == (TrialState.COMPLETED if trial.budget == 9 else TrialState.PAUSED)
    assert len(seen) == 23
    again = collections.defaultdict(list)
    for number, resume, budget in seen:
        again[number].append((resume, budget))
    continued = {n: runs for n, runs in again.items() if len(runs) > 1}
    assert continued  # promotions hand back the same trial
    for runs in continued.values():
        for (_, before), (resume, _) in zip(runs, runs[1:]):
            assert resume == before  # each run resumes where the last one stopped


def test_ask_says_when_it_must_wait_for_running_trials():
    space = HyperParameters()
    space.Float("x", 0.0, 1.0)
    study = Study("wait", objective=Objective("acc", "max"), sampler="random",
                  scheduler=HyperbandScheduler(max_epochs=9, factor=3), seed=0,
                  hyperparameters=space)
    asked = []
    for _ in range(9 + 5 + 3):  # every first-round run of every bracket can start at once
        asked.append(study.ask())
    with pytest.raises(TrialsPendingError, match="running trials"):
        study.ask()
    for trial in asked:
        study.tell(trial, {"acc": trial.hp.values["x"]})
    promoted = study.ask()  # the first bracket's best now goes on
    assert promoted.number in {t.number for t in asked[:9]} and promoted.budget == 3
    assert promoted.resume_step == 1


def test_median_pruning_through_ask_and_tell():
    study = Study("median", objective=Objective("loss", "min"), sampler="random",
                  scheduler=MedianScheduler(n_startup_trials=2), seed=0)
    for value in (1.0, 2.0):
        trial = study.ask()
        trial.hp.Float("x", 0.0, 1.0)
        for step in (1, 2):
            trial.report(step, {"loss": value})
        study.tell(trial, {"loss": value})
    good = study.ask()
    good.hp.Float("x", 0.0, 1.0)
    good.report(1, {"loss": 0.5})  # better than the median (1.5): goes on
    bad = study.ask()
    bad.hp.Float("x", 0.0, 1.0)
    with pytest.raises(TrialPruned, match="median of 2 completed trials at step 1"):
        bad.report(1, {"loss": 3.0})
    assert study.tell(bad, state="pruned").state == TrialState.PRUNED
    assert study.tell(good, {"loss": 0.5}).state == TrialState.COMPLETED


# -- failures -----------------------------------------------------------------------------
@every_combination
def test_failures_during_a_rung(tmp_path, scheduler, sampler):
    """Runs that fail, at the first rung or on a promotion, are recorded as failed and never
    promoted; the schedule goes on around them."""

    def fail(trial, x, act):
        if trial.resume_step and x >= 0.3:
            return "out of memory at the larger budget"
        if not trial.resume_step and act == "tanh" and x < 0.2:
            return "diverged"
        return None

    study = make_study(tmp_path, scheduler, sampler)
    log = tmp_path / "epochs.log"
    run(study, Trainer(log, fail=fail), scheduler)
    trials = study.trials
    failed = [t for t in trials if t.state == TrialState.FAILED]
    check_history(study, trained(log))
    assert {t.state for t in trials} <= {TrialState.COMPLETED, TrialState.PAUSED,
                                         TrialState.PRUNED, TrialState.FAILED}
    for t in failed:  # a failure ends the trial where it was
        assert t.error in ("FailedTrialError: out of memory at the larger budget",
                           "FailedTrialError: diverged")
    if scheduler == "hyperband":
        assert study.stop_reason == "the hyperband scheduler has run everything it plans"
        for i, rounds in enumerate(study.scheduler.brackets):
            members = [t for t in trials if t.bracket == i]
            assert len(members) == rounds[0][0]
            for (size, b) in rounds[1:]:  # a round is short only by what failed
                assert len([t for t in members if (t.budget or 0) >= b]) <= size


# -- a worker killed mid-run, and two workers ---------------------------------------------
def _in_child(target, *args):
    ctx = multiprocessing.get_context("fork")
    process = ctx.Process(target=target, args=args)
    process.start()
    return process


def _killed_worker(tmp_path, scheduler, sampler):
    study = make_study(tmp_path, scheduler, sampler)
    # Killed in the second epoch of a promoted run (for median: of the second trial, which
    # no pruning can stop before then).
    state = {"done": False}

    def kill(trial, epoch):
        victim = trial.resume_step > 0 if scheduler != "median" else trial.number == 1
        if victim and not state["done"] and epoch == trial.resume_step + 2:
            state["done"] = True
            return True
        return False

    run(study, Trainer(tmp_path / "epochs.log", kill=kill), scheduler)


@every_combination
def test_resume_after_a_kill(tmp_path, scheduler, sampler):
    child = _in_child(_killed_worker, tmp_path, scheduler, sampler)
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    log = tmp_path / "epochs.log"
    before = trained(log)
    study = load_study("contract", f"sqlite:///{tmp_path / 'study.db'}")
    [victim] = [t for t in study.trials if t.state == TrialState.RUNNING]
    study.optimize(Trainer(log), max_trials=None if scheduler == "hyperband" else TRIALS,
                   max_consecutive_failed_trials=None, show_progress=False)
    after = trained(log)
    # The killed run trained one epoch past its checkpoint before it died; it runs again
    # from the checkpoint, so that epoch (only that one) is trained twice.
    redone = [pair for pair, n in collections.Counter(after).items() if n > 1]
    assert redone == [(victim.number, victim.resume_step + 1)]
    assert before == after[:len(before)]
    deduplicated = list(dict.fromkeys(after))
    check_history(study, deduplicated)
    assert len(study.trials) == TRIALS
    if scheduler == "hyperband":
        runs = collections.Counter((t.bracket, b) for t in study.trials for b in t.rungs)
        assert dict(runs) == {(i, budget): n for i, rounds in enumerate(study.scheduler.brackets)
                              for n, budget in rounds}


def _worker(tmp_path, scheduler, sampler):
    study = make_study(tmp_path, scheduler, sampler, declared=True)
    trainer = Trainer(tmp_path / "epochs.log", delay=0.02)
    train = trainer.__call__

    def meet_then_train(trial):  # both workers hold a trial at once before either trains
        if not os.path.exists(tmp_path / f"started-{os.getpid()}"):
            (tmp_path / f"started-{os.getpid()}").touch()
            deadline = time.monotonic() + 30
            while len(list(tmp_path.glob("started-*"))) < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
        return train(trial)

    run(study, meet_then_train, scheduler)


@every_combination
def test_two_workers_on_one_study(tmp_path, scheduler, sampler):
    # Create it before the workers race, and close it: a SQLite connection must not cross
    # a fork (the children's SQLite would believe they hold the parent's locks).
    make_study(tmp_path, scheduler, sampler, declared=True).storage.close()
    workers = [_in_child(_worker, tmp_path, scheduler, sampler) for _ in range(2)]
    for w in workers:
        w.join(120)
    assert [w.exitcode for w in workers] == [0, 0]
    log = trained(tmp_path / "epochs.log")
    assert len(log) == len(set(log)), "an epoch of a trial was trained twice"
    study = load_study("contract", f"sqlite:///{tmp_path / 'study.db'}")
    check_history(study, log)
    assert len(study.trials) == TRIALS
    with open(tmp_path / "epochs.log") as f:
        pids = {line.split()[2] for line in f}
    assert len(pids) == 2  # both workers trained
    if scheduler == "hyperband":  # the slots hold even with two workers
        runs = collections.Counter((t.bracket, b) for t in study.trials for b in t.rungs)
        assert dict(runs) == {(i, budget): n for i, rounds in enumerate(study.scheduler.brackets)
                              for n, budget in rounds}


# -- settings -----------------------------------------------------------------------------
@every_scheduler
def test_the_scheduler_is_stored_and_reopened(tmp_path, scheduler):
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = make_study(tmp_path, scheduler, "random", storage=url)
    assert study.settings["scheduler"] == SCHEDULERS[scheduler]().config()
    reopened = load_study("contract", url)
    assert reopened.scheduler.config() == study.scheduler.config()
    Study("contract", objective=Objective("acc", "max"), sampler="random", seed=3, storage=url,
          scheduler=SCHEDULERS[scheduler]())  # the same settings resume
    other = "median" if scheduler != "median" else "asha"
    with pytest.raises(ValueError, match="already exists .* with scheduler"):
        Study("contract", objective=Objective("acc", "max"), sampler="random", seed=3,
              storage=url, scheduler=other)


def test_a_custom_scheduler_runs_and_load_study_says_how_to_open_it(tmp_path):
    class EveryOther(Scheduler):
        name = "every-other"
        max_budget = 4

        def should_prune(self, ctx, trial, step):
            return "odd trial" if trial.number % 2 and step >= 2 else None

    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = Study("custom", objective=Objective("acc", "max"), storage=url, sampler="random",
                  scheduler=EveryOther(), seed=0)
    run(study, Trainer(tmp_path / "epochs.log"), "custom", max_trials=4)
    assert [t.state.value for t in study.trials] == ["completed", "pruned"] * 2
    assert [t.budget_reached for t in study.trials] == [4, 2, 4, 2]
    with pytest.raises(ValueError, match="scheduler=<the same instance>"):
        load_study("custom", url)


@pytest.mark.parametrize("make, message", [
    (lambda: HyperbandScheduler(max_epochs=0), "max_epochs must be an integer >= 1"),
    (lambda: HyperbandScheduler(factor=1), "factor must be an integer >= 2"),
    (lambda: HyperbandScheduler(hyperband_iterations=0), "hyperband_iterations"),
    (lambda: HyperbandScheduler(max_epochs=9.5), "max_epochs"),
    (lambda: ASHAScheduler(max_epochs=9, min_epochs=10), "min_epochs \\(10\\) must not exceed"),
    (lambda: MedianScheduler(n_startup_trials=-1), "n_startup_trials"),
    (lambda: make_scheduler("bohb"), "Unknown scheduler 'bohb'.*asha.*hyperband.*median"),
])
def test_bad_scheduler_settings_raise_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_schedulers_by_name_take_their_defaults():
    assert make_scheduler("hyperband").config() == {
        "name": "hyperband", "max_epochs": 100, "factor": 3, "hyperband_iterations": 1}
    assert make_scheduler("asha").rungs == [2, 4, 12, 34, 100]
    assert make_scheduler(None) is None


# -- executions ---------------------------------------------------------------------------
def test_each_execution_keeps_its_own_checkpoint(tmp_path):
    study = Study("executions", objective=Objective("acc", "max"), sampler="random",
                  scheduler=HyperbandScheduler(max_epochs=3, factor=3), seed=0,
                  storage=f"sqlite:///{tmp_path / 'study.db'}")
    folders = collections.defaultdict(set)

    def train(trial):
        folders[trial.number].add(trial.checkpoint_dir)
        path = os.path.join(trial.checkpoint_dir, "ckpt.json")
        if trial.resume_step:
            with open(path) as f:
                assert json.load(f) == {"execution": trial.execution, "epoch": trial.resume_step}
        with open(path, "w") as f:
            json.dump({"execution": trial.execution, "epoch": trial.budget}, f)
        return {"acc": trial.hp.Float("x", 0.0, 1.0) + trial.execution * 0.01}

    study.optimize(train, executions_per_trial=2, show_progress=False)
    assert any(t.rungs and len(t.rungs) > 1 for t in study.trials)  # some resumed
    assert all(len(f) == 2 for f in folders.values())


@pytest.mark.parametrize("where", ["memory", "sqlite"])
def test_a_new_trial_never_finds_an_old_studys_checkpoint(tmp_path, where):
    """Checkpoints belong to one study: a study made again under the same name (overwritten,
    or in memory in another run) starts every trial without a checkpoint."""
    storage = f"sqlite:///{tmp_path / 'study.db'}" if where == "sqlite" else None
    found = []

    def train(trial):
        trial.hp.Float("x", 0.0, 1.0)
        path = os.path.join(trial.checkpoint_dir, "ckpt.json")
        found.append(os.path.exists(path))
        with open(path, "w") as f:
            json.dump({"epoch": trial.budget}, f)
        return 0.5

    roots = []
    for _ in range(2):
        study = Study("same-name", objective=Objective("acc", "max"), sampler="random", seed=0,
                      storage=storage, overwrite=True)
        study.optimize(train, max_trials=3, show_progress=False)
        roots.append(study.checkpoint_root)
    assert found == [False] * 6
    if where == "memory":  # each in-memory storage has its own folder
        assert roots[0] != roots[1]
    else:
        assert roots[0] == roots[1] == str(tmp_path / "study.db.checkpoints" / "same-name")
