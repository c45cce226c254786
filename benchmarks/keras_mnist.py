"""Keras Tuner against tunewise.keras, side by side on real MNIST: the same ``build_model``, the
same tuner and search arguments, the same seeds; only the import differs
(``import keras_tuner as kt`` or ``import tunewise.keras as kt``).

Setups (algorithm × library), each run in a fresh Python process (KERAS_BACKEND=torch, one
thread), interleaved over seeds (seed 0 of every setup, then seed 1, ...) so that the load of a
shared machine falls on all of them:

- ``kt-hyperband`` / ``tw-hyperband``: ``Hyperband(build_model, objective="val_accuracy",
  max_epochs=9, factor=3, hyperband_iterations=1, seed=..., directory=<tmp>, project_name=...,
  overwrite=True)``, then ``search(x, y, validation_data=..., batch_size=..., callbacks=...)``.
- ``kt-random`` / ``tw-random``: ``RandomSearch(build_model, objective="val_accuracy",
  max_trials=10, seed=..., ...)``, then ``search(..., epochs=3, ...)``.

``build_model``: Input(28, 28) → Flatten → Dense(units: Int 32..512 step 32, activation: Choice
relu/tanh) → Dropout(Float 0..0.5) → Dense(10, softmax); Adam(learning_rate: Float 1e-4..1e-2
log); sparse categorical cross-entropy; metric accuracy. Data: training images from the first
50,000 of MNIST's training set (a fixed random subsample of ``--n-train``), validation the last
``--n-val`` (default 10,000) of it, test the official 10,000 test images, pixels / 255.

Per run: the search wall time (tuner construction to the end of ``search``), the process total
(interpreter start to exit, imports included, measured by the parent), the best model's test
accuracy (``tuner.get_best_models(1)[0].evaluate(x_test, y_test)``), the best val_accuracy (the
tuner's best trial score), the configurations and trials as each library counts them (Keras
Tuner's Hyperband makes one trial per configuration and round, tunewise one per configuration),
the fits and epochs actually trained (a callback), the peak RSS (``ru_maxrss``: with torch and
Keras imported it is usually reached before the search starts) and the RSS after every fit
(``/proc/self/statm`` at ``on_train_end``). The table gives per setup the mean ± SE over seeds
and the median wall time, and per algorithm tunewise ÷ Keras Tuner of the median search wall
time, the per-seed ratios and the paired difference in test accuracy; the target is a ratio
≤ 0.7 with the accuracy not worse (paired mean difference ≥ −1 SE; ≥ 0 with one seed).

``--memory``: a ``--memory-trials`` (default 100) trial RandomSearch of a tiny MLP (Dense units
8..64), 1 epoch on 2,000 images, for both libraries: the RSS after every trial, at trials 10, 50
and 100, and its slope (least squares over trials 10..N), to show whether memory grows.

Usage (from the repository root; MNIST from ../shared/data or $TUNEWISE_DATA)::

    python benchmarks/keras_mnist.py                           # 4 setups × seeds 0-2, 20,000 images
    python benchmarks/keras_mnist.py --n-train 50000 --seeds 0-4
    python benchmarks/keras_mnist.py --setups kt-random,tw-random --epochs 5
    python benchmarks/keras_mnist.py --memory                  # 100 trials per library
    python benchmarks/keras_mnist.py --quick                   # smoke test: 2,000 images, 1 seed

seed: a run's seed ``s`` is given to both tuners as ``seed=s + 1`` (Keras Tuner reads
``seed=0`` as "no seed", ``seed or random.randint(...)``), and ``keras.utils.set_random_seed(s)``
is called before the tuner is built, so weights, dropout and shuffling start alike.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from harness import (cpu_model, fmt_mean_se, json_num, mean_se, one_thread,  # noqa: E402
                     package_version, parse_list, parse_seeds, seed_text, snapshot_source,
                     write_run)

SETUPS = ["kt-hyperband", "tw-hyperband", "kt-random", "tw-random"]
MEMORY_SETUPS = ["kt-random", "tw-random"]
LIBRARY = {"kt": "keras_tuner", "tw": "tunewise.keras"}
TARGET_RATIO = 0.7  # tunewise's wall time ≤ 0.7 × Keras Tuner's, accuracy equal or better
MEMORY_MARKS = (10, 50, 100)


def data_path(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    root = os.environ.get("TUNEWISE_DATA")
    return Path(root) / "mnist.npz" if root else REPO.parent / "shared" / "data" / "mnist.npz"


# ---------------------------------------------------------------------------------------------
# Child: one run in a fresh process
# ---------------------------------------------------------------------------------------------

LOG: dict[str, list] = {"fits": []}  # module level: Keras Tuner deep-copies the callbacks


def rss_mb() -> float:
    """The resident set size now, from /proc/self/statm (Linux); nan elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return float("nan")


