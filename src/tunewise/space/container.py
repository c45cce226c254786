"""The ``HyperParameters`` container, with Keras Tuner's define-by-run semantics."""

from __future__ import annotations

import contextlib
import hashlib
import json
from typing import Any, Iterator, Sequence

from ..errors import SpaceError
from . import types as t


def canonical_key(values: dict[str, Any]) -> str:
    """A canonical JSON text for a dict of values: equal points give equal keys."""
    return json.dumps(values, sort_keys=True, separators=(",", ":"))


def point_id(values: dict[str, Any]) -> str:
    """A short fixed-length id of a point (a hash of its canonical key), for a database index
    that must not depend on how many hyperparameters there are or how long their values are."""
    return hashlib.blake2b(canonical_key(values).encode(), digest_size=16).hexdigest()


class HyperParameters:
    """A search space and the values of one trial.

    Each call such as ``hp.Int("units", 32, 512, step=32)`` registers the hyperparameter the
    first time it is seen and returns its value for the current trial (its default when no
    value was proposed). A hyperparameter inside an inactive conditional scope returns None.

    >>> hp = HyperParameters()
    >>> hp.Int("units", 32, 512, step=32)
    32
    >>> model = hp.Choice("model", ["mlp", "cnn"])
    >>> with hp.conditional_scope("model", "cnn"):
    ...     hp.Int("filters", 8, 64) is None
    True
    >>> hp.values
    {'units': 32, 'model': 'mlp'}
    """

    def __init__(self) -> None:
        self._space: dict[str, t.HyperParameter] = {}
        self._values: dict[str, Any] = {}
        self._scopes: list[tuple[str, tuple[Any, ...]]] = []
        # Names whose existing definition wins over a redefinition (Keras Tuner's rule for the
        # hyperparameters a tuner is given): set by tunewise.keras, empty otherwise.
        self._declared_wins: frozenset[str] = frozenset()

    # -- registration -------------------------------------------------------------------
    def Int(self, name: str, min_value: int, max_value: int, step: int | None = None,
            sampling: str = "linear", default: int | None = None,
            parent_name: str | None = None, parent_values: Any = None) -> int | None:
        """An integer between ``min_value`` and ``max_value`` inclusive."""
        with self._maybe_scope(parent_name, parent_values):
            return self._register(t.Int(name, min_value, max_value, step, sampling, default,
                                        conditions=self._scopes))

    def Float(self, name: str, min_value: float, max_value: float, step: float | None = None,
              sampling: str = "linear", default: float | None = None,
              parent_name: str | None = None, parent_values: Any = None) -> float | None:
        """A float between ``min_value`` and ``max_value``; ``sampling`` is "linear", "log"
        or "reverse_log"."""
        with self._maybe_scope(parent_name, parent_values):
            return self._register(t.Float(name, min_value, max_value, step, sampling, default,
                                          conditions=self._scopes))

    def Choice(self, name: str, values: Sequence[Any], ordered: bool | None = None,
               default: Any = None, parent_name: str | None = None,
               parent_values: Any = None) -> Any:
        """One of ``values`` (all int, all float, all str or all bool)."""
        with self._maybe_scope(parent_name, parent_values):
            return self._register(t.Choice(name, values, ordered, default, conditions=self._scopes))

    def Boolean(self, name: str, default: bool = False, parent_name: str | None = None,
                parent_values: Any = None) -> bool | None:
        """True or False."""
        with self._maybe_scope(parent_name, parent_values):
            return self._register(t.Boolean(name, default, conditions=self._scopes))

    def Fixed(self, name: str, value: Any, parent_name: str | None = None,
              parent_values: Any = None) -> Any:
        """A constant, recorded with the trial."""
        with self._maybe_scope(parent_name, parent_values):
            return self._register(t.Fixed(name, value, conditions=self._scopes))

    @contextlib.contextmanager
    def conditional_scope(self, parent_name: str, parent_values: Any) -> Iterator[None]:
        """Hyperparameters defined inside are active only when ``parent_name`` takes one of
        ``parent_values``."""
        if parent_name not in self._space:
            raise SpaceError(
                f"conditional_scope: the parent hyperparameter {parent_name!r} is not defined; "
                "define it (for example with hp.Choice) before opening the scope.")
        if not isinstance(parent_values, (list, tuple)):
            parent_values = [parent_values]
        parent = self._space[parent_name]
        possible = 0
        for v in parent_values:
            try:
                parent.cast(v, what="parent value")
                possible += 1
            except SpaceError:
                # a number outside a numeric parent's range can never match, which Keras
                # Tuner code relies on: conditional_scope("blocks", list(range(i + 1, 6)))
                if not isinstance(parent, t.Numeric) or not t._is_number(v):
                    raise
        if not possible:
            raise SpaceError(
                f"conditional_scope: {parent_name!r} can never take any of {list(parent_values)} "
                f"({parent.describe()}), so the scope would never be active; pass values "
                "inside its range.")
        self._scopes.append((parent_name, tuple(parent_values)))
        try:
            yield
        finally:
            self._scopes.pop()

    @contextlib.contextmanager
    def _maybe_scope(self, parent_name: str | None, parent_values: Any) -> Iterator[None]:
        if parent_name is None:
            yield
        else:
            with self.conditional_scope(parent_name, parent_values):
                yield

    def _register(self, hp: t.HyperParameter) -> Any:
        known = self._space.get(hp.name)
        if known is None:
            self._space[hp.name] = hp
            self._values.setdefault(hp.name, hp.default)
        elif hp.name in self._declared_wins:
            pass
        elif known.definition() != hp.definition():
            raise SpaceError(
                f"Hyperparameter {hp.name!r} is already defined as {known.describe()}"
                f"{_conditions_text(known)}; it is now defined as {hp.describe()}"
                f"{_conditions_text(hp)}. Use one definition per name (give the new one another "
                "name), or start a new study (overwrite=True) if the space changed on purpose.")
        return self._values[hp.name] if self.is_active(hp.name) else None

    # -- reading ------------------------------------------------------------------------
    def is_active(self, name: str | t.HyperParameter) -> bool:
        """True when every condition on ``name`` (and on its parents) holds."""
        hp = self._space[name if isinstance(name, str) else name.name]
        for parent, allowed in hp.conditions:
            if not self.is_active(parent) or self._values.get(parent) not in allowed:
                return False
        return True

    def get(self, name: str) -> Any:
        """The value of ``name``; None when it is inactive. KeyError if it is unknown."""
        if name not in self._space:
            known = ", ".join(self._space) or "none yet"
            raise KeyError(f"Hyperparameter {name!r} is not defined (defined: {known}).")
        return self._values.get(name) if self.is_active(name) else None

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._space

    @property
    def values(self) -> dict[str, Any]:
        """The values of the active hyperparameters, in the order they were defined."""
        return {n: self._values[n] for n in self._space if n in self._values and self.is_active(n)}

    @property
    def space(self) -> list[t.HyperParameter]:
        """The hyperparameter definitions, in the order they were defined."""
        return list(self._space.values())

    def set(self, name: str, value: Any) -> None:
        """Set the value of a defined hyperparameter (checked against its definition)."""
        if name not in self._space:
            raise KeyError(f"Hyperparameter {name!r} is not defined.")
        self._values[name] = self._space[name].cast(value)

    # -- building and copying -----------------------------------------------------------
    def declare(self, hp: t.HyperParameter) -> None:
        """Add a ready-made definition (used to rebuild a stored space)."""
        self._register(hp)

    def merge(self, other: "HyperParameters | Sequence[t.HyperParameter]") -> list[str]:
        """Add the definitions of ``other`` that are new here; return their names. A
        conflicting definition raises ``ValueError``."""
        hps = other.space if isinstance(other, HyperParameters) else list(other)
        trial = HyperParameters()  # check every definition first: a conflict changes nothing
        trial._space, trial._values = dict(self._space), dict(self._values)
        for hp in hps:
            trial._register(hp)
        added = [hp.name for hp in hps if hp.name not in self._space]
        for hp in hps:
            self._register(hp)
        return added

    def with_values(self, values: dict[str, Any]) -> "HyperParameters":
        """A copy of this space holding ``values`` (unknown names are ignored)."""
        hp = HyperParameters()
        hp._space = dict(self._space)
        hp._values = {h.name: h.default for h in self._space.values()}
        for name, value in values.items():
            if name in hp._space:
                hp._values[name] = value
        return hp

    def copy(self) -> "HyperParameters":
        return self.with_values(self._values)

    def get_config(self) -> dict[str, Any]:
        """A JSON-serialisable description of the space and the values."""
        return {"space": [hp.get_config() for hp in self._space.values()],
                "values": dict(self._values)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "HyperParameters":
        """The space and values that ``get_config`` described."""
        hp = cls()
        for item in config["space"]:
            hp.declare(t.from_config(item))
        hp._values.update({k: v for k, v in config["values"].items() if k in hp._space})
        return hp

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "HyperParameters":
        hp = cls()
        for item in config.get("space", []):
            hp.declare(t.from_config(item))
        for name, value in config.get("values", {}).items():
            if name in hp._space:
                hp._values[name] = value
        return hp

    def __repr__(self) -> str:
        return f"HyperParameters({self.values})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HyperParameters) and self.get_config() == other.get_config()


def _conditions_text(hp: t.HyperParameter) -> str:
    if not hp.conditions:
        return ""
    return " when " + " and ".join(f"{p} in {list(v)}" for p, v in hp.conditions)
