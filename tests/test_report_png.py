"""The report's PNG figures (tunewise.report.png)."""

from __future__ import annotations

import logging
import math
import os

import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("sklearn")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import tunewise  # noqa: E402
from tunewise.report import data  # noqa: E402
from tunewise.report import png  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ALL = ["history", "effects", "scatter3d", "histogram", "parallel", "importance", "curves",
       "tradeoff", "failures"]


def _check_pngs(paths, out_dir, expected):
    assert paths == [os.path.join(str(out_dir), f"{n}.png") for n in expected]
    assert sorted(os.listdir(out_dir)) == sorted(f"{n}.png" for n in expected)
    for p in paths:
        with open(p, "rb") as f:
            head = f.read(8)
        assert head == PNG_MAGIC, p
        assert os.path.getsize(p) > 5_000, p


def _no_open_figures():
    assert plt.get_fignums() == []


# -- studies ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def grid_study():
    """3 categorical hyperparameters, grid search, 2 executions per trial, learning curves."""
    study = tunewise.Study("grid", objective="loss", sampler="grid", seed=0)

    def fn(trial):
        opt = trial.hp.Choice("optimizer", ["adam", "sgd", "rmsprop"])
        units = trial.hp.Choice("units", [16, 64])
        act = trial.hp.Choice("activation", ["relu", "tanh"])
        base = {"adam": 0.2, "sgd": 0.5, "rmsprop": 0.3}[opt] + (0.1 if units == 16 else 0.0) \
            + (0.05 if act == "tanh" else 0.0)
        for step in range(4):
            trial.report(step, {"loss": base + 1.0 / (step + 1)})
        return {"loss": base, "accuracy": 1 - base}

    study.optimize(fn, max_trials=12, executions_per_trial=2, max_consecutive_failed_trials=None,
                   show_progress=False)
    return study


@pytest.fixture(scope="module")
def conditional_study():
    """14 hyperparameters, two conditional branches, no intermediate values, no failures."""
    study = tunewise.Study("cond", objective="val_loss", sampler="random", seed=0)

    def fn(trial):
        hp = trial.hp
        lr = hp.Float("lr", 1e-4, 1e-1, sampling="log")
        batch = hp.Int("batch", 16, 256, sampling="log")
        dropout = hp.Float("dropout", 0.0, 0.5)
        layers = hp.Int("layers", 1, 4)
        opt = hp.Choice("optimizer", ["adam", "sgd"])
        wd = hp.Float("weight_decay", 1e-6, 1e-2, sampling="log")
        hp.Float("momentum", 0.0, 0.99)
        hp.Choice("norm", ["batch", "layer", "none"])
        hp.Boolean("augment")
        model = hp.Choice("model", ["cnn", "mlp"])
        with hp.conditional_scope("model", "cnn"):
            filters = hp.Int("filters", 8, 64) if model == "cnn" else None
            kernel = hp.Choice("kernel", [3, 5]) if model == "cnn" else None
        with hp.conditional_scope("model", "mlp"):
            units = hp.Int("units", 32, 512, sampling="log") if model == "mlp" else None
            act = hp.Choice("activation", ["relu", "gelu"]) if model == "mlp" else None
        loss = (math.log10(lr) + 2.5) ** 2 + 0.3 * dropout + 0.05 * layers + (0.2 if opt == "sgd" else 0.0) \
            + 1e-3 * math.log(batch) + 10 * wd
        if model == "cnn":
            loss += 0.1 - filters / 1000 + (0.02 if kernel == 5 else 0.0)
        else:
            loss += 0.2 - units / 10_000 + (0.01 if act == "gelu" else 0.0)
        return {"val_loss": loss}

    study.optimize(fn, max_trials=40, max_consecutive_failed_trials=None, show_progress=False)
    return study


