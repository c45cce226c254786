"""Hyperband on a PyTorch MLP (digits data, ships with scikit-learn): promoted trials resume
from their checkpoint instead of training again from scratch.

    python examples/hyperband_torch.py                  # max_epochs=9, factor=3: 17 configurations
    python examples/hyperband_torch.py --max-epochs 27  # a larger ladder

The scheduler gives each run of a trial a `trial.budget` (the epoch to train to) and a
`trial.resume_step` (the epoch it stopped at last time; 0 for a new trial). With the helpers of
`tunewise.torch` the function loads the model and the optimizer's state from
`trial.checkpoint_dir`, trains the missing epochs (`twt.epochs`), reports each one and saves the
checkpoint again for the next promotion. Without a scheduler the same function trains
`epochs(trial, default)` epochs from scratch.
"""

import argparse

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

import tunewise
import tunewise.torch as twt
from tunewise.schedulers import HyperbandScheduler

torch.set_num_threads(1)

X, y = load_digits(return_X_y=True)
X_train, X_val, y_train, y_val = train_test_split((X / 16.0).astype(np.float32), y,
                                                  test_size=0.25, random_state=0)
X_train, X_val = torch.from_numpy(X_train), torch.from_numpy(X_val)
y_train, y_val = torch.from_numpy(y_train).long(), torch.from_numpy(y_val).long()
BATCH_SIZE = 64
epochs_trained = 0  # counted here, to compare with what training from scratch would cost


def train(trial):
    global epochs_trained
    hp = trial.hp
    units = hp.Int("units", 16, 256, sampling="log")
    dropout = hp.Float("dropout", 0.0, 0.5)
    learning_rate = hp.Float("learning_rate", 1e-4, 3e-2, sampling="log")
    torch.manual_seed(trial.seed)  # the same initial weights on every run of this trial
    model = nn.Sequential(nn.Linear(64, units), nn.ReLU(), nn.Dropout(dropout), nn.Linear(units, 10))
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    # promoted: carry on from where the last run stopped, Adam's moments and step count too
    twt.load_checkpoint(trial, model, optimizer)
    for epoch in twt.epochs(trial, default=9):
        torch.manual_seed(trial.seed + epoch)  # batches and dropout do not depend on the pauses
        model.train()
        for batch in torch.randperm(len(X_train)).split(BATCH_SIZE):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(X_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            logits = model(X_val)
        metrics = {"val_accuracy": (logits.argmax(1) == y_val).float().mean().item(),
                   "val_loss": nn.functional.cross_entropy(logits, y_val).item()}
        trial.report(epoch, metrics)
        epochs_trained += 1
    twt.save_checkpoint(trial, model, optimizer)
    return metrics


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-epochs", type=int, default=9)
    parser.add_argument("--factor", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    study = tunewise.Study("hyperband-torch", objective="val_accuracy", seed=args.seed,
                           scheduler=HyperbandScheduler(max_epochs=args.max_epochs, factor=args.factor))
    study.optimize(train, show_progress=False)  # runs every bracket once

    trials = study.trials
    runs = sum(len(t.rungs) for t in trials)
    from_scratch = sum(sum(t.rungs) for t in trials)  # every run trained from epoch 0
    best = study.best_trial
    print(f"{len(trials)} configurations, {runs} runs; promoted runs resumed from their checkpoint")
    print(f"epochs trained: {epochs_trained} (retraining from scratch at every rung: {from_scratch})")
    print(f"best val_accuracy {best.score:.4f} (trial {best.number}, {max(best.rungs)} epochs): "
          f"{ {k: round(v, 5) if isinstance(v, float) else v for k, v in best.hyperparameters.items()} }")
