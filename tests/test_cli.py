"""The ``tunewise`` command line: run (function and command), status, best, export, and
every user error as one line with exit status 2 that leaves the stored study unchanged."""

import csv
import io
import json
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import tunewise
from tunewise.cli import main
from tunewise.storage import get_storage

CHILD = Path(__file__).parent / "scripts" / "command_child.py"
PY = shlex.quote(sys.executable)

TRAIN_PY = textwrap.dedent('''
    import os

    def train(trial):
        x = trial.hp.Float("x", -1.0, 1.0)
        kind = trial.hp.Choice("kind", ["a", "b"])
        return {"loss": (x - 0.2) ** 2 + (0.1 if kind == "b" else 0.0), "val_accuracy": 1 - abs(x)}

    def hp_style(hp):
        return {"loss": hp.Float("x", 0.0, 1.0)}

    def interrupt(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        if trial.number == 1 and os.path.exists("interrupt.flag"):
            os.remove("interrupt.flag")
            raise KeyboardInterrupt
        return {"loss": x}

    def bad_space(trial):
        trial.hp.Int("n", 5, 1)
        return 1.0

    def returns_text(trial):
        trial.hp.Float("x", 0.0, 1.0)
        return {"loss": "low"}

    def always_fails(trial):
        trial.hp.Float("x", 0.0, 1.0)
        raise RuntimeError("out of memory")

    NOT_A_FUNCTION = 3

    if __name__ == "__main__":
        raise SystemExit("the __main__ block must not run on import")
''')


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A working folder holding train.py; the default storage lands here."""
    (tmp_path / "train.py").write_text(TRAIN_PY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def assert_user_error(rc, err, *words):
    assert rc == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("tunewise: error: ")
    for word in words:
        assert word in lines[0], lines[0]


def snapshot(db: Path):
    """Everything stored: studies, settings, spaces, trials."""
    if not db.exists():
        return None
    storage = get_storage(f"sqlite:///{db}")
    return [(info.name, info.settings, info.space,
             [(t.number, t.state.value, t.hyperparameters, t.metrics, t.error)
              for t in storage.get_trials(info.id)])
            for info in storage.list_studies()]


@pytest.fixture
def stored(work, capsys):
    """A study 's' with 3 trials in work/tunewise.db."""
    rc, _, err = cli(capsys, "run", "train.py:train", "--study", "s", "--objective", "loss",
                     "--sampler", "random", "--seed", "1", "--max-trials", "3", "--quiet")
    assert rc == 0, err
    return work / "tunewise.db"


# -- run: a function ----------------------------------------------------------------------
def test_run_a_function_then_read_the_results(work, capsys):
    rc, out, err = cli(capsys, "run", "train.py:train", "--objective", "loss", "--max-trials", "6",
                       "--seed", "3")
    assert rc == 0, err
    assert "starting study 'train.train'" in err
    assert "6 trials (6 completed)" in out and "best: trial" in out
    study = tunewise.load_study("train.train", "sqlite:///tunewise.db")
    assert len(study.trials) == 6 and all(t.state.value == "completed" for t in study.trials)
    best = study.best_trial
    assert f"best: trial {best.number}, loss = " in out

    rc, out, _ = cli(capsys, "status")
    assert rc == 0
    assert "train.train" in out and "loss (min)" in out and "6 completed" in out
    assert f"(trial {best.number})" in out

    rc, out, _ = cli(capsys, "best", "-n", "3", "--json")
    assert rc == 0
    rows = json.loads(out)
    assert [r["number"] for r in rows] == [t.number for t in study.best_trials(3)]
    assert rows[0]["score"] == pytest.approx(best.score)
    assert rows[0]["hyperparameters"] == best.hyperparameters

    rc, out, _ = cli(capsys, "best", "-n", "2")
    assert rc == 0 and out.splitlines()[0].split()[:3] == ["rank", "trial", "loss"]
    assert len(out.strip().splitlines()) == 3

    rc, out, _ = cli(capsys, "export", "--format", "csv")
    assert rc == 0
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == 6 and {"number", "state", "x", "kind", "loss", "score"} <= set(table[0])

    rc, out, _ = cli(capsys, "export", "--format", "json")
    trials = json.loads(out)
    assert [t["number"] for t in trials] == list(range(6))
    assert trials[0]["state"] == "completed" and "duration" in trials[0]

    rc, _, err = cli(capsys, "export", "--format", "json", "--out", work / "t.json")
    assert rc == 0 and json.loads((work / "t.json").read_text())[5]["number"] == 5


def test_running_the_same_command_again_resumes(work, capsys):
    args = ["run", "train.py:train", "--objective", "loss", "--max-trials", "3"]
    assert cli(capsys, *args)[0] == 0
    rc, out, err = cli(capsys, *args[:-1], "5")
    assert rc == 0
    assert "resuming study 'train.train'" in err and "(3 trials so far)" in err
    assert "5 trials (5 completed)" in out
    # no flags at all: objective and sampler come from the stored study
    rc, out, err = cli(capsys, "run", "train.py:train", "--max-trials", "6")
    assert rc == 0, err
    assert len(tunewise.load_study("train.train", "sqlite:///tunewise.db").trials) == 6


def test_function_taking_hp_and_a_module_target(work, capsys):
    rc, _, err = cli(capsys, "run", "train:hp_style", "--objective", "loss", "--max-trials", "2",
                     "--study", "m")
    assert rc == 0, err
    study = tunewise.load_study("m", "sqlite:///tunewise.db")
    assert [t.state.value for t in study.trials] == ["completed", "completed"]
    assert study.trials[1].score == pytest.approx(study.trials[1].hyperparameters["x"])


def test_config_file_with_a_function_and_flag_overrides(work, capsys):
    sub = work / "proj"
    sub.mkdir()
    shutil.move(work / "train.py", sub / "train.py")
    cfg = sub / "search.yaml"
    cfg.write_text("function: train.py:train\nobjective: {name: val_accuracy}\n"
                   "storage: sqlite:///results.db\nmax_trials: 2\nsampler: random\n")
    rc, out, err = cli(capsys, "run", "-c", cfg, "--max-trials", "4")
    assert rc == 0, err
    # storage relative to the file; study named after the file
    study = tunewise.load_study("search", f"sqlite:///{sub / 'results.db'}")
    assert len(study.trials) == 4 and study.direction == "max"
    rc, out, _ = cli(capsys, "best", "-c", cfg)
    assert rc == 0 and f"trial {study.best_trial.number}" in out


def test_all_trials_failing_stops_with_status_1(work, capsys):
    rc, out, err = cli(capsys, "run", "train.py:always_fails", "--objective", "loss",
                       "--max-trials", "10", "--max-consecutive-failed-trials", "2")
    assert rc == 1
    assert "2 consecutive trials failed" in out and "out of memory" in err
    assert "no completed trial yet" in out


def test_ctrl_c_exits_130_and_the_same_command_resumes(work, capsys):
    (work / "interrupt.flag").write_text("")
    args = ["run", "train.py:interrupt", "--objective", "loss", "--max-trials", "3", "--quiet"]
    rc, out, err = cli(capsys, *args)
    assert rc == 130
    assert err.strip().splitlines()[-1] == \
        "tunewise: interrupted; run the same command again to resume."
    assert "Traceback" not in err
    study = tunewise.load_study("train.interrupt", "sqlite:///tunewise.db")
    assert [t.state.value for t in study.trials] == ["completed", "interrupted"]
    rc, _, _ = cli(capsys, *args)
    assert rc == 0
    assert [t.state.value for t in study.trials] == ["completed"] * 3


# -- run: a command -----------------------------------------------------------------------
def command_config(folder: Path, modes=("ok", "fail", "nojson"), extra="") -> Path:
    folder.mkdir(exist_ok=True)
    shutil.copy(CHILD, folder / "child.py")
    cfg = folder / "tunewise.yaml"
    cfg.write_text(textwrap.dedent(f"""
        objective: loss
        max_trials: 9
        seed: 0
        max_consecutive_failed_trials: 100
        command: {PY} child.py --x {{x}} --mode {{mode}}
        space:
          x: {{type: float, min: 0.0, max: 1.0}}
          mode: {json.dumps(list(modes))}
        {extra}
    """))
    return cfg


def test_run_a_command_from_a_config_file(work, capsys):
    cfg = command_config(work / "proj")
    rc, out, err = cli(capsys, "run", "-c", cfg)  # the command runs in the file's folder
    assert rc == 0, err
    study = tunewise.load_study("proj", "sqlite:///tunewise.db")
    trials = study.trials
    assert len(trials) == 9
    seen = set()
    for t in trials:
        mode = t.hyperparameters["mode"]
        seen.add(mode)
        if mode == "ok":
            assert t.state.value == "completed"
            assert t.metrics["loss"] == pytest.approx((t.hyperparameters["x"] - 0.3) ** 2)
            assert t.metrics["trial_number"] == t.number and t.metrics["n_hparams"] == 2
        elif mode == "fail":
            assert t.state.value == "failed"
            assert "exited with status 3" in t.error and "x is bad" in t.error
        else:
            assert t.state.value == "failed" and "no JSON object" in t.error
    assert seen == {"ok", "fail", "nojson"}
    assert "study 'proj': 9 trials" in out


def test_command_flag_overrides_the_files_and_keeps_logs(work, capsys):
    cfg = command_config(work / "proj", modes=("ok",))
    logs = work / "logs"
    rc, out, err = cli(capsys, "run", "-c", cfg, "--command",
                       f"{PY} {shlex.quote(str(CHILD))} --x {{x}} --extra {{mode}}",
                       "--max-trials", "2", "--log-dir", logs, "--study", "flagged")
    assert rc == 0, err
    study = tunewise.load_study("flagged", "sqlite:///tunewise.db")
    assert all(t.metrics["n_extra"] == 1 for t in study.trials)
    assert sorted(p.name for p in logs.iterdir()) == ["trial-0000.err", "trial-0000.out",
                                                      "trial-0001.err", "trial-0001.out"]
    assert '"loss"' in (logs / "trial-0001.out").read_text()


def test_command_with_show_output_copies_the_childs_output(work, capsys):
    cfg = command_config(work / "proj", modes=("trailing",))
    rc, out, err = cli(capsys, "run", "-c", cfg, "--max-trials", "1", "--show-output")
    assert rc == 0, err
    # the child's output goes to the file descriptors (not capsys), so check the stored result
    assert tunewise.load_study("proj", "sqlite:///tunewise.db").trials[0].state.value == "completed"


# -- user errors: one line, status 2, nothing stored changes ----------------------------
RUN = ["run", "--study", "s"]


@pytest.mark.parametrize("args, yaml_text, words", [
    (["--sampler", "magic"], None, ["Unknown sampler 'magic'", "random", "--sampler"]),
    (["--objective", "throughput"], None, ["'throughput'", "--direction min"]),
    (["--objective", "throughput", "--direction", "max"], None, ["already exists", "objective"]),
    (["--objective", "val_accuracy"], None, ["already exists", "objective", "--overwrite"]),
    (["--sampler", "grid"], None, ["already exists", "sampler"]),
    (["--seed", "2"], None, ["already exists", "seed"]),
    (["--max-trials", "0"], None, ["max_trials must be at least 1"]),
    (["--max-trials", "-3"], None, ["max_trials must be at least 1"]),
    (["--max-trials", "many"], None, ["--max-trials", "'many'"]),
    (["--executions-per-trial", "0"], None, ["executions_per_trial"]),
    (["--direction", "up"], None, ["--direction", "'up'"]),
    (["--no-such-flag"], None, ["unrecognized arguments: --no-such-flag"]),
    (["--storage", "nosuchdriver://x/y"], None, ["storage URL", "nosuchdriver"]),
    (["--storage", "not a url"], None, ["storage", "not a url"]),
    (["--storage", "sqlite:///no/such/folder/x.db"], None, ["does not exist"]),
    (["-c", "cfg.yaml"], "study: [unclosed\n", ["not valid YAML", "cfg.yaml"]),
    (["-c", "missing.yaml"], None, ["missing.yaml", "does not exist"]),
    (["-c", "cfg.yaml"], "max_trails: 3\n", ["unknown key 'max_trails'", "'max_trials'"]),
    (["-c", "cfg.yaml"], "max_trials: ten\n", ["'max_trials' must be an integer"]),
    (["-c", "cfg.yaml"], "max_trials: 0\n", ["max_trials must be at least 1"]),
    (["-c", "cfg.yaml"], "space: {x: {type: float, min: 2, max: 1}}\n", ["'x'", "cfg.yaml"]),
    (["-c", "cfg.yaml", "--command", "prog --lr {lr}"], "space: {x: [1, 2]}\n",
     ["--command", "{lr}", "not in the search space", "x"]),
    (["--command", "prog {x}"], None, ["needs a search space"]),
])
def test_run_user_errors(stored, capsys, args, yaml_text, words):
    before = snapshot(stored)
    if yaml_text is not None:
        (stored.parent / "cfg.yaml").write_text(yaml_text)
    target = [] if "--command" in args else ["train.py:train"]
    rc, out, err = cli(capsys, *RUN, *target, *args)
    assert_user_error(rc, err, *words)
    assert snapshot(stored) == before


def test_template_naming_an_unknown_hyperparameter_in_the_file(work, capsys):
    cfg = command_config(work / "proj")
    cfg.write_text(cfg.read_text().replace("--mode {mode}", "--mode {modus}"))
    rc, _, err = cli(capsys, "run", "-c", cfg)
    assert_user_error(rc, err, "'command'", "{modus}", "not in the search space")
    assert not (work / "tunewise.db").exists()  # nothing ran, nothing was created


@pytest.mark.parametrize("target, words", [
    ("train.py:nope", ["has no function 'nope'", "train", "hp_style"]),
    ("missing.py:train", ["'missing.py' does not exist"]),
    ("train.py", ["path/to/train.py:function"]),
    ("train.py:NOT_A_FUNCTION", ["is a int, not a function"]),
    ("no_such_module_xyz:train", ["no module named 'no_such_module_xyz'"]),
    ("broken.py:train", ["importing 'broken.py' failed at line 2", "ModuleNotFoundError"]),
])
def test_function_target_errors(stored, capsys, target, words):
    (stored.parent / "broken.py").write_text("x = 1\nimport no_such_dependency_xyz\n")
    before = snapshot(stored)
    rc, _, err = cli(capsys, "run", target, "--study", "s")
    assert_user_error(rc, err, *words)
    assert snapshot(stored) == before


def test_new_study_needs_an_objective(work, capsys):
    rc, _, err = cli(capsys, "run", "train.py:train", "--max-trials", "2")
    assert_user_error(rc, err, "no objective", "--objective")
    assert not (work / "tunewise.db").exists()
    rc, _, err = cli(capsys, "run", "train.py:train", "--objective", "loss", "--sampler", "tpe2")
    assert_user_error(rc, err, "Unknown sampler 'tpe2'")
    assert not (work / "tunewise.db").exists()


def test_bad_results_stop_the_run_with_one_line(work, capsys):
    # Errors found while running (an invalid space, a non-numeric metric) are user errors too.
    rc, _, err = cli(capsys, "run", "train.py:bad_space", "--objective", "loss", "--quiet")
    assert_user_error(rc, err, "'n'")
    rc, _, err = cli(capsys, "run", "train.py:returns_text", "--objective", "loss", "--quiet")
    assert_user_error(rc, err, "'loss' is 'low'")
    study = tunewise.load_study("train.returns_text", "sqlite:///tunewise.db")
    assert all(t.state.value != "completed" for t in study.trials)


@pytest.mark.parametrize("args, words", [
    (["status", "--study", "nope"], ["No study named 'nope'", "'s'"]),
    (["best", "--study", "nope"], ["No study named 'nope'"]),
    (["export", "--study", "nope"], ["No study named 'nope'"]),
    (["best", "--storage", "sqlite:///elsewhere.db"], ["no database at 'elsewhere.db'"]),
    (["status", "--storage", "sqlite:///elsewhere.db"], ["no database"]),
    (["export", "--format", "xml"], ["--format", "'xml'"]),
    (["export", "--out", "no/such/dir/x.csv"], ["cannot write", "no/such/dir/x.csv"]),
    (["best", "-n", "x"], ["-n"]),
])
def test_reading_errors(stored, capsys, args, words):
    before = snapshot(stored)
    rc, _, err = cli(capsys, *args)
    assert_user_error(rc, err, *words)
    assert snapshot(stored) == before
    assert not (stored.parent / "elsewhere.db").exists()


def test_several_studies_need_study_flag(stored, capsys):
    assert cli(capsys, "run", "train.py:train", "--study", "t", "--objective", "val_accuracy",
               "--max-trials", "2", "--quiet")[0] == 0
    rc, _, err = cli(capsys, "best")
    assert_user_error(rc, err, "several studies", "s, t", "--study")
    rc, out, _ = cli(capsys, "status")
    assert rc == 0
    lines = out.strip().splitlines()
    assert lines[0].split() == ["study", "objective", "trials", "states", "best"]
    assert lines[1].startswith("s ") and "3 completed" in lines[1]
    assert lines[2].startswith("t ") and "val_accuracy (max)" in lines[2]
    rc, out, _ = cli(capsys, "status", "--json")
    summary = {s["study"]: s for s in json.loads(out)}
    assert summary["s"]["states"] == {"completed": 3} and summary["t"]["trials"] == 2
    rc, out, _ = cli(capsys, "status", "--study", "s")
    assert rc == 0 and "objective:  loss (min)" in out and "sampler:    random (seed 1)" in out
    assert "Float('x'" in out


def test_overwrite_starts_afresh(stored, capsys):
    rc, _, err = cli(capsys, "run", "train.py:train", "--study", "s", "--objective",
                     "val_accuracy", "--overwrite", "--max-trials", "1", "--quiet")
    assert rc == 0, err
    study = tunewise.load_study("s", f"sqlite:///{stored}")
    assert len(study.trials) == 1 and study.direction == "max"


def test_help_version_and_no_command(capsys):
    with pytest.raises(SystemExit) as done:
        main(["run", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--config", "--command", "--study", "--storage", "--objective", "--direction",
                 "--sampler", "--max-trials", "--executions-per-trial", "--seed", "--timeout",
                 "--max-retries-per-trial", "--max-consecutive-failed-trials", "--overwrite",
                 "space entries", "sqlite:///tunewise.db"):
        assert flag in out
    assert main(["--version"]) == 0 and tunewise.__version__ in capsys.readouterr().out
    assert main([]) == 2


# -- as a real process --------------------------------------------------------------------
def run_process(args, cwd):
    return subprocess.run([sys.executable, "-m", "tunewise", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_python_dash_m_tunewise(work):
    cfg = command_config(work / "proj", modes=("ok",))
    done = run_process(["run", "-c", cfg, "--max-trials", "2"], work)
    assert done.returncode == 0, done.stderr
    assert "study 'proj': 2 trials (2 completed)" in done.stdout
    done = run_process(["best", "--json"], work)
    assert done.returncode == 0 and json.loads(done.stdout)[0]["number"] in (0, 1)
    before = snapshot(work / "tunewise.db")
    done = run_process(["run", "-c", cfg, "--objective", "val_accuracy"], work)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [done.stderr.strip()]
    assert done.stderr.startswith("tunewise: error: Study 'proj' already exists")
    assert snapshot(work / "tunewise.db") == before


# -- the shipped examples -----------------------------------------------------------------
EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.mark.slow
def test_shipped_examples_run(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    rc, out, err = cli(capsys, "run", EXAMPLES / "train_function.py:train", "--objective",
                       "val_accuracy", "--max-trials", "2")
    assert rc == 0, err
    assert "study 'train_function.train': 2 trials (2 completed)" in out
    if shutil.which("python") is None:
        pytest.skip("the command example runs `python`, which is not on PATH")
    rc, out, err = cli(capsys, "run", "-c", EXAMPLES / "command" / "tunewise.yaml",
                       "--max-trials", "2")
    assert rc == 0, err
    assert "study 'command': 2 trials (2 completed)" in out
    study = tunewise.load_study("command", "sqlite:///tunewise.db")
    assert all(0.5 < t.score <= 1.0 for t in study.trials)


# -- a study with a scheduler ---------------------------------------------------------------
MF_TRAIN_PY = textwrap.dedent('''
    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        for step in range(trial.resume_step + 1, trial.budget + 1):
            trial.report(step, {"loss": x / step})
        return {"loss": x / trial.budget}
''')


def _hyperband_study(work):
    import tunewise

    (work / "mf_train.py").write_text(MF_TRAIN_PY)
    namespace: dict = {}
    exec(MF_TRAIN_PY, namespace)
    study = tunewise.Study("mf", objective="loss", storage=f"sqlite:///{work / 'tunewise.db'}",
                           sampler="random", seed=0,
                           scheduler=tunewise.schedulers.HyperbandScheduler(
                               max_epochs=3, factor=3, hyperband_iterations=None))
    study.optimize(namespace["train"], max_trials=6, show_progress=False)
    return study


def test_export_steps_gives_one_row_per_trial_and_step(work, capsys):
    study = _hyperband_study(work)
    reports = [(t.number, step, m["loss"]) for t in study.trials for step, m in t.intermediate.items()]
    rc, out, _ = cli(capsys, "export", "--study", "mf", "--steps")
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(int(r["number"]), int(r["step"]), float(r["loss"])) for r in rows] == reports
    assert set(rows[0]) == {"number", "state", "step", "loss"}
    rc, out, _ = cli(capsys, "export", "--study", "mf", "--steps", "--format", "json")
    assert [(r["number"], r["step"], r["metrics"]["loss"]) for r in json.loads(out)] == reports
    rc, out, _ = cli(capsys, "export", "--study", "mf", "--format", "json")  # per trial
    trials = json.loads(out)
    assert [t["budget"] for t in trials] == [t.budget for t in study.trials]
    assert {b for t in trials for b in t["rungs"]} == {"1", "3"}
    rc, out, _ = cli(capsys, "export", "--study", "mf")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["stopped"] for r in rows] == [str(t.state.value == "paused") for t in study.trials]


def tunewise_load(name, work):
    import tunewise

    return tunewise.load_study(name, f"sqlite:///{work / 'tunewise.db'}")


def test_run_resumes_a_study_made_with_a_scheduler(work, capsys):
    study = _hyperband_study(work)
    n = len(study.trials)
    rc, _, err = cli(capsys, "run", "mf_train.py:train", "--study", "mf", "--max-trials",
                     str(n + 2), "--quiet")
    assert rc == 0, err  # the stored scheduler is used; no settings conflict
    study = tunewise_load("mf", work)
    assert len(study.trials) == n + 2
    assert {t.bracket for t in study.trials} >= {0, 1}  # the schedule went on
