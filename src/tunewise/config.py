"""The YAML run configuration of ``tunewise run``, merged with command-line flags.

A configuration file names what to tune (a Python function or a command), the search space
(for a command), and the study's settings. Every key is optional; flags given on the command
line override the file. Relative paths written in the file (``function``, ``workdir``,
``log_dir`` and an SQLite ``storage``) are relative to the folder holding the file; relative
paths given as flags are relative to the current directory.

Example (``tunewise.yaml``)::

    study: mnist-cnn
    storage: sqlite:///tunewise.db
    objective: val_accuracy          # or {name: val_loss, direction: min}, or a list
    sampler: random
    max_trials: 20
    seed: 1
    command: python train.py --lr {learning_rate} --filters {filters}
    space:
      learning_rate: {type: float, min: 1.0e-4, max: 1.0e-2, sampling: log}
      model: {type: choice, values: [mlp, cnn]}
      filters: {type: int, min: 8, max: 64, step: 8, parent: model, parent_values: [cnn]}

Every mistake raises :class:`ConfigError` (a ``ValueError``) whose message names the file, the
key and the fix.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import shlex
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

import yaml

from .space import HyperParameters

__all__ = ["ConfigError", "RunConfig", "load_config_file", "build_run_config",
           "build_hyperparameters", "DEFAULT_STORAGE"]

DEFAULT_STORAGE = "sqlite:///tunewise.db"


class ConfigError(ValueError):
    """An invalid run configuration (YAML file or flags)."""


@dataclass
class RunConfig:
    """Everything ``tunewise run`` needs, after merging the YAML file with the flags."""

    study: str | None = None
    storage: str | None = None
    objective: Any = None               # str | {"name", "direction"} | list of those | None
    direction: str | None = None
    sampler: str | None = None
    seed: int | None = None
    max_trials: int | None = None
    executions_per_trial: int | None = None
    timeout: float | None = None
    max_retries_per_trial: int | None = None
    max_consecutive_failed_trials: int | None = None
    overwrite: bool | None = None
    function: str | None = None
    command: str | list[str] | None = None
    space: dict[str, Any] | None = None
    trial_timeout: float | None = None
    workdir: str | None = None
    env: dict[str, str] | None = None
    show_output: bool | None = None
    log_dir: str | None = None
    # Not keys of the file: where the file is, and where relative paths of the command start.
    config_path: Path | None = field(default=None, repr=False)
    command_from_file: bool = field(default=False, repr=False)

    @property
    def base_dir(self) -> Path:
        """The folder that relative paths in the YAML file start from."""
        return self.config_path.parent if self.config_path else Path.cwd()


# The keys a YAML file may hold, with the type each must have.
_INT_KEYS = ("seed", "max_trials", "executions_per_trial", "max_retries_per_trial",
             "max_consecutive_failed_trials")
_FLOAT_KEYS = ("timeout", "trial_timeout")
_STR_KEYS = ("study", "storage", "direction", "sampler", "function", "workdir", "log_dir")
_BOOL_KEYS = ("overwrite", "show_output")
_OTHER_KEYS = ("objective", "command", "space", "env")
FILE_KEYS = _INT_KEYS + _FLOAT_KEYS + _STR_KEYS + _BOOL_KEYS + _OTHER_KEYS

_SPACE_TYPES = ("int", "float", "choice", "boolean", "fixed")
_SPACE_KEYS = {
    "int": {"type", "min", "max", "step", "sampling", "default", "parent", "parent_values"},
    "float": {"type", "min", "max", "step", "sampling", "default", "parent", "parent_values"},
    "choice": {"type", "values", "ordered", "default", "parent", "parent_values"},
    "boolean": {"type", "default", "parent", "parent_values"},
    "fixed": {"type", "value", "parent", "parent_values"},
}
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


# -- reading the file ---------------------------------------------------------------------
def load_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a YAML run configuration; return its keys as a dict.

    Raises ConfigError for a missing or unreadable file, invalid YAML, an unknown key or a
    value of the wrong type.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(p)!r} does not exist; check the path given to --config.")
    except IsADirectoryError:
        raise ConfigError(f"config file {str(p)!r} is a folder; pass the YAML file inside it.")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {str(p)!r}: {exc}.")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"config file {str(p)!r} is not valid YAML{where}: {problem}; fix the syntax.")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {str(p)!r} must hold a mapping of keys such as 'study:' and 'space:', "
            f"not a {type(data).__name__}.")
    return check_config(data, source=str(p))


def check_config(data: Mapping[str, Any], source: str = "config") -> dict[str, Any]:
    """Check key names and value types of a configuration mapping; return a normalised copy."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str) or key not in FILE_KEYS:
            close = difflib.get_close_matches(str(key), FILE_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(FILE_KEYS)}."
            raise ConfigError(f"{source}: unknown key {key!r}{hint}")
        if value is None:
            continue
        out[key] = _check_value(key, value, source)
    return out


