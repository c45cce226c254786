"""Helpers for tuning a plain PyTorch training loop through the core API.

A training function receives a ``trial``; under a multi-fidelity scheduler (Hyperband, ASHA) a
run trains from ``trial.resume_step`` to ``trial.budget``, and a promoted trial continues from
its checkpoint. These three helpers remove that boilerplate:

>>> import tunewise, tunewise.torch as twt                                   # doctest: +SKIP
>>> def train(trial):                                                         # doctest: +SKIP
...     model = make_model(trial.hp)
...     optimizer = torch.optim.Adam(model.parameters(), lr=trial.hp.Float("lr", 1e-4, 1e-1, sampling="log"))
...     twt.load_checkpoint(trial, model, optimizer)      # nothing to load for a new trial
...     for epoch in twt.epochs(trial, default=20):       # resume_step+1 .. budget
...         train_one_epoch(model, optimizer)
...         trial.report(epoch, {"val_accuracy": evaluate(model)})   # may prune the trial
...     twt.save_checkpoint(trial, model, optimizer)
...     return {"val_accuracy": evaluate(model)}
>>> study = tunewise.Study("mlp", objective="val_accuracy", scheduler="hyperband")  # doctest: +SKIP

Checkpoints hold state dicts only and are read with ``torch.load(weights_only=True)``: no
arbitrary objects are unpickled.
"""

from __future__ import annotations

import os
from typing import Any

CHECKPOINT = "checkpoint.pt"


def epochs(trial: Any, default: int) -> range:
    """The epochs this run trains, numbered from 1: ``trial.resume_step + 1`` to
    ``trial.budget`` under a scheduler, else 1 to ``default``."""
    if isinstance(default, bool) or not isinstance(default, int) or default < 1:
        raise ValueError(f"epochs: default must be a positive number of epochs, got {default!r}.")
    last = trial.budget if trial.budget is not None else default
    return range(trial.resume_step + 1, last + 1)


def save_checkpoint(trial: Any, model: Any, optimizer: Any = None, lr_scheduler: Any = None,
                    epoch: int | None = None, name: str = CHECKPOINT) -> str:
    """Save the state of ``model`` (and of the optimizer and learning-rate scheduler, so that
    Adam's moments and the schedule continue) in ``trial.checkpoint_dir``; ``epoch`` defaults
    to how far this run trained (``trial.budget``). Returns the file's path."""
    import torch

    if epoch is None:
        epoch = trial.budget if trial.budget is not None else 0
    state = {"epoch": int(epoch), "model": model.state_dict()}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    if lr_scheduler is not None:
        state["lr_scheduler"] = lr_scheduler.state_dict()
    path = os.path.join(trial.checkpoint_dir, name)
    tmp = f"{path}.tmp{os.getpid()}"
    torch.save(state, tmp)
    os.replace(tmp, path)  # a run killed while saving leaves the previous checkpoint whole
    return path


def load_checkpoint(trial: Any, model: Any, optimizer: Any = None, lr_scheduler: Any = None,
                    name: str = CHECKPOINT) -> int:
    """Restore what ``save_checkpoint`` saved for this trial when the trial resumes
    (``trial.resume_step > 0``); return the epoch the state is at (0 for a new trial).

    Raises ``FileNotFoundError`` when a resuming trial has no checkpoint, and ``ValueError``
    when the checkpoint is at another epoch than ``trial.resume_step``.
    """
    import torch

    if trial.resume_step == 0:
        return 0
    path = os.path.join(trial.checkpoint_dir, name)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"Trial {trial.number} resumes at epoch {trial.resume_step} but {path} does not "
            "exist; call tunewise.torch.save_checkpoint(trial, model, optimizer) at the end of "
            "each run.")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("epoch") != trial.resume_step:
        raise ValueError(
            f"Trial {trial.number}: the checkpoint in {path} is at epoch {state.get('epoch')}, "
            f"but the trial resumes at epoch {trial.resume_step}; save it with the epoch the run "
            "trained to (the default, trial.budget).")
    model.load_state_dict(state["model"])
    if optimizer is not None and "optimizer" in state:
        optimizer.load_state_dict(state["optimizer"])
    if lr_scheduler is not None and "lr_scheduler" in state:
        lr_scheduler.load_state_dict(state["lr_scheduler"])
    return int(state["epoch"])


__all__ = ["epochs", "save_checkpoint", "load_checkpoint"]
