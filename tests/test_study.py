"""Study behaviour: the optimise loop, ask/tell, failures, results, resume and bad input."""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path

import pytest

import tunewise
from tunewise import FailedTrialError, HyperParameters, Objective, Study, TrialState
from tunewise.progress import Progress


def quadratic(trial):
    x = trial.hp.Float("x", -5.0, 5.0)
    units = trial.hp.Int("units", 32, 512, step=32)
    act = trial.hp.Choice("activation", ["relu", "tanh"])
    return {"loss": (x - 1.0) ** 2 + units / 1000 + (act == "tanh") * 0.1, "units_seen": units}


@pytest.fixture
def db(tmp_path):
    return f"sqlite:///{tmp_path / 'study.db'}"


def states(study):
    return [t.state.value for t in study.trials]


# -- the loop ---------------------------------------------------------------------------------
def test_optimize_records_every_trial_and_finds_the_best(db):
    study = Study("q", objective="loss", storage=db, seed=0)
    study.optimize(quadratic, max_trials=25, show_progress=False)
    assert len(study.trials) == 25
    assert states(study) == ["completed"] * 25
    best = study.best_trial
    assert best.score == min(t.score for t in study.trials)
    assert best.metrics["loss"] == best.score
    assert study.stop_reason == "max_trials=25 reached"
    top = study.best_trials(5)
    assert [t.score for t in top] == sorted(t.score for t in study.trials)[:5]
    hps = study.best_hyperparameters(2)
    assert isinstance(hps[0], HyperParameters)
    assert hps[0].values == best.hyperparameters
    for t in study.trials:
        assert set(t.hyperparameters) == {"x", "units", "activation"}
        assert t.duration is not None and t.duration >= 0


def test_a_float_return_is_the_objective():
    study = Study("f", objective="val_accuracy", seed=1)
    study.optimize(lambda t: t.hp.Float("p", 0.0, 1.0), max_trials=5, show_progress=False)
    assert all(t.metrics == {"val_accuracy": t.score} for t in study.trials)
    assert study.best_trial.score == max(t.score for t in study.trials)


def test_max_trials_counts_trials_of_earlier_runs(db):
    Study("r", objective="loss", storage=db, seed=3).optimize(quadratic, max_trials=12, show_progress=False)
    study = Study("r", objective="loss", storage=db, seed=3)
    ran = []
    study.optimize(lambda t: ran.append(t.number) or quadratic(t), max_trials=20, show_progress=False)
    assert ran == list(range(12, 20))
    assert len(study.trials) == 20


def test_resumed_study_continues_the_same_sequence(db, tmp_path):
    whole = Study("w", objective="loss", storage=f"sqlite:///{tmp_path / 'w.db'}", seed=7)
    whole.optimize(quadratic, max_trials=10, show_progress=False)
    Study("w", objective="loss", storage=db, seed=7).optimize(quadratic, max_trials=4, show_progress=False)
    resumed = Study("w", objective="loss", storage=db)  # seed None: the stored one
    resumed.optimize(quadratic, max_trials=10, show_progress=False)
    assert [t.hyperparameters for t in resumed.trials] == [t.hyperparameters for t in whole.trials]


def test_timeout_stops_starting_trials():
    import time

    study = Study("t", objective="loss", seed=0)
    study.optimize(lambda t: time.sleep(0.05) or t.hp.Float("x", 0.0, 1.0), timeout=0.2,
                   show_progress=False)
    assert 1 <= len(study.trials) <= 6
    assert "timeout" in study.stop_reason


def test_callbacks_receive_each_finished_trial():
    seen = []
    study = Study("c", objective="loss", seed=0)
    study.optimize(quadratic, max_trials=4, callbacks=[lambda s, t: seen.append((s.name, t.number))],
                   show_progress=False)
    assert seen == [("c", 0), ("c", 1), ("c", 2), ("c", 3)]


def test_report_stores_intermediate_results(db):
    def train(trial):
        trial.hp.Float("lr", 1e-4, 1e-1, sampling="log")
        for epoch in range(3):
            trial.report(epoch, {"loss": 1.0 / (epoch + 1)})
        return 0.1

    study = Study("i", objective="loss", storage=db, seed=0)
    study.optimize(train, max_trials=2, show_progress=False)
    assert study.trials[1].intermediate == {0: {"loss": 1.0}, 1: {"loss": 0.5}, 2: {"loss": 1 / 3}}
    assert tunewise.load_study("i", db).trials[0].intermediate[2] == {"loss": 1 / 3}


