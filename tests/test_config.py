"""The YAML run config: reading, checking, merging with flags, and building the space."""


import pytest

import tunewise
from tunewise.config import (ConfigError, RunConfig, build_hyperparameters, build_run_config,
                             default_study_name, load_config_file, objective_argument)


def write(tmp_path, text, name="tune.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# -- reading the file ---------------------------------------------------------------------
def test_load_valid_file(tmp_path):
    path = write(tmp_path, """
study: s1
objective: {name: val_loss, direction: min}
max_trials: 5
timeout: 1e3          # PyYAML reads this as a string: accepted as a number
seed: 3
overwrite: false
env: {A: 1, B: x, C: true}
command: python train.py --lr {lr}
space:
  lr: {type: float, min: 1e-4, max: 1e-2, sampling: log}
""")
    values = load_config_file(path)
    assert values["study"] == "s1"
    assert values["objective"] == {"name": "val_loss", "direction": "min"}
    assert values["max_trials"] == 5 and values["seed"] == 3
    assert values["timeout"] == 1000.0
    assert values["env"] == {"A": "1", "B": "x", "C": "1"}
    assert values["command"] == "python train.py --lr {lr}"


def test_empty_file_is_an_empty_config(tmp_path):
    assert load_config_file(write(tmp_path, "# nothing\n")) == {}


@pytest.mark.parametrize("text, words", [
    ("max_trial: 5\n", ["unknown key 'max_trial'", "did you mean 'max_trials'"]),
    ("max_trials: ten\n", ["'max_trials' must be an integer", "'ten'"]),
    ("overwrite: 1\n", ["'overwrite' must be true or false"]),
    ("timeout: soon\n", ["'timeout' must be a number"]),
    ("study: [a, b]\n", ["'study' must be a non-empty string"]),
    ("objective: {name: loss, direction: up}\n", ["direction must be 'min' or 'max'"]),
    ("objective: []\n", ["must not be an empty list"]),
    ("space: [lr, units]\n", ["'space' must be a mapping"]),
    ("command: {a: 1}\n", ["'command' must be a command line"]),
    ("env: {A: [1]}\n", ["the value of 'A' must be a string"]),
    ("- a\n- b\n", ["must hold a mapping"]),
    ("study: [unclosed\n", ["not valid YAML", "line"]),
])
def test_bad_files_name_the_problem(tmp_path, text, words):
    with pytest.raises(ConfigError) as err:
        load_config_file(write(tmp_path, text))
    for word in words:
        assert word in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a folder"):
        load_config_file(tmp_path)
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(bad)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


# -- the space ----------------------------------------------------------------------------
def test_build_every_type_and_condition():
    hp = build_hyperparameters({
        "filters": {"type": "int", "min": 8, "max": 64, "step": 8, "parent": "model",
                    "parent_values": ["cnn"]},   # declared before its parent: fine
        "model": {"type": "choice", "values": ["mlp", "cnn"]},
        "lr": {"type": "float", "min": "1e-4", "max": 0.1, "sampling": "log", "default": 0.01},
        "units": {"type": "int", "min": 32, "max": 512, "step": 32, "default": 64},
        "bn": {"type": "boolean", "default": True},
        "epochs": {"type": "fixed", "value": 5},
        "act": ["relu", "tanh"],          # shorthand: a choice
        "batch": 32,                      # shorthand: fixed
        "order": {"type": "choice", "values": [1, 2, 4], "ordered": True},
    })
    names = [h.name for h in hp.space]
    assert names.index("model") < names.index("filters")
    assert hp.values == {"model": "mlp", "lr": 0.01, "units": 64, "bn": True, "epochs": 5,
                         "act": "relu", "batch": 32, "order": 1}
    assert not hp.is_active("filters")
    cnn = hp.with_values({"model": "cnn"})
    assert cnn.values["filters"] == 8
    lr = next(h for h in hp.space if h.name == "lr")
    assert lr.get_config()["config"]["sampling"] == "log"


@pytest.mark.parametrize("space, words", [
    ({"lr": {"type": "real", "min": 0, "max": 1}}, ["'lr'", "type"]),
    ({"lr": {"min": 0, "max": 1}}, ["'lr'", "needs 'type:'"]),
    ({"lr": {"type": "float", "max": 1}}, ["'lr'", "needs 'min:'"]),
    ({"lr": {"type": "float", "min": 1, "max": 0}}, ["'lr'", "min"]),
    ({"lr": {"type": "float", "min": 0, "max": 1, "sampling": "log"}}, ["'lr'", "log"]),
    ({"n": {"type": "int", "min": 1, "max": 4, "step": 10}}, ["'n'", "step"]),
    ({"n": {"type": "int", "min": 1.5, "max": 4}}, ["'n'", "integer"]),
    ({"a": {"type": "choice", "values": []}}, ["'a'"]),
    ({"a": {"type": "choice", "values": [1, "x"]}}, ["'a'"]),
    ({"a": {"type": "choice", "value": [1, 2]}}, ["unknown key 'value'", "did you mean 'values'"]),
    ({"a": {"type": "fixed"}}, ["needs 'value:'"]),
    ({"a": {"type": "boolean", "default": "yes"}}, ["true or false"]),
    ({"f": {"type": "int", "min": 1, "max": 4, "parent": "model", "parent_values": ["cnn"]}},
     ["parent 'model'", "not in the space"]),
    ({"f": {"type": "int", "min": 1, "max": 4, "parent_values": ["cnn"]}}, ["needs 'parent'"]),
    ({"f": {"type": "int", "min": 1, "max": 4, "parent": "g", "parent_values": [1]},
      "g": {"type": "int", "min": 1, "max": 4, "parent": "f", "parent_values": [1]}}, ["cycle"]),
    ({"bad name": {"type": "boolean"}}, ["'bad name'"]),
    ({"x": {"type": "int", "min": 1, "max": 4, "parent": "m", "parent_values": ["z"]},
      "m": ["a", "b"]}, ["'m'"]),
])
def test_bad_spaces_raise_config_errors(space, words):
    with pytest.raises(ConfigError) as err:
        build_hyperparameters(space, source="t.yaml")
    for word in words:
        assert word in str(err.value)
    assert "t.yaml" in str(err.value)


# -- merging ------------------------------------------------------------------------------
def test_flags_override_the_file_and_paths_are_relative_to_the_file(tmp_path):
    sub = tmp_path / "proj"
    sub.mkdir()
    path = write(sub, "study: s\nsampler: grid\nmax_trials: 4\nfunction: train.py:train\n"
                      "storage: sqlite:///r.db\nworkdir: data\nlog_dir: logs\n")
    cfg = build_run_config(load_config_file(path), {"max_trials": 9, "sampler": None},
                           config_path=path)
    assert cfg.max_trials == 9 and cfg.sampler == "grid" and cfg.study == "s"
    assert cfg.function == f"{sub / 'train.py'}:train"
    assert cfg.storage == f"sqlite:///{sub / 'r.db'}"
    assert cfg.workdir == str(sub / "data") and cfg.log_dir == str(sub / "logs")


def test_module_function_is_not_made_a_path(tmp_path):
    path = write(tmp_path, "function: mypkg.train:run\n")
    cfg = build_run_config(load_config_file(path), {}, config_path=path)
    assert cfg.function == "mypkg.train:run"


def test_a_target_flag_replaces_the_files_target(tmp_path):
    path = write(tmp_path, "command: prog {x}\nspace: {x: [1, 2]}\n")
    cfg = build_run_config(load_config_file(path), {"function": "t.py:f"}, config_path=path)
    assert cfg.function == "t.py:f" and cfg.command is None
    cfg = build_run_config(load_config_file(path), {"command": "other {x}"}, config_path=path)
    assert cfg.command == "other {x}" and not cfg.command_from_file


@pytest.mark.parametrize("values, flags, words", [
    ({}, {}, ["nothing to tune"]),
    ({"function": "a.py:f", "space": {}}, {"command": "x"}, None),  # the flag wins
    ({}, {"function": "a.py:f", "command": "x"}, ["both a function and a command"]),
    ({"command": "prog {x}"}, {}, ["needs a search space"]),
    ({"function": "a.py:f"}, {"max_trials": 0}, ["max_trials must be at least 1"]),
    ({"function": "a.py:f", "max_trials": -2}, {}, ["max_trials must be at least 1"]),
    ({"function": "a.py:f"}, {"executions_per_trial": 0}, ["executions_per_trial"]),
    ({"function": "a.py:f"}, {"max_retries_per_trial": -1}, ["max_retries_per_trial"]),
    ({"function": "a.py:f"}, {"timeout": -1.0}, ["timeout"]),
    ({"function": "a.py:f"}, {"direction": "max"}, ["without an objective"]),
    ({"function": "a.py:f", "objective": ["a_loss", "b_loss"]}, {"direction": "max"},
     ["one objective"]),
])
def test_invalid_merged_configs(values, flags, words):
    if words is None:
        cfg = build_run_config(values, flags)
        assert cfg.command == "x" and cfg.function is None
        return
    with pytest.raises(ConfigError) as err:
        build_run_config(values, flags)
    for word in words:
        assert word in str(err.value)


def test_objective_argument():
    cfg = RunConfig(objective="val_accuracy")
    assert objective_argument(cfg) == tunewise.Objective("val_accuracy", "max")
    cfg = RunConfig(objective="throughput", direction="max")
    assert objective_argument(cfg) == tunewise.Objective("throughput", "max")
    cfg = RunConfig(objective=[{"name": "val_loss"}, {"name": "size", "direction": "min"}])
    assert objective_argument(cfg) == [tunewise.Objective("val_loss", "min"),
                                       tunewise.Objective("size", "min")]
    assert objective_argument(RunConfig()) is None
    with pytest.raises(ValueError, match="Objective"):
        objective_argument(RunConfig(objective="throughput"))


def test_default_study_names(tmp_path):
    assert default_study_name(RunConfig(config_path=tmp_path / "mnist.yaml")) == "mnist"
    assert default_study_name(RunConfig(config_path=tmp_path / "cnn" / "tunewise.yaml")) == "cnn"
    assert default_study_name(RunConfig(function="src/train.py:fit")) == "train.fit"
    assert default_study_name(RunConfig(function="pkg.models:fit")) == "models.fit"
    assert default_study_name(RunConfig(command="python scripts/train.py --lr {lr}")) == "train"
    assert default_study_name(RunConfig(command=["./run", "{x}"])) == "run"
