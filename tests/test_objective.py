"""Objectives: direction inference from metric names, lists of objectives, and errors."""

from __future__ import annotations

import dataclasses

import pytest

import tunewise
from tunewise.objective import Objective, infer_direction, make_objectives

MAX_NAMES = ["accuracy", "acc", "auc", "precision", "recall", "f1",
             "categorical_accuracy", "sparse_categorical_accuracy", "binary_accuracy",
             "top_k_categorical_accuracy", "f1_score", "auc_1", "precision_2", "recall_1",
             "mean_iou", "r2_score", "fbeta_score", "AUC", "Accuracy"]
MIN_NAMES = ["loss", "error", "mse", "mae", "crossentropy", "categorical_crossentropy",
             "sparse_categorical_crossentropy", "binary_crossentropy", "mean_squared_error",
             "mean_absolute_error", "mean_absolute_percentage_error", "root_mean_squared_error",
             "rmse", "kl_divergence", "hinge", "squared_hinge", "loss_1", "Loss", "MSE"]


class TestInference:
    @pytest.mark.parametrize("name", MAX_NAMES)
    def test_maximised_metrics(self, name):
        assert infer_direction(name) == "max"
        assert infer_direction("val_" + name) == "max"

    @pytest.mark.parametrize("name", MIN_NAMES)
    def test_minimised_metrics(self, name):
        assert infer_direction(name) == "min"
        assert infer_direction("val_" + name) == "min"

    @pytest.mark.parametrize("name", ["val_metric", "foo", "my_custom_thing", "val_", "",
                                      "accuracy_loss"])
    def test_unknown_or_ambiguous_names_ask_for_an_objective(self, name):
        with pytest.raises(ValueError) as info:
            infer_direction(name)
        message = str(info.value)
        assert repr(name) in message
        assert "tunewise.Objective(" in message and "direction=" in message

    def test_non_string_name(self):
        with pytest.raises(ValueError, match="Objective"):
            infer_direction(3)  # type: ignore[arg-type]


class TestObjective:
    def test_public_name(self):
        assert tunewise.Objective is Objective

    def test_fields_and_config(self):
        obj = Objective("val_accuracy", "max")
        assert obj.name == "val_accuracy" and obj.direction == "max"
        assert obj.to_config() == {"name": "val_accuracy", "direction": "max"}
        assert obj == Objective("val_accuracy", "max")
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.direction = "min"  # type: ignore[misc]

    def test_better(self):
        assert Objective("acc", "max").better(0.9, 0.8)
        assert not Objective("acc", "max").better(0.8, 0.8)
        assert Objective("loss", "min").better(0.1, 0.2)
        assert not Objective("loss", "min").better(0.2, 0.1)

    @pytest.mark.parametrize("direction", ["up", "best", "", None, 1])
    def test_bad_direction(self, direction):
        with pytest.raises(ValueError, match="'score'.*use 'min' or 'max'"):
            Objective("score", direction)

    @pytest.mark.parametrize("name", ["", None, 3])
    def test_bad_name(self, name):
        with pytest.raises(ValueError, match="non-empty string"):
            Objective(name, "max")


class TestMakeObjectives:
    def test_string(self):
        assert make_objectives("val_accuracy") == [Objective("val_accuracy", "max")]
        assert make_objectives("val_loss") == [Objective("val_loss", "min")]

    def test_objective_is_kept(self):
        obj = Objective("my_metric", "min")
        assert make_objectives(obj) == [obj]

    def test_list_is_multi_objective_in_order(self):
        objs = make_objectives(["val_accuracy", Objective("latency_ms", "min"), "val_loss"])
        assert objs == [Objective("val_accuracy", "max"), Objective("latency_ms", "min"),
                        Objective("val_loss", "min")]
        assert make_objectives(("auc", "mse")) == [Objective("auc", "max"),
                                                    Objective("mse", "min")]

    def test_dict_items(self):
        assert make_objectives([{"name": "score_x", "direction": "min"}]) == [
            Objective("score_x", "min")]
        assert make_objectives([{"name": "val_auc"}]) == [Objective("val_auc", "max")]
        assert make_objectives([Objective("a", "max").to_config()]) == [Objective("a", "max")]

    def test_duplicates_are_rejected(self):
        with pytest.raises(ValueError, match="'val_loss'.*once"):
            make_objectives(["val_loss", "val_accuracy", "val_loss"])
        with pytest.raises(ValueError, match="'val_loss'"):
            make_objectives(["val_loss", Objective("val_loss", "max")])

    def test_unknown_name_in_a_list(self):
        with pytest.raises(ValueError, match="'throughput'.*tunewise.Objective"):
            make_objectives(["val_loss", "throughput"])

    @pytest.mark.parametrize("bad", [None, [], (), 3, {"direction": "max"}, [3], [None]])
    def test_bad_objective_values(self, bad):
        with pytest.raises(ValueError, match="objective|Objective"):
            make_objectives(bad)

    def test_bad_direction_in_a_dict(self):
        with pytest.raises(ValueError, match="'m'.*use 'min' or 'max'"):
            make_objectives([{"name": "m", "direction": "up"}])


def test_optuna_style_direction_words_are_accepted():
    assert Objective("loss", "minimize").direction == "min"
    assert Objective("acc", "MAXIMISE").direction == "max"
    assert Objective("acc", "MAX").direction == "max"
