"""How long ``tunewise report`` takes: the HTML report (and the PNG figures) of a study of N
trials with 4 hyperparameters, intermediate results and a few failures. Median of repeats.

    python benchmarks/report_speed.py                      # 200 trials, 5 repeats
    python benchmarks/report_speed.py --trials 1000 --repeats 3
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


def make_study(n: int):
    import tunewise

    def fn(t):
        lr = t.hp.Float("lr", 1e-4, 1e-1, sampling="log")
        units = t.hp.Int("units", 16, 256)
        act = t.hp.Choice("act", ["relu", "tanh"])
        dropout = t.hp.Float("dropout", 0.0, 0.5)
        if units > 245:
            raise tunewise.FailedTrialError("too wide")
        acc = 0.9 - 0.05 * abs(math.log10(lr) + 2.5) + 0.0002 * units - 0.1 * dropout + (0.02 if act == "relu" else 0)
        for step in range(1, 6):
            t.report(step, {"val_accuracy": acc * step / 5})
        return {"val_accuracy": acc, "val_loss": 1 - acc}

    study = tunewise.Study("speed", objective="val_accuracy", sampler="random", seed=0)
    study.optimize(fn, max_trials=n, max_consecutive_failed_trials=None, show_progress=False)
    return study


def main() -> int:
    from harness import one_thread

    one_thread()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--png", action="store_true", help="also time the PNG figures")
    args = ap.parse_args()
    from tunewise.report import write_report

    study = make_study(args.trials)
    with tempfile.TemporaryDirectory() as tmp:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            write_report(study, os.path.join(tmp, "r.html"))
            times.append(time.perf_counter() - start)
        size = os.path.getsize(os.path.join(tmp, "r.html")) / 2**20
        print(f"HTML report, {args.trials} trials: median {statistics.median(times):.2f} s "
              f"(min {min(times):.2f}, max {max(times):.2f}; {args.repeats} repeats), {size:.1f} MB")
        if args.png:
            from tunewise.report.png import write_pngs

            times = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                write_pngs(study, os.path.join(tmp, "png"))
                times.append(time.perf_counter() - start)
            print(f"PNG figures, {args.trials} trials: median {statistics.median(times):.2f} s "
                  f"(min {min(times):.2f}, max {max(times):.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
