"""Hyperparameter types: Int, Float, Choice, Boolean and Fixed.

Each type knows its possible values, its default, how to map a value to and from the unit
interval (the basis of every sampler), and how to describe itself as JSON.
"""

from __future__ import annotations

import math
import numbers
from decimal import Decimal
from typing import Any, Sequence

from ..errors import SpaceError

_SAMPLINGS = ("linear", "log", "reverse_log")
_GRID_POINTS = 10  # values listed for a continuous range (grid search, summaries)
_TOLERANCE = 1e-9  # relative slack for float noise in steps and bounds


def _plain(value: Any) -> Any:
    """A NumPy scalar as the Python value it holds (np.int64(3) -> 3); anything else as is."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class HyperParameter:
    """Base class. ``conditions`` is a tuple of ``(parent_name, parent_values)`` pairs that
    must all hold for the hyperparameter to be active."""

    kind = "base"

    def __init__(self, name: str, default: Any = None,
                 conditions: Sequence[tuple[str, Sequence[Any]]] = ()) -> None:
        if not isinstance(name, str) or not name:
            raise SpaceError(f"A hyperparameter name must be a non-empty string, got {name!r}.")
        self.name = name
        self._default = default
        self.conditions = tuple((p, tuple(v)) for p, v in conditions)

    # -- what every type provides -------------------------------------------------------
    @property
    def default(self) -> Any:
        return self._default

    @property
    def values(self) -> list[Any]:
        """The possible values in ascending (or declared) order; a sample of 10 for a
        continuous range."""
        raise NotImplementedError  # pragma: no cover - abstract

    @property
    def is_discrete(self) -> bool:
        """True when ``values`` lists every value this hyperparameter can take."""
        return True

    @property
    def n_values(self) -> float:
        """How many distinct values it can take (``inf`` for a continuous range)."""
        return len(self.all_values())

    def all_values(self) -> list[Any]:
        """Every value it can take, for a discrete hyperparameter (``values`` may list only
        a sample of a long integer range)."""
        return self.values

    def from_unit(self, u: float) -> Any:
        """Map ``u`` in [0, 1] to a value; ``u == 1`` gives the last value."""
        raise NotImplementedError  # pragma: no cover - abstract

    def to_unit(self, value: Any) -> float:
        """Map a value to [0, 1]: the inverse of ``from_unit`` (bin centre for discrete)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def cast(self, value: Any) -> Any:
        """Check that ``value`` is one this hyperparameter can take and return it typed."""
        raise NotImplementedError  # pragma: no cover - abstract

    def _config(self) -> dict[str, Any]:
        raise NotImplementedError  # pragma: no cover - abstract

    # -- shared machinery ---------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config = {"name": self.name, **self._config(), "default": self._default}
        if self.conditions:
            config["conditions"] = [[p, list(v)] for p, v in self.conditions]
        return {"class_name": self.kind, "config": config}

    def definition(self) -> dict[str, Any]:
        """The parts that make two definitions the same (the default may differ)."""
        cached = self.__dict__.get("_definition")
        if cached is None:
            config = self.get_config()["config"].copy()
            config.pop("default", None)
            cached = self.__dict__["_definition"] = {"class_name": self.kind, **config}
        return cached

    def describe(self) -> str:
        parts = ", ".join(f"{k}={v!r}" for k, v in self._config().items() if v is not None)
        return f"{self.kind}({self.name!r}, {parts})"

    def __repr__(self) -> str:
        return self.describe()

    def _index_from_unit(self, u: float, n: int) -> int:
        return min(max(int(math.floor(u * n)), 0), n - 1)


