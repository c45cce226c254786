"""tunewise.keras: Keras Tuner's API on tunewise, on a small Keras MLP over scikit-learn's digits."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
keras = pytest.importorskip("keras")
torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
torch.set_num_threads(1)

import numpy as np  # noqa: E402

import tunewise  # noqa: E402
import tunewise.keras as kt  # noqa: E402
from tunewise import TrialState  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    return x[:600], y[:600], x[1400:1700], y[1400:1700]


def build_model(hp):
    model = keras.Sequential()
    model.add(keras.layers.Dense(hp.Int("units", 8, 64, step=8), activation="relu"))
    model.add(keras.layers.Dense(10, activation="softmax"))
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("learning_rate", 1e-3, 3e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def search(tuner, data, **kwargs):
    x, y, xv, yv = data
    kwargs.setdefault("epochs", 2)
    tuner.search(x, y, validation_data=(xv, yv), verbose=0, **kwargs)
    return tuner


def test_random_search_scores_each_trial_by_its_best_epoch(tmp_path, data):
    tuner = search(kt.RandomSearch(build_model, objective="val_accuracy", max_trials=3, seed=1,
                                   directory=tmp_path, project_name="p"), data, epochs=3)
    trials = tuner.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETED] * 3
    for t in trials:
        assert sorted(t.intermediate) == [1, 2, 3]  # one report per epoch
        best_epoch = max(t.intermediate.values(), key=lambda m: m["val_accuracy"])
        assert t.score == pytest.approx(best_epoch["val_accuracy"])
        assert t.metrics["val_loss"] == pytest.approx(best_epoch["val_loss"])  # the same epoch's
    assert tuner.objective == kt.Objective("val_accuracy", "max")
    frame = tuner.results()
    assert {"units", "learning_rate", "val_accuracy", "score", "duration"} <= set(frame.columns)
    assert (frame["duration"] > 0).all()
    best = tuner.get_best_hyperparameters(2)
    assert isinstance(best[0], kt.HyperParameters)
    assert best[0].values == tuner.study.best_trial.hyperparameters
    assert tuner.oracle.get_best_trials(1)[0].hyperparameters.values == best[0].values


def test_best_model_has_the_best_epochs_weights(tmp_path, data):
    tuner = search(kt.RandomSearch(build_model, objective="val_accuracy", max_trials=2, seed=2,
                                   directory=tmp_path, project_name="p"), data, epochs=4)
    model = tuner.get_best_models(1)[0]
    x, y, xv, yv = data
    _, acc = model.evaluate(xv, yv, verbose=0)
    assert acc == pytest.approx(tuner.study.best_trial.score, abs=1e-6)
    assert model.optimizer is not None  # compiled, ready to train on


def test_objective_directions_are_inferred_and_unknown_names_rejected(tmp_path):
    assert kt.RandomSearch(build_model, objective="val_loss", directory=tmp_path,
                           project_name="a").objective.direction == "min"
    assert kt.RandomSearch(build_model, objective="val_mean_absolute_error", directory=tmp_path,
                           project_name="b").objective.direction == "min"
    assert kt.RandomSearch(build_model, objective="val_auc", directory=tmp_path,
                           project_name="c").objective.direction == "max"
    with pytest.raises(ValueError, match=r"kt.Objective\('val_widget'"):
        kt.RandomSearch(build_model, objective="val_widget", directory=tmp_path, project_name="d")
    with pytest.raises(ValueError, match="list of objectives"):
        kt.RandomSearch(build_model, objective=["val_loss", "val_accuracy"], directory=tmp_path,
                        project_name="e")


def test_a_missing_objective_metric_stops_the_search_at_once(tmp_path, data):
    x, y, _, _ = data
    tuner = kt.RandomSearch(build_model, objective="val_accuracy", max_trials=5,
                            directory=tmp_path, project_name="p")
    with pytest.raises(kt.errors.FatalError, match="validation_data"):
        tuner.search(x, y, epochs=1, verbose=0)  # no validation data: no val_accuracy
    assert [t.state for t in tuner.study.trials] == [TrialState.FAILED]  # one, not three


def test_callbacks_are_copied_and_early_stopping_works(tmp_path, data):
    stop = keras.callbacks.EarlyStopping(monitor="loss", min_delta=10.0, patience=0)
    tuner = search(kt.RandomSearch(build_model, objective="val_accuracy", max_trials=2, seed=0,
                                   directory=tmp_path, project_name="p"),
                   data, epochs=10, callbacks=[stop])
    for t in tuner.study.trials:
        assert sorted(t.intermediate) == [1, 2]  # no improvement of 10: stopped after epoch 2
    assert stop.model is None and stop.stopped_epoch == 0  # the user's own object is untouched


def test_executions_per_trial_average(tmp_path, data):
    tuner = search(kt.RandomSearch(build_model, objective="val_accuracy", max_trials=2, seed=0,
                                   executions_per_trial=2, directory=tmp_path, project_name="p"),
                   data)
    for t in tuner.study.trials:
        assert len(t.executions) == 2
        assert t.score == pytest.approx(np.mean([e["val_accuracy"] for e in t.executions]))
    assert set(tuner.results()["n_executions"]) == {2}


def test_a_bad_combination_fails_its_trial_and_the_search_goes_on(tmp_path):
    """Too many pooling layers for an 8x8 image: Keras Tuner users lose whole searches to it."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).reshape(-1, 8, 8, 1).astype("float32")

    def build_cnn(hp):
        model = keras.Sequential([keras.Input((8, 8, 1))])
        for i in range(hp.Int("blocks", 1, 5)):
            model.add(keras.layers.Conv2D(4, 3, padding="same", activation="relu"))
            model.add(keras.layers.MaxPooling2D(2))  # 8 -> 4 -> 2 -> 1 -> error
        model.add(keras.layers.Flatten())
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = kt.GridSearch(build_cnn, objective="val_accuracy", directory=tmp_path, project_name="cnn")
    tuner.search(x[:300], y[:300], epochs=1, validation_data=(x[1400:1500], y[1400:1500]), verbose=0)
    states = {t.hyperparameters["blocks"]: t.state for t in tuner.study.trials}
    assert states == {1: TrialState.COMPLETED, 2: TrialState.COMPLETED, 3: TrialState.COMPLETED,
                      4: TrialState.FAILED, 5: TrialState.FAILED}
    failed = [t for t in tuner.study.trials if t.state == TrialState.FAILED]
    assert all(t.error for t in failed)
    assert tuner.study.stop_reason == "the search space is exhausted"
    assert tuner.get_best_hyperparameters(1)[0]["blocks"] in (1, 2, 3)


