"""Unit-cube encoding, grid enumeration in Keras Tuner's order, and space sizes."""

from __future__ import annotations

import itertools
import math
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunewise.space import (
    Boolean,
    Choice,
    Fixed,
    Float,
    HyperParameters,
    Int,
    UnitEncoder,
    canonical_key,
    iter_grid,
    space_size,
)


def mixed_space() -> HyperParameters:
    hp = HyperParameters()
    hp.Int("units", 32, 512, step=32)
    hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    hp.Float("dropout", 0.0, 0.5, step=0.1)
    hp.Float("momentum", 0.5, 0.999, sampling="reverse_log")
    hp.Choice("activation", ["relu", "tanh", "gelu"])
    hp.Choice("batch", [64, 16, 32])
    hp.Boolean("bn")
    hp.Fixed("optimizer", "adam")
    hp.Int("layers", 1, 100, sampling="log")
    return hp


# -- UnitEncoder -----------------------------------------------------------------------------
class TestUnitEncoder:
    def test_columns(self):
        enc = UnitEncoder(mixed_space().space)
        # one-hot for the unordered Choice, one column for numbers, ordered choices and
        # booleans, none for Fixed
        assert enc.dims == 1 + 1 + 1 + 1 + 3 + 1 + 1 + 1
        assert enc.slices["activation"] == slice(4, 7)
        assert enc.slices["batch"] == slice(7, 8)
        assert "optimizer" not in enc.slices
        assert enc.is_categorical(Choice("a", ["x", "y"]))
        assert not enc.is_categorical(Choice("a", [1, 2]))
        assert enc.is_categorical(Choice("a", [1, 2], ordered=False))
        assert not enc.is_categorical(Boolean("b"))

    def test_one_hot(self):
        enc = UnitEncoder([Choice("act", ["relu", "tanh", "gelu"])])
        assert enc.encode({"act": "tanh"}).tolist() == [0.0, 1.0, 0.0]
        assert enc.encode({"act": "gelu"}).tolist() == [0.0, 0.0, 1.0]
        assert enc.decode(np.array([0.2, 0.1, 0.7])) == {"act": "gelu"}
        assert enc.decode(np.array([0.9, np.nan, 0.1])) == {"act": "relu"}

    def test_unordered_numeric_choice_is_one_hot(self):
        enc = UnitEncoder([Choice("batch", [64, 16, 32], ordered=False)])
        assert enc.dims == 3
        assert enc.encode({"batch": 16}).tolist() == [0.0, 1.0, 0.0]

    def test_ordered_columns_hold_to_unit(self):
        space = mixed_space().space
        enc = UnitEncoder(space)
        values = {"units": 64, "learning_rate": 1e-3, "dropout": 0.2, "momentum": 0.9,
                  "activation": "relu", "batch": 32, "bn": True, "optimizer": "adam",
                  "layers": 10}
        x = enc.encode(values)
        for hp in space:
            if hp.name in ("activation", "optimizer"):
                continue
            assert x[enc.slices[hp.name].start] == hp.to_unit(values[hp.name])
        assert x[enc.slices["learning_rate"].start] == pytest.approx(0.5)

    def test_encode_is_in_the_unit_cube(self):
        hp = mixed_space()
        enc = UnitEncoder(hp.space)
        rng = random.Random(0)
        for _ in range(300):
            values = {h.name: h.from_unit(rng.random()) for h in hp.space}
            x = enc.encode(values)
            assert x.shape == (enc.dims,)
            assert np.all((x >= 0.0) & (x <= 1.0))

    def test_decode_encode_round_trip(self):
        hp = mixed_space()
        enc = UnitEncoder(hp.space)
        rng = random.Random(1)
        points = [{h.name: h.from_unit(rng.random()) for h in hp.space} for _ in range(300)]
        points.append({h.name: h.from_unit(1.0) for h in hp.space})
        points.append({h.name: h.from_unit(0.0) for h in hp.space})
        for values in points:
            back = enc.decode(enc.encode(values))
            expected = {k: v for k, v in values.items() if k != "optimizer"}
            assert back.keys() == expected.keys()
            for name, v in expected.items():
                if name in ("learning_rate", "momentum"):
                    assert back[name] == pytest.approx(v, rel=1e-9)
                else:
                    assert back[name] == v and type(back[name]) is type(v), name
        # the ends of continuous ranges come back exactly
        ends = {"learning_rate": 1e-2, "momentum": 0.999}
        assert enc.decode(enc.encode(ends)) == ends
        ends = {"learning_rate": 1e-4, "momentum": 0.5}
        assert enc.decode(enc.encode(ends)) == ends

    def test_decode_of_any_point_is_a_valid_configuration(self):
        hp = mixed_space()
        enc = UnitEncoder(hp.space)
        rng = np.random.default_rng(0)
        for x in rng.uniform(-0.2, 1.2, size=(200, enc.dims)):
            values = enc.decode(x)
            for h in hp.space:
                if h.name != "optimizer":
                    assert h.cast(values[h.name]) == values[h.name]

    def test_inactive_and_missing_values_are_nan(self):
        hp = HyperParameters()
        hp.Choice("model", ["mlp", "cnn"])
        with hp.conditional_scope("model", "cnn"):
            hp.Int("filters", 8, 64)
            hp.Choice("pool", ["max", "avg"])
        enc = UnitEncoder(hp.space)
        assert enc.dims == 2 + 1 + 2
        x = enc.encode(hp.values)
        assert x[:2].tolist() == [1.0, 0.0]
        assert np.isnan(x[2:]).all()
        assert enc.decode(x) == {"model": "mlp"}
        x = enc.encode({"model": "cnn", "filters": None, "pool": "avg"})
        assert np.isnan(x[2]) and x[3:].tolist() == [0.0, 1.0]
        assert enc.decode(x) == {"model": "cnn", "pool": "avg"}
        assert np.isnan(enc.encode({})).all()

    def test_unknown_category_names_the_hyperparameter(self):
        enc = UnitEncoder([Choice("act", ["relu", "tanh"])])
        with pytest.raises(ValueError, match="act.*sigmoid"):
            enc.encode({"act": "sigmoid"})

    def test_empty_and_fixed_only_spaces(self):
        enc = UnitEncoder([Fixed("f", 1)])
        assert enc.dims == 0 and enc.encode({"f": 1}).shape == (0,)
        assert enc.decode(np.zeros(0)) == {}


