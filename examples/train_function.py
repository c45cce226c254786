"""Tune a Python function from the command line, without changing anything else.

    tunewise run examples/train_function.py:train --objective val_accuracy --max-trials 20
    tunewise best --study train_function.train -n 3

`train(trial)` reads its hyperparameters from `trial.hp` (Keras Tuner's API) and returns its
metrics. tunewise imports this file without running the block at the bottom, which runs the
same search from Python instead:

    python examples/train_function.py
"""

import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


def train(trial):
    hp = trial.hp
    units = hp.Int("units", 16, 128, step=16)
    activation = hp.Choice("activation", ["relu", "tanh"])
    learning_rate = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
    alpha = hp.Float("alpha", 1e-6, 1e-2, sampling="log")
    model = MLPClassifier(hidden_layer_sizes=(units,), activation=activation,
                          learning_rate_init=learning_rate, alpha=alpha, max_iter=30,
                          random_state=trial.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    return {"val_accuracy": model.score(X_val, y_val), "accuracy": model.score(X_train, y_train)}


if __name__ == "__main__":
    import tunewise

    study = tunewise.Study("train_function.train", objective="val_accuracy",
                           storage="sqlite:///tunewise.db")
    study.optimize(train, max_trials=20)
    best = study.best_trial
    print(f"best val_accuracy {best.score:.4f} with {best.hyperparameters}")
