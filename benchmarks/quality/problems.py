"""Benchmark problems: a search space, a direction, and a known (or estimated) optimum.

Every problem describes its space as a list of ``Param`` in definition order; a parameter with
a ``parent`` is active only when the parent takes one of ``parent_values``. The adapters in
``samplers.py`` turn this description into each library's own calls (define-by-run for tunewise
and Optuna, a declared space for Keras Tuner and SMAC).

``evaluate(values, seed, number)`` returns the raw objective (no noise, except ``digits-mlp``
whose network is seeded from the benchmark seed and the evaluation number). ``raw_regret(best)``
turns the best value found so far into a regret: 0 at the optimum, larger is worse.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """``$TUNEWISE_DATA`` or ``../shared/data`` beside the repository root."""
    env = os.environ.get("TUNEWISE_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data")


@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "float" | "int" | "choice"
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[Any, ...] = ()
    parent: str | None = None
    parent_values: tuple[Any, ...] = ()

    def describe(self) -> str:
        if self.kind == "choice":
            text = f"{self.name}: choice {list(self.choices)}"
        else:
            text = f"{self.name}: {self.kind} {self.low:g}..{self.high:g}{' log' if self.log else ''}"
        if self.parent:
            text += f" (if {self.parent} in {list(self.parent_values)})"
        return text

    def sample(self, rng: np.random.Generator) -> Any:
        """A uniform draw (on the log scale for log parameters), for scale estimates."""
        if self.kind == "choice":
            return self.choices[int(rng.integers(len(self.choices)))]
        assert self.low is not None and self.high is not None
        if self.kind == "int":
            if self.log:
                v = math.exp(rng.uniform(math.log(self.low - 0.5 + 1e-9), math.log(self.high + 0.5)))
            else:
                v = rng.uniform(self.low - 0.5, self.high + 0.5)
            return int(min(max(round(v), self.low), self.high))
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))


def is_active(param: Param, values: dict[str, Any]) -> bool:
    return param.parent is None or (param.parent in values
                                    and values[param.parent] in param.parent_values)


def random_point(params: Sequence[Param], rng: np.random.Generator) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for p in params:
        if is_active(p, values):
            values[p.name] = p.sample(rng)
    return values


@dataclass
class Problem:
    """One benchmark problem.

    ``optimum`` is the best attainable value (None: estimated at report time as the best value
    any run found). ``scale`` divides the distance to the optimum, so raw regrets are
    comparable in size across problems; normalised regret (÷ random search) does not depend
    on it.
    """

    name: str
    family: str
    params: list[Param]
    direction: str  # "max" | "min"
    metric: str
    fn: Callable[[dict[str, Any], int, int], float]
    optimum: float | None
    scale: float
    version: str  # bump when the function or space changes: cached runs of another version are redone
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def preload(self) -> None:
        """Load what evaluating needs (the ONNX session, the digits data), untimed."""
        if self.family == "lcbench":
            lcbench_session()
        elif self.family == "digits-mlp":
            _digits_data()
            import sklearn.neural_network  # noqa: F401

    def evaluate(self, values: dict[str, Any], seed: int = 0, number: int = 0) -> float:
        return float(self.fn(values, seed, number))

    def raw_regret(self, best: float, optimum: float | None = None) -> float:
        opt = self.optimum if optimum is None else optimum
        if opt is None or best is None or not math.isfinite(best):
            return float("nan")
        gap = (opt - best) if self.direction == "max" else (best - opt)
        return gap / self.scale

    def better(self, a: float, b: float) -> bool:
        return a > b if self.direction == "max" else a < b

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "direction": self.direction,
                "metric": self.metric, "optimum": self.optimum, "scale": self.scale,
                "version": self.version, "space": [p.describe() for p in self.params],
                "notes": self.notes, **self.extra}


# ---------------------------------------------------------------------------------------------
# Synthetic functions with known optima
# ---------------------------------------------------------------------------------------------

def _branin(v: dict[str, Any], _seed: int, _n: int) -> float:
    x1, x2 = v["x1"], v["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_A = np.array([[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14],
                  [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]])
_H6_P = 1e-4 * np.array([[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
                         [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]])
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann6(v: dict[str, Any], _seed: int, _n: int) -> float:
    x = np.array([v[f"x{i}"] for i in range(1, 7)])
    inner = (_H6_A * (x - _H6_P) ** 2).sum(axis=1)
    return float(-(_H6_ALPHA * np.exp(-inner)).sum())


# mixed: the category moves the optimum of every other variable and adds an offset. The offsets
# are not monotone in the listed order (the best category "d" sits between the worst, "c", and
# "e"), so treating the choice as ordinal does not help.
_MIXED = {  # category: (offset, x*, log10(lr*), n*, k*)
    "a": (0.60, -3.0, -1.0, 8, 2),
    "b": (0.25, 2.0, -3.0, 256, 9),
    "c": (1.00, 0.0, -2.0, 32, 5),
    "d": (0.00, 3.5, -2.5, 64, 7),
    "e": (0.45, -1.0, -0.5, 4, 0),
}


def _mixed(v: dict[str, Any], _seed: int, _n: int) -> float:
    off, xs, us, ns, ks = _MIXED[v["c"]]
    dx = (v["x"] - xs) / 10
    du = (math.log10(v["lr"]) - us) / 4
    dv = (math.log2(v["n"]) - math.log2(ns)) / 10
    dk = (v["k"] - ks) / 10
    q = dx * dx + du * du + dv * dv + dk * dk + (dx - du) ** 2  # (dx - du): a correlated valley
    return off + 2 * q + 0.1 * (1 - math.cos(4 * math.pi * math.sqrt(q)))  # ripples: local optima


_COND_ACT = {"tanh": 0.0, "gelu": 0.05, "relu": 0.1, "sigmoid": 0.4}


def _conditional(v: dict[str, Any], _seed: int, _n: int) -> float:
    x = v["x"]
    model = v["model"]
    if model == "linear":
        return 0.5 + ((math.log10(v["l2"]) + 3) / 6) ** 2 + (x - 0.2) ** 2
    if model == "tree":
        return 0.3 + ((math.log2(v["depth"]) - 3) / 5) ** 2 + (v["frac"] - 0.7) ** 2 + (x - 0.5) ** 2
    du = (math.log2(v["units"]) - 7) / 7
    dl = (math.log10(v["lr"]) + 2.5) / 4
    return _COND_ACT[v["act"]] + du**2 + 2 * dl**2 + (du - dl) ** 2 + (x - 0.8) ** 2


# Scales: max - min of each function over 100,000 random points of its space (uniform, on the
# log scale for log parameters), numpy default_rng(0); see estimate_scale(). Fixed here so that a
# raw regret means the same thing in every run.
SCALES = {"branin": 304.13, "hartmann6": 3.173, "mixed": 9.7041, "conditional": 3.06}


def branin() -> Problem:
    return Problem("branin", "branin", [Param("x1", "float", -5.0, 10.0),
                                        Param("x2", "float", 0.0, 15.0)],
                   "min", "value", _branin, 0.39788735772973816, SCALES["branin"], "1",
                   notes="Branin-Hoo on [-5,10]x[0,15]; three global minima of 0.397887.")


def hartmann6() -> Problem:
    return Problem("hartmann6", "hartmann6",
                   [Param(f"x{i}", "float", 0.0, 1.0) for i in range(1, 7)],
                   "min", "value", _hartmann6, -3.3223680114155147, SCALES["hartmann6"], "1",
                   notes="Hartmann 6-d on [0,1]^6; global minimum -3.32237.")


def mixed() -> Problem:
    params = [Param("x", "float", -5.0, 5.0), Param("lr", "float", 1e-4, 1.0, log=True),
              Param("n", "int", 1, 1024, log=True), Param("k", "int", 0, 10),
              Param("c", "choice", choices=("a", "b", "c", "d", "e"))]
    return Problem("mixed", "mixed", params, "min", "value", _mixed, 0.0, SCALES["mixed"], "1",
                   notes="float, log float, log int, int and an unordered 5-way choice that "
                         "moves the optimum of every other variable; minimum 0 at c='d', x=3.5, "
                         "lr=10^-2.5, n=64, k=7.")


def conditional() -> Problem:
    params = [Param("model", "choice", choices=("linear", "tree", "net")),
              Param("x", "float", 0.0, 1.0),
              Param("l2", "float", 1e-6, 1.0, log=True, parent="model", parent_values=("linear",)),
              Param("depth", "int", 1, 32, log=True, parent="model", parent_values=("tree",)),
              Param("frac", "float", 0.1, 1.0, parent="model", parent_values=("tree",)),
              Param("units", "int", 8, 1024, log=True, parent="model", parent_values=("net",)),
              Param("lr", "float", 1e-5, 1e-1, log=True, parent="model", parent_values=("net",)),
              Param("act", "choice", choices=("relu", "tanh", "sigmoid", "gelu"),
                    parent="model", parent_values=("net",))]
    return Problem("conditional", "conditional", params, "min", "value", _conditional, 0.0,
                   SCALES["conditional"], "1",
                   notes="a choice of branch with its own children; minimum 0 in the largest "
                         "branch (model='net', act='tanh', units=128, lr=10^-2.5, x=0.8); the "
                         "other branches bottom out at 0.3 and 0.5.")


def estimate_scale(problem: Problem, n: int = 100_000, seed: int = 0) -> tuple[float, float]:
    """(min, max) of ``problem`` over ``n`` random points; how SCALES was computed."""
    rng = np.random.default_rng(seed)
    ys = [problem.evaluate(random_point(problem.params, rng)) for _ in range(n)]
    return float(min(ys)), float(max(ys))


# ---------------------------------------------------------------------------------------------
# LCBench surrogate (YAHPO Gym ONNX model), final epoch, val_accuracy
# ---------------------------------------------------------------------------------------------

LCBENCH_EPOCH = 52
# Six tasks spread over how hard they are for random search (expected normalised-to-0.5M regret
# of the best of 50 random configurations, estimated from 20,000 draws, in brackets):
# 3945 KDDCup09_appetency (0.004) and 34539 drug-directory (0.009), the easy pair the issue
# names; 126025 adult (0.10), where the surrogate's maximum exceeds the 0.5M best, so negative
# regret is possible; 168330 jannis (0.14); 7593 covertype (0.16); 168329 helena (0.38, 100
# classes, the hardest).
LCBENCH_DEFAULT_TASKS = ["3945", "34539", "126025", "168330", "7593", "168329"]
LCBENCH_PARAMS = [
    Param("batch_size", "int", 16, 512, log=True),
    Param("learning_rate", "float", 1e-4, 0.1, log=True),
    Param("momentum", "float", 0.1, 0.99),
    Param("weight_decay", "float", 1e-5, 0.1),  # linear in config_space.json
    Param("num_layers", "int", 1, 5),
    Param("max_units", "int", 64, 1024, log=True),
    Param("max_dropout", "float", 0.0, 1.0),
]
_LC_COLUMNS = ["batch_size", "learning_rate", "momentum", "weight_decay", "num_layers",
               "max_units", "max_dropout"]
_ORT: dict[str, Any] = {}  # one onnxruntime session per process


def lcbench_session() -> Any:
    path = data_dir() / "lcbench" / "model.onnx"
    if "session" not in _ORT:
        if not path.exists():
            raise FileNotFoundError(
                f"LCBench surrogate not found at {path}; set TUNEWISE_DATA to the folder that "
                "holds lcbench/ (default ../shared/data beside the repository).")
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        _ORT["session"] = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        enc = json.loads((path.parent / "encoding.json").read_text())["OpenML_task_id"]
        _ORT["encoding"] = enc
    return _ORT["session"]


def lcbench_available() -> bool:
    return (data_dir() / "lcbench" / "model.onnx").exists()


def lcbench_tasks() -> list[str]:
    cs = json.loads((data_dir() / "lcbench" / "config_space.json").read_text())
    return list(next(h for h in cs["hyperparameters"] if h["name"] == "OpenML_task_id")["choices"])


def lcbench_stats(task: str) -> tuple[float, float]:
    """(min, max) of val_accuracy over 0.5M random configurations (target_statistics.csv)."""
    lo = hi = None
    path = data_dir() / "lcbench" / "target_statistics.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"LCBench data not found at {path.parent}; set TUNEWISE_DATA to the folder that holds "
            "lcbench/ (default ../shared/data beside the repository).")
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            if row["metric"] == "val_accuracy" and row["instance"] == task:
                if row["statistic"] == "min":
                    lo = float(row["value"])
                elif row["statistic"] == "max":
                    hi = float(row["value"])
    if lo is None or hi is None:
        raise ValueError(f"LCBench task {task!r} has no val_accuracy statistics; "
                         f"known tasks: {', '.join(lcbench_tasks())}")
    return lo, hi


def lcbench_batch(task: str, rows: np.ndarray, epoch: int = LCBENCH_EPOCH) -> np.ndarray:
    """val_accuracy (percent) of many configurations: rows are in _LC_COLUMNS order."""
    sess = lcbench_session()
    code = _ORT["encoding"][task]
    x_cont = np.column_stack([np.full(len(rows), epoch), rows]).astype(np.float32)
    x_cat = np.full((len(rows), 1), code, dtype=np.int32)
    return sess.run(None, {"x_cat": x_cat, "x_cont": x_cont})[0][:, 1].astype(float)


def lcbench(task: str) -> Problem:
    lo, hi = lcbench_stats(task)

    def fn(v: dict[str, Any], _seed: int, _n: int) -> float:
        row = np.array([[float(v[c]) for c in _LC_COLUMNS]])
        return float(lcbench_batch(task, row)[0])

    return Problem(f"lcbench:{task}", "lcbench", list(LCBENCH_PARAMS), "max", "val_accuracy", fn,
                   hi, hi - lo, "1",
                   notes=f"YAHPO LCBench surrogate, OpenML task {task}, epoch {LCBENCH_EPOCH}; "
                         "regret (max - found) / (max - min) from target_statistics.csv (0.5M "
                         "random configurations).",
                   extra={"stats_min": lo, "stats_max": hi})


# ---------------------------------------------------------------------------------------------
# digits-mlp: a small real training run
# ---------------------------------------------------------------------------------------------

DIGITS_MAX_ITER = 10
_DIGITS: dict[str, Any] = {}


def _digits_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    if "data" not in _DIGITS:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        x = x / 16.0
        _DIGITS["data"] = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    return _DIGITS["data"]


def digits_mlp_seed(seed: int, number: int) -> int:
    """The MLP's random_state for evaluation ``number`` of benchmark seed ``seed``."""
    return (seed * 100_003 + number * 7_919 + 12_345) % (2**31 - 1)


