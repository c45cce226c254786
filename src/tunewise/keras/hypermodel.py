"""``HyperModel``: a searchable family of Keras models, as in Keras Tuner."""

from __future__ import annotations

from typing import Any, Callable

from ..space import HyperParameters


class HyperModel:
    """Subclass it and define ``build(hp)`` (returns a compiled Keras model); override
    ``fit(hp, model, *args, **kwargs)`` to tune the training as well.

    >>> import tunewise.keras as kt
    >>> class MyHyperModel(kt.HyperModel):
    ...     def build(self, hp):
    ...         import keras
    ...         model = keras.Sequential([keras.layers.Dense(hp.Int("units", 8, 64))])
    ...         model.compile(optimizer="adam", loss="mse")
    ...         return model
    ...     def fit(self, hp, model, *args, **kwargs):
    ...         return model.fit(*args, batch_size=hp.Choice("batch_size", [16, 32]), **kwargs)

    ``fit`` returns what ``model.fit`` returns (a History), a dict of metrics, or the
    objective's value. ``tunable=False`` keeps the hyperparameters ``build`` defines out of the
    search: they take their defaults unless the tuner's ``hyperparameters`` declares them.
    """

    def __init__(self, name: str | None = None, tunable: bool = True) -> None:
        self.name = name
        self.tunable = tunable

    def build(self, hp: HyperParameters) -> Any:
        """Build and return a compiled model for the values in ``hp``."""
        raise NotImplementedError(
            f"{type(self).__name__}.build(hp) is not defined; subclass HyperModel and define "
            "build, or pass a function build_model(hp) to the tuner.")

    def declare_hyperparameters(self, hp: HyperParameters) -> None:
        """Register this model's hyperparameters in ``hp`` (by default, by building it)."""
        if self.tunable:
            self.build(hp)

    def fit(self, hp: HyperParameters, model: Any, *args: Any, **kwargs: Any) -> Any:
        """Train ``model``; the tuner passes the arguments given to ``search``."""
        return model.fit(*args, **kwargs)


class _FunctionHyperModel(HyperModel):
    """A ``build_model(hp)`` function seen as a HyperModel."""

    def __init__(self, build: Callable[[HyperParameters], Any]) -> None:
        super().__init__(name=getattr(build, "__name__", None))
        self._build = build

    def build(self, hp: HyperParameters) -> Any:
        return self._build(hp)


def as_hypermodel(hypermodel: Any) -> HyperModel | None:
    """A HyperModel from a HyperModel, a function, or None."""
    if hypermodel is None or isinstance(hypermodel, HyperModel):
        return hypermodel
    if callable(hypermodel):
        return _FunctionHyperModel(hypermodel)
    raise ValueError(
        f"hypermodel must be a function build_model(hp) or a tunewise.keras.HyperModel, got "
        f"{hypermodel!r}.")
