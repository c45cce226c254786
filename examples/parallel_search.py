"""Run a search in parallel: a small scikit-learn MLP on the digits data set (ships with
scikit-learn, nothing downloaded), two trials at a time, on an SQLite file.

    python examples/parallel_search.py                  # n_jobs=2: two trial processes
    python examples/parallel_search.py --dask           # the same search on a Dask LocalCluster
    python examples/parallel_search.py --trials 30 --workers 4 --storage sqlite:///mlp.db

With ``n_jobs`` the study's process keeps the storage and the sampler and runs each trial in
a worker process of its own; ``trial_timeout`` stops a trial that runs too long and records it
as failed ("timeout"). With ``--dask`` every Dask worker is a tunewise worker that opens the
study by its storage URL and claims trials from it, as ``tunewise worker`` does on any machine
that reaches the database. Either way the study ends with exactly ``--trials`` trials; at the
end the script prints the best one and how many trials each worker process ran.
"""

import argparse
import collections
import os
import tempfile
import time
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import tunewise

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, stratify=y,
                                                  random_state=0)


def train(trial):
    """One trial: fit an MLP with the trial's hyperparameters, score it on held-out digits.
    ``pid`` records which worker process ran the trial."""
    hp = trial.hp
    model = MLPClassifier(
        hidden_layer_sizes=(hp.Int("units", 16, 128, step=16),),
        activation=hp.Choice("activation", ["relu", "tanh"]),
        learning_rate_init=hp.Float("learning_rate", 1e-4, 1e-1, sampling="log"),
        alpha=hp.Float("alpha", 1e-6, 1e-2, sampling="log"),
        max_iter=hp.Fixed("max_iter", 30), random_state=trial.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train)
    return {"val_accuracy": model.score(X_val, y_val), "pid": os.getpid()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12, help="trials in the study (default 12)")
    parser.add_argument("--workers", type=int, default=2,
                        help="trials at once: n_jobs, or Dask workers with --dask (default 2)")
    parser.add_argument("--trial-timeout", type=float, default=60.0,
                        help="fail a trial that runs longer than this many seconds (default 60; "
                             "not used with --dask)")
    parser.add_argument("--storage", default=None,
                        help="database URL (default: an SQLite file in a temporary folder)")
    parser.add_argument("--dask", action="store_true",
                        help="run the workers on a Dask LocalCluster (pip install 'tunewise[dask]')")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        storage = args.storage or f"sqlite:///{os.path.join(folder, 'parallel.db')}"
        study = tunewise.Study("parallel-mlp", objective="val_accuracy", storage=storage,
                               seed=args.seed)
        start = time.monotonic()
        if args.dask:
            from distributed import Client, LocalCluster

            with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                              host="127.0.0.1", dashboard_address=None) as cluster, \
                    Client(cluster) as client:
                print(f"Dask cluster at {cluster.scheduler_address} with {args.workers} workers")
                study.optimize(train, max_trials=args.trials, show_progress=False,
                               executor=tunewise.DaskExecutor(client))
        else:
            study.optimize(train, max_trials=args.trials, n_jobs=args.workers,
                           trial_timeout=args.trial_timeout, show_progress=False)
        elapsed = time.monotonic() - start
        report(study, elapsed)


def report(study, elapsed):
    trials = study.trials
    states = collections.Counter(t.state.value for t in trials)
    print(f"{len(trials)} trials in {elapsed:.1f} s ("
          + ", ".join(f"{n} {state}" for state, n in sorted(states.items())) + ")"
          + (f"; stopped: {study.stop_reason}" if study.stop_reason else ""))
    for t in trials:
        if t.state.value == "failed":
            print(f"  trial {t.number} failed: {t.error}")
    if states.get("completed"):
        best = study.best_trial
        print(f"best val_accuracy {best.score:.4f} (trial {best.number}): {best.hyperparameters}")
    per_process = collections.Counter(int(t.metrics["pid"]) for t in trials
                                      if t.metrics.get("pid") is not None)
    print(f"trials per worker process ({len(per_process)} processes):")
    for pid, n in sorted(per_process.items()):
        print(f"  pid {pid}: {n} trials")


if __name__ == "__main__":
    main()
