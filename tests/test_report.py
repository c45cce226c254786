"""tunewise.report: the figures plot what the trials say, and the report covers every kind of
study (a repeated grid, a large conditional space, several objectives, failures and pruning)."""

from __future__ import annotations

import json
import math
import re

import pytest

pytest.importorskip("plotly")
pytest.importorskip("sklearn")

import tunewise  # noqa: E402
from tunewise.cli import main  # noqa: E402
from tunewise.report import data as D  # noqa: E402
from tunewise.report import figures as F  # noqa: E402
from tunewise.report import render, write_report  # noqa: E402
from tunewise.schedulers import MedianScheduler  # noqa: E402


def grid_study(storage=None):
    """The reference scenario: learning rate × filter size × loss, each trained twice."""
    def fn(t):
        lr = t.hp.Choice("learning_rate", [1e-3, 1e-2])
        k = t.hp.Choice("kernel_size", [3, 5])
        loss = t.hp.Choice("loss", ["crossentropy", "focal"])
        acc = 0.9 + (0.03 if lr == 1e-2 else 0) + (0.01 if k == 3 else 0) - (0.02 if loss == "focal" else 0)
        acc += 0.001 * t.execution
        for step in (1, 2, 3):
            t.report(step, {"val_accuracy": acc - 0.1 / step})
        return {"val_accuracy": acc, "val_loss": 1 - acc}

    study = tunewise.Study("grid", objective="val_accuracy", sampler="grid", storage=storage)
    study.optimize(fn, executions_per_trial=2, show_progress=False)
    return study


def conditional_study():
    """14 hyperparameters, most behind conditions."""
    def fn(t):
        hp = t.hp
        blocks = hp.Int("conv_blocks", 1, 3)
        for i in range(3):
            with hp.conditional_scope("conv_blocks", list(range(i + 1, 4))):
                hp.Int(f"filters_{i}", 8, 64, step=8)
                hp.Choice(f"pooling_{i}", ["max", "avg"])
                hp.Choice(f"kernel_{i}", [3, 5])
        hp.Int("hidden", 16, 256, sampling="log")
        dropout = hp.Float("dropout", 0.0, 0.5)
        lr = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
        hp.Boolean("batch_norm")
        if blocks == 3 and hp.get("kernel_2") == 5:
            raise tunewise.FailedTrialError("Computed output size would be zero or negative")
        return {"val_accuracy": 0.95 - 0.05 * abs(math.log10(lr) + 2.5) - 0.1 * dropout + 0.01 * blocks}

    study = tunewise.Study("cond", objective="val_accuracy", sampler="random", seed=1)
    study.optimize(fn, max_trials=40, max_consecutive_failed_trials=None, show_progress=False)
    return study


def multi_study():
    def fn(t):
        x = t.hp.Float("x", 0.0, 1.0)
        t.hp.Int("units", 8, 64)
        t.hp.Choice("act", ["relu", "tanh"])
        return {"loss": x ** 2, "latency": (1 - x) ** 2}

    study = tunewise.Study("multi", objective=["loss", "latency"], sampler="random", seed=0)
    study.optimize(fn, max_trials=30, show_progress=False)
    return study


def failing_pruned_study():
    def fn(t):
        lr = t.hp.Float("lr", 1e-4, 1e-1, sampling="log")
        units = t.hp.Int("units", 8, 256)
        t.hp.Choice("act", ["relu", "tanh"])
        if units > 200:
            raise tunewise.FailedTrialError("out of memory")
        if units < 20:
            raise ValueError("too narrow to train")
        for step in range(1, 6):
            t.report(step, {"loss": abs(math.log10(lr) + 2) / step})
        return {"loss": abs(math.log10(lr) + 2) / 5}

    study = tunewise.Study("fp", objective="loss", sampler="random", seed=0,
                           scheduler=MedianScheduler(n_startup_trials=3))
    study.optimize(fn, max_trials=40, max_consecutive_failed_trials=None, show_progress=False)
    return study


def _trace(fig, name):
    return next(t for t in fig.data if t.name == name)


def test_history_plots_each_value_and_the_best_so_far():
    study = failing_pruned_study()
    fig = F.history(study)
    done = sorted((t for t in study.trials if t.state.value == "completed"), key=lambda t: t.number)
    assert list(_trace(fig, "trial").x) == [t.number for t in done]
    best = _trace(fig, "best so far").y
    assert best[-1] == pytest.approx(study.best_trial.score)
    assert all(b2 <= b1 for b1, b2 in zip(best, best[1:]))  # minimised: never rises