def _check_value(key: str, value: Any, source: str) -> Any:
    where = f"{source}: {key!r}"
    if key in _INT_KEYS:
        return _as_int(value, where)
    if key in _FLOAT_KEYS:
        return _as_float(value, where)
    if key in _BOOL_KEYS:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}.")
        return value
    if key in _STR_KEYS:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where} must be a non-empty string, got {value!r}.")
        return value.strip()
    if key == "objective":
        return _check_objective(value, where)
    if key == "command":
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, list) and value and all(isinstance(v, (str, int, float)) for v in value):
            return [str(v) for v in value]
        raise ConfigError(f"{where} must be a command line (a string) or a list of arguments, got {value!r}.")
    if key == "space":
        if not isinstance(value, dict):
            raise ConfigError(
                f"{where} must be a mapping from hyperparameter names to definitions such as "
                "{type: float, min: 0.0001, max: 0.01, sampling: log}.")
        return dict(value)
    if key == "env":
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise ConfigError(f"{where} must be a mapping of environment variable names to values.")
        bad = [k for k, v in value.items() if isinstance(v, (dict, list)) or v is None]
        if bad:
            raise ConfigError(f"{where}: the value of {bad[0]!r} must be a string or a number.")
        return {k: _env_text(v) for k, v in value.items()}
    raise AssertionError(key)  # pragma: no cover - every key is handled above


def _env_text(v: Any) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def _check_objective(value: Any, where: str) -> Any:
    def one(item: Any) -> Any:
        if isinstance(item, str) and item.strip():
            return item.strip()
        if isinstance(item, dict):
            unknown = set(item) - {"name", "direction"}
            if unknown or not isinstance(item.get("name"), str):
                raise ConfigError(
                    f"{where}: an objective mapping holds 'name' and optionally 'direction' "
                    f"(min or max), got {item!r}.")
            direction = item.get("direction")
            if direction is not None and direction not in ("min", "max"):
                raise ConfigError(f"{where}: direction must be 'min' or 'max', got {direction!r}.")
            return {k: v for k, v in item.items() if v is not None}
        raise ConfigError(
            f"{where} must be a metric name, a mapping {{name: ..., direction: min|max}}, or a "
            f"list of them, got {item!r}.")

    if isinstance(value, list):
        if not value:
            raise ConfigError(f"{where} must not be an empty list.")
        return [one(v) for v in value]
    return one(value)


def _as_int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be an integer, got {value!r}.")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{where} must be an integer, got {value!r}.")


def _as_float(value: Any, where: str) -> float:
    # PyYAML reads "1e-4" (no dot) as a string: accept numeric strings.
    if isinstance(value, bool):
        raise ConfigError(f"{where} must be a number, got {value!r}.")
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise ConfigError(f"{where} must be a number, got {value!r}.") from None
    else:
        raise ConfigError(f"{where} must be a number, got {value!r}.")
    if not math.isfinite(result):
        raise ConfigError(f"{where} must be a finite number, got {value!r}.")
    return result


