"""Running a command as a trial: safe substitution, metrics from the last JSON line,
failures that say why, and no deadlock on big output."""

import shlex
import sys
import time
from pathlib import Path

import pytest

import tunewise
from tunewise.config import build_hyperparameters
from tunewise.execution.command import (CommandError, CommandTemplate, command_objective,
                                        parse_metrics_line, run_command)

CHILD = Path(__file__).parent / "scripts" / "command_child.py"
PY = shlex.quote(sys.executable)


class FakeTrial:
    def __init__(self, hp, number=7, seed=1234):
        self.hp, self.number, self.seed = hp, number, seed


def child_template(extra="", names=("x", "mode")):
    return CommandTemplate(f"{PY} {shlex.quote(str(CHILD))} --x {{x}} --mode {{mode}} {extra}",
                           known=names)


# -- templates ----------------------------------------------------------------------------
def test_render_substitutes_per_argument_without_a_shell():
    t = CommandTemplate("prog --name {name} --lr={lr:.1e} 'a b' {{literal}}", ["name", "lr"])
    argv = t.render({"name": "x; rm -rf / $(boom)", "lr": 0.00012})
    # the hostile value stays one argument, untouched: no shell ever sees it
    assert argv == ["prog", "--name", "x; rm -rf / $(boom)", "--lr=1.2e-04", "a b", "{literal}"]
    assert t.names == ["name", "lr"]


def test_render_formats_values():
    t = CommandTemplate(["prog", "{flag}", "{n}", "{f}"], ["flag", "n", "f"])
    assert t.render({"flag": True, "n": 3, "f": 0.1}) == ["prog", "true", "3", "0.1"]
    assert t.render({"flag": False, "n": 3, "f": 1e-7}) == ["prog", "false", "3", "1e-07"]


def test_inactive_hyperparameters_drop_their_arguments():
    t = CommandTemplate("prog --model {model} --filters {filters} --act={act} -v", ["model", "filters", "act"])
    assert t.render({"model": "cnn", "filters": 16, "act": "relu"}) == \
        ["prog", "--model", "cnn", "--filters", "16", "--act=relu", "-v"]
    assert t.render({"model": "mlp", "filters": None}) == ["prog", "--model", "mlp", "-v"]


@pytest.mark.parametrize("template, words", [
    ("prog --lr {learning_rate}", ["{learning_rate}", "not in the search space", "lr"]),
    ("prog {lr} {a} {b}", ["{a}, {b}", "are not in the search space"]),
    ("prog {}", ["empty or numbered placeholder"]),
    ("prog {0}", ["empty or numbered placeholder"]),
    ("prog {lr.real}", ["plain hyperparameter name"]),
    ("prog {lr", ["unbalanced braces"]),
    ("prog 'unclosed", ["quotes"]),
    ("", ["empty"]),
    ("{lr} --x", ["program itself"]),
])
def test_bad_templates_raise_before_anything_runs(template, words):
    with pytest.raises(ValueError) as err:
        CommandTemplate(template, ["lr"])
    for word in words:
        assert word in str(err.value)


def test_parse_metrics_line():
    assert parse_metrics_line(' {"a": 1} \n') == {"a": 1}
    assert parse_metrics_line("[1, 2]") is None
    assert parse_metrics_line("{not json}") is None
    assert parse_metrics_line("loss 0.1") is None


# -- running ------------------------------------------------------------------------------
def test_big_output_does_not_deadlock_and_keeps_tails(tmp_path):
    argv = [sys.executable, str(CHILD), "--mode", "big", "--x", "0.3"]
    start = time.monotonic()
    result = run_command(argv, timeout=60, log_prefix=tmp_path / "logs" / "t0")
    assert time.monotonic() - start < 30
    assert result.returncode == 0 and not result.timed_out
    assert result.metrics["loss"] == 0.0
    assert len(result.stderr_tail) <= 2000 and result.stderr_tail.endswith("y")
    assert (tmp_path / "logs" / "t0.out").stat().st_size > 3_000_000
    assert (tmp_path / "logs" / "t0.err").stat().st_size > 3_000_000


def test_timeout_stops_the_child():
    start = time.monotonic()
    result = run_command([sys.executable, str(CHILD), "--mode", "sleep"], timeout=1)
    assert result.timed_out and time.monotonic() - start < 20


