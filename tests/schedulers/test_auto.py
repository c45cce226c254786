"""scheduler="auto": Hyperband for one worker, ASHA for several; the first choice binds."""

from __future__ import annotations

import pytest

import tunewise
from tunewise.schedulers import (ASHAScheduler, AutoScheduler, HyperbandScheduler,
                                 scheduler_from_config)


def train(trial):
    x = trial.hp.Float("x", 0.0, 1.0)
    for epoch in range(trial.resume_step + 1, trial.budget + 1):
        trial.report(epoch, {"loss": x / epoch})
    return {"loss": x / trial.budget}


@pytest.mark.parametrize("n_jobs, kind", [(1, HyperbandScheduler), (2, ASHAScheduler)])
def test_the_first_optimize_chooses_and_every_later_run_keeps_it(tmp_path, n_jobs, kind):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = tunewise.Study("s", objective="loss", storage=url, seed=0,
                           scheduler=AutoScheduler(max_epochs=9, factor=3))
    study.optimize(train, max_trials=6, n_jobs=n_jobs, show_progress=False)
    assert type(study.scheduler) is kind and study.scheduler.max_epochs == 9
    assert study.settings["scheduler"]["resolved"] == kind.name
    assert all(t.budget is not None for t in study.trials)  # it ran multi-fidelity
    # reopened, and run with the other worker count: the stored choice holds
    again = tunewise.Study("s", objective="loss", storage=url, scheduler=AutoScheduler(max_epochs=9))
    assert type(again.scheduler) is kind
    again.optimize(train, max_trials=8, n_jobs=3 - n_jobs, show_progress=False)
    assert type(again.scheduler) is kind
    assert type(tunewise.load_study("s", url).scheduler) is kind


def test_ask_and_tell_chooses_asha():
    hp = tunewise.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    study = tunewise.Study("s", objective="loss", scheduler="auto", seed=0, hyperparameters=hp)
    trials = [study.ask() for _ in range(4)]  # held at once: no round waits for them
    assert type(study.scheduler) is ASHAScheduler
    assert study.scheduler.max_epochs == 100
    assert all(t.budget == study.scheduler.rungs[0] == 2 for t in trials)


def test_a_different_scheduler_on_an_auto_study_is_an_error(tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = tunewise.Study("s", objective="loss", storage=url, scheduler=AutoScheduler(max_epochs=9))
    study.optimize(train, max_trials=2, show_progress=False)
    with pytest.raises(ValueError, match="scheduler"):
        tunewise.Study("s", objective="loss", storage=url, scheduler="asha")
    with pytest.raises(ValueError, match="scheduler"):
        tunewise.Study("s", objective="loss", storage=url, scheduler=AutoScheduler(max_epochs=27))


def test_config_round_trip_and_bad_settings():
    auto = scheduler_from_config({"name": "auto", "max_epochs": 27, "factor": 3, "resolved": "asha"})
    assert isinstance(auto, AutoScheduler) and auto.resolved == "asha"
    assert type(auto.choose(parallel=False)) is ASHAScheduler  # the stored choice wins
    assert auto.config() == {"name": "auto", "max_epochs": 27, "factor": 3}
    with pytest.raises(ValueError, match="resolved"):
        AutoScheduler(resolved="median")
    with pytest.raises(ValueError, match="factor"):
        AutoScheduler(factor=1)
