"""Compare search strategies on the same problem: random search, Gaussian-process Bayesian
optimisation, TPE and the default ("auto"), tuning a scikit-learn MLP on the digits data
(ships with scikit-learn). Each strategy gets the same budget and seed; the output shows the
best validation accuracy each found and the time it spent choosing trials.

    python examples/compare_samplers.py                 # 20 trials each
    python examples/compare_samplers.py --trials 30 --samplers bayesian,random
"""

import argparse
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import tunewise

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.3, random_state=0)


def train(trial):
    hp = trial.hp
    model = MLPClassifier(
        hidden_layer_sizes=(hp.Int("units", 8, 256, sampling="log"),) * hp.Int("layers", 1, 3),
        activation=hp.Choice("activation", ["relu", "tanh", "logistic"]),
        learning_rate_init=hp.Float("learning_rate", 1e-4, 1.0, sampling="log"),
        alpha=hp.Float("alpha", 1e-6, 1.0, sampling="log"),
        batch_size=hp.Int("batch_size", 16, 512, sampling="log"),
        max_iter=15, random_state=trial.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    return {"val_accuracy": model.score(X_val, y_val)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--samplers", default="random,bayesian,tpe,auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    for name in args.samplers.split(","):
        study = tunewise.Study(f"digits-{name}", objective="val_accuracy", sampler=name,
                               seed=args.seed)
        spent = 0.0
        for _ in range(args.trials):  # ask and tell, to time the sampler's share
            start = time.perf_counter()
            trial = study.ask()
            spent += time.perf_counter() - start
            study.tell(trial, train(trial))
        best = study.best_trial
        print(f"{name:>9}: best val_accuracy {best.score:.4f} at trial {best.number:>2}, "
              f"{1000 * spent / args.trials:6.1f} ms per proposal")
