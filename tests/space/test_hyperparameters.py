"""The HyperParameters container: Keras Tuner's define-by-run semantics, conditional scopes,
reading values, configs and the errors for conflicting definitions."""

from __future__ import annotations

import json

import pytest

import tunewise
from tunewise.errors import SpaceError
from tunewise.space import Choice, Float, HyperParameters, Int, canonical_key


def build_seed_model(hp: HyperParameters) -> dict:
    """The seeds' pattern: a build function written for Keras Tuner."""
    config = {
        "units": hp.Int("units", 32, 512, step=32),
        "learning_rate": hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"),
        "activation": hp.Choice("activation", ["relu", "tanh"]),
        "filters": [],
    }
    for i in range(hp.Int("conv_blocks", 3, 5)):
        config["filters"].append(hp.Int(f"filters_{i}", 32, 256, step=32))
    return config


# -- registration ----------------------------------------------------------------------------
class TestRegistration:
    def test_public_name(self):
        assert tunewise.HyperParameters is HyperParameters

    def test_registration_returns_the_defaults(self):
        hp = HyperParameters()
        assert hp.Int("units", 32, 512, step=32) == 32
        assert hp.Float("learning_rate", 1e-4, 1e-2, sampling="log") == 1e-4
        assert hp.Choice("activation", ["relu", "tanh"]) == "relu"
        assert hp.Boolean("shuffle") is False
        assert hp.Fixed("optimizer", "adam") == "adam"
        assert hp.Int("n", 0, 10, default=4) == 4
        assert hp.values == {"units": 32, "learning_rate": 1e-4, "activation": "relu",
                             "shuffle": False, "optimizer": "adam", "n": 4}

    def test_seed_build_function_with_defaults(self):
        hp = HyperParameters()
        config = build_seed_model(hp)
        assert config == {"units": 32, "learning_rate": 1e-4, "activation": "relu",
                          "filters": [32, 32, 32]}
        assert list(hp.values) == ["units", "learning_rate", "activation", "conv_blocks",
                                   "filters_0", "filters_1", "filters_2"]
        assert [h.name for h in hp.space] == list(hp.values)

    def test_seed_build_function_with_proposed_values_grows_the_space(self):
        hp = HyperParameters()
        build_seed_model(hp)
        trial = hp.with_values({"units": 256, "learning_rate": 3e-3, "activation": "tanh",
                                "conv_blocks": 5, "filters_1": 128})
        config = build_seed_model(trial)
        assert config == {"units": 256, "learning_rate": 3e-3, "activation": "tanh",
                          "filters": [32, 128, 32, 32, 32]}
        assert "filters_4" in trial and "filters_4" not in hp
        assert trial.get("filters_4") == 32

    def test_re_registration_returns_the_same_value(self):
        hp = HyperParameters()
        first = hp.Int("units", 32, 512, step=32)
        hp.set("units", 96)
        assert hp.Int("units", 32, 512, step=32) == 96
        assert hp.Int("units", 32, 512, step=32, default=64) == 96  # the default may differ
        assert first == 32
        assert len(hp.space) == 1

    def test_re_registration_of_every_type(self):
        hp = HyperParameters()
        for _ in range(3):
            hp.Float("lr", 1e-4, 1e-2, sampling="log")
            hp.Choice("act", ["relu", "tanh"])
            hp.Boolean("b")
            hp.Fixed("f", 3)
            hp.Int("n", 1.0, 4.0)
            hp.Int("n", 1, 4)
        assert len(hp.space) == 5

    def test_registration_with_integral_float_bounds_is_the_same_definition(self):
        hp = HyperParameters()
        hp.Float("x", 0, 1)
        assert hp.Float("x", 0.0, 1.0) == 0.0

    def test_set_checks_the_value(self):
        hp = HyperParameters()
        hp.Int("units", 32, 512, step=32)
        with pytest.raises(SpaceError, match="units"):
            hp.set("units", 33)
        with pytest.raises(KeyError, match="nope"):
            hp.set("nope", 1)
        assert hp["units"] == 32


# -- reading ---------------------------------------------------------------------------------
class TestReading:
    def test_get_getitem_contains(self):
        hp = HyperParameters()
        hp.Choice("act", ["relu", "tanh"])
        assert hp.get("act") == hp["act"] == "relu"
        assert "act" in hp and "other" not in hp

    def test_get_unknown_name_raises_key_error(self):
        hp = HyperParameters()
        with pytest.raises(KeyError, match="units.*none yet"):
            hp.get("units")
        hp.Int("layers", 1, 3)
        with pytest.raises(KeyError, match="units.*layers"):
            hp["units"]

    def test_values_is_a_fresh_dict_in_definition_order(self):
        hp = HyperParameters()
        hp.Int("b", 0, 1)
        hp.Int("a", 0, 1)
        values = hp.values
        values["b"] = 99
        assert hp.values == {"b": 0, "a": 0}
        assert list(hp.values) == ["b", "a"]

    def test_canonical_key_ignores_order(self):
        assert canonical_key({"a": 1, "b": "x"}) == canonical_key({"b": "x", "a": 1})
        assert canonical_key({"a": 1}) != canonical_key({"a": 2})