def _digits_mlp(v: dict[str, Any], seed: int, number: int) -> float:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_tr, x_va, y_tr, y_va = _digits_data()
    clf = MLPClassifier(hidden_layer_sizes=(int(v["units"]),) * int(v["layers"]),
                        activation=v["activation"], alpha=float(v["alpha"]),
                        learning_rate_init=float(v["learning_rate_init"]),
                        batch_size=int(v["batch_size"]), max_iter=DIGITS_MAX_ITER,
                        random_state=digits_mlp_seed(seed, number))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_tr, y_tr)
    return float(clf.score(x_va, y_va))


def digits_mlp() -> Problem:
    params = [Param("layers", "int", 1, 3), Param("units", "int", 16, 128, log=True),
              Param("activation", "choice", choices=("relu", "tanh", "logistic")),
              Param("alpha", "float", 1e-6, 1e-1, log=True),
              Param("learning_rate_init", "float", 1e-4, 1e-1, log=True),
              Param("batch_size", "int", 32, 256, log=True)]
    return Problem("digits-mlp", "digits-mlp", params, "max", "val_accuracy", _digits_mlp, None,
                   1.0, "1",
                   notes=f"scikit-learn MLPClassifier on load_digits (pixels / 16), stratified "
                         f"70/30 split with random_state=0, max_iter={DIGITS_MAX_ITER}; "
                         "random_state from the benchmark seed and the evaluation number. "
                         "Optimum unknown: the best validation accuracy any run found.")