def test_objective_reads_the_last_json_line_and_sets_the_environment():
    hp = build_hyperparameters({"x": {"type": "float", "min": 0, "max": 1},
                                "mode": {"type": "fixed", "value": "trailing"}})
    fn = command_objective(child_template(), objective_names=["loss"])
    metrics = fn(FakeTrial(hp.with_values({"x": 0.5}), number=7, seed=1234))
    assert metrics["loss"] == pytest.approx(0.04)      # not the earlier {"loss": 999.0}
    assert metrics["trial_number"] == 7 and metrics["trial_seed"] == 1234
    assert metrics["n_hparams"] == 2
    assert "note" not in metrics                        # text fields are not metrics


def test_non_zero_exit_fails_with_status_and_stderr_tail():
    hp = build_hyperparameters({"x": [0.1], "mode": {"type": "fixed", "value": "fail"}})
    fn = command_objective(child_template())
    with pytest.raises(CommandError) as err:
        fn(FakeTrial(hp))
    text = str(err.value)
    assert "exited with status 3" in text and "ValueError: x is bad" in text


def test_no_json_line_fails_the_trial_saying_so():
    hp = build_hyperparameters({"x": [0.1], "mode": {"type": "fixed", "value": "nojson"}})
    fn = command_objective(child_template())
    with pytest.raises(tunewise.FailedTrialError, match="no JSON object") as err:
        fn(FakeTrial(hp))
    assert "done, but no metrics" in str(err.value)


def test_missing_program_fails_the_trial():
    hp = build_hyperparameters({"x": [1]})
    fn = command_objective(CommandTemplate("no-such-program-xyz {x}", ["x"]))
    with pytest.raises(tunewise.FailedTrialError, match="no such program"):
        fn(FakeTrial(hp))


def test_study_records_completed_and_failed_command_trials(tmp_path):
    space = {"x": {"type": "float", "min": 0.0, "max": 1.0},
             "mode": {"type": "choice", "values": ["ok", "fail", "nojson"]}}
    hp = build_hyperparameters(space)
    study = tunewise.Study("cmd", objective="loss", storage=f"sqlite:///{tmp_path / 's.db'}",
                           seed=0, hyperparameters=hp)
    fn = command_objective(child_template(), objective_names=["loss"])
    study.optimize(fn, max_trials=12, max_consecutive_failed_trials=None, show_progress=False)
    trials = study.trials
    assert len(trials) == 12
    by_mode = {}
    for t in trials:
        by_mode.setdefault(t.hyperparameters["mode"], []).append(t)
    assert {"ok", "fail", "nojson"} <= set(by_mode)
    for t in by_mode["ok"]:
        assert t.state.value == "completed"
        assert t.score == pytest.approx((t.hyperparameters["x"] - 0.3) ** 2)
        assert t.metrics["trial_number"] == t.number
    for t in by_mode["fail"]:
        assert t.state.value == "failed" and "status 3" in t.error and "x is bad" in t.error
    for t in by_mode["nojson"]:
        assert t.state.value == "failed" and "no JSON object" in t.error


def test_a_non_numeric_objective_stops_with_a_value_error_and_loses_nothing(tmp_path):
    # As for a Python function (issue 2: a non-numeric metric is bad input), the search
    # stops with a ValueError naming the metric, and the trial waits to run again.
    hp = build_hyperparameters({"x": [0.5], "mode": {"type": "fixed", "value": "text"}})
    study = tunewise.Study("text", objective="loss", hyperparameters=hp, seed=0)
    fn = command_objective(child_template(), objective_names=["loss"])
    with pytest.raises(ValueError, match="'loss' is 'low'"):
        study.optimize(fn, max_trials=1, show_progress=False)
    assert [t.state.value for t in study.trials] == ["waiting"]


def test_executions_get_different_seeds(tmp_path):
    hp = build_hyperparameters({"x": [0.5], "mode": {"type": "fixed", "value": "ok"}})
    study = tunewise.Study("seeds", objective="loss", seed=1, hyperparameters=hp)
    seen = []

    def record(study, trial):
        seen.append(trial)

    fn = command_objective(child_template(), objective_names=["loss"])
    study.optimize(fn, max_trials=1, executions_per_trial=3, show_progress=False, callbacks=[record])
    (trial,) = seen
    assert trial.state.value == "completed"
    seeds = {e["trial_seed"] for e in trial.executions}
    assert len(trial.executions) == 3 and len(seeds) == 3
