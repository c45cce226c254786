"""Hyperband on MNIST with a PyTorch MLP: do promotions resume from checkpoints, and what does
that save? (issue 4, "a real check on a real network")

Setups, each run in a fresh Python process; with ``--repeats`` the runs are interleaved
(repeat 1 of every setup, then repeat 2, ...) so that the load of a shared machine falls on all:

- ``tunewise-resume``: tunewise's HyperbandScheduler; a promoted trial loads its model and Adam
  state from ``trial.checkpoint_dir`` and trains epochs resume_step+1..budget.
- ``tunewise-scratch``: the same scheduler and function, but each run ignores the checkpoint
  and trains epochs 1..budget from scratch (what Hyperband costs without resumption).
- ``keras-tuner``: Keras Tuner's Hyperband on the same MLP written in Keras (KERAS_BACKEND=torch),
  the same space, batch size and data. Keras Tuner reloads the weights of the best epoch of the
  previous rung (not the optimizer's state) and trains from ``initial_epoch``.

Shuffling and dropout are seeded per (trial, epoch) in the tunewise setups, so a resumed run and
a run from scratch train on the same batches: both setups must reach the same rung scores,
promote the same trials and find the same best (the script checks it), and differ only in cost.

Usage (from the repository root; MNIST from ../shared/data or $TUNEWISE_DATA)::

    python benchmarks/hyperband_mnist.py                        # 20k training images, all setups
    python benchmarks/hyperband_mnist.py --n-train 50000 --setups tunewise-resume,tunewise-scratch --repeats 3
    python benchmarks/hyperband_mnist.py --out benchmarks/out/hyperband_mnist.json
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SETUPS = ["tunewise-resume", "tunewise-scratch", "keras-tuner"]
BATCH_SIZE = 128


def data_path(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    root = os.environ.get("TUNEWISE_DATA")
    return Path(root) / "mnist.npz" if root else REPO.parent / "shared" / "data" / "mnist.npz"


def load(path: Path, n_train: int, n_val: int, seed: int):
    """Training images: a random subsample of the first 50,000; validation: the last n_val of
    the 60,000 training images (the official test set is not touched)."""
    import numpy as np

    d = np.load(path)
    x = d["x_train"].reshape(len(d["x_train"]), -1).astype(np.float32) / 255.0
    y = d["y_train"].astype(np.int64)
    idx = np.random.default_rng(seed).permutation(50000)[:n_train]
    return x[idx], y[idx], x[60000 - n_val:], y[60000 - n_val:]


# -- tunewise + PyTorch --------------------------------------------------------------------
def run_tunewise(args, resume: bool) -> dict:
    import torch
    from torch import nn

    import tunewise
    from tunewise.schedulers import HyperbandScheduler

    torch.set_num_threads(1)
    xt, yt, xv, yv = (torch.from_numpy(a) for a in load(data_path(args.data), args.n_train, args.n_val, args.seed))
    log: list[dict] = []

    def train(trial):
        hp = trial.hp
        units = hp.Int("units", 32, 512, sampling="log")
        dropout = hp.Float("dropout", 0.0, 0.5)
        lr = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
        torch.manual_seed(trial.seed)
        model = nn.Sequential(nn.Linear(784, units), nn.ReLU(), nn.Dropout(dropout), nn.Linear(units, 10))
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        path = os.path.join(trial.checkpoint_dir, "ckpt.pt")
        first = 1
        entry = {"number": trial.number, "resume_step": trial.resume_step, "budget": trial.budget}
        if resume and trial.resume_step > 0:
            state = torch.load(path)
            assert state["epoch"] == trial.resume_step, (state["epoch"], trial.resume_step)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            entry["loaded_adam_step"] = float(next(iter(optimizer.state_dict()["state"].values()))["step"])
            first = trial.resume_step + 1
        start = time.perf_counter()
        for epoch in range(first, trial.budget + 1):
            torch.manual_seed(trial.seed + epoch)  # the same batches and dropout, paused or not
            model.train()
            for batch in torch.randperm(len(xt)).split(BATCH_SIZE):
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(xt[batch]), yt[batch]).backward()
                optimizer.step()
            model.eval()
            with torch.no_grad():
                logits = model(xv)
            metrics = {"val_accuracy": (logits.argmax(1) == yv).float().mean().item(),
                       "val_loss": nn.functional.cross_entropy(logits, yv).item()}
            if epoch > trial.resume_step:  # the steps already stored stay as they are
                trial.report(epoch, metrics)
        if resume:
            torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                        "epoch": trial.budget}, path)
        entry.update(epochs=trial.budget - first + 1, seconds=time.perf_counter() - start,
                     val_accuracy=metrics["val_accuracy"])
        log.append(entry)
        return metrics

    with tempfile.TemporaryDirectory() as tmp:  # SQLite beside the checkpoints, removed after
        study = tunewise.Study("hyperband-mnist", objective="val_accuracy", sampler=args.sampler,
                               storage=f"sqlite:///{tmp}/hb.db", seed=args.seed,
                               scheduler=HyperbandScheduler(max_epochs=args.max_epochs, factor=args.factor))
        start = time.perf_counter()
        study.optimize(train, show_progress=False)
        wall = time.perf_counter() - start
        trials = study.trials
    final = [t for t in trials if max(t.rungs or [0]) == args.max_epochs]
    best = max(final, key=lambda t: t.intermediate[args.max_epochs]["val_accuracy"])
    return {
        "wall_s": wall, "epochs_trained": sum(e["epochs"] for e in log),
        "epochs_from_scratch": sum(e["budget"] for e in log),
        "train_s": sum(e["seconds"] for e in log),
        "configurations": len(trials), "runs": len(log),
        "best_val_accuracy": best.intermediate[args.max_epochs]["val_accuracy"],
        "best_hyperparameters": best.hyperparameters, "best_number": best.number,
        "study_best": {"number": study.best_trial.number, "score": study.best_trial.score},
        "trials": [{"number": t.number, "bracket": t.bracket, "state": t.state.value,
                    "rungs": {str(k): v for k, v in t.rungs.items()},
                    "hyperparameters": t.hyperparameters} for t in trials],
        "runs_log": log,
    }


# -- Keras Tuner ----------------------------------------------------------------------------
def run_keras_tuner(args) -> dict:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import torch

    torch.set_num_threads(1)
    import keras
    import keras_tuner as kt

    xt, yt, xv, yv = load(data_path(args.data), args.n_train, args.n_val, args.seed)
    counts = {"epochs": 0, "fits": 0, "initial_epochs": []}
    final_scores: list[float] = []

    def build(hp):
        units = hp.Int("units", 32, 512, sampling="log")
        dropout = hp.Float("dropout", 0.0, 0.5)
        lr = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
        model = keras.Sequential([keras.Input((784,)), keras.layers.Dense(units, activation="relu"),
                                  keras.layers.Dropout(dropout), keras.layers.Dense(10)])
        model.compile(optimizer=keras.optimizers.Adam(lr), metrics=["accuracy"],
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    class Count(keras.callbacks.Callback):  # Keras Tuner deep-copies callbacks: count outside
        def on_train_begin(self, logs=None):
            counts["fits"] += 1

        def on_epoch_end(self, epoch, logs=None):
            counts["epochs"] += 1
            if epoch + 1 == args.max_epochs:
                final_scores.append(float(logs["val_accuracy"]))

    with tempfile.TemporaryDirectory() as tmp:
        tuner = kt.Hyperband(build, objective="val_accuracy", max_epochs=args.max_epochs,
                             factor=args.factor, hyperband_iterations=1, seed=args.seed,
                             directory=tmp, project_name="kt", overwrite=True)
        start = time.perf_counter()
        tuner.search(xt, yt, validation_data=(xv, yv), batch_size=BATCH_SIZE, verbose=0,
                     callbacks=[Count()])
        wall = time.perf_counter() - start
        trials = list(tuner.oracle.trials.values())
        runs = [{"trial_id": t.trial_id, "epochs": t.hyperparameters.values.get("tuner/epochs"),
                 "initial_epoch": t.hyperparameters.values.get("tuner/initial_epoch"),
                 "bracket": t.hyperparameters.values.get("tuner/bracket"),
                 "round": t.hyperparameters.values.get("tuner/round"), "score": t.score,
                 "status": str(t.status)} for t in trials]
        best = tuner.oracle.get_best_trials(1)[0]
    configurations = len({json.dumps({k: v for k, v in t.hyperparameters.values.items()
                                      if not k.startswith("tuner/")}, sort_keys=True) for t in trials})
    return {
        "wall_s": wall, "epochs_trained": counts["epochs"], "fits": counts["fits"],
        "epochs_from_scratch": sum(r["epochs"] for r in runs),
        "configurations": configurations, "runs": len(runs),
        "best_val_accuracy": max(final_scores) if final_scores else None,
        "best_kt_score": best.score,
        "best_hyperparameters": {k: v for k, v in best.hyperparameters.values.items()
                                 if not k.startswith("tuner/")},
        "runs_log": runs, "keras_tuner": kt.__version__, "keras": keras.__version__,
    }


def child(args) -> None:
    if args.child == "keras-tuner":
        result = run_keras_tuner(args)
    else:
        result = run_tunewise(args, resume=args.child == "tunewise-resume")
    Path(args.child_out).write_text(json.dumps(result, default=str))


def machine() -> dict:
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": os.cpu_count(), "torch": torch.__version__}
    try:
        info["commit"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                                        capture_output=True, text=True, check=False).stdout.strip()
        info["src_dirty"] = bool(subprocess.run(["git", "status", "--porcelain", "src"], cwd=REPO,
                                                capture_output=True, text=True, check=False).stdout.strip())
    except OSError:
        pass
    try:
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    return info


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="path to mnist.npz (default: $TUNEWISE_DATA or ../shared/data)")
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--n-val", type=int, default=10000)
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sampler", default="random", help="tunewise sampler (Keras Tuner's Hyperband samples at random)")
    parser.add_argument("--setups", default=",".join(SETUPS))
    parser.add_argument("--repeats", type=int, default=1, help="runs of each setup, interleaved")
    parser.add_argument("--out", default=None, help="JSON file (default benchmarks/out/hyperband_mnist-<time>.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return 0
    setups = args.setups.split(",")
    unknown = set(setups) - set(SETUPS)
    if unknown:
        parser.error(f"unknown setups {sorted(unknown)}; choose from {SETUPS}")
    if not data_path(args.data).exists():
        parser.error(f"no MNIST at {data_path(args.data)} (give --data or set TUNEWISE_DATA)")
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H%M")
    out = Path(args.out) if args.out else HERE / "out" / f"hyperband_mnist-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "date": stamp,
              "settings": {k: v for k, v in vars(args).items() if not k.startswith("child")},
              "machine": machine(), "results": {}}
    env = dict(os.environ, OMP_NUM_THREADS="1", KERAS_BACKEND="torch")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")])
    status = 0
    runs = [(rep, setup) for rep in range(args.repeats) for setup in setups]  # interleaved
    for rep, setup in runs:
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            child_out = f.name
        cmd = [sys.executable, __file__, "--child", setup, "--child-out", child_out,
               *[f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
                 if v is not None and k not in ("child", "child_out", "setups", "out", "repeats")]]
        print(f"{setup}, repeat {rep + 1} of {args.repeats} ...", flush=True)
        load_before = os.getloadavg()[0]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            report["results"].setdefault(setup, []).append({"error": done.stderr[-3000:]})
            status = 1
            continue
        result = json.loads(Path(child_out).read_text())
        os.unlink(child_out)
        result["load_average_before"], result["load_average_after"] = load_before, os.getloadavg()[0]
        report["results"].setdefault(setup, []).append(result)
        print(f"  {result['configurations']} configurations, {result['runs']} runs, "
              f"{result['epochs_trained']} epochs trained (from scratch: {result['epochs_from_scratch']}), "
              f"{result['wall_s']:.1f} s, best val_accuracy at {args.max_epochs} epochs "
              f"{result['best_val_accuracy']}", flush=True)
    summary = {}
    for setup, results in report["results"].items():
        ok = [r for r in results if "error" not in r]
        if ok:
            summary[setup] = {"repeats": len(ok), "epochs_trained": ok[0]["epochs_trained"],
                              "wall_s_median": statistics.median(r["wall_s"] for r in ok),
                              "wall_s_min": min(r["wall_s"] for r in ok),
                              "wall_s_max": max(r["wall_s"] for r in ok),
                              "best_val_accuracy": [r["best_val_accuracy"] for r in ok]}
            print(f"{setup}: {summary[setup]}")
    report["summary"] = summary
    res = report["results"]
    if "tunewise-resume" in summary and "tunewise-scratch" in summary:
        curves = [[t["rungs"] for t in r["trials"]]
                  for r in res["tunewise-resume"] + res["tunewise-scratch"] if "error" not in r]
        same = all(c == curves[0] for c in curves)
        report["resume_equals_scratch"] = same
        print(f"resumed and from-scratch runs reached the same rung scores: {same}")
        if not same:
            status = 1
    out.write_text(json.dumps(report, indent=1, default=str))
    print(f"wrote {out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