def test_failed_trial_error_in_build_is_recorded_without_retry(tmp_path, data):
    calls = []

    def build(hp):
        units = hp.Int("units", 8, 64, step=8)
        calls.append(units)
        if units > 32:
            raise kt.errors.FailedTrialError("too wide for this test")
        return build_model(hp)

    tuner = search(kt.RandomSearch(build, objective="val_accuracy", max_trials=6, seed=4,
                                   max_retries_per_trial=2, max_consecutive_failed_trials=None,
                                   directory=tmp_path, project_name="p"), data, epochs=1)
    failed = [t for t in tuner.study.trials if t.state == TrialState.FAILED]
    assert failed and all("too wide" in t.error for t in failed)
    assert all(t.attempts == 0 for t in failed)  # FailedTrialError is not retried
    assert len(tuner.study.trials) == 6


def test_resume_continues_and_restores_best_models_in_a_new_process(tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent("""
        import os, sys, json
        os.environ["KERAS_BACKEND"] = "torch"
        import torch; torch.set_num_threads(1)
        import keras
        from sklearn.datasets import load_digits
        import tunewise.keras as kt

        x, y = load_digits(return_X_y=True)
        x = (x / 16.0).astype("float32")

        def build_model(hp):
            model = keras.Sequential()
            model.add(keras.layers.Dense(hp.Int("units", 8, 64, step=8), activation="relu"))
            model.add(keras.layers.Dense(10, activation="softmax"))
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            return model

        tuner = kt.RandomSearch(build_model, objective="val_accuracy", max_trials=int(sys.argv[1]),
                                seed=7, directory="runs", project_name="digits")
        before = len(tuner.study.trials)
        restored = None
        if before:
            model = tuner.get_best_models(1)[0]
            restored = model.evaluate(x[1400:1600], y[1400:1600], verbose=0)[1]
        tuner.search(x[:500], y[:500], epochs=2, validation_data=(x[1400:1600], y[1400:1600]), verbose=0)
        print(json.dumps({"before": before, "after": len(tuner.study.trials), "restored": restored,
                          "best": tuner.study.best_trial.score if before else None}))
    """))

    def run(n):
        done = subprocess.run([sys.executable, str(script), str(n)], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    first = run(2)
    assert (first["before"], first["after"]) == (0, 2)
    second = run(3)  # the same tuner with a larger budget: resumes, one more trial
    assert (second["before"], second["after"]) == (2, 3)
    assert second["restored"] == pytest.approx(second["best"], abs=1e-6)  # best weights, reloaded
    assert (tmp_path / "runs" / "digits" / "tunewise.db").exists()


def test_changed_settings_are_named_unless_overwrite(tmp_path, data):
    search(kt.RandomSearch(build_model, objective="val_accuracy", max_trials=1, seed=1,
                           directory=tmp_path, project_name="p"), data, epochs=1)

    def wider(hp):
        hp.Int("units", 8, 128, step=8)
        return build_model(hp)

    with pytest.raises(ValueError) as err:
        kt.RandomSearch(wider, objective="val_loss", max_trials=1, directory=tmp_path, project_name="p")
    text = str(err.value)
    assert "objective=Objective('val_accuracy', 'max') (now Objective('val_loss', 'min'))" in text
    assert "hyperparameter 'units'" in text and "overwrite=True" in text
    with pytest.raises(ValueError, match=r"tuner='RandomSearch' \(now 'BayesianOptimization'\)"):
        kt.BayesianOptimization(build_model, objective="val_accuracy", directory=tmp_path, project_name="p")
    with pytest.raises(ValueError, match=r"executions_per_trial=1 \(now 2\)"):
        kt.RandomSearch(build_model, objective="val_accuracy", executions_per_trial=2,
                        directory=tmp_path, project_name="p")
    with pytest.raises(ValueError, match=r"seed=1 \(now 2\)"):
        kt.RandomSearch(build_model, objective="val_accuracy", seed=2, directory=tmp_path, project_name="p")
    same = kt.RandomSearch(build_model, objective="val_accuracy", max_trials=5, directory=tmp_path,
                           project_name="p")  # max_trials may grow: it is how a search goes on
    assert len(same.study.trials) == 1 and same.study.seed == 1
    fresh = kt.RandomSearch(wider, objective="val_loss", directory=tmp_path, project_name="p", overwrite=True)
    assert fresh.study.trials == [] and fresh.objective.name == "val_loss"


def test_hyperband_promotions_resume_weights_and_optimizer_state(tmp_path, data):
    starts = []

    class Recording(kt.HyperModel):
        def build(self, hp):
            return build_model(hp)

        def fit(self, hp, model, *args, **kwargs):
            starts.append((kwargs["initial_epoch"], kwargs["epochs"], int(model.optimizer.iterations.numpy())))
            return model.fit(*args, **kwargs)

    x, y, xv, yv = data
    tuner = kt.Hyperband(Recording(), objective="val_accuracy", max_epochs=9, factor=3, seed=0,
                         directory=tmp_path, project_name="hb")
    tuner.search(x[:256], y[:256], epochs=100, batch_size=64, validation_data=(xv[:100], yv[:100]), verbose=0)
    steps = 4  # batches per epoch
    assert len(starts) == 23 and len(tuner.study.trials) == 17  # Keras Tuner's arithmetic
    assert sum(e - i for i, e, _ in starts) == 75
    promoted = [(i, it) for i, _, it in starts if i > 0]
    assert len(promoted) == 6 and all(it == i * steps for i, it in promoted)  # Adam's step count
    assert all(it == 0 for i, _, it in starts if i == 0)
    for t in tuner.study.trials:  # curves continue across promotions, epoch by epoch
        assert sorted(t.intermediate) == list(range(1, t.budget_reached + 1))
    done = [t for t in tuner.study.trials if t.state == TrialState.COMPLETED]
    assert {t.budget_reached for t in done} == {9}
    assert tuner.get_best_models(1)[0] is not None
    root = Path(tuner.study.checkpoint_root)
    assert not list(root.rglob("resume.weights.h5"))  # the brackets are over: resume state goes


def test_retention_keeps_only_the_best_trials_weights(tmp_path, data):
    tuner = search(kt.RandomSearch(build_model, objective="val_accuracy", max_trials=5, seed=3,
                                   keep_checkpoints=2, directory=tmp_path, project_name="p"), data,
                   epochs=1)
    kept = sorted(p.parent.name for p in Path(tuner.study.checkpoint_root).rglob("best.weights.h5"))
    best = sorted(f"trial_{t.number:05d}" for t in tuner.study.best_trials(2))
    assert kept == best
    assert len(tuner.get_best_models(2)) == 2
    with pytest.raises(ValueError, match="keep_checkpoints"):
        tuner.get_best_models(3)


def test_tune_new_entries_false_and_allow_new_entries(tmp_path, data):
    hp = kt.HyperParameters()
    hp.Float("learning_rate", 1e-3, 3e-2, sampling="log")
    tuner = search(kt.RandomSearch(build_model, objective="val_accuracy", max_trials=3, seed=0,
                                   hyperparameters=hp, tune_new_entries=False, directory=tmp_path,
                                   project_name="a"), data, epochs=1)
    assert [h.name for h in tuner.study.hyperparameters.space] == ["learning_rate"]
    assert len({t.hyperparameters["learning_rate"] for t in tuner.study.trials}) == 3
    strict = kt.RandomSearch(build_model, objective="val_accuracy", max_trials=3, hyperparameters=hp,
                             tune_new_entries=False, allow_new_entries=False, directory=tmp_path,
                             project_name="b")
    with pytest.raises(kt.errors.FatalError, match="allow_new_entries=False.*units"):
        search(strict, data, epochs=1)


def test_run_trial_override_without_a_model(tmp_path):
    class Quadratic(kt.RandomSearch):
        def run_trial(self, trial, *args, **kwargs):
            x = trial.hyperparameters.Float("x", -2.0, 2.0)
            assert trial.trial_id == f"{trial.number:02d}"
            return (x - 0.5) ** 2

    tuner = Quadratic(max_trials=8, seed=0, directory=tmp_path, project_name="q")
    tuner.search()
    assert tuner.objective == kt.Objective("default_objective", "min")
    best = tuner.study.best_trial
    assert best.score == pytest.approx((best.hyperparameters["x"] - 0.5) ** 2)
    with pytest.raises(ValueError, match="hypermodel is None"):
        kt.RandomSearch(None, directory=tmp_path, project_name="r")


def test_hypermodel_fit_override_tunes_training(tmp_path, data):
    class Batches(kt.HyperModel):
        def build(self, hp):
            return build_model(hp)

        def fit(self, hp, model, *args, **kwargs):
            return model.fit(*args, batch_size=hp.Choice("batch_size", [16, 64]), **kwargs)

    tuner = search(kt.GridSearch(Batches(), objective="val_accuracy", max_trials=3,
                                 directory=tmp_path, project_name="p"), data, epochs=1)
    assert "batch_size" in tuner.study.trials[0].hyperparameters


def test_median_scheduler_prunes_keras_trials(tmp_path, data):
    tuner = search(kt.RandomSearch(build_model, objective="val_accuracy", max_trials=10, seed=5,
                                   scheduler=tunewise.schedulers.MedianScheduler(n_startup_trials=3),
                                   directory=tmp_path, project_name="p"), data, epochs=4)
    pruned = [t for t in tuner.study.trials if t.state == TrialState.PRUNED]
    assert pruned and all("pruned at step" in t.error for t in pruned)


def test_summaries_print_the_space_and_active_values(tmp_path, data, capsys):
    def conditional(hp):
        model = keras.Sequential([keras.layers.Dense(16, activation="relu")])
        if hp.Choice("head", ["plain", "deep"]) == "deep":
            with hp.conditional_scope("head", "deep"):
                model.add(keras.layers.Dense(hp.Int("head_units", 8, 32), activation="relu"))
        model.add(keras.layers.Dense(10, activation="softmax"))
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    tuner = kt.GridSearch(conditional, objective="val_accuracy", max_trials=2, directory=tmp_path,
                          project_name="p")
    tuner.search_space_summary()
    out = capsys.readouterr().out
    assert "Search space summary" in out and "head (Choice)" in out
    assert "head_units (Int)" in out  # found before the first trial, inside its scope
    search(tuner, data, epochs=1)
    capsys.readouterr()
    tuner.results_summary(5)
    out = capsys.readouterr().out
    assert "Results summary" in out and "Objective(name='val_accuracy', direction='max')" in out
    blocks = out.split("summary\nHyperparameters:")[1:]
    plain = [b for b in blocks if "head: plain" in b]
    assert plain and all("head_units" not in b.split("Score")[0] for b in plain)  # active only


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="oracle"):
        kt.Tuner(oracle=object(), hypermodel=build_model, directory=tmp_path)
    with pytest.raises(ValueError, match="executions_per_trial"):
        kt.RandomSearch(build_model, objective="val_loss", executions_per_trial=0, directory=tmp_path)
    with pytest.raises(ValueError, match="keep_checkpoints"):
        kt.RandomSearch(build_model, objective="val_loss", keep_checkpoints=0, directory=tmp_path)
    with pytest.raises(ValueError, match="hypermodel must be"):
        kt.RandomSearch(42, objective="val_loss", directory=tmp_path)
    with pytest.raises(ValueError, match="max_epochs"):
        kt.Hyperband(build_model, objective="val_loss", max_epochs=0, directory=tmp_path)


