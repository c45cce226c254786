"""One multilayer perceptron tuned twice, by random search and by Hyperband, with Keras Tuner's
API (``import tunewise.keras as kt``).

The model is a ``kt.HyperModel``: ``build(hp)`` tunes the first layer's width, one activation
for all layers, three optional extra dense layers (``hp.Boolean`` each, with its width in a
``hp.conditional_scope``: it exists only while its layer does), the dropout and the learning
rate (log scale); ``fit(hp, model, ...)`` tunes the batch size too.

``kt.RandomSearch`` trains ``--max-trials`` models for ``--epochs`` epochs each; ``kt.Hyperband``
trains many models for a few epochs and only the best ones up to ``--max-epochs``. The script
prints the best of each search, and each best model's accuracy on held-out test images.

    python examples/keras_mlp_random_hyperband.py                # digits (ships with scikit-learn)
    python examples/keras_mlp_random_hyperband.py --mnist /path/to/mnist.npz --max-epochs 27
    python examples/keras_mlp_random_hyperband.py --max-trials 3 --epochs 2 --max-epochs 3

Results are kept in ``--directory`` (default ``tunewise_runs``); run again to resume the
searches, or pass ``--overwrite`` to start afresh.
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
    """Digits, or MNIST with --mnist (examples/_data.py), flattened."""
    return load_images(mnist_path, seed, flat=True)


class MLPHyperModel(kt.HyperModel):
    def __init__(self, n_features, n_classes=10):
        super().__init__()
        self.n_features = n_features
        self.n_classes = n_classes

    def build(self, hp):
        activation = hp.Choice("activation", ["relu", "tanh", "elu", "selu"])
        model = keras.Sequential([keras.Input(shape=(self.n_features,))])
        model.add(keras.layers.Dense(hp.Int("units", 32, 512, step=32), activation=activation))
        for i in (1, 2, 3):
            extra = hp.Boolean(f"extra_layer_{i}")
            with hp.conditional_scope(f"extra_layer_{i}", [True]):
                units = hp.Int(f"extra_units_{i}", 16, 256, step=16)  # None without the layer
            if extra:
                model.add(keras.layers.Dense(units, activation=activation))
        model.add(keras.layers.Dropout(hp.Float("dropout", 0.0, 0.5, step=0.05)))
        model.add(keras.layers.Dense(self.n_classes, activation="softmax"))
        learning_rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def fit(self, hp, model, *args, **kwargs):
        return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64, 128]), **kwargs)


def report(name, tuner, test_data):
    """Print a search's summaries, best hyperparameters and best model's test accuracy."""
    print(f"\n===== {name}: results =====")
    tuner.results_summary(3)
    results = tuner.results()
    best_hp = tuner.get_best_hyperparameters(1)[0]
    best_score = results["score"].max()
    states = ", ".join(f"{n} {state}" for state, n in results["state"].value_counts().items())
    print(f"\n{name}: {len(results)} trials ({states}), {results['duration'].sum():.1f} s of "
          f"training; best val_accuracy {best_score:.4f} with:")
    for hp_name, value in best_hp.values.items():
        if not hp_name.startswith("tuner/"):  # Hyperband's own bookkeeping
            print(f"  {hp_name} = {value}")
    model = tuner.get_best_models(1)[0]
    test_accuracy = model.evaluate(*test_data, verbose=0, return_dict=True)["accuracy"]
    print(f"{name}: best model's test accuracy {test_accuracy:.4f}")
    return best_score, test_accuracy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mnist", metavar="PATH",
                        help="an .npz with x_train, y_train, x_test, y_test (uint8 28x28 MNIST)")
    parser.add_argument("--max-trials", type=int, default=10, help="random search's trials")
    parser.add_argument("--epochs", type=int, default=10, help="epochs per random-search trial")
    parser.add_argument("--max-epochs", type=int, default=9, help="Hyperband's most epochs")
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--directory", default="tunewise_runs")
    parser.add_argument("--overwrite", action="store_true", help="start afresh")
    args = parser.parse_args(argv)

    keras.utils.set_random_seed(args.seed)
    (x_train, y_train), (x_val, y_val), test_data = load_data(args.mnist, args.seed)
    print(f"{len(x_train)} training, {len(x_val)} validation and {len(test_data[0])} test "
          f"images of {x_train.shape[1]} pixels")
    hypermodel = MLPHyperModel(x_train.shape[1])
    fit_kwargs = {"validation_data": (x_val, y_val), "verbose": 0}

    random_search = kt.RandomSearch(hypermodel, objective="val_accuracy",
                                    max_trials=args.max_trials, seed=args.seed,
                                    directory=args.directory, project_name="mlp_random",
                                    overwrite=args.overwrite)
    random_search.search_space_summary()
    random_search.search(x_train, y_train, epochs=args.epochs, **fit_kwargs)
    random_best = report("random search", random_search, test_data)

    hyperband = kt.Hyperband(hypermodel, objective="val_accuracy", max_epochs=args.max_epochs,
                             factor=args.factor, seed=args.seed, directory=args.directory,
                             project_name="mlp_hyperband", overwrite=args.overwrite)
    hyperband.search(x_train, y_train, **fit_kwargs)  # Hyperband sets the epochs itself
    hyperband_best = report("Hyperband", hyperband, test_data)

    print("\n            best val_accuracy  test accuracy")
    for name, (val, test) in (("random", random_best), ("Hyperband", hyperband_best)):
        print(f"{name:>10}  {val:17.4f}  {test:13.4f}")


if __name__ == "__main__":
    main()
