"""Tune a scikit-learn MLP on the digits data set (ships with scikit-learn), with a
conditional block and resumable SQLite storage.

    python examples/sklearn_mlp.py            # run again to resume; --trials to change the budget
"""

import argparse
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import tunewise

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


def train(trial):
    hp = trial.hp
    layers = [hp.Int(f"units_{i}", 16, 128, step=16) for i in range(hp.Int("layers", 1, 3))]
    solver = hp.Choice("solver", ["adam", "sgd"])
    with hp.conditional_scope("solver", "sgd"):
        momentum = hp.Float("momentum", 0.5, 0.99)
    model = MLPClassifier(
        hidden_layer_sizes=tuple(layers), solver=solver, momentum=momentum or 0.9,
        learning_rate_init=hp.Float("learning_rate", 1e-4, 1e-1, sampling="log"),
        alpha=hp.Float("alpha", 1e-6, 1e-2, sampling="log"), max_iter=40,
        random_state=trial.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    return {"val_accuracy": model.score(X_val, y_val), "train_accuracy": model.score(X_train, y_train)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=15)
    parser.add_argument("--storage", default="sqlite:///sklearn_mlp.db")
    args = parser.parse_args()
    study = tunewise.Study("sklearn-mlp", objective="val_accuracy", storage=args.storage, seed=0)
    study.optimize(train, max_trials=args.trials)
    best = study.best_trial
    print(f"best val_accuracy {best.score:.4f} (trial {best.number}): {best.hyperparameters}")