def peak_rss_mb() -> float:
    """``ru_maxrss`` of this process in MB (kilobytes on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def load_mnist(path: Path, n_train: int, n_val: int, data_seed: int):
    """Training: ``n_train`` of the first 50,000 training images (all of them, in order, for
    50,000; else a fixed random subsample); validation: the last ``n_val`` of the 60,000;
    test: the official 10,000. Pixels scaled to [0, 1]."""
    import numpy as np

    with np.load(path) as d:  # slices of the uint8 arrays first: no float copy of all 60,000
        x, y = d["x_train"], d["y_train"].astype("int64")
        x_test, y_test = d["x_test"], d["y_test"].astype("int64")
    if n_train >= 50000:
        idx = np.arange(50000)
    else:
        idx = np.sort(np.random.default_rng(data_seed).permutation(50000)[:n_train])
    scale = lambda a: a.astype("float32") / np.float32(255.0)  # noqa: E731
    return (scale(x[idx]), y[idx], scale(x[60000 - n_val:]), y[60000 - n_val:],
            scale(x_test), y_test)


def make_build_model(keras, units_min: int, units_max: int, units_step: int):
    def build_model(hp):
        model = keras.Sequential([
            keras.Input(shape=(28, 28)),
            keras.layers.Flatten(),
            keras.layers.Dense(units=hp.Int("units", min_value=units_min, max_value=units_max,
                                            step=units_step),
                               activation=hp.Choice("activation", ["relu", "tanh"])),
            keras.layers.Dropout(rate=hp.Float("dropout", min_value=0.0, max_value=0.5)),
            keras.layers.Dense(10, activation="softmax"),
        ])
        lr = hp.Float("learning_rate", min_value=1e-4, max_value=1e-2, sampling="log")
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=lr),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    return build_model


def _trials_info(tuner) -> dict[str, Any]:
    """Trials, configurations and the best score as the tuner tells them, where it can:
    Keras Tuner's ``tuner.oracle``; tunewise's ``tuner.results()`` otherwise."""
    info: dict[str, Any] = {}
    oracle = getattr(tuner, "oracle", None)
    try:
        trials = list(oracle.trials.values())
        info["trials"] = len(trials)
        configs = {json.dumps({k: v for k, v in t.hyperparameters.values.items()
                               if not k.startswith("tuner/")}, sort_keys=True, default=str)
                   for t in trials}
        info["configurations"] = len(configs)
        info["trial_status"] = {}
        for t in trials:
            key = str(getattr(t, "status", "?"))
            info["trial_status"][key] = info["trial_status"].get(key, 0) + 1
        info["trials_log"] = [{"trial_id": t.trial_id, "score": t.score, "status": str(t.status),
                               "hyperparameters": t.hyperparameters.values} for t in trials]
    except Exception as exc:  # noqa: BLE001  (no oracle or another shape: tunewise)
        info["oracle_error"] = f"{type(exc).__name__}: {exc}"
    try:
        best = oracle.get_best_trials(1)[0]
        info["best_val_accuracy"] = float(best.score)
    except Exception as exc:  # noqa: BLE001
        info["best_trial_error"] = f"{type(exc).__name__}: {exc}"
    if hasattr(tuner, "results"):  # the tunewise extra: a pandas DataFrame
        try:
            df = tuner.results()
            info["results_shape"] = list(df.shape)
            info["results_columns"] = [str(c) for c in df.columns]
            info["results"] = json.loads(df.to_json(orient="records", default_handler=str))
            info.setdefault("trials", int(len(df)))
            if "best_val_accuracy" not in info:
                col = next((c for c in ("val_accuracy", "score", "value") if c in df.columns), None)
                if col is not None:
                    info["best_val_accuracy"] = float(df[col].max())
        except Exception as exc:  # noqa: BLE001
            info["results_error"] = f"{type(exc).__name__}: {exc}"
    return info


def child(cfg: dict[str, Any]) -> dict[str, Any]:
    t_child = time.perf_counter()
    os.environ.setdefault("KERAS_BACKEND", "torch")
    one_thread()
    import torch

    one_thread()  # torch is imported now: torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    t_import = time.perf_counter()
    import keras

    if cfg["library"] == "keras_tuner":
        import keras_tuner as kt
    else:
        import tunewise.keras as kt  # type: ignore[no-redef]
    import_s = time.perf_counter() - t_import

    xt, yt, xv, yv, xtest, ytest = load_mnist(Path(cfg["data"]), cfg["n_train"], cfg["n_val"],
                                              cfg["data_seed"])
    build_model = make_build_model(keras, *cfg["units"])
    keras.utils.set_random_seed(cfg["seed"])
    t0 = [0.0]

    class Monitor(keras.callbacks.Callback):
        """Counts the fits and epochs actually trained; the RSS and time after each fit."""

        def on_train_begin(self, logs=None):
            self._epochs, self._val = 0, []

        def on_epoch_end(self, epoch, logs=None):
            self._epochs += 1
            if logs and "val_accuracy" in logs:
                self._val.append(float(logs["val_accuracy"]))

        def on_train_end(self, logs=None):
            LOG["fits"].append({"epochs": self._epochs,
                                "last_val_accuracy": self._val[-1] if self._val else None,
                                "max_val_accuracy": max(self._val) if self._val else None,
                                "rss_mb": rss_mb(), "t_s": time.perf_counter() - t0[0]})

    kw = dict(objective="val_accuracy", seed=cfg["tuner_seed"], overwrite=True,
              project_name=f"{cfg['setup']}-seed{cfg['seed']}", **cfg["extra_kwargs"])
    fit_kw: dict[str, Any] = dict(validation_data=(xv, yv), batch_size=cfg["batch_size"],
                                  verbose=0, callbacks=[Monitor()])
    with tempfile.TemporaryDirectory() as tmp:
        rss_before, peak_before = rss_mb(), peak_rss_mb()
        t0[0] = time.perf_counter()
        if cfg["algorithm"] == "hyperband":
            tuner = kt.Hyperband(build_model, max_epochs=cfg["max_epochs"], factor=cfg["factor"],
                                 hyperband_iterations=1, directory=tmp, **kw)
        else:
            tuner = kt.RandomSearch(build_model, max_trials=cfg["max_trials"], directory=tmp,
                                    **kw)
            fit_kw["epochs"] = cfg["epochs"]
        tuner.search(xt, yt, **fit_kw)
        search_s = time.perf_counter() - t0[0]
        peak_search = peak_rss_mb()  # the process's peak so far (imports and data included)
        rss_after_search = rss_mb()
        info = _trials_info(tuner)
        best_hp = tuner.get_best_hyperparameters(1)[0].values
        t1 = time.perf_counter()
        model = tuner.get_best_models(1)[0]
        test = model.evaluate(xtest, ytest, batch_size=1024, verbose=0, return_dict=True)
        best_model_s = time.perf_counter() - t1
        val = model.evaluate(xv, yv, batch_size=1024, verbose=0, return_dict=True)
    fits = LOG["fits"]
    return {
        **{k: cfg[k] for k in ("setup", "seed", "tuner_seed")},
        "search_s": search_s, "import_s": import_s, "best_model_s": best_model_s,
        "child_s": time.perf_counter() - t_child,
        "test_accuracy": float(test["accuracy"]), "test_loss": float(test["loss"]),
        "best_model_val_accuracy": float(val["accuracy"]),
        "best_hyperparameters": {k: v for k, v in best_hp.items()},
        "fits": len(fits), "epochs_trained": sum(f["epochs"] for f in fits),
        "fit_best_val_accuracy": max((f["max_val_accuracy"] for f in fits
                                      if f["max_val_accuracy"] is not None), default=None),
        "peak_rss_mb": peak_rss_mb(), "peak_rss_before_search_mb": peak_before,
        "peak_rss_search_mb": peak_search,
        "rss_before_search_mb": rss_before, "rss_after_search_mb": rss_after_search,
        "fits_log": fits, **info,
        "versions": {"keras": keras.__version__, "library": cfg["library"],
                     "library_version": getattr(kt, "__version__", None),
                     "library_file": getattr(kt, "__file__", None)},
    }


# ---------------------------------------------------------------------------------------------
# Parent: runs, JSON, tables
# ---------------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                            "cpus": os.cpu_count(), "hostname": platform.node()}
    info["cpu"] = cpu_model()
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_mb"] = int(line.split()[1]) // 1024
                break
    except OSError:
        pass
    info["packages"] = {d: package_version(d) for d in ("torch", "keras", "keras-tuner", "numpy",
                                                 "pandas", "tunewise")}
    try:
        git = lambda *a: subprocess.run(["git", *a], cwd=REPO, capture_output=True,  # noqa: E731
                                        text=True, check=False).stdout.strip()
        info["commit"] = git("rev-parse", "--short", "HEAD")
        info["src_dirty"] = bool(git("status", "--porcelain", "src"))
    except OSError:
        pass
    info["load_average_start"] = list(os.getloadavg())
    return info


def library_available(setup: str, src: Path | None) -> bool:
    if setup.startswith("kt-"):
        return importlib.util.find_spec("keras_tuner") is not None
    root = (src / "tunewise") if src else REPO / "src" / "tunewise"
    return (root / "keras").is_dir() or (root / "keras.py").is_file()


def run_child(cfg: dict[str, Any], env: dict[str, str], timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        cfg_file, out_file = Path(tmp) / "cfg.json", Path(tmp) / "out.json"
        cfg_file.write_text(json.dumps(cfg))
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(cfg_file),
               "--child-out", str(out_file)]
        load_before = os.getloadavg()[0]
        start = time.perf_counter()
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout,
                                  check=False, cwd=tmp)
            rc, stderr = done.returncode, done.stderr
        except subprocess.TimeoutExpired as exc:
            rc = "timeout"
            err = exc.stderr or b""
            stderr = (err.decode(errors="replace") if isinstance(err, bytes) else err)
        process_s = time.perf_counter() - start
        head = {"setup": cfg["setup"], "seed": cfg["seed"], "process_s": process_s,
                "load_average_before": load_before, "load_average_after": os.getloadavg()[0]}
        if rc != 0 or not out_file.exists():
            return {**head, "error": f"exit status {rc}", "stderr_tail": stderr[-4000:]}
        # the warnings a run printed (the full traceback of a failed run is above)
        return {**json.loads(out_file.read_text()), **head, "stderr_tail": stderr[-2000:]}


def _median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def _fmt(x: float | None, digits: int = 1) -> str:
    return "—" if x is None or x != x else f"{x:.{digits}f}"


def summarise(runs: list[dict[str, Any]], setups: list[str]) -> tuple[dict, list[str]]:
    """Per setup: mean ± SE and medians; per algorithm: tunewise ÷ Keras Tuner."""
    summary: dict[str, Any] = {"setups": {}, "ratios": {}}
    lines = ["| setup | seeds ok | test accuracy | best val_accuracy | search wall median (s) | "
             "search wall mean ± SE (s) | process median (s) | configurations (trials) | fits | "
             "epochs trained | "
             "RSS before → after search (MB) | peak RSS (MB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for setup in setups:
        ok = [r for r in runs if r["setup"] == setup and "error" not in r]
        failed = sum(1 for r in runs if r["setup"] == setup and "error" in r)
        acc = mean_se([r["test_accuracy"] for r in ok])
        val = mean_se([r.get("best_val_accuracy") for r in ok])
        wall = mean_se([r["search_s"] for r in ok])
        s = {"runs": len(ok), "failed": failed, "seeds": [r["seed"] for r in ok],
             "test_accuracy_mean": json_num(acc[0]), "test_accuracy_se": json_num(acc[1]),
             "best_val_accuracy_mean": json_num(val[0]), "best_val_accuracy_se": json_num(val[1]),
             "search_s_median": json_num(_median([r["search_s"] for r in ok])),
             "search_s_mean": json_num(wall[0]), "search_s_se": json_num(wall[1]),
             "process_s_median": json_num(_median([r["process_s"] for r in ok])),
             "trials": [r.get("trials") for r in ok], "fits": [r["fits"] for r in ok],
             "configurations": [r.get("configurations") for r in ok],
             "epochs_trained": [r["epochs_trained"] for r in ok],
             "peak_rss_mb_max": json_num(max((r["peak_rss_mb"] for r in ok), default=float("nan"))),
             "peak_rss_mb_median": json_num(_median([r["peak_rss_mb"] for r in ok])),
             "rss_before_search_mb_median": json_num(_median([r["rss_before_search_mb"] for r in ok])),
             "rss_after_search_mb_median": json_num(_median([r["rss_after_search_mb"] for r in ok]))}
        summary["setups"][setup] = s
        join = lambda xs: "/".join("?" if x is None else str(x) for x in xs)  # noqa: E731
        lines.append(
            f"| {setup} | {len(ok)}{f' ({failed} failed)' if failed else ''} "
            f"| {fmt_mean_se(*acc, digits=4)} | {fmt_mean_se(*val, digits=4)} "
            f"| {_fmt(s['search_s_median'])} | {fmt_mean_se(*wall, digits=1)} "
            f"| {_fmt(s['process_s_median'])} | {join(s['configurations'])} ({join(s['trials'])}) "
            f"| {join(s['fits'])} "
            f"| {join(s['epochs_trained'])} | {_fmt(s['rss_before_search_mb_median'], 0)} → "
            f"{_fmt(s['rss_after_search_mb_median'], 0)} | {_fmt(s['peak_rss_mb_median'], 0)}"
            f"{'' if len(ok) < 2 else ' (max ' + _fmt(s['peak_rss_mb_max'], 0) + ')'} |")
    ratio_lines = [f"| algorithm | Keras Tuner median (s) | tunewise median (s) | tunewise ÷ KT | "
                   f"per-seed ratios | test accuracy tw − KT (paired, mean ± SE) | "
                   f"target (≤ {TARGET_RATIO}×, accuracy not worse) |",
                   "|---|---|---|---|---|---|---|"]
    for algo in ("hyperband", "random"):
        kt_s, tw_s = summary["setups"].get(f"kt-{algo}"), summary["setups"].get(f"tw-{algo}")
        if not kt_s or not tw_s or not kt_s["runs"] or not tw_s["runs"]:
            continue
        by_seed = lambda lib: {r["seed"]: r for r in runs  # noqa: E731
                               if r["setup"] == f"{lib}-{algo}" and "error" not in r}
        kt_r, tw_r = by_seed("kt"), by_seed("tw")
        paired = sorted(set(kt_r) & set(tw_r))
        per_seed = [tw_r[s]["search_s"] / kt_r[s]["search_s"] for s in paired]
        diff = mean_se([tw_r[s]["test_accuracy"] - kt_r[s]["test_accuracy"] for s in paired])
        ratio = tw_s["search_s_median"] / kt_s["search_s_median"]
        # "not worse": the paired difference is not below zero by more than one SE (with one
        # seed, no SE: not below zero)
        tol = diff[1] if diff[2] > 1 and diff[1] == diff[1] else 0.0
        acc_ok = diff[2] > 0 and diff[0] >= -tol
        met = ratio <= TARGET_RATIO and acc_ok
        summary["ratios"][algo] = {"wall_ratio_median": ratio, "per_seed_wall_ratio": per_seed,
                                   "paired_seeds": paired,
                                   "test_accuracy_diff_mean": json_num(diff[0]),
                                   "test_accuracy_diff_se": json_num(diff[1]),
                                   "accuracy_not_worse": acc_ok, "target_met": met}
        ratio_lines.append(
            f"| {algo} | {_fmt(kt_s['search_s_median'])} | {_fmt(tw_s['search_s_median'])} "
            f"| {ratio:.2f} | {', '.join(f'{x:.2f}' for x in per_seed)} "
            f"| {fmt_mean_se(*diff, digits=4)} | {'yes' if met else 'no'} "
            f"(wall {'≤' if ratio <= TARGET_RATIO else '>'} {TARGET_RATIO}, accuracy "
            f"{'ok' if acc_ok else 'worse'}) |")
    if len(ratio_lines) > 2:
        lines += ["", *ratio_lines]
    return summary, lines


def memory_summary(runs: list[dict[str, Any]], n_trials: int) -> tuple[dict, list[str]]:
    marks = sorted({1, n_trials} | {m for m in MEMORY_MARKS if m <= n_trials})
    lines = ["| setup | seed | trials | fits | " + " | ".join(f"RSS at {m} (MB)" for m in marks)
             + " | slope from 10 (MB / 100 trials) | peak RSS (MB) | search wall (s) |",
             "|---|---|---|---|" + "---|" * len(marks) + "---|---|---|"]
    out: dict[str, Any] = {}
    for r in runs:
        key = f"{r['setup']}/seed-{r['seed']}"
        if "error" in r:
            lines.append(f"| {r['setup']} | {r['seed']} | failed: {r['error']} |")
            out[key] = {"error": r["error"]}
            continue
        rss = [f["rss_mb"] for f in r["fits_log"]]
        at = {m: (rss[m - 1] if len(rss) >= m else None) for m in marks}
        xs = list(range(1, len(rss) + 1))[9:] if len(rss) >= 12 else list(range(1, len(rss) + 1))
        slope = None
        if len(xs) >= 3:
            slope = statistics.linear_regression(xs, rss[xs[0] - 1:])[0] * 100
        out[key] = {"rss_at": {str(m): json_num(v) for m, v in at.items()},
                    "slope_mb_per_100_trials": json_num(slope), "slope_from_trial": xs[0] if xs else None,
                    "peak_rss_mb": r["peak_rss_mb"], "search_s": r["search_s"],
                    "trials": r.get("trials"), "fits": r["fits"]}
        lines.append(f"| {r['setup']} | {r['seed']} | {r.get('trials', '?')} | {r['fits']} | "
                     + " | ".join(_fmt(at[m], 0) for m in marks)
                     + f" | {_fmt(slope, 1)} | {_fmt(r['peak_rss_mb'], 0)} | {_fmt(r['search_s'])} |")
    return out, lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="path to mnist.npz (default: $TUNEWISE_DATA/mnist.npz or "
                                        "../shared/data/mnist.npz)")
    parser.add_argument("--setups", help=f"comma-separated, from {','.join(SETUPS)} (default: all; "
                                         f"with --memory: {','.join(MEMORY_SETUPS)})")
    parser.add_argument("--seeds", help="e.g. 0-2 or 0,3 (default 0-2; --quick and --memory: 0)")
    parser.add_argument("--n-train", type=int, help="training images (default 20000; --quick and "
                                                    "--memory: 2000); 50000 = all, in order")
    parser.add_argument("--n-val", type=int, help="validation images, the last of the training "
                                                  "set (default 10000; --quick and --memory: 2000)")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the training subsample")
    parser.add_argument("--epochs", type=int, help="RandomSearch epochs per trial (default 3; "
                                                   "--quick and --memory: 1)")
    parser.add_argument("--max-trials", type=int, help="RandomSearch trials (default 10; --quick: 3)")
    parser.add_argument("--max-epochs", type=int, help="Hyperband max_epochs (default 9; --quick: 3)")
    parser.add_argument("--factor", type=int, default=3, help="Hyperband factor")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--quick", action="store_true", help="smoke test: 2,000 training and "
                        "validation images, seed 0, Hyperband max_epochs=3, RandomSearch 3 trials × 1 epoch")
    parser.add_argument("--memory", action="store_true", help="RSS over a long RandomSearch of a tiny model")
    parser.add_argument("--memory-trials", type=int, default=100, help="trials in --memory mode")
    parser.add_argument("--tw-kwargs", default="{}", help="JSON of extra keyword arguments for "
                        "the tunewise tuners only (e.g. '{\"sampler\": \"tpe\"}'); default none, "
                        "so that both libraries get the same arguments")
    parser.add_argument("--run-timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--no-snapshot", action="store_true", help="import tunewise from src/ "
                        "instead of a copy taken at the start")
    parser.add_argument("--out", help="JSON file (default benchmarks/out/keras_mnist[-memory]-<time>.json)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--child-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = child(json.loads(Path(args.child).read_text()))
        Path(args.child_out).write_text(json.dumps(result, default=str))
        return 0

    pick = lambda given, normal, quick, memory: (  # noqa: E731
        given if given is not None else memory if args.memory else quick if args.quick else normal)
    seeds = parse_seeds(pick(args.seeds, "0-2", "0", "0"))
    n_train = pick(args.n_train, 20000, 2000, 2000)
    n_val = pick(args.n_val, 10000, 2000, 2000)
    epochs = pick(args.epochs, 3, 1, 1)
    max_trials = pick(args.max_trials, 10, 3, args.memory_trials)
    max_epochs = pick(args.max_epochs, 9, 3, 9)
    units = (8, 64, 8) if args.memory else (32, 512, 32)
    allowed = MEMORY_SETUPS if args.memory else SETUPS
    setups = parse_list(args.setups) or list(allowed)
    unknown = [s for s in setups if s not in allowed]
    if unknown:
        parser.error(f"unknown setups {unknown}; choose from {allowed}")
    if not 0 < n_train <= 50000 or not 0 < n_val <= 10000:
        parser.error("--n-train must be in 1..50000 and --n-val in 1..10000")
    data = data_path(args.data)
    if not data.exists():
        parser.error(f"no MNIST at {data} (give --data or set TUNEWISE_DATA)")
    try:
        tw_kwargs = json.loads(args.tw_kwargs)
        assert isinstance(tw_kwargs, dict)
    except (ValueError, AssertionError):
        parser.error("--tw-kwargs must be a JSON object")

    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H%M%S")
    name = "keras_mnist-memory" if args.memory else "keras_mnist"
    out = Path(args.out) if args.out else HERE / "out" / f"{name}-{stamp}.json"
    workdir = Path(tempfile.mkdtemp(prefix="keras_mnist-"))
    try:
        src, digest = (None, None) if args.no_snapshot else snapshot_source(REPO, str(workdir))
        src = Path(src) if src else None
        missing = [s for s in setups if not library_available(s, src)]
        if missing:
            parser.error(f"cannot run {missing}: " + "; ".join(
                sorted({f"{LIBRARY[s[:2]]} is not importable" for s in missing})))
        info = machine()
        info["tunewise_source_sha256"] = digest
        info["tunewise_source"] = "snapshot of src/tunewise" if src else "src/ (no snapshot)"
        settings = {"mode": "memory" if args.memory else "quick" if args.quick else "full",
                    "setups": setups, "seeds": seeds, "n_train": n_train, "n_val": n_val,
                    "n_test": 10000, "data": str(data), "data_seed": args.data_seed,
                    "batch_size": args.batch_size, "hyperband": {"max_epochs": max_epochs,
                                                                 "factor": args.factor,
                                                                 "hyperband_iterations": 1},
                    "random": {"max_trials": max_trials, "epochs": epochs},
                    "dense_units": {"min": units[0], "max": units[1], "step": units[2]},
                    "tw_kwargs": tw_kwargs, "tuner_seed": "seed + 1 (both libraries)",
                    "threads": 1, "keras_backend": "torch"}
        report: dict[str, Any] = {"benchmark": "keras_mnist", "date": stamp,
                                  "command": " ".join([Path(sys.executable).name, *sys.argv]),
                                  "settings": settings, "machine": info, "runs": []}
        out.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   OPENBLAS_NUM_THREADS="1", KERAS_BACKEND="torch", PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in [str(src or REPO / "src"), str(HERE), env.get("PYTHONPATH", "")] if p)
        algos = {s.split("-", 1)[1] for s in setups}
        print(f"{settings['mode']} run: {', '.join(setups)} × seeds {seed_text(seeds)}; "
              f"{n_train:,} training images, {n_val:,} validation, 10,000 test; batch "
              f"{args.batch_size}; "
              + (f"Hyperband max_epochs={max_epochs} factor={args.factor}; "
                 if "hyperband" in algos else "")
              + (f"RandomSearch {max_trials} trials × {epochs} epochs; " if "random" in algos else "")
              + f"Dense units {units[0]}..{units[1]} step {units[2]}"
              + (f"; tunewise extra arguments {tw_kwargs}" if tw_kwargs else ""), flush=True)
        jobs = [(seed, setup) for seed in seeds for setup in setups]  # interleaved
        for i, (seed, setup) in enumerate(jobs, 1):
            lib, algo = setup.split("-", 1)
            cfg = {"setup": setup, "library": LIBRARY[lib], "algorithm": algo, "seed": seed,
                   "tuner_seed": seed + 1, "data": str(data.resolve()), "n_train": n_train,
                   "n_val": n_val, "data_seed": args.data_seed, "batch_size": args.batch_size,
                   "max_epochs": max_epochs, "factor": args.factor, "max_trials": max_trials,
                   "epochs": epochs, "units": list(units),
                   "extra_kwargs": tw_kwargs if lib == "tw" else {}}
            r = run_child(cfg, env, args.run_timeout)
            report["runs"].append(r)
            write_run(report, out)  # after every run: a killed benchmark keeps what it ran
            if "error" in r:
                print(f"[{i}/{len(jobs)}] {setup} seed {seed} FAILED ({r['error']}) after "
                      f"{r['process_s']:.1f} s:\n{r['stderr_tail'][-2500:]}", file=sys.stderr,
                      flush=True)
                continue
            print(f"[{i}/{len(jobs)}] {setup} seed {seed}: search {r['search_s']:.1f} s "
                  f"(process {r['process_s']:.1f} s), test accuracy {r['test_accuracy']:.4f}, "
                  f"best val_accuracy {_fmt(r.get('best_val_accuracy'), 4)}, "
                  f"{r.get('trials', '?')} trials, {r['fits']} fits, {r['epochs_trained']} "
                  f"epochs, peak RSS {r['peak_rss_mb']:.0f} MB, load {r['load_average_before']:.1f}",
                  flush=True)
        report["machine"]["load_average_end"] = list(os.getloadavg())
        summary, lines = summarise(report["runs"], setups)
        report["summary"] = summary
        if args.memory:
            report["memory"], mem_lines = memory_summary(report["runs"], max_trials)
            lines = mem_lines + ["", *lines]
        report["table"] = "\n".join(lines)
        write_run(report, out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(report["table"])
    print(f"\nwrote {out}")
    return 1 if any("error" in r for r in report["runs"]) else 0


if __name__ == "__main__":
    sys.exit(main())
