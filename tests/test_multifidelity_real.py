"""Hyperband on a real network: a PyTorch MLP on the digits data (ships with scikit-learn).

Promotions must resume from the trial's checkpoint (model and optimizer), train only the
missing epochs, and leave a learning curve that runs on without a gap, a repeat or a reset.
"""

import itertools
import math
import os
import shutil
import uuid

import numpy as np
import pytest

import tunewise
from tunewise.schedulers import HyperbandScheduler

torch = pytest.importorskip("torch")
load_digits = pytest.importorskip("sklearn.datasets").load_digits
train_test_split = pytest.importorskip("sklearn.model_selection").train_test_split
nn = torch.nn

MAX_EPOCHS, FACTOR = 9, 3
BATCH_SIZE = 64
# Keras Tuner's Hyperband for max_epochs=9, factor=3 (keras_tuner HyperbandOracle._get_size and
# _get_epochs): three brackets; {budget: runs} in each.
KERAS_TUNER_RUNGS = [{1: 9, 3: 3, 9: 1}, {3: 5, 9: 2}, {9: 3}]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X_train, X_val, y_train, y_val = train_test_split((X / 16.0).astype(np.float32), y,
                                                      test_size=0.25, random_state=0)
    return (torch.from_numpy(X_train), torch.from_numpy(y_train).long(),
            torch.from_numpy(X_val), torch.from_numpy(y_val).long())


def build(values, seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, values["units"]), nn.ReLU(), nn.Dropout(values["dropout"]),
                          nn.Linear(values["units"], 10))
    return model, torch.optim.Adam(model.parameters(), lr=values["learning_rate"])


def train_epochs(model, optimizer, data, seed, first, last):
    """Train epochs first..last; yield (epoch, metrics). Each epoch seeds its own shuffling and
    dropout, so a run paused and resumed sees exactly the batches an unbroken run sees."""
    X_train, y_train, X_val, y_val = data
    for epoch in range(first, last + 1):
        torch.manual_seed(seed + epoch)
        model.train()
        losses = []
        for batch in torch.randperm(len(X_train)).split(BATCH_SIZE):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(model(X_train[batch]), y_train[batch])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            logits = model(X_val)
        yield epoch, {"val_accuracy": (logits.argmax(1) == y_val).float().mean().item(),
                      "val_loss": nn.functional.cross_entropy(logits, y_val).item(),
                      "loss": float(np.mean(losses))}


def adam_steps(optimizer):
    """Adam's step count (the same for every parameter), None if it has no state."""
    steps = {float(s["step"]) for s in optimizer.state_dict()["state"].values()}
    return steps.pop() if len(steps) == 1 else None