class Numeric(HyperParameter):
    """Shared range logic of Int and Float."""

    def __init__(self, name: str, min_value: float, max_value: float, step: float | None,
                 sampling: str, default: Any, conditions) -> None:
        super().__init__(name, default, conditions)
        sampling = (sampling or "linear").lower()
        if sampling not in _SAMPLINGS:
            raise SpaceError(
                f"Hyperparameter {name!r}: sampling={sampling!r} is not one of {_SAMPLINGS}.")
        if min_value > max_value:
            raise SpaceError(
                f"Hyperparameter {name!r}: min_value={min_value} is greater than "
                f"max_value={max_value}; swap them.")
        if sampling != "linear" and min_value <= 0:
            raise SpaceError(
                f"Hyperparameter {name!r}: sampling={sampling!r} needs min_value > 0, got "
                f"min_value={min_value}; use a positive lower bound or sampling='linear'.")
        if step is not None:
            if step <= 0:
                raise SpaceError(f"Hyperparameter {name!r}: step must be positive, got {step}.")
            if sampling != "linear" and step <= 1:
                raise SpaceError(
                    f"Hyperparameter {name!r}: with sampling={sampling!r} the step is a "
                    f"multiplier and must be > 1, got step={step}.")
            span = (max_value - min_value) if sampling == "linear" else max_value / min_value
            if max_value > min_value and step > span * (1 + 1e-9):
                raise SpaceError(
                    f"Hyperparameter {name!r}: step={step} is larger than the range "
                    f"[{min_value}, {max_value}]; use a smaller step or a wider range.")
        self.min_value = min_value
        self.max_value = max_value
        self.step = step
        self.sampling = sampling

    # continuous mapping of [0, 1] onto the range, per sampling
    def _scale(self, u: float, lo: float, hi: float) -> float:
        if u >= 1.0:
            return hi
        if u <= 0.0:
            return lo
        # a range too narrow for its logarithms to differ is linear for all purposes
        if self.sampling == "linear" or math.log(hi) == math.log(lo):
            return lo + u * (hi - lo)
        if self.sampling == "log":
            return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        # reverse_log: dense near the maximum
        return hi + lo - math.exp(math.log(lo) + (1.0 - u) * (math.log(hi) - math.log(lo)))

    def _unscale(self, v: float, lo: float, hi: float) -> float:
        if hi == lo:
            return 0.5
        v = min(max(v, lo), hi)
        if self.sampling == "linear" or math.log(hi) == math.log(lo):
            u = (v - lo) / (hi - lo)
        elif self.sampling == "log":
            u = (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo))
        else:
            # hi + lo - v >= lo in exact arithmetic; floats can round it to 0 for huge ranges
            mirrored = max(hi + lo - v, lo)
            u = 1.0 - (math.log(mirrored) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return min(max(u, 0.0), 1.0)

    def _stepped_values(self) -> list[float]:
        """The values on the steps, ascending, with both ends exact where the steps reach them.

        The arithmetic is exact on the numbers as written, so that 0.1 + 2 * 0.1 is 0.3 and
        not 0.30000000000000004, and tiny log grids (1e-15 * 10 ** i) keep every value; a
        last value within float noise of the far end is that end."""
        lo, hi, step = (Decimal(repr(x)) for x in (self.min_value, self.max_value, self.step))
        slack = 1 + Decimal(_TOLERANCE)
        if self.sampling == "linear":
            n = int((hi - lo) / step * slack) + 1
            # integers scaled by a power of ten: exact, and int / int rounds correctly
            scale = 10 ** max(0, -lo.as_tuple().exponent, -step.as_tuple().exponent)
            first, inc = int(lo * scale), int(step * scale)
            out = [(first + i * inc) / scale for i in range(n)]
            if abs(Decimal(repr(out[-1])) - hi) <= step * Decimal(_TOLERANCE):
                out[-1] = self.max_value
            return out
        exact: list[Decimal] = []
        v = lo
        while v <= hi * slack:
            exact.append(v)
            v *= step
        if abs(exact[-1] - hi) <= hi * Decimal(_TOLERANCE):
            exact[-1] = hi
        if self.sampling == "reverse_log":
            exact = [hi + lo - v for v in exact]
        return sorted(float(v) for v in exact)

    def _config(self) -> dict[str, Any]:
        return {"min_value": self.min_value, "max_value": self.max_value, "step": self.step,
                "sampling": self.sampling}


class Int(Numeric):
    """An integer in ``[min_value, max_value]`` (inclusive). With ``sampling="log"`` the
    step is a multiplier."""

    kind = "Int"

    def __init__(self, name: str, min_value: int, max_value: int, step: int | None = None,
                 sampling: str = "linear", default: int | None = None, conditions=()) -> None:
        min_value, max_value, step = _plain(min_value), _plain(max_value), _plain(step)
        for arg, v in (("min_value", min_value), ("max_value", max_value), ("step", step)):
            if (v is not None or arg != "step") and (
                    not _is_number(v) or not math.isfinite(v) or not float(v).is_integer()):
                raise SpaceError(f"Hyperparameter {name!r}: {arg} must be an integer, got {v!r}.")
        super().__init__(name, int(min_value), int(max_value),
                         None if step is None else int(step), sampling, default, conditions)
        self._values_cache: Sequence[int] | None = None
        if default is not None:
            self._default = self.cast(default, what="default")

    @property
    def default(self) -> int:
        return self.min_value if self._default is None else self._default

    def _all_values(self) -> Sequence[int]:
        # a range object for linear spaces: O(1) length, index and membership
        if self._values_cache is None:
            if self.step is None:
                self._values_cache = range(self.min_value, self.max_value + 1)
            elif self.sampling == "linear":
                self._values_cache = range(self.min_value, self.max_value + 1, self.step)
            else:
                self._values_cache = sorted({int(round(v)) for v in self._stepped_values()})
        return self._values_cache

    @property
    def values(self) -> list[int]:
        if self.step is None and self.sampling != "linear" and self.n_values > _GRID_POINTS:
            # an unstepped log range: a log-spaced sample, ends included
            return sorted({self.from_unit(i / (_GRID_POINTS - 1)) for i in range(_GRID_POINTS)})
        return list(self._all_values())

    def all_values(self) -> list[int]:
        return list(self._all_values())

    @property
    def n_values(self) -> float:
        return len(self._all_values())

    def from_unit(self, u: float) -> int:
        if self.step is None:
            if self.sampling == "linear":
                n = self.max_value - self.min_value + 1
                return self.min_value + self._index_from_unit(u, n)
            # widen by one so that the maximum gets a full share of the scale
            # exp(log(min)) may land a hair below min: clamp both ends
            v = self._scale(u, self.min_value, self.max_value + 1)
            return min(max(int(math.floor(v)), self.min_value), self.max_value)
        values = self._all_values()
        return values[self._index_from_unit(u, len(values))]

    def to_unit(self, value: int) -> float:
        if self.step is None:
            if self.sampling == "linear":
                n = self.max_value - self.min_value + 1
                return (value - self.min_value + 0.5) / n
            return self._unscale(value + 0.5, self.min_value, self.max_value + 1)
        values = self._all_values()
        return (values.index(value) + 0.5) / len(values)

    def cast(self, value: Any, what: str = "value") -> int:
        value = _plain(value)
        if not _is_number(value) or not math.isfinite(value) or not float(value).is_integer():
            raise SpaceError(f"Hyperparameter {self.name!r}: {what} {value!r} is not an integer.")
        value = int(value)
        if not self.min_value <= value <= self.max_value or (
                self.step is not None and value not in self._all_values()):
            raise SpaceError(
                f"Hyperparameter {self.name!r}: {what} {value} is not one of its values "
                f"({self.describe()}).")
        return value


class Float(Numeric):
    """A float in ``[min_value, max_value]``; continuous unless ``step`` is given."""

    kind = "Float"

    def __init__(self, name: str, min_value: float, max_value: float, step: float | None = None,
                 sampling: str = "linear", default: float | None = None, conditions=()) -> None:
        min_value, max_value, step = _plain(min_value), _plain(max_value), _plain(step)
        for arg, v in (("min_value", min_value), ("max_value", max_value), ("step", step)):
            if (v is not None or arg != "step") and (not _is_number(v) or not math.isfinite(v)):
                raise SpaceError(f"Hyperparameter {name!r}: {arg} must be a finite number, got {v!r}.")
        super().__init__(name, float(min_value), float(max_value),
                         None if step is None else float(step), sampling, default, conditions)
        self._values_cache: list[float] | None = None
        if default is not None:
            self._default = self.cast(default, what="default")

    @property
    def default(self) -> float:
        return self.min_value if self._default is None else self._default

    @property
    def is_discrete(self) -> bool:
        return self.step is not None or self.min_value == self.max_value

    def _grid(self) -> list[float]:
        if self._values_cache is None:
            if self.min_value == self.max_value:
                self._values_cache = [self.min_value]
            elif self.step is None:
                self._values_cache = sorted({self.from_unit(i / (_GRID_POINTS - 1))
                                             for i in range(_GRID_POINTS)})
            else:
                self._values_cache = sorted({min(max(v, self.min_value), self.max_value)
                                             for v in self._stepped_values()})
        return self._values_cache

    @property
    def values(self) -> list[float]:
        return list(self._grid())

    @property
    def n_values(self) -> float:
        return len(self._grid()) if self.is_discrete else math.inf

    def from_unit(self, u: float) -> float:
        if self.is_discrete:
            values = self._grid()
            return values[self._index_from_unit(u, len(values))]
        return min(max(self._scale(u, self.min_value, self.max_value), self.min_value),
                   self.max_value)

    def to_unit(self, value: float) -> float:
        if self.is_discrete:
            values = self._grid()
            i = min(range(len(values)), key=lambda k: abs(values[k] - value))
            return (i + 0.5) / len(values)
        return self._unscale(value, self.min_value, self.max_value)

    def cast(self, value: Any, what: str = "value") -> float:
        value = _plain(value)
        if not _is_number(value) or not math.isfinite(value):
            raise SpaceError(f"Hyperparameter {self.name!r}: {what} {value!r} is not a finite number.")
        value = float(value)
        if not self.min_value <= value <= self.max_value:
            raise SpaceError(
                f"Hyperparameter {self.name!r}: {what} {value} is outside "
                f"[{self.min_value}, {self.max_value}].")
        if self.step is not None:
            nearest = min(self._grid(), key=lambda v: abs(v - value))
            # float noise only: relative to the value, or to the step for values near 0
            scale = max(abs(value), abs(nearest), self.step if self.sampling == "linear" else 0.0)
            if abs(nearest - value) > _TOLERANCE * scale:
                raise SpaceError(
                    f"Hyperparameter {self.name!r}: {what} {value} is not on its steps "
                    f"({self.describe()}).")
            value = nearest
        return value


class Choice(HyperParameter):
    """One of a list of values of one type: int, float, str or bool."""

    kind = "Choice"

    def __init__(self, name: str, values: Sequence[Any], ordered: bool | None = None,
                 default: Any = None, conditions=()) -> None:
        super().__init__(name, default, conditions)
        if type(values).__module__ == "numpy" and hasattr(values, "tolist"):
            values = values.tolist()
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise SpaceError(
                f"Hyperparameter {name!r}: Choice needs a non-empty list of values, got {values!r}.")
        values = [_plain(v) for v in values]
        types = {self._type_of(v) for v in values}
        if None in types:
            bad = [v for v in values if self._type_of(v) is None]
            raise SpaceError(
                f"Hyperparameter {name!r}: Choice values must be int, float, str or bool; "
                f"got {bad[0]!r} ({type(bad[0]).__name__}).")
        if len(types) > 1:
            raise SpaceError(
                f"Hyperparameter {name!r}: Choice values mix types {sorted(types)}; use values "
                f"of one type (for example all str).")
        if len(set(values)) != len(values):
            raise SpaceError(f"Hyperparameter {name!r}: Choice lists a value twice: {list(values)}.")
        self._type = types.pop()
        self._values = list(values)
        if ordered is None:
            ordered = self._type in ("int", "float")
        if ordered and self._type not in ("int", "float"):
            raise SpaceError(f"Hyperparameter {name!r}: ordered=True needs numeric values.")
        self.ordered = bool(ordered)
        if default is not None:
            self._default = self.cast(default, what="default")

    @staticmethod
    def _type_of(v: Any) -> str | None:
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, int):
            return "int"
        if isinstance(v, float) and math.isfinite(v):
            return "float"
        if isinstance(v, str):
            return "str"
        return None

    @property
    def default(self) -> Any:
        return self._values[0] if self._default is None else self._default

    @property
    def values(self) -> list[Any]:
        return list(self._values)

    def from_unit(self, u: float) -> Any:
        return self._values[self._index_from_unit(u, len(self._values))]

    def to_unit(self, value: Any) -> float:
        return (self._values.index(value) + 0.5) / len(self._values)

    def cast(self, value: Any, what: str = "value") -> Any:
        value = _plain(value)
        if self._type == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if self._type_of(value) != self._type or value not in self._values:
            raise SpaceError(
                f"Hyperparameter {self.name!r}: {what} {value!r} is not one of {self._values}.")
        return self._values[self._values.index(value)]

    def _config(self) -> dict[str, Any]:
        return {"values": list(self._values), "ordered": self.ordered}


