"""``tunewise demo``: tune a small Keras MLP on scikit-learn's digits with ``tunewise.keras``.

Keras Tuner's API (``import tunewise.keras as kt``) with Hyperband: four hyperparameters
(units, activation, dropout, learning rate on a log scale), many models trained for a few
epochs and the promising ones continued from their checkpoints, up to ``--epochs``; results in
``sqlite:///tunewise-demo.db``. It needs Keras, torch and scikit-learn
(``pip install 'tunewise[demo]' torch==2.13.0``); the data ships with scikit-learn, so nothing
is downloaded.

>>> from tunewise.demo import run_demo
>>> run_demo(trials=2, epochs=1, storage="sqlite:///demo.db")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

INSTALL_HINT = "pip install 'tunewise[demo]' torch==2.13.0"


def _import_frameworks() -> tuple[Any, Any]:
    """Import keras (torch backend) and torch, or raise ValueError with the install command."""
    # Keras reads its backend once, at import; the demo always runs on torch.
    os.environ.setdefault("KERAS_BACKEND", "torch")
    missing = []
    for name in ("sklearn", "torch", "keras"):
        try:
            __import__(name)
        except ImportError:
            missing.append("scikit-learn" if name == "sklearn" else name)
    if missing:
        raise ValueError(f"the demo needs {', '.join(missing)}; install with: {INSTALL_HINT}")
    import keras
    import torch

    # One intra-op thread: two threads on a busy 2-core machine were measured 10x slower.
    torch.set_num_threads(1)
    return keras, torch


def load_data(seed: int = 0) -> tuple[Any, Any, Any, Any]:
    """Digits (8x8 images, 10 classes) scaled to [0, 1], split 80/20, stratified."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    return train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y)


def build_model(hp: Any) -> Any:
    """The demo's model: ``build_model(hp)`` exactly as it would be written for Keras Tuner."""
    import keras

    model = keras.Sequential([
        keras.Input(shape=(64,)),
        keras.layers.Dense(hp.Int("units", 16, 128, step=16),
                           activation=hp.Choice("activation", ["relu", "tanh", "elu"])),
        keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5)),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    out = ["  ".join(h.rjust(w) for h, w in zip(headers, widths))]
    out += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def run_demo(trials: int = 20, epochs: int = 20, storage: str = "sqlite:///tunewise-demo.db",
             study_name: str = "demo", resume: bool = False, seed: int | None = None,
             show_progress: bool = True) -> int:
    """Run the demo search and print the best trial and the results table; return 0.

    A fresh study each run unless ``resume`` (then ``trials`` counts the earlier ones too).
    Raises ValueError when Keras, torch or scikit-learn is missing.
    """
    if trials < 1 or epochs < 1:
        raise ValueError("--trials and --epochs must be at least 1.")
    start = time.monotonic()
    _import_frameworks()
    import tunewise.keras as kt

    x_train, x_val, y_train, y_val = load_data()

    class DemoHyperband(kt.Hyperband):
        def on_trial_end(self, trial: Any) -> None:  # one line per run of a trial
            if not show_progress:
                return
            record = trial.record
            best = self.study.best_trials(1)
            score = "-" if record.score is None else f"{record.score:.4f}"
            print(f"  trial {record.number:>2}  {record.state.value:<9} epochs "
                  f"{record.budget_reached or 0:>2}  val_accuracy {score}"
                  + (f"  (best so far {best[0].score:.4f})" if best else ""), flush=True)

    tuner = DemoHyperband(build_model, objective="val_accuracy", max_epochs=epochs, factor=3,
                          hyperband_iterations=None, max_trials=trials, seed=seed,
                          storage=storage, directory="tunewise-demo", project_name=study_name,
                          overwrite=not resume)
    study = tuner.study
    print(f"tunewise demo: Hyperband over a Keras MLP on the digits data set ({len(x_train)} "
          f"training and {len(x_val)} validation images), up to {trials} trials of at most "
          f"{epochs} epochs, stored in {study.storage.url} as study {study_name!r}.", flush=True)
    tuner.search(x_train, y_train, validation_data=(x_val, y_val), batch_size=64, verbose=0)

    results = study.trials
    hp_names = ["units", "activation", "dropout", "learning_rate"]
    ranked = sorted(results, key=lambda t: (t.score is None, -(t.score or 0.0), t.number))
    rows = [[str(t.number), t.state.value, _fmt(t.budget_reached)]
            + [_fmt(t.hyperparameters.get(n)) for n in hp_names]
            + [_fmt(t.metrics.get("val_accuracy")), _fmt(t.metrics.get("val_loss")),
               _fmt(t.duration)]
            for t in ranked]
    print()
    print(_table(["trial", "state", "epochs"] + hp_names + ["val_accuracy", "val_loss", "seconds"],
                 rows))
    print()
    completed = [t for t in results if t.state.value == "completed"]
    if completed:
        best = study.best_trial
        values = ", ".join(f"{k}={_fmt(v)}" for k, v in best.hyperparameters.items())
        print(f"best: trial {best.number}, val_accuracy {best.score:.4f} with {values}")
        model = tuner.get_best_models(1)[0]
        _, accuracy = model.evaluate(x_val, y_val, verbose=0)
        print(f"its model, reloaded from the checkpoint of its best epoch: val_accuracy "
              f"{accuracy:.4f}")
    else:
        errors = {t.error for t in results if t.error}
        print("no trial completed; errors: " + "; ".join(sorted(errors))[:500], file=sys.stderr)
    print(f"{len(completed)} of {len(results)} trials trained to the end in "
          f"{time.monotonic() - start:.0f} s. See them again with: tunewise best --storage "
          f"{study.storage.url} --study {study_name} -n 5")
    return 0 if completed else 1
