"""A stand-in training script for command-mode tests.

    python command_child.py --x 0.5 --mode ok

Modes: ok (prints metrics as the last JSON line), fail (writes to stderr, exits 3), nojson,
big (floods stdout and stderr before its JSON line), text (a non-numeric objective),
sleep (sleeps for a minute), trailing (JSON, then a plain line).
"""

import argparse
import json
import os
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, default=0.0)
parser.add_argument("--mode", default="ok")
parser.add_argument("--extra", action="append", default=[])
args = parser.parse_args()

hparams = json.loads(os.environ.get("TUNEWISE_HPARAMS", "{}"))
metrics = {
    "loss": (args.x - 0.3) ** 2,
    "trial_number": int(os.environ.get("TUNEWISE_TRIAL_NUMBER", "-1")),
    "trial_seed": int(os.environ.get("TUNEWISE_TRIAL_SEED") or -1),
    "n_hparams": len(hparams),
    "n_extra": len(args.extra),
    "note": "not a number, dropped",
}
if args.mode == "fail":
    print("starting", flush=True)
    print("Traceback (most recent call last):\nValueError: x is bad", file=sys.stderr)
    sys.exit(3)
if args.mode == "nojson":
    print("done, but no metrics")
    sys.exit(0)
print(json.dumps({"loss": 999.0}))  # an earlier JSON line: the last one wins
if args.mode == "big":
    line = "y" * 1000
    for _ in range(3000):  # 3 MB on each pipe: more than any pipe buffer
        sys.stdout.write(line + "\n")
        sys.stderr.write(line + "\n")
if args.mode == "text":
    metrics["loss"] = "low"
if args.mode == "sleep":
    time.sleep(60)
print(json.dumps(metrics))
if args.mode == "trailing":
    print("finished")