def test_effects_and_histogram_group_the_values():
    study = grid_study()
    effects = {e["name"]: e for e in D.effects(study)}
    groups = effects["learning_rate"]["groups"]
    per_lr = {str(lr): sorted(t.score for t in study.trials if t.hyperparameters["learning_rate"] == lr)
              for lr in (1e-3, 1e-2)}
    assert {k: sorted(v) for k, v in groups.items()} == per_lr
    fig = F.histogram(study, "loss")
    assert sorted(t.name for t in fig.data) == ["crossentropy", "focal"]
    focal = next(t for t in fig.data if t.name == "focal")
    assert sorted(focal.x) == sorted(t.score for t in study.trials if t.hyperparameters["loss"] == "focal")


def test_scatter3d_curves_tradeoff_and_failures_data():
    study = conditional_study()
    fig = F.scatter3d(study, axes=("learning_rate", "dropout", "conv_blocks"))
    trace = fig.data[0]
    done = [t for t in study.trials if t.state.value == "completed"]
    assert sorted(trace.marker.color) == sorted(t.score for t in done)
    assert fig.layout.scene.xaxis.type == "log"
    fp = failing_pruned_study()
    curves = D.curves(fp)["curves"]
    pruned = [c for c in curves if c["state"] == "pruned"]
    assert pruned and all(len(c["step"]) < 5 for c in pruned)
    fig = F.curves(fp)
    assert sum(1 for t in fig.data if t.name == "pruned") == len(pruned)
    f = D.failures(fp)
    assert sum(r["count"] for r in f["reasons"]) == sum(t.state.value == "failed" for t in fp.trials)
    assert {r["error"].split(":")[0] for r in f["reasons"]} == {"FailedTrialError", "ValueError"}
    multi = multi_study()
    t = D.tradeoff(multi)
    front = {n for n, on in zip(t["number"], t["front"]) if on}
    assert front == {tr.number for tr in multi.best_trials()}  # the study's own Pareto front
    assert (t["x_metric"], t["y_metric"]) == ("loss", "latency")


def test_no_data_figures_say_why():
    study = tunewise.Study("empty", objective="loss")
    with pytest.raises(F.NoData, match="no completed trial"):
        F.history(study)
    with pytest.raises(F.NoData, match="intermediate"):
        F.curves(multi_study())
    with pytest.raises(F.NoData, match="no trial failed"):
        F.failures(grid_study())


@pytest.mark.parametrize("make", [grid_study, conditional_study, multi_study, failing_pruned_study])
def test_report_for_every_kind_of_study(make, tmp_path):
    study = make()
    path = write_report(study, tmp_path / "report.html")
    text = open(path, encoding="utf-8").read()
    offline = text.startswith("<!DOCTYPE html>") and "<script src=" not in text
    assert offline  # plotly's JavaScript is inside the file
    for key in ("history", "effects", "scatter3d", "histogram", "parallel", "importance",
                "curves", "tradeoff", "failures"):
        present = f'id="fig-{key}"' in text
        assert present, key
    rows = re.search(r"<table id='trials-table'>.*?<tbody>(.*?)</tbody>", text, re.S).group(1)
    assert rows.count("<tr>") == len(study.trials)
    points = json.loads(re.search(r"const POINTS = (\{.*?\}); const AXES", text, re.S).group(1))
    assert len(points["rows"]) == sum(t.state.value == "completed" for t in study.trials)


def test_report_of_200_trials_holds_every_trial(tmp_path):
    """(Its speed is measured in benchmarks/report_speed.py, not asserted here.)"""
    def fn(t):
        x = t.hp.Float("x", 0.0, 1.0)
        y = t.hp.Int("y", 1, 100, sampling="log")
        t.hp.Choice("c", ["a", "b", "c"])
        t.hp.Float("z", -1.0, 1.0)
        t.report(1, {"loss": x})
        return {"loss": (x - 0.3) ** 2 + 0.001 * y}

    study = tunewise.Study("big", objective="loss", sampler="random", seed=0)
    study.optimize(fn, max_trials=200, show_progress=False)
    text = render(study)
    rows = re.search(r"<table id='trials-table'>.*?<tbody>(.*?)</tbody>", text, re.S).group(1)
    assert rows.count("<tr>") == 200


def test_cli_report_and_study_report(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.db'}"
    grid_study(storage=url)
    out = tmp_path / "r.html"
    assert main(["report", "--storage", url, "--out", str(out)]) == 0
    assert out.exists() and "wrote" in capsys.readouterr().err
    assert main(["report", "--storage", url, "--study", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    study = tunewise.load_study("grid", url)
    assert study.report(tmp_path / "s.html") == str(tmp_path / "s.html")
