"""The LCBench surrogate as a multi-fidelity problem: a configuration's learning curve
(``val_accuracy`` after each of the 52 epochs) and the cumulative training time to each epoch.

The YAHPO ONNX model has six outputs per (task, configuration, epoch), in YAHPO's order
``time, val_accuracy, val_cross_entropy, val_balanced_accuracy, test_cross_entropy,
test_balanced_accuracy`` (checked against target_statistics.csv: output 0 spans the ``time``
range, output 1 the ``val_accuracy`` range in percent). ``time`` is meant to be the cumulative
training time up to the epoch, but the surrogate's prediction is not monotone in the epoch for
every configuration (about 6% of random configurations have at least one epoch whose time is
below the previous one's). The cost of training to epoch e is therefore the maximum of the
predicted time over epochs 1..e (``time(e)``), which is monotone, and ``time(0) = 0``.

A run that resumes from epoch r and trains to epoch b pays ``time(b) - time(r)``; a run from
scratch to b pays ``time(b)``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from quality import problems as P

MAX_EPOCH = P.LCBENCH_EPOCH  # 52
COLUMNS = P._LC_COLUMNS  # batch_size, learning_rate, momentum, weight_decay, num_layers, max_units, max_dropout
OUT_TIME, OUT_VAL = 0, 1


def config_row(values: dict[str, Any]) -> list[float]:
    return [float(values[c]) for c in COLUMNS]


def _key(values: dict[str, Any]) -> tuple[float, ...]:
    return tuple(float(values[c]) for c in COLUMNS)


def raw_curves(task: str, rows: np.ndarray) -> np.ndarray:
    """Surrogate outputs for every epoch 1..52 of each row: shape (len(rows), 52, 6)."""
    sess = P.lcbench_session()
    code = P._ORT["encoding"][task]
    n = len(rows)
    epochs = np.tile(np.arange(1, MAX_EPOCH + 1, dtype=np.float32), n)
    x_cont = np.column_stack([epochs, np.repeat(np.asarray(rows, dtype=np.float32), MAX_EPOCH, axis=0)])
    x_cat = np.full((n * MAX_EPOCH, 1), code, dtype=np.int32)
    out = sess.run(None, {"x_cat": x_cat, "x_cont": x_cont.astype(np.float32)})[0]
    return out.reshape(n, MAX_EPOCH, -1).astype(float)


class Task:
    """One LCBench task: learning curves, costs and regret, cached per configuration."""

    def __init__(self, task: str) -> None:
        self.task = task
        self.stats_min, self.stats_max = P.lcbench_stats(task)
        P.lcbench_session()
        self._cache: dict[tuple[float, ...], tuple[np.ndarray, np.ndarray]] = {}

    def curves(self, values: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
        """(val_accuracy after epochs 1..52, time(0..52)) — the time array has 53 entries,
        time[0] = 0, and is the running maximum of the surrogate's time."""
        key = _key(values)
        hit = self._cache.get(key)
        if hit is None:
            out = raw_curves(self.task, np.array([key]))[0]
            t = np.concatenate([[0.0], np.maximum.accumulate(np.maximum(out[:, OUT_TIME], 0.0))])
            hit = (out[:, OUT_VAL].copy(), t)
            self._cache[key] = hit
        return hit

    def value(self, values: dict[str, Any], epoch: int) -> float:
        return float(self.curves(values)[0][int(epoch) - 1])

    def time(self, values: dict[str, Any], epoch: int) -> float:
        return float(self.curves(values)[1][int(epoch)])

    def cost(self, values: dict[str, Any], budget: int, resume: int = 0) -> float:
        t = self.curves(values)[1]
        return float(t[int(budget)] - t[int(resume)])

    def final(self, values: dict[str, Any]) -> float:
        return self.value(values, MAX_EPOCH)

    def regret(self, final_value: float) -> float:
        """(0.5M max - value) / (0.5M max - 0.5M min), as the search-quality harness's raw
        LCBench regret: 0 = the best of 0.5M random configurations (at 52 epochs), 1 = the worst."""
        if final_value is None or not math.isfinite(final_value):
            return float("nan")
        return (self.stats_max - final_value) / (self.stats_max - self.stats_min)


def time_monotonicity(task: str, n: int = 2000, seed: int = 0) -> dict[str, float]:
    """How far the surrogate's raw ``time`` output is from cumulative (monotone in epoch), over
    ``n`` random configurations."""
    rng = np.random.default_rng(seed)
    rows = np.array([config_row(P.random_point(P.LCBENCH_PARAMS, rng)) for _ in range(n)])
    t = raw_curves(task, rows)[:, :, OUT_TIME]
    d = np.diff(t, axis=1)
    fixed = np.maximum.accumulate(t, axis=1)
    return {"configs": n,
            "configs_with_a_decrease": float((d < 0).any(axis=1).mean()),
            "epoch_steps_decreasing": float((d < 0).mean()),
            "max_relative_shortfall": float(((fixed - t) / fixed).max()),
            "mean_time_epoch1": float(t[:, 0].mean()),
            "mean_time_epoch52": float(t[:, -1].mean()),
            "median_ratio_52_to_1": float(np.median(fixed[:, -1] / fixed[:, 0]))}