def _as_number(value: Any, where: str) -> int | float:
    """An int stays an int (so Int ranges keep integer bounds); numeric strings are parsed."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    return _as_float(value, where)


# -- merging with flags -------------------------------------------------------------------
def build_run_config(file_values: Mapping[str, Any] | None, flags: Mapping[str, Any],
                     config_path: str | os.PathLike[str] | None = None) -> RunConfig:
    """Merge the values of a config file with flags (flags win; ``None`` means not given)
    and check the result.

    Raises ConfigError naming the key (or flag) and the fix.
    """
    file_values = dict(file_values or {})
    cfg = RunConfig(config_path=Path(config_path).resolve() if config_path else None)
    for f in fields(RunConfig):
        if f.name in file_values:
            setattr(cfg, f.name, file_values[f.name])
    base = cfg.base_dir
    # Paths written in the file are relative to the file.
    if cfg.function and "function" in file_values:
        cfg.function = _resolve_function_path(cfg.function, base)
    if cfg.workdir:
        cfg.workdir = str((base / cfg.workdir).resolve())
    if cfg.log_dir:
        cfg.log_dir = str((base / cfg.log_dir).resolve())
    if cfg.storage and "storage" in file_values:
        cfg.storage = resolve_sqlite_path(cfg.storage, base)
    cfg.command_from_file = cfg.command is not None

    known = {f.name for f in fields(RunConfig)} - {"config_path", "command_from_file"}
    for key, value in flags.items():
        if value is not None and key in known:
            setattr(cfg, key, value)
    # A target given on the command line (a function or --command) replaces the file's target.
    if flags.get("function") is not None or flags.get("command") is not None:
        cfg.function = flags.get("function")
        cfg.command = flags.get("command")
        cfg.command_from_file = False

    _validate(cfg)
    return cfg


def _validate(cfg: RunConfig) -> None:
    if cfg.function and cfg.command:
        raise ConfigError(
            "both a function and a command are given; tune one of them (remove 'function:' or "
            "'command:' from the config, or drop the positional target or --command).")
    if not cfg.function and not cfg.command:
        raise ConfigError(
            "nothing to tune: pass a function (tunewise run train.py:train), a command "
            "(--command \"python train.py --lr {learning_rate}\"), or a config file with "
            "'function:' or 'command:' (--config tunewise.yaml).")
    if cfg.command and cfg.space is None:
        raise ConfigError(
            "a command needs a search space: declare it under 'space:' in the config file "
            "(for example  space: {learning_rate: {type: float, min: 0.0001, max: 0.01, "
            "sampling: log}}) and pass it with --config.")
    for key, minimum in (("max_trials", 1), ("executions_per_trial", 1),
                         ("max_retries_per_trial", 0), ("max_consecutive_failed_trials", 1)):
        value = getattr(cfg, key)
        if value is not None and value < minimum:
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"{key} must be at least {minimum}, got {value}; fix {key}: or {flag}.")
    for key in ("timeout", "trial_timeout"):
        value = getattr(cfg, key)
        if value is not None and value <= 0:
            raise ConfigError(f"{key} must be a positive number of seconds, got {value}.")
    if cfg.direction is not None:
        if cfg.direction not in ("min", "max"):
            raise ConfigError(f"direction must be 'min' or 'max', got {cfg.direction!r}.")
        if cfg.objective is None:
            raise ConfigError("direction is given without an objective; pass --objective NAME too.")
        if isinstance(cfg.objective, list):
            raise ConfigError(
                "direction applies to one objective; for several, give each its direction in the "
                "config file (objective: [{name: ..., direction: ...}, ...]).")
    if cfg.study is not None and not cfg.study.strip():
        raise ConfigError("the study name must not be empty; pass --study NAME.")


def _resolve_function_path(target: str, base: Path) -> str:
    path, sep, func = target.rpartition(":")
    if sep and (path.endswith(".py") or "/" in path or os.sep in path):
        p = Path(path)
        if not p.is_absolute():
            p = base / p
        return f"{p}:{func}"
    return target


def resolve_sqlite_path(url: str, base: Path) -> str:
    """Make the path of a relative ``sqlite:///file.db`` URL relative to ``base``."""
    prefix = "sqlite:///"
    if url.startswith(prefix):
        rest = url[len(prefix):]
        path, q, query = rest.partition("?")
        if path and path != ":memory:" and not path.startswith("/") and not Path(path).is_absolute():
            return prefix + str((base / path).resolve()) + q + query
    return url


