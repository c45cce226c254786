"""Keras Tuner's API on tunewise: ``import tunewise.keras as kt`` runs Keras Tuner code
unchanged, and does the job better.

>>> import tunewise.keras as kt
>>> def build_model(hp):
...     import keras
...     model = keras.Sequential([
...         keras.Input((64,)),
...         keras.layers.Dense(hp.Int("units", 32, 256, step=32), activation="relu"),
...         keras.layers.Dense(10, activation="softmax")])
...     model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-2, sampling="log")),
...                   loss="sparse_categorical_crossentropy", metrics=["accuracy"])
...     return model
>>> tuner = kt.Hyperband(build_model, objective="val_accuracy", max_epochs=9,
...                      directory="runs", project_name="digits")              # doctest: +SKIP
>>> tuner.search(x, y, validation_split=0.2)                                   # doctest: +SKIP
>>> model = tuner.get_best_models(1)[0]                                        # doctest: +SKIP

What differs from Keras Tuner, on purpose:

- A bad combination of hyperparameters (a model that fails to build or train) is recorded as a
  failed trial and the search goes on; ``max_consecutive_failed_trials`` in a row stop it.
- The search lives in ``directory/project_name/tunewise.db`` (SQLite) with the checkpoints.
  Made again with the same arguments, a tuner resumes; with changed arguments (or a build
  function that defines other hyperparameters) it raises an error naming them, unless
  ``overwrite=True``.
- ``Hyperband`` resumes promoted trials with their optimizer state, and samples with
  tunewise's model-based default (``sampler="random"`` for Keras Tuner's random choice).
- No configuration is tried twice, and no search stops because it drew duplicates.
- Only the ``keep_checkpoints`` (default 10) best trials keep their weights on disk.
- After each trial the Keras session is cleared and memory collected.
- Every tuner takes tunewise's ``sampler=``, ``scheduler=`` and ``storage=``; ``results()``
  returns a DataFrame, and ``tuner.study`` is the tunewise Study.
"""

from __future__ import annotations

from ..objective import Objective
from ..space import HyperParameters
from . import errors
from .hypermodel import HyperModel
from .tuner import BayesianOptimization, GridSearch, Hyperband, KerasTrial, RandomSearch, Tuner

__all__ = ["HyperParameters", "HyperModel", "Objective", "Tuner", "RandomSearch", "GridSearch",
           "BayesianOptimization", "Hyperband", "KerasTrial", "errors"]