@settings(max_examples=100, deadline=None, database=None, derandomize=True)
@given(st.lists(st.floats(0.0, 1.0), min_size=9, max_size=9))
def test_encoder_round_trip_property(us):
    hp = mixed_space()
    enc = UnitEncoder(hp.space)
    values = {h.name: h.from_unit(u) for h, u in zip(hp.space, us)}
    back = enc.decode(enc.encode(values))
    for name in ("units", "dropout", "activation", "batch", "bn", "layers"):
        assert back[name] == values[name]
    assert back["learning_rate"] == pytest.approx(values["learning_rate"], rel=1e-9)
    assert back["momentum"] == pytest.approx(values["momentum"], rel=1e-9)


# -- iter_grid -------------------------------------------------------------------------------
class TestIterGrid:
    def test_keras_tuner_order(self):
        space = [Int("a", 1, 3), Choice("b", ["x", "y"])]
        assert [tuple(p.values()) for p in iter_grid(space)] == [
            (1, "x"), (1, "y"), (2, "x"), (2, "y"), (3, "x"), (3, "y")]

    def test_defaults_come_first(self):
        space = [Int("a", 1, 3, default=2), Choice("b", ["x", "y", "z"], default="z"),
                 Boolean("c", default=True)]
        grid = list(iter_grid(space))
        assert grid[0] == {"a": 2, "b": "z", "c": True}
        assert grid[1] == {"a": 2, "b": "z", "c": False}
        assert grid[2] == {"a": 2, "b": "x", "c": True}
        assert [g["a"] for g in grid[::6]] == [2, 1, 3]
        assert len(grid) == 3 * 3 * 2

    def test_the_last_defined_turns_fastest(self):
        space = [Int("a", 0, 2), Int("b", 0, 2), Int("c", 0, 1)]
        grid = [(p["a"], p["b"], p["c"]) for p in iter_grid(space)]
        assert grid == list(itertools.product(range(3), range(3), range(2)))

    def test_complete_and_without_duplicates(self):
        hp = HyperParameters()
        hp.Int("units", 32, 512, step=32)
        hp.Float("dropout", 0.0, 0.5, step=0.1)
        hp.Choice("activation", ["relu", "tanh"])
        hp.Boolean("bn")
        hp.Fixed("opt", "adam")
        grid = list(iter_grid(hp.space))
        assert len(grid) == 16 * 6 * 2 * 2 == space_size(hp.space)
        assert len({canonical_key(p) for p in grid}) == len(grid)
        assert grid[0] == hp.values
        assert all(p["opt"] == "adam" for p in grid)
        for p in grid:
            for h in hp.space:
                assert h.cast(p[h.name]) == p[h.name]

    def test_deterministic(self):
        space = mixed_space().space
        first = list(itertools.islice(iter_grid(space), 500))
        again = list(itertools.islice(iter_grid(mixed_space().space), 500))
        assert first == again

    def test_continuous_float_uses_its_listed_values(self):
        hp = Float("lr", 1e-4, 1e-2, sampling="log")
        grid = [p["lr"] for p in iter_grid([hp])]
        assert grid == hp.values and grid[0] == 1e-4 and grid[-1] == 1e-2

    def test_complete_lists_every_integer(self):
        hp = Int("n", 1, 100, sampling="log")
        assert len(list(iter_grid([hp]))) == len(hp.values) < 100
        assert [p["n"] for p in iter_grid([hp], complete=True)] == list(range(1, 101))

    def test_conditional_children_appear_only_when_active_and_reset(self):
        hp = HyperParameters()
        hp.Choice("model", ["mlp", "cnn"])
        with hp.conditional_scope("model", "cnn"):
            hp.Int("filters", 8, 16, step=8)
        hp.Int("units", 1, 2)
        grid = list(iter_grid(hp.space))
        assert grid == [
            {"model": "mlp", "units": 1},
            {"model": "mlp", "units": 2},
            {"model": "cnn", "filters": 8, "units": 1},
            {"model": "cnn", "filters": 8, "units": 2},
            {"model": "cnn", "filters": 16, "units": 1},
            {"model": "cnn", "filters": 16, "units": 2},
        ]
        assert space_size(hp.space) == 6

    def test_nested_conditions(self):
        hp = HyperParameters()
        hp.Choice("model", ["mlp", "cnn"])
        with hp.conditional_scope("model", "cnn"):
            hp.Choice("pool", ["max", "avg"])
            with hp.conditional_scope("pool", "avg"):
                hp.Int("window", 2, 3)
        grid = list(iter_grid(hp.space))
        assert grid == [
            {"model": "mlp"},
            {"model": "cnn", "pool": "max"},
            {"model": "cnn", "pool": "avg", "window": 2},
            {"model": "cnn", "pool": "avg", "window": 3},
        ]
        # every point's keys are exactly its active hyperparameters
        for point in grid:
            probe = hp.with_values(point)
            assert probe.values == point

    def test_conv_blocks_grid(self):
        hp = HyperParameters()
        hp.Int("conv_blocks", 1, 3)
        for i in range(3):
            with hp.conditional_scope("conv_blocks", list(range(i + 1, 4))):
                hp.Choice(f"filters_{i}", [32, 64])
        grid = list(iter_grid(hp.space))
        assert len(grid) == 2 + 4 + 8 == space_size(hp.space)
        assert grid[0] == {"conv_blocks": 1, "filters_0": 32}
        assert all(len(p) == 1 + p["conv_blocks"] for p in grid)
        assert len({canonical_key(p) for p in grid}) == len(grid)

    def test_empty_space(self):
        assert list(iter_grid([])) == [{}]