# -- executions -------------------------------------------------------------------------------
def test_executions_per_trial_use_different_seeds_and_score_the_mean(db):
    seeds = []

    def train(trial):
        seeds.append(trial.seed)
        trial.hp.Float("lr", 1e-4, 1e-1, sampling="log")
        return {"loss": float(trial.execution), "other": 2.0}

    study = Study("e", objective="loss", storage=db, seed=0)
    study.optimize(train, max_trials=2, executions_per_trial=3, show_progress=False)
    assert len(set(seeds)) == 6
    t = study.trials[0]
    assert t.score == pytest.approx(1.0)
    assert t.score_std == pytest.approx(1.0)  # std of 0, 1, 2
    assert [e["loss"] for e in t.executions] == [0.0, 1.0, 2.0]
    assert t.metrics == {"loss": 1.0, "other": 2.0}
    row = study.to_dataframe().iloc[0]
    assert row["n_executions"] == 3 and row["score_std"] == pytest.approx(1.0)


def test_trial_seed_is_stable_for_a_trial():
    a, b = [], []
    for out in (a, b):
        Study("s", objective="loss", seed=5).optimize(
            lambda t: out.append(t.seed) or t.hp.Float("x", 0.0, 1.0), max_trials=3, show_progress=False)
    assert a == b and len(set(a)) == 3


# -- failures ---------------------------------------------------------------------------------
def test_exceptions_become_failed_trials_with_type_message_and_traceback(db):
    def train(trial):
        if trial.hp.Int("n", 0, 9) % 2:
            raise RuntimeError(f"odd n={trial.hp['n']}")
        return 0.5

    study = Study("x", objective="loss", storage=db, seed=0)
    study.optimize(train, max_trials=10, max_consecutive_failed_trials=None, show_progress=False)
    failed = [t for t in study.trials if t.state == TrialState.FAILED]
    assert failed and len(failed) < 10
    for t in failed:
        assert t.error == f"RuntimeError: odd n={t.hyperparameters['n']}"
        assert "Traceback" in t.traceback and "raise RuntimeError" in t.traceback
        assert t.score is None


def test_failed_trial_error_is_not_retried():
    calls = []

    def train(trial):
        calls.append(trial.number)
        trial.hp.Float("x", 0.0, 1.0)
        raise FailedTrialError("bad combination")

    study = Study("ft", objective="loss", seed=0)
    study.optimize(train, max_trials=2, max_retries_per_trial=3, max_consecutive_failed_trials=None,
                   show_progress=False)
    assert calls == [0, 1]
    assert [t.error for t in study.trials] == ["FailedTrialError: bad combination"] * 2


def test_other_errors_are_retried_up_to_max_retries_per_trial():
    calls = {}

    def flaky(trial):
        calls[trial.number] = calls.get(trial.number, 0) + 1
        trial.hp.Float("x", 0.0, 1.0)
        if trial.number == 0 and calls[0] < 3:
            raise OSError("transient")
        if trial.number == 1:
            raise OSError("always")
        return 1.0

    study = Study("retry", objective="loss", seed=0)
    study.optimize(flaky, max_trials=3, max_retries_per_trial=2, max_consecutive_failed_trials=None,
                   show_progress=False)
    t0, t1, t2 = study.trials
    assert (t0.state, t0.attempts, calls[0]) == (TrialState.COMPLETED, 2, 3)
    assert (t1.state, t1.attempts, calls[1]) == (TrialState.FAILED, 2, 3)
    assert t1.hyperparameters == study.trials[1].hyperparameters  # same values on every retry
    assert calls[2] == 1


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_a_non_finite_objective_is_a_failed_trial_that_diverged(bad):
    study = Study("nan", objective="loss", seed=0)
    study.optimize(lambda t: {"loss": bad, "acc": 0.1}, max_trials=1, show_progress=False)
    t = study.trials[0]
    assert t.state == TrialState.FAILED
    assert t.error.startswith("diverged") and "loss" in t.error


