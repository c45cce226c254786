"""Drive the loop yourself with ask and tell, for example around a training loop you already have.

    python examples/ask_tell.py
"""

import math

import tunewise


def fit(lr: float, width: int) -> float:
    """Stands in for your training: a validation loss with its minimum near lr=3e-3, width=128."""
    return (math.log10(lr) + 2.5) ** 2 + (math.log2(width) - 7) ** 2 / 10


study = tunewise.Study("ask-tell", objective="val_loss", seed=0)
for _ in range(30):
    trial = study.ask()
    lr = trial.hp.Float("lr", 1e-5, 1e-1, sampling="log")
    width = trial.hp.Int("width", 16, 1024, step=2, sampling="log")
    if width > 512 and lr > 1e-2:
        study.tell(trial, state="failed", error="diverged at epoch 1")  # record a failure
        continue
    for epoch in range(3):  # a learning curve, stored with the trial
        trial.report(epoch, {"val_loss": fit(lr, width) * (3 - epoch)})
    study.tell(trial, {"val_loss": fit(lr, width)})

print(study.to_dataframe()[["number", "state", "lr", "width", "score"]].head(10))
print("best:", study.best_trial.hyperparameters, "val_loss", round(study.best_trial.score, 4))