# -- conditional scopes ----------------------------------------------------------------------
class TestConditions:
    def make(self, model: str | None = None) -> HyperParameters:
        hp = HyperParameters()
        hp.Choice("model", ["mlp", "cnn", "rnn"])
        if model is not None:
            hp.set("model", model)
        return hp

    def test_inactive_scope_returns_none_and_is_left_out_of_values(self):
        hp = self.make()
        with hp.conditional_scope("model", "cnn"):
            assert hp.Int("filters", 8, 64) is None
            assert hp.Choice("kernel", [3, 5]) is None
        assert hp.values == {"model": "mlp"}
        assert not hp.is_active("filters")
        assert hp.get("filters") is None
        assert "filters" in hp

    def test_active_scope_returns_values(self):
        hp = self.make("cnn")
        with hp.conditional_scope("model", ["cnn", "rnn"]):
            assert hp.Int("filters", 8, 64) == 8
        assert hp.values == {"model": "cnn", "filters": 8}
        assert hp.is_active("filters")
        hp.set("model", "rnn")
        assert hp.values == {"model": "rnn", "filters": 8}
        hp.set("model", "mlp")
        assert hp.values == {"model": "mlp"}

    def test_parent_name_and_parent_values_arguments(self):
        hp = self.make()
        assert hp.Int("filters", 8, 64, parent_name="model", parent_values=["cnn"]) is None
        assert hp.Float("dropout", 0.0, 0.5, parent_name="model", parent_values="mlp") == 0.0
        assert hp.Boolean("bn", parent_name="model", parent_values=["rnn"]) is None
        assert hp.Fixed("k", 3, parent_name="model", parent_values=["rnn"]) is None
        assert hp.Choice("c", ["a"], parent_name="model", parent_values=["mlp"]) == "a"
        assert hp.values == {"model": "mlp", "dropout": 0.0, "c": "a"}
        # the scope is closed again after the call
        assert hp.Int("free", 0, 1) == 0 and hp.space[-1].conditions == ()

    def test_nested_scopes(self):
        hp = self.make("cnn")
        with hp.conditional_scope("model", "cnn"):
            hp.Choice("pool", ["max", "avg"])
            with hp.conditional_scope("pool", "avg"):
                assert hp.Int("window", 2, 4) is None
            hp.set("pool", "avg")
            with hp.conditional_scope("pool", "avg"):
                assert hp.Int("window", 2, 4) == 2
        assert hp.values == {"model": "cnn", "pool": "avg", "window": 2}
        window = next(h for h in hp.space if h.name == "window")
        assert window.conditions == (("model", ("cnn",)), ("pool", ("avg",)))
        # the grandparent turns both off, whatever the parent's own value
        hp.set("model", "mlp")
        assert hp.values == {"model": "mlp"}
        assert not hp.is_active("pool") and not hp.is_active("window")

    def test_child_of_an_inactive_parent_is_inactive(self):
        hp = self.make()
        hp.Choice("opt", ["adam", "sgd"], parent_name="model", parent_values="cnn")
        # "opt" holds "adam" but is inactive, so its own children are inactive too
        with hp.conditional_scope("opt", "adam"):
            assert hp.Float("beta", 0.8, 0.99) is None
        hp.set("model", "cnn")
        assert hp.get("beta") == 0.8

    def test_conv_blocks_pattern_with_conditions(self):
        def build(hp):
            n = hp.Int("conv_blocks", 3, 5)
            out = []
            for i in range(5):
                with hp.conditional_scope("conv_blocks", list(range(i + 1, 6))):
                    out.append(hp.Int(f"filters_{i}", 32, 256, step=32))
            return n, out

        hp = HyperParameters()
        assert build(hp) == (3, [32, 32, 32, None, None])
        assert list(hp.values) == ["conv_blocks", "filters_0", "filters_1", "filters_2"]
        hp.set("conv_blocks", 5)
        hp.set("filters_4", 64)
        assert build(hp) == (5, [32, 32, 32, 32, 64])
        hp.set("conv_blocks", 4)
        assert build(hp)[1] == [32, 32, 32, 32, None]

    def test_scope_on_an_undefined_parent(self):
        hp = HyperParameters()
        with (
            pytest.raises(ValueError, match="'model' is not defined.*define it"),
            hp.conditional_scope("model", "cnn"),
        ):
            pass  # pragma: no cover
        with pytest.raises(ValueError, match="model"):
            hp.Int("filters", 8, 64, parent_name="model", parent_values=["cnn"])
        assert hp.space == []

    def test_scope_with_a_value_the_parent_cannot_take(self):
        hp = self.make()
        with (
            pytest.raises(ValueError, match="model.*'gru'"),
            hp.conditional_scope("model", ["cnn", "gru"]),
        ):
            pass  # pragma: no cover
        assert [h.name for h in hp.space] == ["model"]

    def test_scope_is_closed_after_an_error_inside(self):
        hp = self.make()
        with pytest.raises(RuntimeError), hp.conditional_scope("model", "cnn"):
            raise RuntimeError("boom")
        hp.Int("free", 0, 1)
        assert hp.space[-1].conditions == ()