class Boolean(HyperParameter):
    """True or False."""

    kind = "Boolean"

    def __init__(self, name: str, default: bool = False, conditions=()) -> None:
        default = _plain(default)
        super().__init__(name, default, conditions)
        if not isinstance(default, bool):
            raise SpaceError(f"Hyperparameter {name!r}: default must be True or False, got {default!r}.")

    @property
    def default(self) -> bool:
        return bool(self._default)

    @property
    def values(self) -> list[bool]:
        return [False, True]

    def from_unit(self, u: float) -> bool:
        return u >= 0.5

    def to_unit(self, value: bool) -> float:
        return 0.75 if value else 0.25

    def cast(self, value: Any, what: str = "value") -> bool:
        value = _plain(value)
        if not isinstance(value, bool):
            raise SpaceError(f"Hyperparameter {self.name!r}: {what} {value!r} is not True or False.")
        return value

    def _config(self) -> dict[str, Any]:
        return {}


class Fixed(HyperParameter):
    """A constant recorded with the trial."""

    kind = "Fixed"

    def __init__(self, name: str, value: Any, conditions=()) -> None:
        value = _plain(value)
        if Choice._type_of(value) is None:
            raise SpaceError(
                f"Hyperparameter {name!r}: Fixed value must be int, float, str or bool, got {value!r}.")
        super().__init__(name, value, conditions)
        self.value = value

    @property
    def values(self) -> list[Any]:
        return [self.value]

    def from_unit(self, u: float) -> Any:
        return self.value

    def to_unit(self, value: Any) -> float:
        return 0.5

    def cast(self, value: Any, what: str = "value") -> Any:
        value = _plain(value)
        if value != self.value or Choice._type_of(value) != Choice._type_of(self.value):
            raise SpaceError(f"Hyperparameter {self.name!r} is fixed at {self.value!r}; got {value!r}.")
        return self.value

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "value": self.value}
        if self.conditions:
            config["conditions"] = [[p, list(v)] for p, v in self.conditions]
        return {"class_name": self.kind, "config": config}

    def _config(self) -> dict[str, Any]:
        return {"value": self.value}


TYPES: dict[str, type[HyperParameter]] = {t.kind: t for t in (Int, Float, Choice, Boolean, Fixed)}


def from_config(config: dict[str, Any]) -> HyperParameter:
    """Rebuild a hyperparameter from ``get_config()`` output."""
    try:
        cls = TYPES[config["class_name"]]
        kwargs = dict(config["config"])
    except (KeyError, TypeError):
        raise SpaceError(f"Not a hyperparameter config: {config!r}.") from None
    conditions = [(p, v) for p, v in kwargs.pop("conditions", [])]
    return cls(conditions=conditions, **kwargs)
