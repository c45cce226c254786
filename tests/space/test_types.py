"""Hyperparameter types: defaults, value listings, steps, samplings, unit mapping, casting,
configs and the errors for bad definitions."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunewise.errors import SpaceError
from tunewise.space import Boolean, Choice, Fixed, Float, Int, from_config

U_GRID = [i / 997 for i in range(998)] + [0.0, 1e-12, 0.5, 1 - 1e-12, 1.0]


def all_kinds():
    """One instance of every type and variant, for the loops below."""
    return [
        Int("i", 0, 9),
        Int("i_step", 32, 512, step=32),
        Int("i_step_odd", 6, 13, step=3),
        Int("i_log", 1, 1000, sampling="log"),
        Int("i_rlog", 1, 1000, sampling="reverse_log"),
        Int("i_log_step", 2, 32, step=2, sampling="log"),
        Int("i_rlog_step", 1, 100, step=10, sampling="reverse_log"),
        Int("i_one", 5, 5),
        Float("f", -1.0, 3.0),
        Float("f_log", 1e-4, 1e-2, sampling="log"),
        Float("f_rlog", 1e-4, 1e-2, sampling="reverse_log"),
        Float("f_step", 0.1, 0.5, step=0.1),
        Float("f_log_step", 1e-5, 1e-1, step=10, sampling="log"),
        Float("f_rlog_step", 1.0, 100.0, step=10, sampling="reverse_log"),
        Float("f_one", 0.25, 0.25),
        Choice("c_str", ["relu", "tanh", "gelu"]),
        Choice("c_int", [64, 16, 32]),
        Choice("c_float", [0.5, 0.1]),
        Choice("c_bool", [True, False]),
        Choice("c_one", ["only"]),
        Boolean("b"),
        Fixed("fx", "adam"),
    ]


KINDS = all_kinds()
IDS = [hp.name for hp in KINDS]


# -- defaults (Keras Tuner) ----------------------------------------------------------------
class TestDefaults:
    def test_int_default_is_min_value(self):
        assert Int("units", 32, 512, step=32).default == 32
        assert Int("n", -5, 5).default == -5

    def test_float_default_is_min_value(self):
        assert Float("lr", 1e-4, 1e-2, sampling="log").default == 1e-4
        assert Float("dropout", 0.0, 0.5).default == 0.0

    def test_choice_default_is_first_value(self):
        assert Choice("act", ["tanh", "relu"]).default == "tanh"
        assert Choice("units", [64, 16, 32]).default == 64

    def test_boolean_default_is_false(self):
        assert Boolean("b").default is False
        assert Boolean("b", default=True).default is True

    def test_fixed_default_is_its_value(self):
        assert Fixed("opt", "adam").default == "adam"

    def test_explicit_defaults(self):
        assert Int("n", 0, 10, default=7).default == 7
        assert Float("x", 0.0, 1.0, default=0.3).default == 0.3
        assert Choice("c", ["a", "b"], default="b").default == "b"

    def test_int_default_given_as_integral_float_is_an_int(self):
        d = Int("n", 0, 10, default=4.0).default
        assert d == 4 and type(d) is int

    def test_float_choice_accepts_int_default(self):
        d = Choice("c", [0.5, 1.0], default=1).default
        assert d == 1.0 and type(d) is float

    def test_float_step_default_snaps_float_noise(self):
        hp = Float("x", 0.1, 0.5, step=0.1, default=0.1 + 0.2)
        assert hp.default == 0.3


# -- Int -------------------------------------------------------------------------------------
class TestInt:
    def test_max_is_inclusive(self):
        assert Int("n", 6, 12).values == [6, 7, 8, 9, 10, 11, 12]
        assert Int("n", 6, 12).from_unit(1.0) == 12
        assert Int("n", 6, 12).n_values == 7

    def test_linear_step_is_additive(self):
        assert Int("n", 6, 13, step=3).values == [6, 9, 12]
        assert Int("units", 32, 512, step=32).values == list(range(32, 513, 32))
        assert Int("units", 32, 512, step=32).n_values == 16

    def test_log_step_is_multiplicative(self):
        assert Int("bs", 2, 32, step=2, sampling="log").values == [2, 4, 8, 16, 32]
        assert Int("bs", 1, 100, step=10, sampling="log").values == [1, 10, 100]
        assert Int("bs", 3, 100, step=3, sampling="log").values == [3, 9, 27, 81]

    def test_reverse_log_step_is_sorted_and_dense_near_the_max(self):
        values = Int("n", 1, 100, step=10, sampling="reverse_log").values
        assert values == [1, 91, 100]

    def test_all_values_lists_every_value(self):
        assert Int("n", 1, 20, sampling="log").all_values() == list(range(1, 21))
        assert Int("n", 1, 1000, sampling="log").n_values == 1000

    def test_unstepped_log_values_are_a_sorted_sample_with_both_ends(self):
        values = Int("n", 1, 1000, sampling="log").values
        assert values == sorted(set(values))
        assert values[0] == 1 and values[-1] == 1000
        assert 2 <= len(values) <= 10
        # denser at the low end
        assert sum(v < 100 for v in values) > sum(v >= 900 for v in values)

    def test_short_unstepped_log_range_lists_every_value(self):
        # a grid over a short range must not skip values
        assert Int("n", 1, 10, sampling="log").values == list(range(1, 11))
        assert Int("n", 1, 5, sampling="reverse_log").values == [1, 2, 3, 4, 5]

    def test_unstepped_reverse_log_values_are_dense_near_the_max(self):
        values = Int("n", 1, 1000, sampling="reverse_log").values
        assert values == sorted(set(values))
        assert values[0] == 1 and values[-1] == 1000
        assert sum(v >= 900 for v in values) > sum(v < 100 for v in values)

    def test_single_value(self):
        hp = Int("n", 5, 5)
        assert hp.values == [5] and hp.from_unit(0.0) == 5 and hp.from_unit(1.0) == 5

    def test_values_are_ints(self):
        for hp in (Int("n", 1.0, 4.0), Int("n", 1, 64, step=2, sampling="log"),
                   Int("n", 1, 100, sampling="log")):
            assert all(type(v) is int for v in hp.values)
            assert all(type(hp.from_unit(u)) is int for u in U_GRID[::50])

    def test_cast(self):
        hp = Int("units", 32, 512, step=32)
        assert hp.cast(64) == 64 and type(hp.cast(64.0)) is int
        for bad in (48, 0, 544, 64.5, "64", True, None):
            with pytest.raises(SpaceError, match="units"):
                hp.cast(bad)


# -- Float -----------------------------------------------------------------------------------
class TestFloat:
    @pytest.mark.parametrize("sampling", ["linear", "log", "reverse_log"])
    def test_unstepped_float_returns_its_maximum_and_minimum(self, sampling):
        for lo, hi in [(1e-4, 1e-2), (0.1, 0.7), (1.0, 3.0), (1e-8, 1.0),
                       (0.3, 0.30000000000000004)]:
            hp = Float("x", lo, hi, sampling=sampling)
            assert hp.from_unit(1.0) == hi
            assert hp.from_unit(0.0) == lo
            assert hp.values[0] == lo and hp.values[-1] == hi

    @pytest.mark.parametrize("sampling", ["linear", "log", "reverse_log"])
    def test_unstepped_values_are_sorted_deterministic_and_in_range(self, sampling):
        hp = Float("x", 1e-3, 10.0, sampling=sampling)
        values = hp.values
        assert values == sorted(values) and len(values) == len(set(values)) == 10
        assert values == hp.values == Float("x", 1e-3, 10.0, sampling=sampling).values
        assert all(1e-3 <= v <= 10.0 for v in values)
        assert not hp.is_discrete and hp.n_values == math.inf

    def test_log_sampling_is_dense_near_the_min(self):
        hp = Float("lr", 1e-4, 1e-2, sampling="log")
        assert hp.from_unit(0.5) == pytest.approx(1e-3)
        assert hp.from_unit(0.25) == pytest.approx(10 ** -3.5)

    def test_reverse_log_sampling_is_dense_near_the_max(self):
        hp = Float("x", 1.0, 100.0, sampling="reverse_log")
        # mirror image of log sampling: halfway in the unit is 100 + 1 - 10
        assert hp.from_unit(0.5) == pytest.approx(91.0)
        lin = Float("x", 1.0, 100.0)
        for u in (0.1, 0.5, 0.9):
            assert hp.from_unit(u) > lin.from_unit(u)
        # the top tenth of the unit interval covers a short range below the max
        assert 100.0 - hp.from_unit(0.9) < hp.from_unit(0.1) - 1.0

    def test_from_unit_is_monotonic(self):
        for sampling in ("linear", "log", "reverse_log"):
            hp = Float("x", 0.01, 5.0, sampling=sampling)
            out = [hp.from_unit(u) for u in sorted(U_GRID)]
            assert out == sorted(out)

    def test_step_with_float_noise_lists_exact_values(self):
        assert Float("x", 0.1, 0.5, step=0.1).values == [0.1, 0.2, 0.3, 0.4, 0.5]
        assert Float("x", 0.0, 1.0, step=0.1).values == [i / 10 for i in range(11)]
        assert Float("x", -0.3, 0.3, step=0.1).values == [-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3]
        assert Float("x", 0.0, 0.3, step=0.1).values[-1] == 0.3
        assert Float("x", 0.05, 0.5, step=0.05).values == [
            0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5]
        assert Float("x", 0.7, 1.5, step=0.2).values == [0.7, 0.9, 1.1, 1.3, 1.5]

    def test_step_includes_max_when_on_the_grid(self):
        for lo, hi, step in [(0.1, 0.5, 0.1), (0.0, 1.0, 0.25), (1e-3, 2e-3, 1e-4),
                             (0.0, 1.0, 1 / 3), (0.2, 0.9, 0.7)]:
            hp = Float("x", lo, hi, step=step)
            assert hp.values[0] == lo
            assert hp.values[-1] == hi, (lo, hi, step, hp.values)
            assert hp.from_unit(1.0) == hi

    def test_step_not_dividing_the_range_stops_below_the_max(self):
        assert Float("x", 0.0, 1.0, step=0.3).values == [0.0, 0.3, 0.6, 0.9]

    def test_min_value_is_listed_exactly(self):
        lo = 0.123456789012345678
        hp = Float("x", lo, 1.0, step=0.1)
        assert hp.values[0] == lo == hp.default
        assert hp.cast(lo) == lo
        assert len(set(hp.values)) == len(hp.values)

    def test_log_step(self):
        assert Float("lr", 1e-5, 1e-1, step=10, sampling="log").values == [
            1e-5, 1e-4, 1e-3, 1e-2, 1e-1]

    def test_log_step_with_tiny_values_keeps_them_distinct(self):
        values = Float("x", 1e-15, 1e-12, step=10, sampling="log").values
        assert values == [1e-15, 1e-14, 1e-13, 1e-12]

    def test_reverse_log_step_is_ascending(self):
        values = Float("x", 1.0, 100.0, step=10, sampling="reverse_log").values
        assert values == [1.0, 91.0, 100.0]
        values = Float("x", 1e-3, 1.0, step=2, sampling="reverse_log").values
        assert values == sorted(values) and len(values) == len(set(values))
        assert values[-1] == 1.0
        assert all(1e-3 <= v <= 1.0 for v in values)

    def test_values_are_deterministic_across_instances(self):
        for make in (lambda: Float("x", 0.1, 0.5, step=0.1),
                     lambda: Float("x", 1e-4, 1e-2, sampling="log"),
                     lambda: Float("x", 1.0, 100.0, step=3, sampling="reverse_log")):
            a, b = make(), make()
            assert a.values == a.values == b.values

    def test_single_value_range_is_discrete(self):
        hp = Float("x", 0.25, 0.25)
        assert hp.is_discrete and hp.n_values == 1 and hp.values == [0.25]
        assert hp.from_unit(0.7) == 0.25

    def test_stepped_float_is_discrete(self):
        hp = Float("x", 0.0, 1.0, step=0.25)
        assert hp.is_discrete and hp.n_values == 5

    def test_cast(self):
        hp = Float("dropout", 0.0, 0.5)
        assert hp.cast(0) == 0.0 and type(hp.cast(0)) is float
        for bad in (-0.1, 0.6, "0.1", float("nan"), float("inf"), True, None):
            with pytest.raises(SpaceError, match="dropout"):
                hp.cast(bad)

    def test_cast_with_step(self):
        hp = Float("x", 0.1, 0.5, step=0.1)
        assert hp.cast(0.1 + 0.2) == 0.3
        with pytest.raises(SpaceError, match="'x'.*not on its steps"):
            hp.cast(0.25)


# -- Choice, Boolean, Fixed --------------------------------------------------------------------
class TestChoice:
    def test_values_keep_their_declared_order(self):
        assert Choice("act", ["tanh", "relu"]).values == ["tanh", "relu"]
        assert Choice("u", [64, 16, 32]).values == [64, 16, 32]

    def test_ordered_defaults(self):
        assert Choice("u", [1, 2]).ordered is True
        assert Choice("u", [0.1, 0.2]).ordered is True
        assert Choice("a", ["x", "y"]).ordered is False
        assert Choice("a", [True, False]).ordered is False
        assert Choice("u", [1, 2], ordered=False).ordered is False

    def test_cast(self):
        hp = Choice("act", ["relu", "tanh"])
        assert hp.cast("tanh") == "tanh"
        for bad in ("sigmoid", 1, None):
            with pytest.raises(SpaceError, match="act"):
                hp.cast(bad)
        # True == 1 in Python, but a bool is not an int value
        with pytest.raises(SpaceError, match="'n'"):
            Choice("n", [1, 2]).cast(True)

    def test_numpy_scalars_are_accepted_as_python_values(self):
        hp = Choice("u", list(np.array([16, 32, 64])))
        assert hp.values == [16, 32, 64] and all(type(v) is int for v in hp.values)
        json.dumps(hp.get_config())
        hp = Choice("lr", list(np.array([0.1, 0.01])))
        assert all(type(v) is float for v in hp.values)
        hp = Choice("u", np.array([8, 4]), default=np.int64(4))
        assert hp.values == [8, 4] and hp.default == 4 and type(hp.default) is int
        assert type(hp.cast(np.int64(8))) is int

    def test_numpy_scalars_elsewhere(self):
        assert Int("n", np.int64(1), np.int64(5)).values == [1, 2, 3, 4, 5]
        assert type(Int("n", 1, 5).cast(np.int64(3))) is int
        assert Float("x", np.float32(0.5), 1.0).min_value == 0.5
        assert type(Float("x", 0.0, 1.0).cast(np.float32(0.5))) is float
        assert Boolean("b").cast(np.bool_(True)) is True
        assert Fixed("f", np.int64(3)).value == 3 and type(Fixed("f", np.int64(3)).value) is int


class TestBoolean:
    def test_values_and_mapping(self):
        hp = Boolean("b")
        assert hp.values == [False, True]
        assert hp.from_unit(0.0) is False and hp.from_unit(0.49) is False
        assert hp.from_unit(0.5) is True and hp.from_unit(1.0) is True
        with pytest.raises(SpaceError, match="'b'"):
            hp.cast(1)


class TestFixed:
    def test_fixed(self):
        hp = Fixed("opt", "adam")
        assert hp.values == [hp.value] == ["adam"] and hp.n_values == 1
        assert hp.from_unit(0.3) == "adam" and hp.cast("adam") == "adam"
        with pytest.raises(SpaceError, match="opt"):
            hp.cast("sgd")
        with pytest.raises(SpaceError, match="'n'"):
            Fixed("n", 1).cast(True)


# -- unit interval mapping, for every type ----------------------------------------------------
@pytest.mark.parametrize("hp", KINDS, ids=IDS)
def test_from_unit_gives_a_valid_value_and_round_trips(hp):
    for u in U_GRID:
        value = hp.from_unit(u)
        assert hp.cast(value) == value
        back = hp.to_unit(value)
        assert 0.0 <= back <= 1.0
        again = hp.from_unit(back)
        if isinstance(hp, Float) and not hp.is_discrete:
            assert again == pytest.approx(value, rel=1e-9, abs=1e-12)
        else:
            assert again == value and type(again) is type(value)


DISCRETE = [h for h in KINDS if h.is_discrete]


@pytest.mark.parametrize("hp", DISCRETE, ids=[h.name for h in DISCRETE])
def test_every_listed_value_round_trips(hp):
    for value in hp.all_values():
        u = hp.to_unit(value)
        assert 0.0 <= u <= 1.0
        assert hp.from_unit(u) == value


@pytest.mark.parametrize("hp", KINDS, ids=IDS)
def test_unit_ends_give_first_and_last_values(hp):
    values = hp.all_values() if hp.is_discrete else hp.values
    assert hp.from_unit(0.0) == values[0]
    assert hp.from_unit(1.0) == values[-1]


@pytest.mark.parametrize("hp", KINDS, ids=IDS)
def test_values_listing_is_deterministic_and_sorted_for_numbers(hp):
    assert hp.values == hp.values
    fresh = next(h for h in all_kinds() if h.name == hp.name)
    assert fresh.values == hp.values
    if isinstance(hp, (Int, Float)):
        assert hp.values == sorted(hp.values)
        assert len(set(hp.values)) == len(hp.values)


@pytest.mark.parametrize("hp", [Int("i", 0, 9), Int("u", 32, 512, step=32),
                                Int("l", 2, 64, step=2, sampling="log"),
                                Float("f", 0.1, 0.5, step=0.1),
                                Float("g", 1.0, 1000.0, step=10, sampling="reverse_log"),
                                Choice("c", ["a", "b", "c"]), Choice("n", [3, 1, 2]),
                                Boolean("b")], ids=lambda h: h.name)
def test_discrete_values_get_equal_shares_of_the_unit_interval(hp):
    values = hp.all_values()
    n = len(values)
    counts = {repr(v): 0 for v in values}
    m = 1000 * n
    for k in range(m):
        counts[repr(hp.from_unit((k + 0.5) / m))] += 1
    assert set(counts.values()) == {1000}
    # the bin of value i is [i/n, (i+1)/n); to_unit gives its centre
    for i, v in enumerate(values):
        assert hp.to_unit(v) == pytest.approx((i + 0.5) / n)
        assert hp.from_unit(i / n) == v
        assert hp.from_unit((i + 1) / n - 1e-9) == v


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(lo=st.floats(1e-6, 1e3), ratio=st.floats(1.0, 1e4), u=st.floats(0.0, 1.0),
       sampling=st.sampled_from(["linear", "log", "reverse_log"]))
def test_float_unit_mapping_property(lo, ratio, u, sampling):
    hi = lo * ratio
    hp = Float("x", lo, hi, sampling=sampling)
    v = hp.from_unit(u)
    assert lo <= v <= hi
    back = hp.to_unit(v)
    assert 0.0 <= back <= 1.0
    assert hp.from_unit(back) == pytest.approx(v, rel=1e-7)


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(lo=st.integers(1, 1000), width=st.integers(0, 5000), u=st.floats(0.0, 1.0),
       sampling=st.sampled_from(["linear", "log", "reverse_log"]))
def test_int_unit_mapping_property(lo, width, u, sampling):
    hp = Int("n", lo, lo + width, sampling=sampling)
    v = hp.from_unit(u)
    assert lo <= v <= lo + width and type(v) is int
    assert hp.from_unit(hp.to_unit(v)) == v


@settings(max_examples=150, deadline=None, database=None, derandomize=True)
@given(lo=st.integers(-50, 50), n=st.integers(1, 12), k=st.integers(1, 9),
       scale=st.sampled_from([1.0, 0.1, 0.01, 0.05, 1e-4, 2.5]))
def test_float_step_grid_property(lo, n, k, scale):
    lo_v, step = lo * scale, k * scale
    hi_v = lo_v + n * step
    hp = Float("x", lo_v, hi_v, step=step)
    values = hp.values
    assert len(values) == n + 1
    assert values[0] == lo_v and values == sorted(values)
    assert values[-1] == pytest.approx(hi_v, rel=1e-12, abs=1e-12)
    assert hp.from_unit(1.0) == values[-1]
    for v in values:
        assert hp.cast(v) == v
        assert hp.from_unit(hp.to_unit(v)) == v


# -- configs -----------------------------------------------------------------------------------
@pytest.mark.parametrize("hp", KINDS + [Int("d", 0, 10, default=3), Choice("c", [1, 2], default=2),
                                        Float("fd", 0.0, 1.0, default=0.5),
                                        Boolean("bd", default=True),
                                        Int("cond", 1, 3, conditions=[("model", ["cnn"])])],
                         ids=lambda h: h.name)
def test_config_round_trip_through_json(hp):
    config = hp.get_config()
    text = json.dumps(config)
    rebuilt = from_config(json.loads(text))
    assert type(rebuilt) is type(hp)
    assert rebuilt.get_config() == json.loads(text)
    assert rebuilt.definition() == hp.definition()
    assert rebuilt.default == hp.default
    assert rebuilt.values == hp.values
    assert rebuilt.conditions == hp.conditions


def test_from_config_rejects_garbage():
    for bad in ({}, {"class_name": "Nope", "config": {}}, None, {"class_name": "Int"}):
        with pytest.raises(ValueError, match="Not a hyperparameter config"):
            from_config(bad)


# -- bad definitions ---------------------------------------------------------------------------
BAD = [
    # (factory, words the message must contain)
    (lambda: Int("units", 512, 32), ["units", "greater than", "swap"]),
    (lambda: Float("lr", 1e-2, 1e-4), ["lr", "greater than", "swap"]),
    (lambda: Float("lr", 0.0, 1e-2, sampling="log"), ["lr", "min_value > 0", "linear"]),
    (lambda: Float("lr", -1.0, 1.0, sampling="reverse_log"), ["lr", "min_value > 0"]),
    (lambda: Int("n", 0, 10, sampling="log"), ["'n'", "min_value > 0"]),
    (lambda: Int("units", 32, 64, step=64), ["units", "larger than the range", "smaller step"]),
    (lambda: Float("x", 0.0, 0.5, step=1.0), ["'x'", "larger than the range"]),
    (lambda: Int("n", 1, 10, step=20, sampling="log"), ["'n'", "larger than the range"]),
    (lambda: Int("n", 1, 10, step=0), ["'n'", "step must be positive"]),
    (lambda: Float("x", 0.0, 1.0, step=-0.1), ["'x'", "step must be positive"]),
    (lambda: Int("n", 1, 64, step=1, sampling="log"), ["'n'", "multiplier", "> 1"]),
    (lambda: Float("x", 1e-3, 1.0, step=0.5, sampling="log"), ["'x'", "multiplier", "> 1"]),
    (lambda: Float("x", 0.0, 1.0, sampling="exp"), ["'x'", "sampling", "linear"]),
    (lambda: Int("n", 1.5, 10), ["'n'", "min_value must be an integer"]),
    (lambda: Int("n", 1, 10.5), ["'n'", "max_value must be an integer"]),
    (lambda: Int("n", 1, 10, step=1.5), ["'n'", "step must be an integer"]),
    (lambda: Int("n", "1", 10), ["'n'", "min_value must be an integer"]),
    (lambda: Int("n", None, 10), ["'n'", "min_value must be an integer"]),
    (lambda: Int("n", True, 10), ["'n'", "min_value must be an integer"]),
    (lambda: Float("x", "0", 1.0), ["'x'", "min_value must be a finite number"]),
    (lambda: Float("x", 0.0, float("inf")), ["'x'", "max_value must be a finite number"]),
    (lambda: Float("x", float("nan"), 1.0), ["'x'", "min_value must be a finite number"]),
    (lambda: Int("n", 0, 10, default=11), ["'n'", "default 11"]),
    (lambda: Int("units", 32, 512, step=32, default=50), ["units", "default 50"]),
    (lambda: Float("x", 0.0, 1.0, default=2.0), ["'x'", "default 2.0", "outside"]),
    (lambda: Float("x", 0.0, 1.0, step=0.5, default=0.25), ["'x'", "default 0.25", "steps"]),
    (lambda: Choice("act", ["relu", "tanh"], default="gelu"), ["act", "default 'gelu'"]),
    (lambda: Choice("act", []), ["act", "non-empty list"]),
    (lambda: Choice("act", "relu"), ["act", "list of values"]),
    (lambda: Choice("act", None), ["act", "list of values"]),
    (lambda: Choice("mixed", [1, "a"]), ["mixed", "mix types", "one type"]),
    (lambda: Choice("mixed", [1, 2.5]), ["mixed", "mix types"]),
    (lambda: Choice("mixed", [True, 1]), ["mixed", "mix types"]),
    (lambda: Choice("c", [None, 1]), ["'c'", "int, float, str or bool"]),
    (lambda: Choice("c", [[1], [2]]), ["'c'", "int, float, str or bool"]),
    (lambda: Choice("c", [1, float("nan")]), ["'c'"]),
    (lambda: Choice("c", ["a", "a"]), ["'c'", "twice"]),
    (lambda: Choice("c", ["a", "b"], ordered=True), ["'c'", "ordered=True", "numeric"]),
    (lambda: Boolean("b", default="yes"), ["'b'", "True or False"]),
    (lambda: Fixed("f", None), ["'f'", "Fixed value"]),
    (lambda: Int("", 0, 1), ["name", "non-empty string"]),
    (lambda: Int(None, 0, 1), ["name", "non-empty string"]),
]


@pytest.mark.parametrize("factory, words", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_definitions_raise_value_error_naming_the_culprit(factory, words):
    with pytest.raises(ValueError) as info:
        factory()
    assert isinstance(info.value, SpaceError)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_step_equal_to_the_range_is_allowed():
    assert Int("n", 32, 64, step=32).values == [32, 64]
    assert Float("x", 0.0, 0.5, step=0.5).values == [0.0, 0.5]
    assert Int("n", 1, 10, step=10, sampling="log").values == [1, 10]


def test_space_error_is_a_value_error():
    assert issubclass(SpaceError, ValueError)


@pytest.mark.parametrize("sampling", ["log", "reverse_log"])
def test_log_range_narrower_than_float_resolution(sampling):
    # found by hypothesis: log(hi) == log(lo) although hi > lo
    lo, hi = 9.0, 9.000000000000002
    hp = Float("x", lo, hi, sampling=sampling)
    assert hp.from_unit(0.0) == lo and hp.from_unit(1.0) == hi
    for v in (lo, hi):
        assert 0.0 <= hp.to_unit(v) <= 1.0
        assert hp.from_unit(hp.to_unit(v)) == v
    assert hp.values == [lo, hi]


def test_reverse_log_over_a_huge_range_maps_its_maximum():
    # hi + lo rounds to hi in floats, so the mirrored value for hi is 0 before clamping
    # (it raised "math domain error"); near the max the resolution is one float step of hi
    hp = Float("x", 3.0, 3.6e16, sampling="reverse_log")
    for v in (3.6e16, 3.6e16 - 8, 1e16):
        u = hp.to_unit(v)
        assert 0.0 <= u <= 1.0
        assert hp.from_unit(u) == pytest.approx(v, rel=1e-12)
    assert hp.to_unit(3.0) == 0.0 and hp.from_unit(1.0) == 3.6e16
