"""Two objectives at once: accuracy up, model size down. best_trials() is the Pareto front.

    python examples/multi_objective.py
"""

import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import tunewise

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)


def train(trial):
    units = trial.hp.Int("units", 4, 256, step=2, sampling="log")
    model = MLPClassifier(hidden_layer_sizes=(units,), max_iter=30, random_state=0,
                          learning_rate_init=trial.hp.Float("learning_rate", 1e-3, 1e-1, sampling="log"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    params = sum(w.size for w in model.coefs_) + sum(b.size for b in model.intercepts_)
    return {"val_accuracy": model.score(X_val, y_val), "parameters": float(params)}


study = tunewise.Study("size-vs-accuracy",
                       objective=["val_accuracy", tunewise.Objective("parameters", "min")], seed=0)
study.optimize(train, max_trials=12)
for t in study.best_trials():
    print(f"trial {t.number}: val_accuracy {t.score[0]:.3f} with {int(t.score[1])} parameters")
