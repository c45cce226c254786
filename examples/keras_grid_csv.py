"""Grid search with repeated training, results exported to CSV, with Keras Tuner's API
(``import tunewise.keras as kt``).

``kt.GridSearch`` tries every combination of three choices: the learning rate, the kernel size
of the first convolution and the loss function (categorical cross-entropy or its focal variant,
which weights hard examples more; both take one-hot labels). With ``executions_per_trial=2``
each combination is trained twice from different initial weights and its score is the mean of
the two (``score_std`` says how far apart they were): a single run can be lucky.

``tuner.results()`` is a pandas DataFrame with one row per trial; ``.to_csv(path)`` writes it
for a spreadsheet or a later analysis.

    python examples/keras_grid_csv.py                    # digits (ships with scikit-learn)
    python examples/keras_grid_csv.py --mnist /path/to/mnist.npz --epochs 5
    python examples/keras_grid_csv.py --epochs 1 --csv grid.csv          # quick

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

LEARNING_RATES = [1e-2, 1e-3]
KERNEL_SIZES = [3, 5]
LOSSES = ["categorical_crossentropy", "categorical_focal_crossentropy"]


def load_data(mnist_path=None, seed=0):
    """The shared splits (examples/_data.py), with one-hot labels for the categorical losses."""
    train, val, test = load_images(mnist_path, seed)
    return tuple((x, keras.utils.to_categorical(y, 10)) for x, y in (train, val, test))


def make_build_model(input_shape):
    def build_model(hp):
        kernel_size = hp.Choice("kernel_size", KERNEL_SIZES)
        model = keras.Sequential([
            keras.Input(shape=input_shape),
            keras.layers.Conv2D(32, kernel_size, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ])
        model.compile(optimizer=keras.optimizers.Adam(hp.Choice("learning_rate", LEARNING_RATES)),
                      loss=hp.Choice("loss_function", LOSSES), metrics=["accuracy"])
        return model

    return build_model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", metavar="PATH",
                        help="an .npz with x_train, y_train, x_test, y_test (uint8 28x28 MNIST)")
    parser.add_argument("--max-trials", type=int, default=None,
                        help="stop after this many combinations (default: the whole grid, 8)")
    parser.add_argument("--epochs", type=int, default=8, help="epochs per training (default 8)")
    parser.add_argument("--executions-per-trial", type=int, default=2)
    parser.add_argument("--csv", default="keras_grid_results.csv", help="where to write the results")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--directory", default="tunewise_runs")
    parser.add_argument("--project-name", default="grid_csv")
    parser.add_argument("--overwrite", action="store_true", help="start afresh")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_data(args.mnist, args.seed)
    print(f"{len(x_train)} training, {len(x_val)} validation and {len(x_test)} test images "
          f"of {x_train.shape[1]}x{x_train.shape[2]}")

    tuner = kt.GridSearch(
        make_build_model(x_train.shape[1:]),
        objective="val_accuracy",
        max_trials=args.max_trials,
        executions_per_trial=args.executions_per_trial,
        seed=args.seed,
        directory=args.directory,
        project_name=args.project_name,
        overwrite=args.overwrite,
    )
    tuner.search_space_summary()
    tuner.search(x_train, y_train, epochs=args.epochs, validation_data=(x_val, y_val),
                 batch_size=64, verbose=0)
    tuner.results_summary(3)

    results = tuner.results()  # one row per trial (per combination), a pandas DataFrame
    results.to_csv(args.csv, index=False)
    print(f"\n{len(results)} combinations, each trained {args.executions_per_trial} times; "
          f"results written to {args.csv}:")
    columns = ["number", "learning_rate", "kernel_size", "loss_function", "score", "score_std",
               "n_executions", "duration"]
    print(results.sort_values("score", ascending=False)[columns].to_string(index=False))

    best_hp = tuner.get_best_hyperparameters(1)[0]
    print("\nbest hyperparameters: " + ", ".join(f"{k}={v}" for k, v in best_hp.values.items()))
    best_model = tuner.get_best_models(1)[0]
    test = best_model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    print(f"best model's test accuracy: {test['accuracy']:.4f}")


if __name__ == "__main__":
    main()