# -- conflicting definitions -----------------------------------------------------------------
class TestRedefinition:
    @pytest.mark.parametrize("second", [
        lambda hp: hp.Float("units", 32, 512),
        lambda hp: hp.Int("units", 32, 256, step=32),
        lambda hp: hp.Int("units", 16, 512, step=32),
        lambda hp: hp.Int("units", 32, 512, step=64),
        lambda hp: hp.Int("units", 32, 512),
        lambda hp: hp.Int("units", 32, 512, step=2, sampling="log"),
        lambda hp: hp.Choice("units", [32, 64]),
        lambda hp: hp.Fixed("units", 32),
        lambda hp: hp.Boolean("units"),
    ], ids=["type", "max", "min", "step", "no-step", "sampling", "choice", "fixed", "boolean"])
    def test_other_type_or_range_is_an_error_naming_both(self, second):
        hp = HyperParameters()
        hp.Int("units", 32, 512, step=32)
        with pytest.raises(ValueError) as info:
            second(hp)
        message = str(info.value)
        assert "'units' is already defined as Int('units'" in message
        assert "it is now defined as" in message
        assert "another name" in message
        assert len(hp.space) == 1 and hp.values == {"units": 32}

    def test_choice_with_other_values_or_order(self):
        hp = HyperParameters()
        hp.Choice("act", ["relu", "tanh"])
        for values in (["relu"], ["tanh", "relu"], ["relu", "tanh", "gelu"]):
            with pytest.raises(ValueError, match="'act' is already defined"):
                hp.Choice("act", values)
        hp.Choice("batch", [32, 64])
        with pytest.raises(ValueError, match="'batch' is already defined"):
            hp.Choice("batch", [32, 64], ordered=False)

    def test_fixed_with_another_value(self):
        hp = HyperParameters()
        hp.Fixed("opt", "adam")
        with pytest.raises(ValueError, match="'opt' is already defined"):
            hp.Fixed("opt", "sgd")

    def test_same_name_under_another_condition(self):
        hp = HyperParameters()
        hp.Choice("model", ["mlp", "cnn"])
        with hp.conditional_scope("model", "cnn"):
            hp.Int("layers", 1, 4)
        with pytest.raises(ValueError, match="'layers' is already defined.*when model in"):
            hp.Int("layers", 1, 4)
        with (
            pytest.raises(ValueError, match="'layers' is already defined"),
            hp.conditional_scope("model", "mlp"),
        ):
            hp.Int("layers", 1, 4)
        with hp.conditional_scope("model", "cnn"):
            assert hp.Int("layers", 1, 4) is None  # the same definition is fine

    def test_child_named_like_its_parent(self):
        hp = HyperParameters()
        hp.Choice("model", ["mlp", "cnn"])
        with (
            pytest.raises(ValueError, match="'model' is already defined"),
            hp.conditional_scope("model", "cnn"),
        ):
            hp.Choice("model", ["mlp", "cnn"])