def test_build_must_return_a_model(tmp_path, data):
    tuner = kt.RandomSearch(lambda hp: hp.Int("units", 1, 4), objective="val_accuracy", max_trials=3,
                            directory=tmp_path, project_name="p")
    with pytest.raises(kt.errors.FatalTypeError, match="must return a Keras model"):
        search(tuner, data, epochs=1)


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
def test_memory_stays_flat_over_many_trials(tmp_path, data):
    rss = []

    class Measured(kt.RandomSearch):
        def on_trial_end(self, trial):
            gc.collect()
            rss.append(_rss_mb())

    def wide(hp):
        model = keras.Sequential([keras.layers.Dense(512, activation="relu"),
                                  keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5)),
                                  keras.layers.Dense(256, activation="relu"),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    x, y, xv, yv = data
    Measured(wide, objective="val_accuracy", max_trials=30, seed=0, directory=tmp_path,
             project_name="p").search(x[:128], y[:128], epochs=1, batch_size=64,
                                      validation_data=(xv[:64], yv[:64]), verbose=0)
    assert len(rss) == 30
    growth = rss[-1] - rss[9]
    assert growth < 15, f"RSS grew {growth:.1f} MB from trial 10 to 30: {[round(r) for r in rss]}"
    gc.collect()
    alive = [o for o in gc.get_objects() if isinstance(o, keras.Model)]
    assert alive == []  # no trial's model outlives its trial


