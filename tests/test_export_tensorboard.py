"""``write_tensorboard`` and ``tunewise export --format tensorboard``: the files are read back
with TensorBoard's own event reader and compared with ``study.trials``."""

import math
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import api_pb2, metadata  # noqa: E402

import tunewise  # noqa: E402
from tunewise.cli import main  # noqa: E402
from tunewise.export_tensorboard import MARKER, write_tensorboard  # noqa: E402
from tunewise.schedulers import MedianScheduler  # noqa: E402


def _objective(trial):
    hp = trial.hp
    lr = hp.Float("lr", 1e-4, 1e-1, sampling="log")
    units = hp.Int("units", 8, 64, step=8)
    model = hp.Choice("model", ["mlp", "cnn"])
    bn = hp.Boolean("bn")
    hp.Fixed("epochs", 3)
    hp.Choice("batch", [16, 32])
    hp.Float("momentum", 0.5, 0.99, sampling="reverse_log")
    filters = 0
    with hp.conditional_scope("model", "cnn"):
        if model == "cnn":
            filters = hp.Int("filters", 4, 16)
    if trial.number == 2:
        raise tunewise.FailedTrialError("out of memory")
    loss = 1.0 + units / 1000 + filters / 100 + (0.05 if bn else 0.0)
    for step in range(3):
        # later trials are worse, so that the median rule prunes some of them
        loss = loss * 0.5 + (0.4 if trial.number >= 5 else 0.0) + lr
        trial.report(step, {"val_loss": loss, "noise": float("nan")})
    return {"val_loss": loss, "accuracy": 1.0 - loss}


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """A SQLite study with completed, failed and pruned trials and a conditional
    hyperparameter: (storage URL, study)."""
    folder = tmp_path_factory.mktemp("tb")
    url = f"sqlite:///{folder / 's.db'}"
    study = tunewise.Study("tb", objective="val_loss", storage=url, sampler="random", seed=3,
                           scheduler=MedianScheduler(n_startup_trials=3))
    study.optimize(_objective, max_trials=9, show_progress=False,
                   max_consecutive_failed_trials=None)
    return url, study


@pytest.fixture(scope="module")
def exported(stored, tmp_path_factory):
    _, study = stored
    out = tmp_path_factory.mktemp("tb_out") / "runs"
    runs = write_tensorboard(study, out)
    return study, out, runs


def _load(folder):
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


def _hparams_content(acc, tag):
    return acc.PluginTagToContent(metadata.PLUGIN_NAME)[tag]


def _value(proto_value):
    kind = proto_value.WhichOneof("kind")
    return getattr(proto_value, kind)


def test_the_study_has_every_kind_of_trial(stored):
    _, study = stored
    states = {t.state.value for t in study.trials}
    assert {"completed", "failed", "pruned"} <= states
    assert any("filters" in t.hyperparameters for t in study.trials)
    assert any("filters" not in t.hyperparameters for t in study.trials)


def test_one_run_folder_per_trial(exported):
    study, out, runs = exported
    assert runs == [str(out / f"trial_{t.number:05d}") for t in study.trials]
    for run in runs:
        assert list(Path(run).glob("events.out.tfevents.*"))
    assert list(out.glob("events.out.tfevents.*"))
    assert (out / MARKER).is_file()


def test_experiment_config_lists_domains_and_metrics(exported):
    study, out, _ = exported
    experiment = metadata.parse_experiment_plugin_data(
        _hparams_content(_load(out), metadata.EXPERIMENT_TAG))
    infos = {info.name: info for info in experiment.hparam_infos}
    assert set(infos) == {hp.name for hp in study.hyperparameters.space}

    for name, lo, hi in [("lr", 1e-4, 1e-1), ("units", 8, 64), ("momentum", 0.5, 0.99),
                         ("filters", 4, 16)]:
        info = infos[name]
        assert info.WhichOneof("domain") == "domain_interval", name
        assert info.type == api_pb2.DATA_TYPE_FLOAT64
        assert info.domain_interval.min_value == pytest.approx(lo)
        assert info.domain_interval.max_value == pytest.approx(hi)
    assert "log" in infos["lr"].description and "model" in infos["filters"].description

    def discrete(name):
        assert infos[name].WhichOneof("domain") == "domain_discrete", name
        return sorted(_value(v) for v in infos[name].domain_discrete.values)

    assert discrete("model") == ["cnn", "mlp"]
    assert infos["model"].type == api_pb2.DATA_TYPE_STRING
    assert discrete("bn") == [False, True]
    assert infos["bn"].type == api_pb2.DATA_TYPE_BOOL
    assert discrete("batch") == [16.0, 32.0]
    assert discrete("epochs") == [3.0]

    metric_tags = [m.name.tag for m in experiment.metric_infos]
    assert metric_tags[0] == "val_loss"  # the objective first
    assert set(metric_tags) == {"val_loss", "accuracy"}  # "noise" never had a value