# -- copies, merging, configs ----------------------------------------------------------------
class TestCopiesAndConfigs:
    def make(self) -> HyperParameters:
        hp = HyperParameters()
        hp.Int("units", 32, 512, step=32, default=64)
        hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        hp.Float("dropout", 0.0, 0.5, step=0.1)
        hp.Choice("activation", ["relu", "tanh"])
        hp.Choice("batch", [32, 64, 128], ordered=False)
        hp.Boolean("bn", default=True)
        hp.Fixed("optimizer", "adam")
        with hp.conditional_scope("activation", "tanh"):
            hp.Float("scale", 1.0, 100.0, sampling="reverse_log")
            with hp.conditional_scope("bn", True):
                hp.Int("momentum_pct", 50, 99)
        return hp

    def test_with_values_is_independent(self):
        hp = self.make()
        other = hp.with_values({"units": 128, "activation": "tanh", "unknown": 1})
        assert other["units"] == 128 and other["scale"] == 1.0
        assert other.values["momentum_pct"] == 50
        assert "unknown" not in other
        assert hp["units"] == 64 and hp.get("scale") is None
        other.Int("new", 0, 1)
        assert "new" not in hp

    def test_with_values_starts_from_the_defaults(self):
        hp = self.make()
        hp.set("units", 256)
        assert hp.with_values({})["units"] == 64
        assert hp.copy()["units"] == 256

    def test_config_is_json_and_round_trips(self):
        hp = self.make()
        hp.set("activation", "tanh")
        hp.set("learning_rate", 3e-3)
        config = hp.get_config()
        text = json.dumps(config)
        rebuilt = HyperParameters.from_config(json.loads(text))
        assert rebuilt == hp
        assert rebuilt.values == hp.values
        assert rebuilt.get_config() == json.loads(text)
        assert [h.definition() for h in rebuilt.space] == [h.definition() for h in hp.space]
        assert rebuilt.is_active("momentum_pct")
        # the rebuilt space still behaves: same definitions register without error
        assert rebuilt.Int("units", 32, 512, step=32) == 64
        with pytest.raises(ValueError, match="units"):
            rebuilt.Int("units", 32, 1024, step=32)

    def test_config_round_trip_of_the_seed_space(self):
        hp = HyperParameters()
        build_seed_model(hp)
        rebuilt = HyperParameters.from_config(json.loads(json.dumps(hp.get_config())))
        assert build_seed_model(rebuilt) == build_seed_model(hp)
        assert rebuilt == hp

    def test_empty_config(self):
        assert HyperParameters.from_config({}).values == {}
        assert HyperParameters().get_config() == {"space": [], "values": {}}

    def test_equality(self):
        assert self.make() == self.make()
        other = self.make()
        other.set("units", 96)
        assert other != self.make()
        assert self.make() != "not hyperparameters"

    def test_merge_adds_new_definitions(self):
        hp = HyperParameters()
        hp.Int("units", 32, 512, step=32)
        other = HyperParameters()
        other.Int("units", 32, 512, step=32)
        other.Choice("act", ["relu", "tanh"])
        assert hp.merge(other) == ["act"]
        assert hp.values == {"units": 32, "act": "relu"}
        assert hp.merge([Float("lr", 1e-3, 1e-1)]) == ["lr"]
        assert hp.merge(other) == []

    def test_merge_with_a_conflict_changes_nothing(self):
        hp = HyperParameters()
        hp.Int("units", 32, 512, step=32)
        with pytest.raises(ValueError, match="units"):
            hp.merge([Choice("act", ["relu"]), Int("units", 1, 2)])
        assert [h.name for h in hp.space] == ["units"]

    def test_declare(self):
        hp = HyperParameters()
        hp.declare(Int("n", 0, 3, default=2))
        assert hp.values == {"n": 2}

    def test_repr(self):
        hp = HyperParameters()
        hp.Int("n", 0, 3)
        assert repr(hp) == "HyperParameters({'n': 0})"


class TestParentValues:
    def test_numbers_outside_a_numeric_parent_are_allowed_when_one_can_match(self):
        hp = HyperParameters()
        hp.Int("blocks", 3, 5)
        with hp.conditional_scope("blocks", [1, 2, 3, 4, 5]):
            assert hp.Int("f0", 1, 2) == 1
        with hp.conditional_scope("blocks", [5, 6]):
            assert hp.Int("f4", 1, 2) is None

    def test_no_possible_parent_value_is_an_error(self):
        hp = HyperParameters()
        hp.Int("blocks", 3, 5)
        with (
            pytest.raises(ValueError, match=r"'blocks' can never take any of \[6, 7\].*inside"),
            hp.conditional_scope("blocks", [6, 7]),
        ):
            pass  # pragma: no cover
        with pytest.raises(ValueError, match="blocks"), hp.conditional_scope("blocks", ["three"]):
            pass  # pragma: no cover

    def test_boolean_and_choice_parents_are_strict(self):
        hp = HyperParameters()
        hp.Boolean("bn")
        with (
            pytest.raises(ValueError, match="'bn'.*True or False"),
            hp.conditional_scope("bn", [True, 1]),
        ):
            pass  # pragma: no cover
        with hp.conditional_scope("bn", True):
            assert hp.Float("momentum", 0.5, 0.99) is None
        hp.set("bn", True)
        assert hp.values == {"bn": True, "momentum": 0.5}
