"""Hyperband on a convolutional network, with Keras Tuner's API (``import tunewise.keras as kt``).

Fourteen hyperparameters shape the network: the kernel of a first "valid" convolution, the
number of convolution blocks (1 to 3), each block's filters, kernel size and pooling (max or
average), the hidden dense layer's size, the dropout and the learning rate (log scale). The
blocks' hyperparameters exist only for the blocks that are built (define-by-run).

Some combinations cannot be built: on the 8x8 digits images the first convolution leaves 6x6
or 4x4, and three 2x2 poolings shrink that to nothing, so Keras raises "Computed output size
would be zero or negative" while the model is built. The tuner records such a trial as failed,
with its error, and goes on with the search (as Keras Tuner, it stops after
``max_consecutive_failed_trials=3`` failures in a row); the script counts the failed trials
at the end.

``keras.callbacks.EarlyStopping`` is passed to ``search`` like any ``fit`` argument: a trial
whose validation loss stops improving ends before its Hyperband budget.

    python examples/keras_cnn_hyperband.py                  # digits (ships with scikit-learn)
    python examples/keras_cnn_hyperband.py --mnist /path/to/mnist.npz --max-epochs 27
    python examples/keras_cnn_hyperband.py --max-epochs 3   # quick
    python examples/keras_cnn_hyperband.py --min-blocks 2   # about half the models fail

Results are kept in ``--directory`` (default ``tunewise_runs``); run again to resume the
search, or pass ``--overwrite`` to start afresh.
"""

import argparse
import os
import re
import sys

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


def make_build_model(input_shape, min_blocks=1, max_blocks=3):
    """The model-building function: every architectural choice comes from ``hp``."""

    def build_model(hp):
        inputs = keras.Input(shape=input_shape)
        # A "valid" convolution: 8x8 becomes 6x6 (kernel 3) or 4x4 (kernel 5).
        x = keras.layers.Conv2D(32, hp.Choice("stem_kernel", [3, 5]), activation="relu")(inputs)
        for i in range(hp.Int("conv_blocks", min_blocks, max_blocks)):
            x = keras.layers.Conv2D(hp.Int(f"filters_{i}", 16, 64, step=16),
                                    hp.Choice(f"kernel_size_{i}", [3, 5]), padding="same",
                                    activation="relu")(x)
            x = keras.layers.BatchNormalization()(x)
            # Each pooling halves the image (rounding down): raises once nothing is left.
            if hp.Choice(f"pooling_{i}", ["max", "avg"]) == "max":
                x = keras.layers.MaxPooling2D(2)(x)
            else:
                x = keras.layers.AveragePooling2D(2)(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        x = keras.layers.Dense(hp.Int("hidden_units", 32, 256, step=32), activation="relu")(x)
        x = keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5, step=0.1))(x)
        outputs = keras.layers.Dense(10, activation="softmax")(x)
        model = keras.Model(inputs, outputs)
        learning_rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    return build_model


def first_error_line(error):
    """The line of a recorded error (a message or a traceback) that says what went wrong."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # Keras's bold in terminals
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:  # Keras's explanation of a shape that cannot be built
        if "Computed output size" in line:
            return line[:200]
    for line in lines:  # "ValueError: ..."
        if line.split(":")[0].endswith(("Error", "Exception")):
            return line[:200]
    return lines[-1][:200] if lines else ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", metavar="PATH",
                        help="an .npz with x_train, y_train, x_test, y_test (uint8 28x28 MNIST)")
    parser.add_argument("--max-epochs", type=int, default=9,
                        help="the most epochs Hyperband trains one model (default 9)")
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--hyperband-iterations", type=int, default=1,
                        help="how many times to run all of Hyperband's brackets (default 1)")
    parser.add_argument("--min-blocks", type=int, default=1,
                        help="the least convolution blocks (3 blocks fail on digits; default 1)")
    parser.add_argument("--patience", type=int, default=3, help="EarlyStopping's patience")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--directory", default="tunewise_runs")
    parser.add_argument("--project-name", default="cnn_hyperband")
    parser.add_argument("--overwrite", action="store_true", help="start afresh")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = load_data(args.mnist, args.seed)
    print(f"{len(x_train)} training, {len(x_val)} validation and {len(x_test)} test images "
          f"of {x_train.shape[1]}x{x_train.shape[2]}")

    tuner = kt.Hyperband(
        make_build_model(x_train.shape[1:], args.min_blocks),
        objective="val_accuracy",
        max_epochs=args.max_epochs,
        factor=args.factor,
        hyperband_iterations=args.hyperband_iterations,
        seed=args.seed,
        directory=args.directory,
        project_name=args.project_name,
        overwrite=args.overwrite,
    )
    tuner.search_space_summary()

    stop_early = keras.callbacks.EarlyStopping(monitor="val_loss", patience=args.patience)
    tuner.search(x_train, y_train, validation_data=(x_val, y_val), batch_size=64,
                 callbacks=[stop_early], verbose=0)

    tuner.results_summary(3)

    results = tuner.results()  # one row per trial, as a pandas DataFrame
    failed = results[results["state"] == "failed"]
    print(f"\n{len(results)} trials, {len(failed)} failed")
    for error in failed["error"].drop_duplicates().head(3):
        print("  failure:", first_error_line(error))

    if results["score"].isna().all():
        print("no trial finished: nothing to evaluate")
        return 1
    best_hp = tuner.get_best_hyperparameters(1)[0]
    print("\nbest hyperparameters:")
    for name, value in best_hp.values.items():
        if not name.startswith("tuner/"):  # Hyperband's own bookkeeping
            print(f"  {name} = {value}")
    best_model = tuner.get_best_models(1)[0]
    test = best_model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    print(f"best model's test accuracy: {test['accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