def objective_argument(cfg: RunConfig) -> Any:
    """The ``objective`` argument for ``tunewise.Study``: a name, an Objective or a list; None
    when not given."""
    from .objective import Objective, infer_direction

    def one(item: Any, direction: str | None = None) -> Any:
        if isinstance(item, dict):
            name, direction = item["name"], item.get("direction") or direction
        else:
            name = item
        if direction is None:
            direction = infer_direction(name)
        return Objective(name, direction)

    if cfg.objective is None:
        return None
    if isinstance(cfg.objective, list):
        return [one(o) for o in cfg.objective]
    return one(cfg.objective, cfg.direction)


def default_study_name(cfg: RunConfig) -> str:
    """The study name used when none is given, so that the same command resumes the same study.

    - with a config file: the file's stem (``mnist.yaml`` -> ``mnist``); a file named
      ``tunewise.yaml``/``config.yaml`` takes the name of the folder holding it;
    - a function: the module and function (``train.py:train`` -> ``train.train``);
    - a command: the first script the command names (``python train.py ...`` -> ``train``),
      else the program's name.
    """
    if cfg.config_path is not None:
        stem = cfg.config_path.stem
        if stem.lower() in ("tunewise", "config") and cfg.config_path.parent.name:
            return cfg.config_path.parent.name
        return stem
    if cfg.function:
        module, _, func = cfg.function.rpartition(":")
        stem = Path(module).stem if module.endswith(".py") else module.rsplit(".", 1)[-1]
        return f"{stem}.{func}"
    tokens = cfg.command if isinstance(cfg.command, list) else shlex.split(cfg.command or "")
    for tok in tokens:
        if "{" in tok or tok.startswith("-"):
            continue
        if Path(tok).suffix and Path(tok).suffix not in (".exe",):
            return Path(tok).stem
    return Path(tokens[0]).stem if tokens else "study"


# -- the search space ---------------------------------------------------------------------
def build_hyperparameters(space: Mapping[str, Any], source: str = "config") -> HyperParameters:
    """Build a ``HyperParameters`` from a ``space:`` mapping.

    Each entry is ``name: {type: int|float|choice|boolean|fixed, ...}`` with the keys of
    ``hp.Int``/``hp.Float`` (``min``, ``max``, ``step``, ``sampling``, ``default``),
    ``hp.Choice`` (``values``, ``ordered``, ``default``), ``hp.Boolean`` (``default``) or
    ``hp.Fixed`` (``value``), and optionally ``parent``/``parent_values`` for a conditional
    hyperparameter. Two shorthands: a list is a choice, a plain scalar is fixed.

    >>> hp = build_hyperparameters({"lr": {"type": "float", "min": 0.001, "max": 0.1,
    ...                                    "sampling": "log"}, "act": ["relu", "tanh"]})
    >>> hp.values
    {'lr': 0.001, 'act': 'relu'}
    """
    hp = HyperParameters()
    entries: list[tuple[str, dict[str, Any]]] = []
    for name, spec in space.items():
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ConfigError(
                f"{source}: space: hyperparameter name {name!r} must start with a letter or '_' "
                "and hold only letters, digits, '_', '.' and '-'.")
        entries.append((name, _normalise_spec(name, spec, source)))

    # Define parents before their children, whatever the order in the file.
    names = {n for n, _ in entries}
    pending = list(entries)
    while pending:
        progressed = False
        rest = []
        for name, spec in pending:
            parent = spec.get("parent")
            if parent is not None and parent not in names:
                raise ConfigError(
                    f"{source}: space: {name!r} has parent {parent!r}, which is not in the space; "
                    f"declare {parent!r} under 'space:' or fix the name.")
            if parent is None or parent in hp:
                _declare(hp, name, spec, source)
                progressed = True
            else:
                rest.append((name, spec))
        if not progressed:
            cycle = ", ".join(n for n, _ in rest)
            raise ConfigError(f"{source}: space: the parents of {cycle} form a cycle; a "
                              "hyperparameter cannot depend on itself.")
        pending = rest
    return hp


