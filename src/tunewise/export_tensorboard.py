"""Export a study as TensorBoard HParams summaries.

``write_tensorboard(study, out_dir)`` writes, with TensorBoard's own protocol buffers and event
writer (TensorFlow is not needed):

- ``out_dir/events.out.tfevents.*``: the experiment, i.e. each hyperparameter with its domain
  (an interval for Int and Float, the list of values for Choice, Boolean and Fixed; the
  hyperparameter's description says its step and sampling) and each metric (the objectives
  first, then every other metric with a value in some trial, final or at a step);
- ``out_dir/trial_00000/events.out.tfevents.*`` and so on, one run per trial: its
  hyperparameter values (an inactive conditional hyperparameter is absent), its intermediate
  results as scalars at their steps, its final metrics as scalars at its last step (they
  replace an intermediate value of the same metric at that step, so that the HParams table
  shows the final value), and its status.

TensorBoard knows four statuses: completed trials are ``STATUS_SUCCESS``, failed ones
``STATUS_FAILURE``, running ones ``STATUS_RUNNING``; pruned, paused, interrupted and waiting
trials are ``STATUS_UNKNOWN`` (TensorBoard has no "stopped early"). NaN, infinite and None
values are left out.

``out_dir`` must be missing, empty, or an earlier export (it holds the marker file
``.tunewise-tensorboard.json``). Exporting again into an earlier export first deletes the
event files it owns (``events.out.tfevents.*`` at its top and in its ``trial_NNNNN``
folders) and leaves every other file alone; any other non-empty folder is refused.

Open the result with ``tensorboard --logdir out_dir`` and its HParams tab.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

from .space import types as hp_types
from .trial import TrialState

__all__ = ["write_tensorboard", "MARKER"]

MARKER = ".tunewise-tensorboard.json"
_EVENT_PREFIX = "events.out.tfevents."
_RUN_RE = re.compile(r"^trial_\d+$")
_INSTALL = "pip install tensorboard"


def _import_tensorboard() -> Any:
    """TensorBoard's pieces, imported on first use (none of them needs TensorFlow)."""
    try:
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
        from tensorboard.plugins.hparams import summary_v2 as hp
        from tensorboard.summary.writer.event_file_writer import EventFileWriter
    except ImportError as exc:
        raise ValueError(
            f"Exporting to TensorBoard needs the tensorboard package ({exc}); install it with "
            f"'{_INSTALL}'.") from None

    return SimpleNamespace(event_pb2=event_pb2, summary_pb2=summary_pb2, api_pb2=api_pb2,
                           metadata=metadata, plugin_data_pb2=plugin_data_pb2, hp=hp,
                           EventFileWriter=EventFileWriter)