def test_consecutive_failures_end_the_search_with_a_message(caplog):
    def broken(trial):
        trial.hp.Float("lr", 1e-4, 1e-1, sampling="log")
        raise ImportError("No module named 'kerass'")

    study = Study("broken", objective="loss", seed=0)
    with caplog.at_level(logging.ERROR, logger="tunewise"):
        study.optimize(broken, max_trials=50, show_progress=False)
    assert len(study.trials) == 3
    assert "3 consecutive trials failed" in study.stop_reason
    assert "No module named 'kerass'" in caplog.text


def test_consecutive_count_resets_on_success():
    pattern = iter([1, 1, 0, 1, 1, 0, 1, 1, 0, 0])

    def train(trial):
        trial.hp.Float("x", 0.0, 1.0)
        if next(pattern):
            raise ValueError("region fails")
        return 1.0

    study = Study("reset", objective="loss", seed=0)
    study.optimize(train, max_trials=10, show_progress=False)
    assert len(study.trials) == 10


def test_ctrl_c_marks_the_trial_interrupted_and_it_runs_again_on_resume(db):
    def train(trial):
        if trial.number == 2:
            raise KeyboardInterrupt
        return quadratic(trial)

    study = Study("kb", objective="loss", storage=db, seed=0)
    with pytest.raises(KeyboardInterrupt):
        study.optimize(train, max_trials=5, show_progress=False)
    assert states(study) == ["completed", "completed", "interrupted"]
    params = study.trials[2].hyperparameters
    resumed = Study("kb", objective="loss", storage=db)
    ran = []
    resumed.optimize(lambda t: ran.append(t.number) or quadratic(t), max_trials=5, show_progress=False)
    assert ran == [2, 3, 4]
    assert resumed.trials[2].hyperparameters == params
    assert states(resumed) == ["completed"] * 5


# -- ask and tell -----------------------------------------------------------------------------
def test_ask_and_tell(db):
    study = Study("at", objective="val_accuracy", storage=db, seed=0)
    for _ in range(4):
        trial = study.ask()
        lr = trial.hp.Float("lr", 1e-4, 1e-1, sampling="log")
        study.tell(trial, {"val_accuracy": 1.0 - lr})
    failing = study.ask()
    study.tell(failing, state="failed", error="out of memory")
    assert states(study) == ["completed"] * 4 + ["failed"]
    assert study.trials[4].error == "out of memory"
    assert "lr" in study.hyperparameters
    assert study.best_trial.score == max(t.score for t in study.trials[:4])


def test_tell_without_the_objective_raises_and_leaves_the_trial_running():
    study = Study("at2", objective="val_accuracy", seed=0)
    trial = study.ask()
    with pytest.raises(ValueError, match="no metric 'val_accuracy'.*accuracy"):
        study.tell(trial, {"accuracy": 0.9})
    assert study.trials[0].state == TrialState.RUNNING
    study.tell(trial, {"val_accuracy": 0.9})
    assert study.trials[0].state == TrialState.COMPLETED
    with pytest.raises(ValueError, match="completed, not running"):
        study.tell(trial, {"val_accuracy": 0.8})


def test_tell_a_non_numeric_metric_raises():
    study = Study("at3", objective="loss", seed=0)
    trial = study.ask()
    with pytest.raises(ValueError, match="Metric 'loss' is 'low'"):
        study.tell(trial, {"loss": "low"})
    with pytest.raises(ValueError, match="Metric 'acc'"):
        study.tell(trial, {"loss": 1.0, "acc": [0.1]})
    assert study.trials[0].state == TrialState.RUNNING


def test_a_function_without_hyperparameters_runs_once_and_says_why():
    study = Study("none", objective="loss", seed=0)
    study.optimize(lambda t: 1.0, max_trials=5, show_progress=False)
    assert len(study.trials) == 1
    assert "defines no hyperparameters" in study.stop_reason


def test_ask_raises_when_a_finite_space_is_exhausted():
    hp = HyperParameters()
    hp.Boolean("flag")
    study = Study("ex", objective="loss", sampler="grid", hyperparameters=hp)
    for _ in range(2):
        study.tell(study.ask(), 1.0)
    with pytest.raises(tunewise.SpaceExhaustedError):
        study.ask()