def _normalise_spec(name: str, spec: Any, source: str) -> dict[str, Any]:
    where = f"{source}: space: {name!r}"
    if isinstance(spec, list):
        return {"type": "choice", "values": spec}
    if not isinstance(spec, dict):
        if isinstance(spec, (str, int, float, bool)):
            return {"type": "fixed", "value": spec}
        raise ConfigError(f"{where} must be a mapping such as {{type: int, min: 1, max: 8}}, got {spec!r}.")
    kind = spec.get("type")
    if not isinstance(kind, str) or kind.lower() not in _SPACE_TYPES + ("bool", "integer", "categorical"):
        raise ConfigError(
            f"{where} needs 'type:' set to one of {', '.join(_SPACE_TYPES)}, got {kind!r}.")
    kind = {"bool": "boolean", "integer": "int", "categorical": "choice"}.get(kind.lower(), kind.lower())
    allowed = _SPACE_KEYS[kind]
    for key in spec:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), sorted(allowed), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"a {kind} takes {', '.join(sorted(allowed))}."
            raise ConfigError(f"{where}: unknown key {key!r}; {hint}")
    out = dict(spec, type=kind)
    if "parent_values" in out and "parent" not in out:
        raise ConfigError(f"{where}: 'parent_values' needs 'parent' (the name of the hyperparameter it depends on).")
    if "parent" in out:
        if "parent_values" not in out:
            raise ConfigError(f"{where}: 'parent: {out['parent']}' needs 'parent_values' (the values of "
                              f"{out['parent']!r} for which {name!r} is active).")
        pv = out["parent_values"]
        out["parent_values"] = pv if isinstance(pv, list) else [pv]
    return out


def _declare(hp: HyperParameters, name: str, spec: dict[str, Any], source: str) -> None:
    where = f"{source}: space: {name!r}"
    kind = spec["type"]
    cond = {"parent_name": spec.get("parent"), "parent_values": spec.get("parent_values")}
    try:
        if kind in ("int", "float"):
            for key in ("min", "max"):
                if key not in spec:
                    raise ConfigError(f"{where}: a {kind} needs '{key}:'.")
            if kind == "int":
                lo, hi = _as_int(spec["min"], f"{where} min"), _as_int(spec["max"], f"{where} max")
                step = _as_int(spec["step"], f"{where} step") if spec.get("step") is not None else None
                default = _as_int(spec["default"], f"{where} default") if spec.get("default") is not None else None
                hp.Int(name, lo, hi, step=step, sampling=spec.get("sampling", "linear"),
                       default=default, **cond)
            else:
                lo, hi = _as_float(spec["min"], f"{where} min"), _as_float(spec["max"], f"{where} max")
                step = _as_float(spec["step"], f"{where} step") if spec.get("step") is not None else None
                default = _as_float(spec["default"], f"{where} default") if spec.get("default") is not None else None
                hp.Float(name, lo, hi, step=step, sampling=spec.get("sampling", "linear"),
                         default=default, **cond)
        elif kind == "choice":
            values = spec.get("values")
            if not isinstance(values, list):
                raise ConfigError(f"{where}: a choice needs 'values:' as a list, such as [relu, tanh].")
            hp.Choice(name, values, ordered=spec.get("ordered"), default=spec.get("default"), **cond)
        elif kind == "boolean":
            default = spec.get("default", False)
            if not isinstance(default, bool):
                raise ConfigError(f"{where}: default must be true or false, got {default!r}.")
            hp.Boolean(name, default=default, **cond)
        else:
            if "value" not in spec:
                raise ConfigError(f"{where}: a fixed hyperparameter needs 'value:'.")
            hp.Fixed(name, spec["value"], **cond)
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{source}: space: {exc}") from None
