"""A search worker run as a child process by tests/test_parallel.py.

usage: parallel_worker.py DB LOGDIR MAX_TRIALS N_JOBS EPOCHS EPOCH_SLEEP [HEARTBEAT_TIMEOUT]

DB is an SQLite file. The study "w" is searched with ``optimize(n_jobs=N_JOBS)`` (trials in
child processes when N_JOBS > 1). Each trial trains for EPOCHS epochs of EPOCH_SLEEP seconds;
after each epoch it saves the epoch counter in ``trial.checkpoint_dir`` (and a run of the trial
resumes from it). Each run writes ``LOGDIR/start-<number>-<pid>`` (the marker that it started,
holding "number pid ppid first_epoch") and, after each epoch, appends "number pid ppid epoch" to
``LOGDIR/epochs.log``. HEARTBEAT_TIMEOUT, if given, is passed as ``heartbeat_timeout``.
"""

import os
import sys
import time

import tunewise

db, logdir, max_trials, n_jobs, epochs, epoch_sleep = sys.argv[1:7]
heartbeat = float(sys.argv[7]) if len(sys.argv) > 7 else None
epochs, epoch_sleep = int(epochs), float(epoch_sleep)


def train(trial):
    x = trial.hp.Float("x", 0.0, 1.0)
    path = os.path.join(trial.checkpoint_dir, "epoch.txt")
    first = 0
    if os.path.exists(path):
        with open(path) as f:
            first = int(f.read())
    ids = f"{trial.number} {os.getpid()} {os.getppid()}"
    with open(os.path.join(logdir, f"start-{trial.number}-{os.getpid()}"), "w") as f:
        f.write(f"{ids} {first}\n")
    for epoch in range(first, epochs):
        time.sleep(epoch_sleep)
        with open(path + ".tmp", "w") as f:
            f.write(str(epoch + 1))
        os.replace(path + ".tmp", path)
        with open(os.path.join(logdir, "epochs.log"), "a") as f:
            f.write(f"{ids} {epoch + 1}\n")
    return {"loss": (x - 0.5) ** 2}


space = tunewise.HyperParameters()
space.Float("x", 0.0, 1.0)
study = tunewise.Study("w", objective="loss", storage=f"sqlite:///{db}", sampler="random",
                       seed=3, hyperparameters=space)
kwargs = {} if heartbeat is None else {"heartbeat_timeout": heartbeat}
study.optimize(train, max_trials=int(max_trials), n_jobs=int(n_jobs),
               max_consecutive_failed_trials=None, show_progress=False, **kwargs)
print("stop_reason:", study.stop_reason, flush=True)
