"""A search run as a child process by the resilience tests.

usage: search.py DB STUDY SAMPLER MAX_TRIALS LOG [SLEEP] [SLOW_TRIAL] [MEET_DIR]

DB is an SQLite file, or a database URL (postgresql://...).

Every execution of the training function appends "number key" to LOG. SLOW_TRIAL, if given,
sleeps for a minute so that the parent can kill the process in the middle of it. MEET_DIR, if
given, makes two such processes wait for each other before they start searching, so that both
search at once however slowly each one starts.
"""

import json
import os
import sys
import time

import tunewise

db, name, sampler, max_trials, log = sys.argv[1:6]
sleep = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
slow = int(sys.argv[7]) if len(sys.argv) > 7 else -1
meet = sys.argv[8] if len(sys.argv) > 8 else None


def train(trial):
    a = trial.hp.Int("a", 0, 9)
    b = trial.hp.Choice("b", ["x", "y", "z"])
    c = trial.hp.Boolean("c")
    with open(log, "a") as f:
        f.write(f"{trial.number} {os.getpid()} {json.dumps(trial.hp.values, sort_keys=True)}\n")
    if trial.number == slow:
        time.sleep(60)
    time.sleep(sleep)
    return {"loss": a + (b == "y") + 0.5 * c}


storage = db if "://" in db else f"sqlite:///{db}"
study = tunewise.Study(name, objective="loss", storage=storage, sampler=sampler, seed=11)
if meet:
    open(os.path.join(meet, f"ready-{os.getpid()}"), "w").close()
    deadline = time.monotonic() + 60
    while len([f for f in os.listdir(meet) if f.startswith("ready-")]) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
study.optimize(train, max_trials=int(max_trials), show_progress=False)
