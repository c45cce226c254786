"""tunewise.torch: checkpoint and epoch helpers for plain PyTorch loops."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import tunewise  # noqa: E402
import tunewise.torch as twt  # noqa: E402
from tunewise.schedulers import HyperbandScheduler  # noqa: E402


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(128, 4, generator=g)
    return x, (x.sum(1) > 0).long()


def test_hyperband_loop_resumes_model_optimizer_and_schedule():
    x, y = _data()
    seen = []

    def train(trial):
        lr = trial.hp.Float("lr", 1e-3, 1e-1, sampling="log")
        torch.manual_seed(trial.seed)
        model = torch.nn.Linear(4, 2)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9)
        start = twt.load_checkpoint(trial, model, optimizer, schedule)
        assert start == trial.resume_step
        steps = optimizer.state[model.weight]["step"].item() if start else 0
        seen.append((trial.resume_step, trial.budget, steps, schedule.last_epoch))
        for epoch in twt.epochs(trial, default=3):
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
            schedule.step()
            trial.report(epoch, {"loss": loss.item()})
        twt.save_checkpoint(trial, model, optimizer, schedule)
        return {"loss": loss.item()}

    study = tunewise.Study("t", objective="loss", seed=0,
                           scheduler=HyperbandScheduler(max_epochs=9, factor=3))
    study.optimize(train, show_progress=False)
    assert len(seen) == 23 and sum(b - r for r, b, _, _ in seen) == 75
    for resume, _budget, steps, last_epoch in seen:
        assert steps == resume and last_epoch == resume  # one optimizer step per epoch here
    for t in study.trials:
        assert sorted(t.intermediate) == list(range(1, t.budget_reached + 1))


def test_without_a_scheduler_epochs_run_from_one_to_the_default():
    study = tunewise.Study("t", objective="loss")
    trial = study.ask()
    assert list(twt.epochs(trial, default=4)) == [1, 2, 3, 4]
    model = torch.nn.Linear(2, 1)
    assert twt.load_checkpoint(trial, model) == 0  # a new trial has nothing to load
    path = twt.save_checkpoint(trial, model, epoch=4)
    assert os.path.exists(path) and not [f for f in os.listdir(trial.checkpoint_dir) if ".tmp" in f]
    assert torch.load(path, weights_only=True)["epoch"] == 4
    with pytest.raises(ValueError, match="default"):
        twt.epochs(trial, default=0)


def test_load_checkpoint_errors_name_the_fix():
    study = tunewise.Study("t", objective="loss", scheduler=HyperbandScheduler(max_epochs=3, factor=3))

    class Resuming:
        number, resume_step, budget = 3, 2, 3

        def __init__(self, folder):
            self.checkpoint_dir = folder

    folder = os.path.join(study.checkpoint_root, "manual")
    os.makedirs(folder)
    model = torch.nn.Linear(2, 1)
    with pytest.raises(FileNotFoundError, match="save_checkpoint"):
        twt.load_checkpoint(Resuming(folder), model)
    twt.save_checkpoint(Resuming(folder), model, epoch=1)  # saved at the wrong epoch
    with pytest.raises(ValueError, match="at epoch 1, but the trial resumes at epoch 2"):
        twt.load_checkpoint(Resuming(folder), model)