# -- space_size ------------------------------------------------------------------------------
class TestSpaceSize:
    def test_product_without_conditions(self):
        space = [Int("units", 32, 512, step=32), Choice("act", ["relu", "tanh"]), Boolean("b"),
                 Fixed("f", 1), Float("d", 0.0, 0.5, step=0.1), Int("n", 1, 1000, sampling="log")]
        assert space_size(space) == 16 * 2 * 2 * 1 * 6 * 1000

    def test_continuous_float_is_infinite(self):
        assert space_size([Int("a", 0, 3), Float("lr", 1e-4, 1e-2, sampling="log")]) == math.inf
        assert space_size([Float("x", 0.5, 0.5)]) == 1

    def test_with_conditions_counts_active_combinations(self):
        hp = HyperParameters()
        hp.Choice("model", ["mlp", "cnn", "rnn"])
        with hp.conditional_scope("model", ["cnn", "rnn"]):
            hp.Int("layers", 1, 4)
        assert space_size(hp.space) == 1 + 2 * 4

    def test_limit_stops_counting(self):
        hp = HyperParameters()
        hp.Choice("model", ["mlp", "cnn"])
        with hp.conditional_scope("model", "cnn"):
            hp.Int("a", 0, 99)
            hp.Int("b", 0, 99)
        assert space_size(hp.space, limit=100) == math.inf
        assert space_size(hp.space) == 1 + 100 * 100
        assert space_size(hp.space, limit=20_000) == 1 + 100 * 100

    def test_empty(self):
        assert space_size([]) == 1
