"""A training script that knows nothing about tunewise: it takes its hyperparameters as
command-line options and prints its metrics as a JSON line at the end.

    python train.py --loss log_loss --alpha 0.0001 --penalty l2 --epochs 20

Tune it with the config beside it (run from any folder; the command runs in this one):

    tunewise run -c examples/command/tunewise.yaml
    tunewise best -c examples/command/tunewise.yaml -n 3
"""

import argparse
import json
import os
import warnings

from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split

parser = argparse.ArgumentParser()
parser.add_argument("--loss", default="hinge")
parser.add_argument("--alpha", type=float, default=1e-4)
parser.add_argument("--penalty", default="l2")
parser.add_argument("--l1-ratio", type=float, default=0.15)
parser.add_argument("--eta0", type=float, default=0.01)
parser.add_argument("--epochs", type=int, default=20)
args = parser.parse_args()

# tunewise passes a seed per trial (and per execution) in the environment.
seed = int(os.environ.get("TUNEWISE_TRIAL_SEED") or 0)

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)
model = SGDClassifier(loss=args.loss, alpha=args.alpha, penalty=args.penalty,
                      l1_ratio=args.l1_ratio, learning_rate="adaptive", eta0=args.eta0,
                      max_iter=args.epochs, tol=None, random_state=seed)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X_train, y_train)

print(f"trained {args.loss} with alpha={args.alpha:g}")  # other output is fine
print(json.dumps({"val_accuracy": model.score(X_val, y_val),
                  "accuracy": model.score(X_train, y_train)}))