# -- multi-objective --------------------------------------------------------------------------
def test_multi_objective_best_trials_is_the_pareto_front():
    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        y = trial.hp.Float("y", 0.0, 1.0)
        return {"val_accuracy": x, "latency": x ** 2 + y}

    study = Study("mo", objective=["val_accuracy", Objective("latency", "min")], seed=0)
    study.optimize(train, max_trials=30, show_progress=False)
    front = study.best_trials()
    done = study.trials

    def dominates(a, b):
        return a[0] >= b[0] and a[1] <= b[1] and (a[0] > b[0] or a[1] < b[1])

    assert front
    for t in front:
        assert isinstance(t.score, tuple) and len(t.score) == 2
        assert not any(dominates(o.score, t.score) for o in done)
    for t in done:
        if t not in front:
            assert any(dominates(f.score, t.score) for f in front)
    with pytest.raises(ValueError, match="Pareto"):
        study.best_trial
    df = study.to_dataframe()
    assert {"score_val_accuracy", "score_latency"} <= set(df.columns)


# -- results tables ---------------------------------------------------------------------------
def test_dataframe_and_csv_have_one_row_per_trial(tmp_path):
    def train(trial):
        n = trial.hp.Int("n", 0, 3)
        if n == 3:
            raise ValueError("n=3 breaks")
        return {"loss": float(n), "acc": 1.0 - n / 10}

    study = Study("df", objective="loss", seed=2)
    study.optimize(train, max_trials=8, max_consecutive_failed_trials=None, show_progress=False)
    df = study.to_dataframe()
    assert list(df.columns) == ["number", "state", "n", "loss", "acc", "score", "score_std",
                                "n_executions", "duration", "error"]
    assert len(df) == len(study.trials)
    assert list(df["number"]) == list(range(len(df)))
    path = tmp_path / "t.csv"
    study.to_csv(str(path))
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert len(rows) == len(df)
    assert rows[0].keys() == set(df.columns) or list(rows[0].keys()) == list(df.columns)
    failed = [r for r in rows if r["state"] == "failed"]
    assert all(r["error"] == "ValueError: n=3 breaks" for r in failed)


def test_load_study_opens_an_existing_study(db):
    Study("ld", objective="loss", storage=db, sampler="grid").optimize(
        lambda t: float(t.hp.Int("a", 0, 2)), max_trials=2, show_progress=False)
    study = tunewise.load_study("ld", db)
    assert study.sampler.name == "grid"
    study.optimize(lambda t: float(t.hp.Int("a", 0, 2)), max_trials=10, show_progress=False)
    assert [t.hyperparameters["a"] for t in study.trials] == [0, 1, 2]
    with pytest.raises(KeyError, match="No study named 'nope'.*'ld'"):
        tunewise.load_study("nope", db)


# -- settings on resume and bad input ---------------------------------------------------------
@pytest.mark.parametrize("change, setting", [
    ({"objective": "val_accuracy"}, "objective"),
    ({"objective": Objective("loss", "max")}, "objective"),
    ({"sampler": "grid"}, "sampler"),
    ({"seed": 99}, "seed"),
])
def test_resuming_with_other_settings_names_the_setting_and_changes_nothing(db, change, setting):
    original = Study("set", objective="loss", storage=db, sampler="random", seed=1)
    original.optimize(quadratic, max_trials=3, show_progress=False)
    before = [(t.number, t.state, t.hyperparameters, t.score) for t in original.trials]
    kwargs = {"objective": "loss", "storage": db, "sampler": "random", "seed": 1, **change}
    with pytest.raises(ValueError, match=f"already exists.*with {setting}.*overwrite=True"):
        Study("set", **kwargs)
    again = Study("set", objective="loss", storage=db, sampler="random", seed=1)
    assert [(t.number, t.state, t.hyperparameters, t.score) for t in again.trials] == before
    fresh = Study("set", overwrite=True, **kwargs)
    assert fresh.trials == []