@pytest.fixture(scope="module")
def multi_study():
    study = tunewise.Study("multi", objective=["loss", "accuracy"], sampler="random", seed=0)

    def fn(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        y = trial.hp.Float("y", 0.0, 1.0)
        kind = trial.hp.Choice("kind", ["a", "b"])
        bonus = 0.05 if kind == "a" else 0.0
        return {"loss": x + 0.1 * y, "accuracy": math.sqrt(x) - 0.1 * y + bonus}

    study.optimize(fn, max_trials=20, max_consecutive_failed_trials=None, show_progress=False)
    return study


@pytest.fixture(scope="module")
def failing_study():
    """Failures (two reasons) and pruned trials (median scheduler) over two hyperparameters."""
    study = tunewise.Study("fail", objective="loss", sampler="random", seed=0,
                           scheduler=tunewise.schedulers.MedianScheduler(n_startup_trials=3))

    def fn(trial):
        lr = trial.hp.Float("lr", 1e-3, 1.0, sampling="log")
        opt = trial.hp.Choice("optimizer", ["adam", "sgd"])
        if lr > 0.3:
            raise tunewise.FailedTrialError("diverged: loss is NaN")
        if opt == "sgd" and lr < 3e-3:
            raise tunewise.FailedTrialError("too slow")
        loss = 1.0
        for step in range(6):
            loss = abs(math.log10(lr) + 1.5) + 1.0 / (step + 1)
            trial.report(step, {"loss": loss})
        return {"loss": loss}

    study.optimize(fn, max_trials=30, max_consecutive_failed_trials=None, show_progress=False)
    return study


@pytest.fixture(scope="module")
def conditional_importance(conditional_study):
    from tunewise.analysis import importance

    return importance(conditional_study)


# -- write_pngs ------------------------------------------------------------------------------

def test_grid_study_writes_every_figure_but_failures(grid_study, tmp_path, caplog):
    states = {t.state.value for t in grid_study.trials}
    assert states == {"completed"} and len(grid_study.trials) == 12
    with caplog.at_level(logging.INFO, logger="tunewise.report.png"):
        paths = png.write_pngs(grid_study, tmp_path)
    _check_pngs(paths, tmp_path, [n for n in ALL if n != "failures"])
    assert "no trial failed" in caplog.text
    _no_open_figures()


def test_conditional_study_has_no_curves_and_no_failures(conditional_study, tmp_path, caplog):
    assert len(data.tunable(conditional_study)) == 14
    with caplog.at_level(logging.INFO, logger="tunewise.report.png"):
        paths = png.write_pngs(conditional_study, tmp_path / "figs")  # created
    _check_pngs(paths, tmp_path / "figs", [n for n in ALL if n not in ("curves", "failures")])
    assert "no trial reported intermediate values of 'val_loss'" in caplog.text
    assert "no trial failed" in caplog.text
    _no_open_figures()


def test_multi_objective_study(multi_study, tmp_path):
    paths = png.write_pngs(multi_study, tmp_path)
    _check_pngs(paths, tmp_path, [n for n in ALL if n not in ("curves", "failures")])
    # the front drawn is the study's Pareto front, connected in order of the first objective
    fig = png.figure_tradeoff(multi_study)
    try:
        (front,) = [ln for ln in fig.axes[0].get_lines() if ln.get_gid() == "front"]
        xs, ys = front.get_xdata(), front.get_ydata()
        best = sorted((t.metrics["loss"], t.metrics["accuracy"]) for t in multi_study.best_trials())
        assert [tuple(p) for p in zip(xs, ys)] == pytest.approx(best)
        assert fig.axes[0].get_xlabel().startswith("loss") and fig.axes[0].get_ylabel().startswith("accuracy")
    finally:
        plt.close(fig)


def test_failures_and_pruned(failing_study, tmp_path, caplog):
    by_state = data.summary(failing_study)["by_state"]
    assert by_state.get("failed", 0) >= 2 and by_state.get("pruned", 0) >= 1, by_state
    paths = png.write_pngs(failing_study, tmp_path)
    # 2 hyperparameters: scatter3d.png is a 2-D scatter
    _check_pngs(paths, tmp_path, ALL)
    _no_open_figures()

    fig = png.figure_failures(failing_study)
    try:
        text = " ".join(t.get_text() for ax in fig.axes for t in ax.texts)
        assert "diverged: loss is NaN" in text and "too slow" in text
        assert fig._suptitle.get_text().startswith(f"fail: {by_state['failed']} of ")
    finally:
        plt.close(fig)

    fig = png.figure_curves(failing_study)
    try:
        ax = fig.axes[0]
        crosses = [ln for ln in ax.get_lines() if ln.get_marker() == "x" and ln.get_label() != "pruned (stopped at x)"]
        pruned = [c for c in data.curves(failing_study)["curves"] if c["state"] == "pruned"]
        assert len(crosses) == len(pruned) == by_state["pruned"]
        assert sorted((float(ln.get_xdata()[0]), float(ln.get_ydata()[0])) for ln in crosses) == \
            sorted((c["step"][-1], c["value"][-1]) for c in pruned)
    finally:
        plt.close(fig)


def test_few_trials_skip_importance_and_scatter_with_one_hyperparameter(tmp_path, caplog):
    study = tunewise.Study("tiny", objective="loss", sampler="random", seed=0)
    study.optimize(lambda t: {"loss": t.hp.Float("x", 0.0, 1.0) ** 2}, max_trials=3,
                   max_consecutive_failed_trials=None, show_progress=False)
    with caplog.at_level(logging.INFO, logger="tunewise.report.png"):
        paths = png.write_pngs(study, tmp_path)
    _check_pngs(paths, tmp_path, ["history", "effects", "histogram", "parallel", "tradeoff"])
    assert "importance needs at least 5" in caplog.text
    assert "1 tunable hyperparameter(s) with values; a scatter needs 2" in caplog.text


def test_all_failed_writes_only_failures(tmp_path):
    study = tunewise.Study("broken", objective="loss", sampler="random", seed=0)

    def fn(trial):
        trial.hp.Float("x", 0.0, 1.0)
        raise tunewise.FailedTrialError("out of memory")

    study.optimize(fn, max_trials=4, max_consecutive_failed_trials=None, show_progress=False)
    _check_pngs(png.write_pngs(study, tmp_path), tmp_path, ["failures"])


# -- the numbers on the figures --------------------------------------------------------------

def test_history_best_line_ends_at_the_best_score(conditional_study, grid_study):
    for study in (conditional_study, grid_study):
        fig = png.figure_history(study)
        try:
            ax = fig.axes[0]
            (best,) = [ln for ln in ax.get_lines() if ln.get_gid() == "best"]
            ys = np.asarray(best.get_ydata(), dtype=float)
            assert ys[-1] == pytest.approx(study.best_trial.score)
            assert np.all(np.diff(ys) <= 1e-12)  # a loss: never goes up
            # the dots are every completed trial's score, in trial order
            dots = ax.collections[0].get_offsets()
            done = sorted((t for t in study.trials if t.state.value == "completed"), key=lambda t: t.number)
            assert dots[:, 0].tolist() == [t.number for t in done]
            assert list(dots[:, 1]) == pytest.approx([t.score for t in done])
            assert ax.get_ylabel().startswith(study.objectives[0].name)
            assert ax.get_title()
        finally:
            plt.close(fig)


def test_grid_scores_are_means_over_executions(grid_study):
    # executions_per_trial=2: the plotted value is the trial's mean over its executions
    t = grid_study.trials[0]
    assert len(t.executions) == 2
    fig = png.figure_history(grid_study)
    try:
        first = fig.axes[0].collections[0].get_offsets()[0]
        assert first[1] == pytest.approx(np.mean([e["loss"] for e in t.executions]))
    finally:
        plt.close(fig)


def test_effects_has_a_panel_per_hyperparameter_with_log_axes(conditional_study):
    fig = png.figure_effects(conditional_study)
    try:
        panels = {ax.get_title(): ax for ax in fig.axes if ax.axison}
        assert set(panels) == {h.name for h in data.tunable(conditional_study)}
        assert panels["lr"].get_xscale() == "log" and panels["dropout"].get_xscale() == "linear"
        # a conditional one shows only the trials where it was active
        n_cnn = sum(1 for t in conditional_study.trials if t.hyperparameters.get("filters") is not None)
        assert len(panels["filters"].collections[0].get_offsets()) == n_cnn
    finally:
        plt.close(fig)


def test_scatter3d_uses_the_most_important_hyperparameters(conditional_study, conditional_importance):
    imp = conditional_importance
    fig = png.figure_scatter3d(conditional_study, importance=imp)
    try:
        ax = fig.axes[0]
        assert ax.name == "3d"
        top = max(imp.main, key=imp.main.get)
        assert top in ax.get_title()
        assert ax.get_xlabel().split(" ")[0] == top
    finally:
        plt.close(fig)


def test_parallel_axes_are_scaled(conditional_study):
    fig = png.figure_parallel(conditional_study)
    try:
        ax = fig.axes[0]
        (lines,) = ax.collections
        segs = lines.get_segments()
        assert len(segs) == len(data.points(conditional_study)["rows"])
        ys = np.concatenate([s[:, 1] for s in segs])
        assert ys.max() <= 1.0 + 1e-9 and ys.min() >= -0.13  # inactive ones sit at "off" below 0
        assert len(segs[0]) == 14 + 1  # every hyperparameter and the objective
    finally:
        plt.close(fig)


def test_importance_bars(conditional_study, conditional_importance):
    imp = conditional_importance
    fig = png.figure_importance(conditional_study, importance=imp)
    try:
        ax = fig.axes[0]
        widths = [p.get_width() for p in ax.patches]
        assert widths[:14] == pytest.approx(sorted(imp.main.values(), reverse=True))
        assert len(widths) == 14 + min(5, len(imp.pairs))
    finally:
        plt.close(fig)


def test_histogram_by_most_important_categorical(grid_study):
    from tunewise.analysis import importance

    imp = importance(grid_study)
    fig = png.figure_histogram(grid_study, importance=imp)
    try:
        top = max(imp.main, key=imp.main.get)
        assert fig.axes[0].get_legend().get_title().get_text() == top
    finally:
        plt.close(fig)


def test_missing_matplotlib_is_a_clear_error(monkeypatch, tmp_path):
    import builtins

    real = builtins.__import__

    def fake(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError("No module named 'matplotlib'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake)
    with pytest.raises(ValueError, match="pip install matplotlib"):
        png.write_pngs(tunewise.Study("m", objective="loss"), tmp_path)