def test_session_start_has_the_trial_values(exported):
    study, out, _ = exported
    for t in study.trials:
        acc = _load(out / f"trial_{t.number:05d}")
        start = metadata.parse_session_start_info_plugin_data(
            _hparams_content(acc, metadata.SESSION_START_INFO_TAG))
        values = {name: _value(v) for name, v in start.hparams.items()}
        assert set(values) == set(t.hyperparameters)
        for name, value in t.hyperparameters.items():
            assert values[name] == pytest.approx(value) if not isinstance(value, str) \
                else values[name] == value
        assert start.group_name == f"trial_{t.number:05d}"
        if t.hyperparameters["model"] == "mlp":
            assert "filters" not in values  # inactive conditional hyperparameter: absent


def test_scalars_at_their_steps(exported):
    study, out, _ = exported
    for t in study.trials:
        acc = _load(out / f"trial_{t.number:05d}")
        tags = set(acc.Tags()["scalars"])
        assert "noise" not in tags  # NaN values are left out
        expected: dict[str, dict[int, float]] = {}
        for step, metrics in t.intermediate.items():
            for name, value in metrics.items():
                if value is not None and math.isfinite(value):
                    expected.setdefault(name, {})[step] = value
        last = max(t.intermediate) if t.intermediate else 0
        for name, value in t.metrics.items():
            expected.setdefault(name, {})[last] = value
        assert tags == set(expected)
        for name, points in expected.items():
            got = {e.step: e.value for e in acc.Scalars(name)}
            assert got == pytest.approx(points, rel=1e-6), (t.number, name)


def test_session_end_status(exported):
    study, out, _ = exported
    wanted = {"completed": api_pb2.STATUS_SUCCESS, "failed": api_pb2.STATUS_FAILURE,
              "pruned": api_pb2.STATUS_UNKNOWN}
    for t in study.trials:
        acc = _load(out / f"trial_{t.number:05d}")
        end = metadata.parse_session_end_info_plugin_data(
            _hparams_content(acc, metadata.SESSION_END_INFO_TAG))
        assert end.status == wanted[t.state.value], t.number


def test_in_memory_study_running_trial_and_multi_objective(tmp_path):
    study = tunewise.Study("mem", objective=["val_loss", "val_accuracy"], sampler="random", seed=0)
    study.optimize(lambda trial: {"val_loss": trial.hp.Float("x", 0.0, 1.0),
                                  "val_accuracy": 0.5},
                   max_trials=2, show_progress=False)
    running = study.ask()
    runs = write_tensorboard(study, tmp_path / "out")
    assert len(runs) == 3
    experiment = metadata.parse_experiment_plugin_data(
        _hparams_content(_load(tmp_path / "out"), metadata.EXPERIMENT_TAG))
    assert [m.name.tag for m in experiment.metric_infos] == ["val_loss", "val_accuracy"]
    acc = _load(tmp_path / "out" / f"trial_{running.number:05d}")
    end = metadata.parse_session_end_info_plugin_data(
        _hparams_content(acc, metadata.SESSION_END_INFO_TAG))
    assert end.status == api_pb2.STATUS_RUNNING
    assert acc.Tags()["scalars"] == []


def test_out_dir_rules(exported, tmp_path):
    study, _, _ = exported
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        write_tensorboard(study, foreign)
    assert sorted(p.name for p in foreign.iterdir()) == ["notes.txt"]

    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        write_tensorboard(study, a_file)

    # an earlier export is replaced: its event files go, other files stay
    out = tmp_path / "again"
    write_tensorboard(study, out)
    (out / "README.txt").write_text("keep me")
    (out / "trial_00099").mkdir()  # a run of an earlier, longer export
    (out / "trial_00099" / "events.out.tfevents.1.host.1.0").write_bytes(b"")
    write_tensorboard(study, out)
    assert (out / "README.txt").read_text() == "keep me"
    assert not (out / "trial_00099").exists()
    assert len(list(out.glob("events.out.tfevents.*"))) == 1
    assert all(len(list(run.glob("events.out.tfevents.*"))) == 1
               for run in out.glob("trial_*"))


def test_missing_tensorboard_is_a_value_error(monkeypatch, tmp_path, exported):
    study, _, _ = exported
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto", None)
    with pytest.raises(ValueError, match="pip install tensorboard"):
        write_tensorboard(study, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_export_tensorboard(stored, tmp_path, capsys):
    url, study = stored
    out = tmp_path / "runs"
    code = main(["export", "--storage", url, "--study", study.name, "--format", "tensorboard",
                 "--out", str(out)])
    assert code == 0
    assert "tensorboard --logdir" in capsys.readouterr().err
    assert len(list(out.glob("trial_*/events.out.tfevents.*"))) == len(study.trials)


def test_cli_export_tensorboard_needs_out(stored, capsys):
    url, study = stored
    code = main(["export", "--storage", url, "--study", study.name, "--format", "tensorboard"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("tunewise: error: ") and "--out" in err
    assert err.count("\n") == 1


def test_cli_export_tensorboard_refuses_a_foreign_folder(stored, tmp_path, capsys):
    url, study = stored
    (tmp_path / "notes.txt").write_text("mine")
    code = main(["export", "--storage", url, "--study", study.name, "--format", "tensorboard",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("tunewise: error: ") and err.count("\n") == 1
