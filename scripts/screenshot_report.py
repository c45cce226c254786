"""Save a screenshot of the top of the HTML report to docs/report.png (1400x900).

The study looks like ``tunewise demo``'s (units, activation, dropout and a log-scale learning
rate; val_accuracy per epoch; a few failed trials) but its scores come from a formula, so it
takes a second, not a training run. Needs plotly, playwright and Debian's chromium
(``apt-get install chromium``; not ``playwright install``)::

    python scripts/screenshot_report.py [--out docs/report.png] [--html report.html]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import tempfile

CHROMIUM = "/usr/bin/chromium"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 10


def objective(trial):
    import tunewise

    units = trial.hp.Int("units", 16, 128, step=16)
    activation = trial.hp.Choice("activation", ["relu", "tanh", "elu"])
    dropout = trial.hp.Float("dropout", 0.0, 0.5)
    lr = trial.hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    if lr > 5e-3 and dropout < 0.2:
        raise tunewise.FailedTrialError("loss became NaN (learning rate too high)")
    rng = random.Random(trial.number)
    ceiling = (0.985 - 0.03 * (math.log10(lr) + 2.7) ** 2 - 0.12 * (dropout - 0.15) ** 2
               - 12.0 / units ** 1.5 - {"relu": 0.0, "elu": 0.004, "tanh": 0.012}[activation])
    speed = 0.25 + 120 * lr
    acc = loss = 0.0
    for epoch in range(EPOCHS):
        acc = ceiling * (1 - math.exp(-speed * (epoch + 1))) + rng.gauss(0, 0.004)
        loss = 2.3 * (1 - acc) + 0.05 + rng.gauss(0, 0.01)
        trial.report(epoch, {"val_accuracy": acc, "val_loss": loss})
    return {"val_accuracy": acc, "val_loss": loss}


def build_study(trials: int = 60):
    import tunewise

    study = tunewise.Study("demo", objective="val_accuracy", sampler="random", seed=0)
    study.optimize(objective, max_trials=trials, show_progress=False,
                   max_consecutive_failed_trials=None)
    return study


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "report.png"))
    parser.add_argument("--html", default=None, help="keep the report here (default: a temp file)")
    parser.add_argument("--trials", type=int, default=60)
    args = parser.parse_args(argv)
    if not os.path.exists(CHROMIUM):
        print(f"{CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    from tunewise.report import write_report

    with tempfile.TemporaryDirectory() as tmp:
        html = os.path.abspath(args.html or os.path.join(tmp, "report.html"))
        write_report(build_study(args.trials), html)
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(
                headless=True, executable_path=CHROMIUM,
                args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"])
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto("file://" + html)
            page.wait_for_function("() => window.tunewiseReport && document.querySelector("
                                   "'#fig-scatter3d .js-plotly-plot')", timeout=60000)
            page.wait_for_timeout(1000)  # let plotly finish its transitions
            page.screenshot(path=args.out)  # the viewport: the top of the report
            browser.close()
    for e in errors:
        print(f"JavaScript error: {e}", file=sys.stderr)
    print(f"wrote {args.out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