def test_given_hyperparameters_win_over_build_models_definitions(tmp_path, data):
    fixed = kt.HyperParameters()
    fixed.Fixed("learning_rate", 0.01)
    tuner = search(kt.RandomSearch(build_model, objective="val_accuracy", max_trials=3, seed=0,
                                   hyperparameters=fixed, directory=tmp_path, project_name="a"),
                   data, epochs=1)
    assert {t.hyperparameters["learning_rate"] for t in tuner.study.trials} == {0.01}
    assert len({t.hyperparameters["units"] for t in tuner.study.trials}) == 3  # still tuned
    narrow = kt.HyperParameters()
    narrow.Float("learning_rate", 2e-3, 4e-3)
    tuner = search(kt.RandomSearch(build_model, objective="val_accuracy", max_trials=3, seed=0,
                                   hyperparameters=narrow, tune_new_entries=False,
                                   directory=tmp_path, project_name="b"), data, epochs=1)
    assert all(2e-3 <= t.hyperparameters["learning_rate"] <= 4e-3 for t in tuner.study.trials)


def test_keras_colour_codes_are_not_recorded_in_errors(tmp_path, data):
    def build(hp):
        hp.Int("units", 8, 16)
        raise ValueError("\x1b[1mbad shape\x1b[0m for this layer")

    tuner = search(kt.RandomSearch(build, objective="val_accuracy", max_trials=2,
                                   directory=tmp_path, project_name="p"), data, epochs=1)
    assert [t.error for t in tuner.study.trials] == ["ValueError: bad shape for this layer"] * 2
