"""Tune the learning rate alone, by Bayesian optimisation, with Keras Tuner's API
(``import tunewise.keras as kt``), and see what each trial cost.

The network is fixed (a small convolutional network); the only hyperparameter is
``hp.Choice("learning_rate", [1e-2, 1e-3, 1e-4, 1e-5])``. ``kt.BayesianOptimization`` starts
from ``--initial-points`` random choices, then models the score to pick the next one; four
trials try every value (a finite space is never proposed twice). Training stops early once the
validation loss stops improving, so trials take different times: the script prints each
trial's training time (the ``duration`` column of ``tuner.results()``) beside its score.

    python examples/keras_learning_rate_bayesian.py               # digits (ships with scikit-learn)
    python examples/keras_learning_rate_bayesian.py --mnist /path/to/mnist.npz
    python examples/keras_learning_rate_bayesian.py --max-trials 2 --epochs 2   # quick

Results are kept in ``--directory`` (default ``tunewise_runs``); run again to resume the
search, or pass ``--overwrite`` to start afresh.
"""

import argparse
import os

# Keras reads its backend once, at import; this example runs on the torch CPU build.
os.environ.setdefault("KERAS_BACKEND", "torch")

import keras
import torch

import tunewise.keras as kt
from _data import load_data as load_images

# One intra-op thread: on a small shared CPU, more threads were measured far slower.
torch.set_num_threads(1)


def load_data(mnist_path=None, seed=0):
    """Digits, or MNIST with --mnist (examples/_data.py)."""
    return load_images(mnist_path, seed)


def make_build_model(input_shape):
    def build_model(hp):
        model = keras.Sequential([
            keras.Input(shape=input_shape),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ])
        learning_rate = hp.Choice("learning_rate", [1e-2, 1e-3, 1e-4, 1e-5])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    return build_model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", metavar="PATH",
                        help="an .npz with x_train, y_train, x_test, y_test (uint8 28x28 MNIST)")
    parser.add_argument("--max-trials", type=int, default=4)
    parser.add_argument("--initial-points", type=int, default=2,
                        help="random trials before the Gaussian process (default 2)")
    parser.add_argument("--epochs", type=int, default=20, help="the most epochs per trial")
    parser.add_argument("--patience", type=int, default=2, help="EarlyStopping's patience")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--directory", default="tunewise_runs")
    parser.add_argument("--project-name", default="learning_rate_bayesian")
    parser.add_argument("--overwrite", action="store_true", help="start afresh")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_data(args.mnist, args.seed)
    print(f"{len(x_train)} training, {len(x_val)} validation and {len(x_test)} test images "
          f"of {x_train.shape[1]}x{x_train.shape[2]}")

    tuner = kt.BayesianOptimization(
        make_build_model(x_train.shape[1:]),
        objective=kt.Objective("val_accuracy", direction="max"),
        max_trials=args.max_trials,
        num_initial_points=args.initial_points,
        seed=args.seed,
        directory=args.directory,
        project_name=args.project_name,
        overwrite=args.overwrite,
    )
    tuner.search_space_summary()

    stop_early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience,
                                               min_delta=1e-3)
    tuner.search(x_train, y_train, epochs=args.epochs, validation_data=(x_val, y_val),
                 batch_size=64, callbacks=[stop_early], verbose=0)

    tuner.results_summary(4)

    results = tuner.results().sort_values("number")  # one row per trial, a pandas DataFrame
    print("\ntrial  learning_rate  val_accuracy  training time")
    for row in results.itertuples():
        score = "failed" if row.state == "failed" else f"{row.score:.4f}"
        print(f"{row.number:5}  {row.learning_rate:13g}  {score:>12}  {row.duration:11.1f} s")
    print(f"total training time {results['duration'].sum():.1f} s")

    best_hp = tuner.get_best_hyperparameters(1)[0]
    print(f"\nbest hyperparameters: learning_rate = {best_hp.get('learning_rate')}")
    best_model = tuner.get_best_models(1)[0]
    test = best_model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    print(f"best model's test accuracy: {test['accuracy']:.4f}")


if __name__ == "__main__":
    main()