# ---------------------------------------------------------------------------------------------

SYNTHETIC = {"branin": branin, "hartmann6": hartmann6, "mixed": mixed,
             "conditional": conditional, "digits-mlp": digits_mlp}
DEFAULT_PROBLEMS = ([f"lcbench:{t}" for t in LCBENCH_DEFAULT_TASKS]
                    + ["branin", "hartmann6", "mixed", "conditional", "digits-mlp"])


def expand_problems(spec: str) -> list[str]:
    """``lcbench`` means the six default tasks, ``lcbench:all`` all 34."""
    out: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part == "default":
            out += DEFAULT_PROBLEMS
        elif part == "lcbench":
            out += [f"lcbench:{t}" for t in LCBENCH_DEFAULT_TASKS]
        elif part == "lcbench:all":
            out += [f"lcbench:{t}" for t in lcbench_tasks()]
        else:
            out.append(part)
    return list(dict.fromkeys(out))


def get_problem(name: str) -> Problem:
    if name in SYNTHETIC:
        return SYNTHETIC[name]()
    if name.startswith("lcbench:"):
        task = name.split(":", 1)[1]
        return lcbench(task)
    raise ValueError(f"Unknown problem {name!r}; choose from {', '.join(SYNTHETIC)}, "
                     "lcbench:<task id>, 'lcbench' (the six default tasks) or 'lcbench:all'.")


def problem_family(name: str) -> str:
    return "lcbench" if name.startswith("lcbench:") else name