def test_resuming_with_another_declared_space_is_an_error(db):
    hp = HyperParameters()
    hp.Int("units", 32, 512, step=32)
    Study("hp", objective="loss", storage=db, hyperparameters=hp)
    other = HyperParameters()
    other.Int("units", 32, 256, step=32)
    with pytest.raises(ValueError, match="hyperparameters.*Int\\('units'.*max_value=512"):
        Study("hp", objective="loss", storage=db, hyperparameters=other)


def test_a_function_whose_space_changed_is_an_error_not_a_failed_trial(db):
    Study("sp", objective="loss", storage=db, seed=0).optimize(
        lambda t: float(t.hp.Int("units", 32, 512, step=32)), max_trials=2, show_progress=False)
    study = Study("sp", objective="loss", storage=db)
    with pytest.raises(ValueError, match="'units' is already defined"):
        study.optimize(lambda t: float(t.hp.Int("units", 1, 8)), max_trials=4, show_progress=False)
    assert states(study) == ["completed", "completed", "waiting"]


@pytest.mark.parametrize("result, message", [
    ({"accuracy": 0.9}, "no metric 'loss'"),
    ({"loss": "0.5"}, "Metric 'loss' is '0.5'"),
    (None, "returned None"),
])
def test_a_bad_result_raises_and_records_nothing(db, result, message):
    study = Study("bad", objective="loss", storage=db, seed=0)
    with pytest.raises(ValueError, match=message):
        study.optimize(lambda t: result, max_trials=3, show_progress=False)
    assert states(study) == ["waiting"]
    assert study.trials[0].score is None


@pytest.mark.parametrize("kwargs, message", [
    ({"sampler": "annealing"}, "Unknown sampler 'annealing'.*random"),
    ({"objective": "wobble"}, "Cannot infer.*Objective\\('wobble'"),
    ({"storage": "not a url"}, "Bad storage 'not a url'"),
    ({"storage": "sqlite:////no/such/folder/x.db"}, "folder '/no/such/folder' does not exist"),
    ({"scheduler": "successive"}, "Unknown scheduler 'successive'.*hyperband"),
    ({"scheduler": "hyperband", "objective": ["loss", "val_loss"]}, "one objective"),
    ({"seed": "one"}, "seed must be an integer"),
])
def test_bad_study_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Study("bad", **{"objective": "loss", **kwargs})


@pytest.mark.parametrize("kwargs, name", [
    ({"max_trials": 0}, "max_trials"),
    ({"max_trials": -3}, "max_trials"),
    ({"executions_per_trial": 0}, "executions_per_trial"),
    ({"max_retries_per_trial": -1}, "max_retries_per_trial"),
    ({"timeout": 0}, "timeout"),
])
def test_bad_optimize_arguments_raise_before_anything_runs(db, kwargs, name):
    study = Study("args", objective="loss", storage=db)
    with pytest.raises(ValueError, match=name):
        study.optimize(quadratic, **kwargs, show_progress=False)
    assert study.trials == []


# -- progress ---------------------------------------------------------------------------------
def test_progress_line_shows_count_best_elapsed_and_eta():
    stream = io.StringIO()
    progress = Progress(20, stream=stream, enabled=True)
    progress.update(5, "0.97 (trial 3)", 5)
    progress.close()
    text = stream.getvalue()
    assert "trial 5 of 20" in text and "best 0.97 (trial 3)" in text
    assert "elapsed" in text and "left" in text


def test_progress_is_quiet_when_not_a_terminal(capsys):
    Study("quiet", objective="loss", seed=0).optimize(quadratic, max_trials=3)
    assert capsys.readouterr().err == ""


# -- the trial handle -------------------------------------------------------------------------
def test_checkpoint_dir_survives_between_runs_of_a_trial(db, tmp_path):
    seen = {}

    def train(trial):
        trial.hp.Float("x", 0.0, 1.0)
        path = trial.checkpoint_dir
        seen.setdefault(trial.number, []).append(path)
        marker = tmp_path / "interrupted-once"
        if trial.number == 1 and not marker.exists():
            marker.write_text("")
            (Path(path) / "weights.bin").write_bytes(b"epoch 3")
            raise KeyboardInterrupt
        if trial.number == 1:
            assert (Path(path) / "weights.bin").read_bytes() == b"epoch 3"
        return 1.0

    with pytest.raises(KeyboardInterrupt):
        Study("ck", objective="loss", storage=db, seed=0).optimize(train, max_trials=3, show_progress=False)
    Study("ck", objective="loss", storage=db).optimize(train, max_trials=3, show_progress=False)
    assert seen[1][0] == seen[1][1]
    assert len({p[0] for p in seen.values()}) == 3
    assert Path(seen[0][0]).is_dir() and str(tmp_path) in seen[0][0]


