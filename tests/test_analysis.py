"""tunewise.analysis: frames, statistics per value, importance with interactions."""

from __future__ import annotations

import math

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

import tunewise  # noqa: E402
from tunewise import analysis  # noqa: E402


def _study(fn, n=60, objective="loss", **kwargs):
    study = tunewise.Study("a", objective=objective, sampler="random", seed=0, **kwargs)
    study.optimize(fn, max_trials=n, max_consecutive_failed_trials=None, show_progress=False)
    return study


def test_importance_ranks_a_strong_a_weak_and_an_irrelevant_hyperparameter():
    def fn(t):
        a, b = t.hp.Float("a", 0.0, 1.0), t.hp.Float("b", 0.0, 1.0)
        t.hp.Float("noise", 0.0, 1.0)
        return 10 * a + 3 * b  # variance shares: a 92%, b 8%, noise 0

    imp = analysis.importance(_study(fn, n=80))
    assert imp.main["a"] > 0.75 and 0.02 < imp.main["b"] < 0.2 and imp.main["noise"] < imp.main["b"] / 4
    assert imp.trials == 80 and imp.r2 is not None and imp.r2 > 0.8
    assert sum(imp.pairs.values()) < 0.05  # an additive function has no interaction
    frame = imp.to_frame()
    assert list(frame["hyperparameters"][:3]) == ["a", "b", "noise"]


def test_importance_finds_an_interaction():
    def fn(t):  # neither matters alone: the sign of the product is everything
        a, b = t.hp.Float("a", -1.0, 1.0), t.hp.Float("b", -1.0, 1.0)
        t.hp.Float("c", -1.0, 1.0)
        return float(np.sign(a * b))

    imp = analysis.importance(_study(fn, n=150))
    assert imp.pairs[("a", "b")] > 0.3
    assert imp.pairs[("a", "b")] > imp.main["a"] + imp.main["b"]
    assert imp.pairs.get(("a", "c"), 0.0) < 0.1


def test_failures_pruned_and_conditional_hyperparameters():
    def fn(t):
        model = t.hp.Choice("model", ["mlp", "cnn"])
        lr = t.hp.Float("lr", 1e-4, 1e-1, sampling="log")
        if model == "cnn":
            with t.hp.conditional_scope("model", "cnn"):
                filters = t.hp.Int("filters", 8, 64)
            if filters > 56:
                raise tunewise.FailedTrialError("out of memory")
        return {"loss": abs(math.log10(lr) + 2) + (0.5 if model == "mlp" else 0.0)}

    study = _study(fn, n=60)
    stats = analysis.value_stats(study, "filters", bins=3)
    assert stats["value"].iloc[-1] == "inactive"
    inactive = stats.set_index("value").loc["inactive"]
    mlp = [t for t in study.trials if t.hyperparameters["model"] == "mlp"]
    assert inactive["trials"] == len(mlp) and inactive["failed"] == 0
    assert stats["failed"].sum() == sum(t.state.value == "failed" for t in study.trials) > 0
    assert stats["trials"].sum() == 60
    by_model = analysis.value_stats(study, "model").set_index("value")
    done = [t for t in mlp if t.state.value == "completed"]
    assert by_model.loc["mlp", "mean"] == pytest.approx(np.mean([t.metrics["loss"] for t in done]))
    assert by_model.loc["mlp", "best"] == pytest.approx(min(t.metrics["loss"] for t in done))
    imp = analysis.importance(study)
    assert set(imp.main) == {"model", "lr", "filters"}
    assert imp.main["lr"] > imp.main["filters"]


def test_value_stats_bins_numbers_and_keeps_small_sets_exact():
    study = _study(lambda t: (t.hp.Float("x", 0.0, 1.0) - 0.5) ** 2 + t.hp.Int("k", 1, 3), n=40)
    bins = analysis.value_stats(study, "x", bins=4)
    assert len(bins) == 4 and bins["trials"].sum() == 40
    assert bins["value"].iloc[0].startswith("[") and bins["value"].iloc[-1].endswith("]")
    exact = analysis.value_stats(study, "k")
    assert list(exact["value"]) == [1, 2, 3]
    for _, row in exact.iterrows():
        vals = [t.metrics["loss"] for t in study.trials if t.hyperparameters["k"] == row["value"]]
        assert row["mean"] == pytest.approx(np.mean(vals))
        assert row["se"] == pytest.approx(np.std(vals, ddof=1) / math.sqrt(len(vals)))


def test_frames_and_errors():
    def fn(t):
        x = t.hp.Float("x", 0.0, 1.0)
        for step in (1, 2):
            t.report(step, {"loss": x / step})
        return {"loss": x, "accuracy": 1 - x}

    study = _study(fn, n=6)
    assert len(analysis.trials_frame(study)) == 6
    steps = analysis.steps_frame(study)
    assert len(steps) == 12 and set(steps["step"]) == {1, 2}
    with pytest.raises(ValueError, match="no hyperparameter 'y'"):
        analysis.value_stats(study, "y")
    with pytest.raises(ValueError, match="bins"):
        analysis.value_stats(study, "x", bins=0)
    few = _study(fn, n=3)
    with pytest.raises(ValueError, match="at least 5"):
        analysis.importance(few)
    accuracy = analysis.value_stats(study, "x", metric="accuracy", bins=2)
    assert accuracy["best"].max() == pytest.approx(max(t.metrics["accuracy"] for t in study.trials))
    multi = tunewise.Study("m", objective=["loss", "accuracy"], sampler="random", seed=0)
    multi.optimize(fn, max_trials=6, show_progress=False)
    with pytest.raises(ValueError, match="several objectives"):
        analysis.importance(multi)
    assert analysis.importance(multi, metric="accuracy").metric == "accuracy"