class Trainer:
    """The training function, instrumented: it logs every run and what it loaded."""

    def __init__(self, data):
        self.data = data
        self.steps_per_epoch = math.ceil(len(data[0]) / BATCH_SIZE)
        self.runs = []  # one dict per call
        self.epochs_trained = 0
        self.saved = {}  # trial number -> sum of the weights it saved last

    def __call__(self, trial):
        hp = trial.hp
        values = {"units": hp.Int("units", 16, 128, sampling="log"),
                  "dropout": hp.Float("dropout", 0.0, 0.3),
                  "learning_rate": hp.Float("learning_rate", 1e-3, 3e-2, sampling="log")}
        model, optimizer = build(values, trial.seed)
        path = os.path.join(trial.checkpoint_dir, "ckpt.pt")
        run = {"number": trial.number, "resume_step": trial.resume_step, "budget": trial.budget}
        if trial.resume_step > 0:
            state = torch.load(path)
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            run.update(loaded_epoch=state["epoch"], loaded_number=state["number"],
                       loaded_adam_steps=adam_steps(optimizer),
                       loaded_weights_match=self.saved[trial.number] ==
                       sum(p.double().sum().item() for p in model.parameters()))
        else:
            assert not os.path.exists(path), f"trial {trial.number}: a new trial found a checkpoint"
        for epoch, metrics in train_epochs(model, optimizer, self.data, trial.seed,
                                           trial.resume_step + 1, trial.budget):
            trial.report(epoch, metrics)
            self.epochs_trained += 1
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "epoch": trial.budget, "number": trial.number}, path)
        self.saved[trial.number] = sum(p.double().sum().item() for p in model.parameters())
        run["seed"], run["values"] = trial.seed, values
        self.runs.append(run)
        return metrics


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_hyperband_promotions_resume_from_checkpoints(digits, storage, tmp_path):
    torch.set_num_threads(1)
    name = f"hyperband-real-{uuid.uuid4().hex[:8]}"
    study = tunewise.Study(name, objective="val_accuracy", seed=0, sampler="random",
                           storage=None if storage == "memory" else f"sqlite:///{tmp_path / 'hb.db'}",
                           scheduler=HyperbandScheduler(max_epochs=MAX_EPOCHS, factor=FACTOR))
    if storage == "memory":  # checkpoints go to a shared temp folder: clean up after the test
        assert not os.path.exists(study.checkpoint_root)
    trainer = Trainer(digits)
    try:
        study.optimize(trainer, show_progress=False)
    finally:
        if storage == "memory":
            shutil.rmtree(study.checkpoint_root, ignore_errors=True)
    runs, trials = trainer.runs, study.trials

    # The ladder and the run counts are Keras Tuner's: 17 configurations, 23 runs.
    assert len(trials) == 9 + 5 + 3 and len(runs) == 23
    rungs_by_bracket = {}
    for t in trials:
        for budget in t.rungs:
            rungs_by_bracket.setdefault(t.bracket, {}).setdefault(budget, 0)
            rungs_by_bracket[t.bracket][budget] += 1
    assert sorted(rungs_by_bracket.values(), key=min) == KERAS_TUNER_RUNGS
    runs_per_budget = {}
    for r in runs:
        runs_per_budget[r["budget"]] = runs_per_budget.get(r["budget"], 0) + 1
    assert runs_per_budget == {1: 9, 3: 3 + 5, 9: 1 + 2 + 3}

    # Resumption happens: only the missing epochs are trained, 75 epochs against the 87 that
    # retraining every run from scratch would cost.
    assert trainer.epochs_trained == sum(r["budget"] - r["resume_step"] for r in runs) == 75
    assert trainer.epochs_trained < sum(r["budget"] for r in runs) == 87

    # Every promoted run found its own checkpoint, at the epoch it resumes from, with the
    # weights it saved and Adam's state (step count = optimizer steps taken so far).
    promoted = [r for r in runs if r["resume_step"] > 0]
    assert len(promoted) == 3 + 1 + 2
    for r in promoted:
        assert r["loaded_epoch"] == r["resume_step"], r
        assert r["loaded_number"] == r["number"], r
        assert r["loaded_weights_match"], r
        assert r["loaded_adam_steps"] == r["resume_step"] * trainer.steps_per_epoch, r
    # A run's budget is the previous run's budget promoted one rung up.
    for number in {r["number"] for r in promoted}:
        ladder = [(r["resume_step"], r["budget"]) for r in runs if r["number"] == number]
        assert all(a[1] == b[0] for a, b in itertools.pairwise(ladder)), ladder
        assert ladder[0][0] == 0

    for t in trials:
        reached = max(t.rungs)
        # The stored learning curve has every epoch 1..budget once (no gap, no repeat)...
        assert sorted(t.intermediate) == list(range(1, reached + 1)), (t.number, t.intermediate)
        assert sorted(t.rungs) == [b for b in (1, 3, 9) if b in t.rungs]
        if reached == MAX_EPOCHS:
            assert t.state == tunewise.TrialState.COMPLETED, t
        assert t.state != tunewise.TrialState.FAILED, t

    # ... and a promoted trial's curve continues where it stopped. Two checks:
    # (1) Continuity: at the first epoch after a pause at r >= 3, the training loss is closer
    #     to the loss at r than to the loss at epoch 1 of the same trial (the level a reset
    #     would go back to: epoch-1 losses average over an untrained start). Every
    #     configuration in this space learns, so the loss falls a lot from epoch 1 to r and
    #     little in the epoch after r; a reset lands near the epoch-1 loss. The margin is
    #     large both ways (distances 0.08-0.25 against 1.0-1.6 with seeds 0-2). After a pause
    #     at r = 1 the two cannot be told apart this way; (2) covers every pause.
    # (2) Replay: batches and dropout are seeded per epoch, so an unbroken run of the same
    #     configuration and seed must give the same curve, epoch for epoch, as the trial
    #     paused and resumed at its rungs (up to float rounding; a reset or a lost Adam
    #     state would differ by far more).
    resumed = [t for t in trials if len(t.rungs) > 1]
    assert len(resumed) == 3 + 2
    for t in resumed:
        loss = {step: m["loss"] for step, m in t.intermediate.items()}
        for r in sorted(t.rungs)[:-1]:
            if r >= 3:
                assert abs(loss[r + 1] - loss[r]) < abs(loss[r + 1] - loss[1]), (t.number, loss)
        run = next(r for r in runs if r["number"] == t.number)
        model, optimizer = build(run["values"], run["seed"])
        unbroken = dict(train_epochs(model, optimizer, digits, run["seed"], 1, max(t.rungs)))
        np.testing.assert_allclose([loss[e] for e in sorted(loss)],
                                   [unbroken[e]["loss"] for e in sorted(loss)], rtol=1e-5)
        np.testing.assert_allclose(
            [t.intermediate[e]["val_loss"] for e in sorted(loss)],
            [unbroken[e]["val_loss"] for e in sorted(loss)], rtol=1e-5)
        # The score the scheduler ranked at each rung is the curve's value there.
        for budget, score in t.rungs.items():
            assert score == pytest.approx(unbroken[budget]["val_accuracy"])