# -- values -------------------------------------------------------------------------------
def _finite(value: Any) -> float | None:
    """A metric as a float, or None for None, NaN, infinity and non-numbers."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _hp_value(value: Any) -> Any:
    """A hyperparameter value as TensorBoard takes it (bool, number or str); None to skip."""
    if hasattr(value, "item") and type(value).__module__ == "numpy":
        value = value.item()
    if value is None:
        return None
    if isinstance(value, bool) or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return str(value)


def _domain_values(values: list[Any]) -> list[Any] | None:
    """Values of one TensorBoard type for a discrete domain (None if they can't be)."""
    values = [v for v in (_hp_value(v) for v in values) if v is not None]
    if not values:
        return None
    kinds = {bool if isinstance(v, bool) else float if isinstance(v, (int, float)) else str
             for v in values}
    if len(kinds) != 1:
        return None
    if kinds == {float} and any(isinstance(v, float) for v in values):
        values = [float(v) for v in values]
    return values


def _hparam(tb: Any, hp: Any) -> Any:
    """A tunewise hyperparameter as a TensorBoard ``HParam`` with its domain."""
    domain = None
    if isinstance(hp, hp_types.Int):
        domain = tb.hp.IntInterval(int(hp.min_value), int(hp.max_value))
    elif isinstance(hp, hp_types.Float):
        domain = tb.hp.RealInterval(float(hp.min_value), float(hp.max_value))
    elif isinstance(hp, hp_types.Boolean):
        domain = tb.hp.Discrete([False, True])
    elif isinstance(hp, (hp_types.Choice, hp_types.Fixed)):
        values = _domain_values(hp.values)
        if values is not None:
            domain = tb.hp.Discrete(values)
    description = hp.describe()
    if hp.conditions:
        description += " when " + " and ".join(
            f"{parent} in {list(values)}" for parent, values in hp.conditions)
    return tb.hp.HParam(hp.name, domain, description=description)


# -- the output folder --------------------------------------------------------------------
def _prepare(out: Path, study_name: str) -> None:
    """Check that ``out`` may be written, and delete the event files of an earlier export."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{str(out)!r} is a file; give a folder for the TensorBoard export.")
    if out.is_dir() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise ValueError(
                f"{str(out)!r} is not empty and is not an earlier tunewise TensorBoard export "
                f"(it has no {MARKER}); choose a new or empty folder.")
        for path in out.glob(_EVENT_PREFIX + "*"):
            if path.is_file():
                path.unlink()
        for run in out.iterdir():
            if run.is_dir() and _RUN_RE.match(run.name):
                for path in run.glob(_EVENT_PREFIX + "*"):
                    if path.is_file():
                        path.unlink()
                if not any(run.iterdir()):
                    run.rmdir()
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_text(
            json.dumps({"format": "tunewise-tensorboard", "version": 1, "study": study_name,
                        "written": time.time()}, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot write to {str(out)!r}: {exc.strerror or exc}; check the path.") from None


# -- writing ------------------------------------------------------------------------------
def _status(tb: Any, state: TrialState) -> int:
    api = tb.api_pb2
    return {TrialState.COMPLETED: api.STATUS_SUCCESS,
            TrialState.FAILED: api.STATUS_FAILURE,
            TrialState.RUNNING: api.STATUS_RUNNING}.get(state, api.STATUS_UNKNOWN)


def _plugin_summary(tb: Any, tag: str, plugin_data: Any) -> Any:
    summary = tb.summary_pb2.Summary()
    summary.value.add(tag=tag, metadata=tb.metadata.create_summary_metadata(plugin_data),
                      tensor=tb.metadata.NULL_TENSOR)
    return summary


def _write_events(tb: Any, folder: Path, events: list[tuple[float, int, Any]]) -> None:
    writer = tb.EventFileWriter(str(folder))
    try:
        for wall_time, step, summary in events:
            writer.add_event(tb.event_pb2.Event(wall_time=wall_time, step=step, summary=summary))
    finally:
        writer.close()


def _metric_names(study: Any, trials: list[Any]) -> list[str]:
    """The objectives, then every metric with a value in some trial (final or at a step)."""
    names = [o.name for o in study.objectives]
    for t in trials:
        for metrics in [t.metrics, *(t.intermediate or {}).values()]:
            names.extend(k for k, v in (metrics or {}).items() if _finite(v) is not None)
    return list(dict.fromkeys(str(n) for n in names))


def _trial_events(tb: Any, t: Any, now: float,
                  convert: dict[str, Callable[[Any], Any]]) -> list[tuple[float, int, Any]]:
    started = t.started if t.started is not None else now
    finished = t.finished if t.finished is not None else started
    hparams = {}
    for name, value in (t.hyperparameters or {}).items():
        value = convert.get(name, _hp_value)(value)
        if value is not None:
            hparams[str(name)] = value
    start = tb.hp.hparams_pb(hparams, trial_id=f"trial_{t.number:05d}", start_time_secs=started)
    events = [(started, 0, start)]

    by_step: dict[int, dict[str, float]] = {}
    for step, metrics in sorted((t.intermediate or {}).items(), key=lambda kv: int(kv[0])):
        by_step.setdefault(int(step), {}).update(
            {str(k): v for k, v in (metrics or {}).items() if _finite(v) is not None})
    final = {str(k): v for k, v in (t.metrics or {}).items() if _finite(v) is not None}
    if final:
        last = max(by_step) if by_step else 0
        by_step.setdefault(last, {}).update(final)
    for step in sorted(by_step):
        summary = tb.summary_pb2.Summary()
        for tag, value in by_step[step].items():
            summary.value.add(tag=tag, simple_value=_finite(value))
        if summary.value:
            events.append((finished, step, summary))

    last_step = max(by_step) if by_step else 0
    end_info = tb.plugin_data_pb2.SessionEndInfo(status=_status(tb, t.state),
                                                 end_time_secs=finished)
    end = _plugin_summary(tb, tb.metadata.SESSION_END_INFO_TAG,
                          tb.plugin_data_pb2.HParamsPluginData(session_end_info=end_info))
    events.append((finished, last_step, end))
    return events


def write_tensorboard(study: Any, out_dir: str | Path) -> list[str]:
    """Write ``study`` as TensorBoard HParams summaries under ``out_dir``; return the run
    folders written, one per trial (``out_dir/trial_00000``, ...).

    Needs ``pip install tensorboard`` (not TensorFlow). Raises ValueError when tensorboard is
    missing or ``out_dir`` is a non-empty folder that is not an earlier export; see the
    module's documentation for what is written.
    """
    tb = _import_tensorboard()
    out = Path(out_dir)
    trials = list(study.trials)
    space = list(study.hyperparameters.space)
    _prepare(out, study.name)

    now = time.time()
    hparams = [_hparam(tb, hp) for hp in space]
    # a value must have its domain's type: an Int or a numeric Choice takes numbers
    convert: dict[str, Callable[[Any], Any]] = {}
    for hp in hparams:
        domain = hp.domain
        if isinstance(domain, (tb.hp.IntInterval, tb.hp.RealInterval)) or (
                isinstance(domain, tb.hp.Discrete) and domain.dtype in (int, float)):
            convert[hp.name] = lambda v: _finite(v)
    known = {hp.name for hp in hparams}
    for t in trials:  # a value with no definition in the space (should not happen)
        for name in t.hyperparameters or {}:
            if str(name) not in known:
                known.add(str(name))
                hparams.append(tb.hp.HParam(str(name)))
    objectives = {o.name: o.direction for o in study.objectives}
    metrics = [tb.hp.Metric(name, description=(f"objective ({objectives[name]}imise)"
                                               if name in objectives else None))
               for name in _metric_names(study, trials)]
    started = [t.started for t in trials if t.started is not None]
    config = tb.hp.hparams_config_pb(hparams=hparams, metrics=metrics,
                                     time_created_secs=min(started) if started else now)
    _write_events(tb, out, [(now, 0, config)])

    runs = []
    for t in trials:
        run = out / f"trial_{t.number:05d}"
        run.mkdir(exist_ok=True)
        _write_events(tb, run, _trial_events(tb, t, now, convert))
        runs.append(str(run))
    return runs