@pytest.mark.parametrize("step, metrics, message", [
    (-1, {"loss": 1.0}, "step must be a non-negative integer"),
    (1.5, {"loss": 1.0}, "step must be a non-negative integer"),
    (1, {"loss": "high"}, "Metric 'loss'"),
])
def test_report_rejects_bad_steps_and_metrics(step, metrics, message):
    study = Study("rep", objective="loss", seed=0)
    trial = study.ask()
    with pytest.raises(ValueError, match=message):
        trial.report(step, metrics)
    trial.report(0, 0.5)  # a bare number is the objective
    assert study.trials[0].intermediate == {0: {"loss": 0.5}}


def test_study_hyperparameters_is_the_space_found_so_far():
    study = Study("space", objective="loss", seed=0)
    assert study.hyperparameters.space == []
    study.optimize(quadratic, max_trials=2, show_progress=False)
    assert [hp.name for hp in study.hyperparameters.space] == ["x", "units", "activation"]


def test_the_claimed_point_id_has_a_fixed_length_whatever_the_space(db):
    from tunewise.space import point_id

    def wide(trial):
        for i in range(200):
            trial.hp.Choice(f"option_{i:03d}", ["a" * 40 + str(k) for k in range(3)])
        return 1.0

    study = Study("wide", objective="loss", storage=db, seed=0)
    study.optimize(wide, max_trials=3, show_progress=False)
    for t in study.trials[1:]:  # trial 0 claimed the empty point, before the space was known
        assert t.key == point_id(t.hyperparameters) and len(t.key) == 32
    assert len({t.key for t in study.trials}) == 3


def test_a_study_made_with_a_sampler_name_reopens_with_an_equal_instance_and_by_load(tmp_path):
    from tunewise.samplers import BayesianSampler

    db = f"sqlite:///{tmp_path / 's.db'}"
    tunewise.Study("s", objective="loss", storage=db, sampler="bayesian", seed=1)
    tunewise.Study("s", objective="loss", storage=db, sampler=BayesianSampler(), seed=1)
    tunewise.Study("t", objective="loss", storage=db, seed=1,
                   sampler=BayesianSampler(num_initial_points=4))
    loaded = tunewise.load_study("t", db)
    assert loaded.sampler.config() == BayesianSampler(num_initial_points=4).config()
    with pytest.raises(ValueError, match="sampler"):
        tunewise.Study("t", objective="loss", storage=db, sampler="bayesian", seed=1)


def test_load_study_says_how_to_open_a_study_made_with_a_custom_sampler(tmp_path):
    from tunewise.samplers import RandomSampler

    class Mine(RandomSampler):
        name = "mine"

    db = f"sqlite:///{tmp_path / 's.db'}"
    tunewise.Study("s", objective="loss", storage=db, sampler=Mine(), seed=1)
    with pytest.raises(ValueError, match="sampler=<the same instance>"):
        tunewise.load_study("s", db)
    assert tunewise.Study("s", objective="loss", storage=db, sampler=Mine(), seed=1).trials == []


def test_fatal_error_records_the_trial_and_stops_the_search():
    calls = []

    def train(trial):
        calls.append(trial.number)
        if trial.number == 1:
            raise tunewise.FatalError("the data has no 'val_accuracy' column")
        return trial.hp.Float("x", 0.0, 1.0)

    study = tunewise.Study("fatal", objective="loss")
    with pytest.raises(tunewise.FatalError, match="no 'val_accuracy'"):
        study.optimize(train, max_trials=10, max_retries_per_trial=3, show_progress=False)
    assert calls == [0, 1]  # not retried, and no trial after it
    assert [t.state.value for t in study.trials] == ["completed", "failed"]
    assert "no 'val_accuracy'" in study.trials[1].error
    assert "fatal error" in study.stop_reason
