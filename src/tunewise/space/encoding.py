"""Encoding of hyperparameter values to and from the unit cube, and enumeration of finite
spaces. Samplers build on these."""

from __future__ import annotations

import math
from typing import Any, Iterator, Sequence

import numpy as np

from . import types as t


class UnitEncoder:
    """Maps a dict of values to a vector in [0, 1]^d and back.

    Numeric hyperparameters and ordered choices take one column; an unordered Choice takes
    one column per value (one-hot), so that no order is invented between categories. Fixed
    hyperparameters take none. An inactive or missing value encodes as NaN.

    >>> from tunewise.space import HyperParameters
    >>> hp = HyperParameters(); _ = hp.Float("lr", 1e-4, 1e-1, sampling="log")
    >>> _ = hp.Choice("act", ["relu", "tanh"])
    >>> enc = UnitEncoder(hp.space)
    >>> enc.dims
    3
    >>> enc.decode(enc.encode({"lr": 1e-1, "act": "tanh"}))
    {'lr': 0.1, 'act': 'tanh'}
    """

    def __init__(self, space: Sequence[t.HyperParameter]) -> None:
        self.space = [hp for hp in space if not isinstance(hp, t.Fixed)]
        self.slices: dict[str, slice] = {}
        col = 0
        for hp in self.space:
            width = len(hp.values) if self.is_categorical(hp) else 1
            self.slices[hp.name] = slice(col, col + width)
            col += width
        self.dims = col

    @staticmethod
    def is_categorical(hp: t.HyperParameter) -> bool:
        return isinstance(hp, t.Choice) and not hp.ordered

    def encode(self, values: dict[str, Any]) -> np.ndarray:
        x = np.full(self.dims, np.nan)
        for hp in self.space:
            if hp.name not in values or values[hp.name] is None:
                continue
            sl = self.slices[hp.name]
            if self.is_categorical(hp):
                x[sl] = 0.0
                # cast: an unknown category is an error that names the hyperparameter
                x[sl.start + hp.values.index(hp.cast(values[hp.name]))] = 1.0
            else:
                x[sl.start] = hp.to_unit(values[hp.name])
        return x

    def decode(self, x: np.ndarray) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for hp in self.space:
            sl = self.slices[hp.name]
            part = x[sl]
            if np.all(np.isnan(part)):
                continue
            if self.is_categorical(hp):
                out[hp.name] = hp.values[int(np.nanargmax(part))]
            else:
                out[hp.name] = hp.from_unit(float(np.clip(part[0], 0.0, 1.0)))
        return out


def _ordered_values(hp: t.HyperParameter, complete: bool) -> list[Any]:
    """The values in grid order: the default first, then the rest in listed order."""
    values = list(hp.all_values() if complete else hp.values)
    default = hp.default
    if default in values:
        values.remove(default)
    return [default] + values


def iter_grid(space: Sequence[t.HyperParameter], complete: bool = False
              ) -> Iterator[dict[str, Any]]:
    """Every combination of the values of ``space`` in Keras Tuner's grid order: the defaults
    first, then an odometer in which the last-defined hyperparameter turns fastest. Only
    active hyperparameters appear in a combination; a parent change resets its children to
    their defaults. With ``complete``, every value of a long integer range is listed, not a
    sample of ten."""
    space = list(space)
    names_before: dict[str, int] = {hp.name: i for i, hp in enumerate(space)}

    def active(hp: t.HyperParameter, values: dict[str, Any]) -> bool:
        return all(p in values and values[p] in allowed for p, allowed in hp.conditions
                   if p in names_before)

    def rec(i: int, values: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if i == len(space):
            yield dict(values)
            return
        hp = space[i]
        if not active(hp, values):
            yield from rec(i + 1, values)
            return
        for v in _ordered_values(hp, complete):
            values[hp.name] = v
            yield from rec(i + 1, values)
        del values[hp.name]

    yield from rec(0, {})


def space_size(space: Sequence[t.HyperParameter], limit: float = math.inf) -> float:
    """The number of distinct active combinations (``inf`` if any range is continuous).
    Counting stops early once it passes ``limit``."""
    space = list(space)
    if any(not hp.is_discrete for hp in space):
        return math.inf
    if all(not hp.conditions for hp in space):
        return float(math.prod(hp.n_values for hp in space))
    count = 0
    for _ in iter_grid(space, complete=True):
        count += 1
        if count > limit:
            return math.inf
    return float(count)
