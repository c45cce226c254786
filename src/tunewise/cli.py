"""The ``tunewise`` command line: run, status, best, export, demo.

Every user error prints one line, ``tunewise: error: <what is wrong and how to fix it>``, and
exits with status 2; a traceback means a bug in tunewise. Ctrl-C exits with status 130 and
leaves the study resumable: run the same command again to continue.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import inspect
import io
import json
import logging
import math
import os
import sys
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, NoReturn, Sequence

from .errors import FatalError
from .config import (DEFAULT_STORAGE, ConfigError, RunConfig, build_hyperparameters,
                     build_run_config, default_study_name, load_config_file,
                     objective_argument, resolve_sqlite_path)

__all__ = ["main", "UsageError"]

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class UsageError(ValueError):
    """A mistake of the user's: printed as one line, exit status 2."""


# -- argument parsing ---------------------------------------------------------------------
_RUN_EPILOG = """\
what to tune:
  a Python function     tunewise run path/to/train.py:train      (or package.module:train)
                        train(trial) reads trial.hp and returns a number or a dict of metrics
  any command           tunewise run -c tunewise.yaml --command "python train.py --lr {lr}"
                        {name} is replaced by the value of hyperparameter `name` (declared under
                        `space:` in the config file); the last line of the command's output that
                        is a JSON object, such as {"val_accuracy": 0.93}, gives the metrics.
                        The command also sees TUNEWISE_TRIAL_NUMBER, TUNEWISE_TRIAL_SEED,
                        TUNEWISE_STUDY and TUNEWISE_HPARAMS (JSON) in its environment.

config file keys (flags override them):
  study, storage, objective, direction, sampler, seed, max_trials, executions_per_trial,
  timeout, max_retries_per_trial, max_consecutive_failed_trials, overwrite, function,
  command, space, trial_timeout, workdir, env, show_output, log_dir
  Relative paths in the file are relative to the file's folder; a command from the file runs
  in that folder (or in `workdir`).

space entries:
  lr:      {type: float, min: 1.0e-4, max: 1.0e-2, sampling: log}
  units:   {type: int, min: 32, max: 512, step: 32}
  act:     {type: choice, values: [relu, tanh]}        (shorthand: act: [relu, tanh])
  bn:      {type: boolean}
  epochs:  {type: fixed, value: 5}                     (shorthand: epochs: 5)
  filters: {type: int, min: 8, max: 64, parent: model, parent_values: [cnn]}

defaults:
  storage     sqlite:///tunewise.db in the current folder
  study       the config file's name (tunewise.yaml takes its folder's name), else
              <module>.<function> for a function, else the script a command runs
  max_trials  10 when neither --max-trials nor --timeout is given
Running the same command again resumes the study where it stopped.
"""


def _add_storage_args(p: argparse.ArgumentParser, study_help: str) -> None:
    p.add_argument("--storage", metavar="URL",
                   help=f"where studies are kept: sqlite:///file.db or a SQLAlchemy URL "
                        f"(default: {DEFAULT_STORAGE}, or the config file's)")
    p.add_argument("--study", metavar="NAME", help=study_help)
    p.add_argument("-c", "--config", metavar="FILE",
                   help="read the study name and storage from this run config file")


def _add_parallel_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--n-jobs", type=_int, metavar="N",
                   help="run N trials at once, each in a worker process with its share of the "
                        "CPU threads (-1: one per CPU)")
    p.add_argument("--isolate", action="store_true", default=None,
                   help="run every trial in a fresh process, so its memory is returned after it")
    p.add_argument("--devices", metavar="IDS",
                   help="GPU ids such as 0,1: one worker per GPU, each seeing only its own "
                        "(CUDA_VISIBLE_DEVICES)")
    p.add_argument("--dask", metavar="ADDRESS",
                   help="run the trials on the Dask cluster whose scheduler is at ADDRESS "
                        "(tcp://host:8786); the storage must be reachable from its workers")
    p.add_argument("--heartbeat-timeout", type=_number, metavar="SECONDS",
                   help="take over a running trial whose worker has sent no heartbeat for this "
                        "long (default 60)")


def _int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    return value


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors in tunewise's one-line format."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see '{self.prog} --help').")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="tunewise",
        description="Tune the hyperparameters of any training function or script. "
                    "Results are kept in a database; run the same command again to resume.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  tunewise demo\n"
               "  tunewise run train.py:train --objective val_accuracy --max-trials 20\n"
               "  tunewise run -c tunewise.yaml\n"
               "  tunewise status\n"
               "  tunewise best -n 3\n"
               "  tunewise export --format csv --out results.csv\n")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command_name", metavar="COMMAND", parser_class=_Parser)

    run = sub.add_parser(
        "run", help="run (or resume) a search", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run a search on a Python function or on any command, or resume it.",
        epilog=_RUN_EPILOG)
    run.add_argument("target", nargs="?", metavar="FUNCTION",
                     help="the function to tune: path/to/train.py:train or package.module:train")
    run.add_argument("-c", "--config", metavar="FILE", help="a YAML run config file")
    run.add_argument("--command", metavar="TEMPLATE",
                     help='a command to tune, such as "python train.py --lr {learning_rate}"; '
                          "the space comes from the config file")
    run.add_argument("--study", metavar="NAME", help="the study's name (see defaults below)")
    run.add_argument("--storage", metavar="URL", help=f"database URL (default: {DEFAULT_STORAGE})")
    run.add_argument("--objective", metavar="METRIC",
                     help="the metric to optimise, such as val_accuracy or val_loss")
    run.add_argument("--direction", choices=["min", "max"],
                     help="minimise or maximise the objective (inferred from its name if omitted)")
    run.add_argument("--sampler", metavar="NAME", help="search strategy: auto (the default), bayesian, tpe, random or grid")
    run.add_argument("--max-trials", type=_int, metavar="N",
                     help="the number of trials of the study, earlier runs included")
    run.add_argument("--executions-per-trial", type=_int, metavar="N",
                     help="run each trial N times with different seeds and score the mean")
    run.add_argument("--seed", type=_int, metavar="N", help="seed of the search")
    run.add_argument("--timeout", type=_number, metavar="SECONDS",
                     help="stop starting new trials after this many seconds")
    run.add_argument("--trial-timeout", type=_number, metavar="SECONDS",
                     help="stop a trial that runs longer than this and record it as failed "
                          "(\"timeout\")")
    run.add_argument("--max-retries-per-trial", type=_int, metavar="N",
                     help="retry a trial that raises (or whose command fails) up to N times")
    run.add_argument("--max-consecutive-failed-trials", type=_int, metavar="N",
                     help="stop after N failed trials in a row (default 3)")
    run.add_argument("--overwrite", action="store_true", default=None,
                     help="delete the study's stored trials and start afresh")
    run.add_argument("--show-output", action="store_true", default=None,
                     help="copy each command's output to the terminal")
    run.add_argument("--log-dir", metavar="DIR",
                     help="keep each command's full output in DIR/trial-NNNN.out and .err")
    run.add_argument("--quiet", action="store_true", help="no progress display or summary")
    _add_parallel_args(run)

    worker = sub.add_parser(
        "worker", help="join a study's search from this machine",
        description="Run trials of an existing study, from any machine that reaches its "
                    "storage. A study started by 'tunewise run' knows what to run; for one made "
                    "in Python, give the function. Workers coordinate only through the storage; "
                    "start as many as you like, and stop or kill any of them at any time.")
    worker.add_argument("target", nargs="?", metavar="FUNCTION",
                        help="the function, if the study does not name one (path/to/train.py:train)")
    worker.add_argument("--storage", metavar="URL", help=f"the study's database (default: {DEFAULT_STORAGE})")
    worker.add_argument("--study", metavar="NAME",
                        help="the study to join (default: the only study in the storage)")
    worker.add_argument("--max-trials", type=_int, metavar="N",
                        help="the study's trial count to stop at (default: the one it was run with)")
    worker.add_argument("--timeout", type=_number, metavar="SECONDS",
                        help="stop starting new trials after this many seconds")
    worker.add_argument("--quiet", action="store_true", help="no progress display or summary")
    _add_parallel_args(worker)

    status = sub.add_parser("status", help="list the studies in a storage, or show one",
                            description="List the studies in a storage with their trial counts "
                                        "by state and best score; with --study, show one study.")
    _add_storage_args(status, "show this study only")
    status.add_argument("--json", action="store_true", help="print JSON")

    best = sub.add_parser("best", help="show the best trial(s) of a study",
                          description="Show the best trials of a study: number, score, "
                                      "hyperparameters (the Pareto front for several objectives).")
    _add_storage_args(best, "the study (default: the only study in the storage)")
    best.add_argument("-n", type=_int, default=1, metavar="N", help="how many (default 1)")
    best.add_argument("--json", action="store_true", help="print JSON")

    export = sub.add_parser("export", help="export every trial of a study as CSV, JSON or "
                                           "TensorBoard HParams",
                            description="Export one row per trial: number, state, each "
                                        "hyperparameter, each metric, score, duration, error; "
                                        "or, with --format tensorboard --out DIR, one "
                                        "TensorBoard run per trial for the HParams dashboard "
                                        "(needs pip install tensorboard).")
    _add_storage_args(export, "the study (default: the only study in the storage)")
    export.add_argument("--format", choices=["csv", "json", "tensorboard"], default="csv",
                        help="default: csv")
    export.add_argument("--out", metavar="FILE",
                        help="write to FILE (default: standard output); for tensorboard, the "
                             "folder to write (required)")
    export.add_argument("--steps", action="store_true",
                        help="export the intermediate results (one row per trial and reported step) "
                             "instead of one row per trial")

    report = sub.add_parser("report", help="write an HTML report (or PNG figures) of a study",
                            description="Write a self-contained HTML report of a study: summary, "
                                        "figures (history, effects, a 3-D view with trims, "
                                        "histograms, parallel coordinates, importance, curves, "
                                        "time, failures) and a sortable table; or, with --format "
                                        "png, each figure as a PNG in the --out folder. Needs "
                                        "pip install 'tunewise[report]'.")
    _add_storage_args(report, "the study (default: the only study in the storage)")
    report.add_argument("--out", metavar="PATH", default=None,
                        help="the HTML file (default: report.html) or, for png, the folder "
                             "(default: report/)")
    report.add_argument("--format", choices=["html", "png"], default="html", help="default: html")
    report.add_argument("--metric", metavar="NAME", default=None,
                        help="the metric to draw (default: the objective)")

    demo = sub.add_parser("demo", help="tune a small Keras network on the digits data set",
                          description="Tune a small Keras MLP on scikit-learn's digits: units, "
                                      "activation, dropout and learning rate. Needs "
                                      "pip install 'tunewise[demo]' torch==2.13.0.")
    demo.add_argument("--trials", type=_int, default=20, metavar="N", help="default 20")
    demo.add_argument("--epochs", type=_int, default=20, metavar="N",
                      help="epochs per trial (default 20)")
    demo.add_argument("--storage", metavar="URL", default="sqlite:///tunewise-demo.db",
                      help="default: sqlite:///tunewise-demo.db")
    demo.add_argument("--study", metavar="NAME", default="demo", help="default: demo")
    demo.add_argument("--resume", action="store_true",
                      help="continue the stored demo study instead of starting afresh")
    demo.add_argument("--seed", type=_int, default=None, metavar="N",
                      help="seed of the search")
    return parser


# -- main ---------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``tunewise`` command line; return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        if args.version:
            from . import __version__

            print(f"tunewise {__version__}")
            return 0
        if args.command_name is None:
            parser.print_help()
            return EXIT_USAGE
        handler = {"run": cmd_run, "worker": cmd_worker, "status": cmd_status, "best": cmd_best,
                   "export": cmd_export, "report": cmd_report, "demo": cmd_demo}[args.command_name]
        return handler(args)
    except FatalError as exc:  # the user's function stopped the search: its message, one line
        sys.stdout.flush()
        first = str(exc).strip().splitlines()
        print(f"tunewise: error: a trial raised FatalError, which stops the search: "
              f"{first[0] if first else ''}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        sys.stdout.flush()
        print("\ntunewise: interrupted; run the same command again to resume.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (ValueError, _StudyNotFound) as exc:
        # ValueError is how tunewise reports bad input (configs, spaces, settings, URLs).
        _print_error(exc)
        return EXIT_USAGE


# The core's messages speak Python; on the command line the fix is a flag.
_CLI_WORDING = [
    ("Pass overwrite=True to start afresh", "Pass --overwrite (or overwrite: true) to start afresh"),
    ("pass overwrite=True", "pass --overwrite"),
    (" or pass a tunewise.samplers.Sampler instance", " (--sampler or sampler:)"),
    ("; pass None (in memory), 'sqlite:///", "; use 'sqlite:///"),
]


def _print_error(exc: BaseException) -> None:
    message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    message = " ".join(str(message).split())
    for python, flag in _CLI_WORDING:
        message = message.replace(python, flag)
    sys.stdout.flush()
    print(f"tunewise: error: {message}", file=sys.stderr)


class _StudyNotFound(Exception):
    """A study (or storage) that status/best/export cannot find."""


class _StderrHandler(logging.Handler):
    """Writes to whatever ``sys.stderr`` is at the time (tests and wrappers replace it)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # pragma: no cover - logging must never raise
            self.handleError(record)


@contextlib.contextmanager
def _cli_logging(quiet: bool = False) -> Iterator[None]:
    """Show tunewise's log messages (failed trials, why a search stopped) on stderr while a
    command runs, then put the logger back as it was (main() may run inside a program)."""
    logger = logging.getLogger("tunewise")
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("tunewise: %(message)s"))
    handler.setLevel(logging.ERROR if quiet else logging.INFO)
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# -- run ----------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace) -> int:
    import tunewise
    from .schedulers import scheduler_from_config
    from .storage import get_storage

    file_values: dict[str, Any] = {}
    if args.config:
        file_values = load_config_file(args.config)
    flags = {
        "function": args.target, "command": args.command, "study": args.study,
        "storage": args.storage, "objective": args.objective, "direction": args.direction,
        "sampler": args.sampler, "max_trials": args.max_trials,
        "executions_per_trial": args.executions_per_trial, "seed": args.seed,
        "timeout": args.timeout, "trial_timeout": args.trial_timeout,
        "max_retries_per_trial": args.max_retries_per_trial,
        "max_consecutive_failed_trials": args.max_consecutive_failed_trials,
        "overwrite": args.overwrite, "show_output": args.show_output,
        "log_dir": str(Path(args.log_dir).resolve()) if args.log_dir else None,
    }
    cfg = build_run_config(file_values, flags, config_path=args.config)
    return _search(cfg, args)


# What ``tunewise run`` stores with the study (settings["run"]), so that ``tunewise worker``
# can join it: the config file's keys that say what to run and how, paths made absolute.
_RUN_SPEC_KEYS = ("function", "command", "space", "workdir", "env", "trial_timeout", "show_output",
                  "log_dir", "max_trials", "executions_per_trial", "timeout",
                  "max_retries_per_trial", "max_consecutive_failed_trials")


def _run_spec(cfg: RunConfig, cwd: str | None) -> dict[str, Any]:
    from .config import _resolve_function_path

    spec = {k: getattr(cfg, k) for k in _RUN_SPEC_KEYS if getattr(cfg, k) is not None}
    if cfg.function:
        spec["function"] = _resolve_function_path(cfg.function, Path.cwd())
    if cfg.command:
        spec["workdir"] = cwd
    return spec


def cmd_worker(args: argparse.Namespace) -> int:
    """Join a stored study: what to run comes from the study (``tunewise run`` stored it)."""
    from .storage import get_storage

    storage_url = args.storage or DEFAULT_STORAGE
    _check_exists(storage_url)
    storage = get_storage(storage_url)
    name = args.study
    if name is None:
        studies = storage.list_studies()
        if len(studies) != 1:
            known = ", ".join(repr(s.name) for s in studies) or "none"
            raise UsageError(f"{storage.url} holds {len(studies)} studies ({known}); pick one with "
                             "--study NAME.")
        name = studies[0].name
    info = storage.get_study(name)
    if info is None:
        known = ", ".join(repr(s.name) for s in storage.list_studies()) or "none"
        raise _StudyNotFound(f"no study named {name!r} in {storage.url} (studies there: {known}).")
    spec = dict(info.settings.get("run") or {})
    if args.target is None and not spec.get("function") and not spec.get("command"):
        raise UsageError(
            f"study {name!r} was not started by 'tunewise run', so it does not say what to run; "
            f"pass the function: tunewise worker --study {name} path/to/train.py:train")
    flags = {"study": name, "storage": storage_url, "function": args.target,
             "max_trials": args.max_trials, "timeout": args.timeout}
    if args.timeout is not None:
        spec.pop("timeout", None)
    cfg = build_run_config(spec, flags)
    return _search(cfg, args, worker=True)


def _search(cfg: RunConfig, args: argparse.Namespace, worker: bool = False) -> int:
    """Run (or join, for a worker) the search that ``cfg`` describes."""
    import tunewise
    from .schedulers import scheduler_from_config
    from .storage import get_storage

    study_name = cfg.study or default_study_name(cfg)
    storage_url = cfg.storage or DEFAULT_STORAGE
    try:
        objective = objective_argument(cfg)
    except ValueError as exc:
        if "infer" not in str(exc):
            raise
        raise ConfigError(
            f"cannot tell whether to minimise or maximise the objective {cfg.objective!r}; pass "
            "--direction min or --direction max (in the config file: objective: {name: ..., "
            "direction: min|max}).") from None
    max_trials = cfg.max_trials
    if max_trials is None and cfg.timeout is None:
        max_trials = 10

    # Everything that can be checked without the storage is checked first, so that a
    # mistake never touches a stored study.
    hyperparameters = None
    if cfg.space is not None:
        hyperparameters = build_hyperparameters(cfg.space, source=_source(cfg))
    template, cwd = None, None
    if cfg.command:
        template, cwd = _command_template(cfg, hyperparameters)
    else:
        assert cfg.function
        fn = load_function(cfg.function)

    if cfg.sampler is not None:
        from .samplers import make_sampler

        make_sampler(cfg.sampler)  # ValueError naming the known samplers
    parallel = _parallel_options(args, cfg, command=template is not None)
    db_path = _sqlite_path(storage_url)
    if objective is None and db_path is not None and not Path(db_path).exists() \
            and Path(db_path).resolve().parent.is_dir():
        _no_objective(study_name)  # a new database holds no study to take it from
    storage = get_storage(storage_url)
    info = storage.get_study(study_name)
    resuming = info is not None and not cfg.overwrite
    if objective is None:
        if not resuming:
            _no_objective(study_name)
        objective = [tunewise.Objective(**o) for o in info.settings["objectives"]]  # type: ignore[union-attr]
    sampler = cfg.sampler
    if sampler is None:
        stored = info.settings.get("sampler") if resuming else None  # type: ignore[union-attr]
        sampler = stored.get("name", "auto") if isinstance(stored, dict) else "auto"
    if template is not None:
        fn = _command_function(cfg, template, cwd, study_name, objective)

    # A study made in Python with a scheduler resumes with it.
    scheduler = scheduler_from_config(info.settings.get("scheduler")) if resuming else None  # type: ignore[union-attr]
    study = tunewise.Study(study_name, objective=objective, storage=storage, sampler=sampler,
                           scheduler=scheduler, seed=cfg.seed, hyperparameters=hyperparameters,
                           overwrite=bool(cfg.overwrite))
    if not worker:  # what a `tunewise worker` that joins later runs
        storage.update_settings(study._id, {"run": _run_spec(cfg, cwd)})
    if not args.quiet:
        before = len(study.trials)
        verb = "joining" if worker else "resuming" if before else "starting"
        what = f"{verb} study {study_name!r} in {storage.url}"  # its password hidden
        if before:
            what += f" ({before} trials so far)"
        print(f"tunewise: {what}", file=sys.stderr)
    failures_allowed = cfg.max_consecutive_failed_trials
    with _cli_logging(quiet=args.quiet):
        study.optimize(fn, max_trials=max_trials, timeout=cfg.timeout,
                       executions_per_trial=cfg.executions_per_trial or 1,
                       max_retries_per_trial=cfg.max_retries_per_trial or 0,
                       max_consecutive_failed_trials=3 if failures_allowed is None else failures_allowed,
                       show_progress=not args.quiet, **parallel)
    trials = study.trials
    completed = [t for t in trials if t.state.value == "completed"]
    if not args.quiet:
        print(f"study {study_name!r}: {len(trials)} trials ({_state_counts(trials)})"
              + (f"; stopped: {study.stop_reason}" if study.stop_reason else ""))
        _print_best(study, study.best_trials(1 if not study.is_multi_objective else None))
    failed_out = bool(study.stop_reason and "consecutive" in study.stop_reason)
    return 1 if failed_out or not completed else 0


def _parallel_options(args: argparse.Namespace, cfg: RunConfig, command: bool) -> dict[str, Any]:
    """optimize's keyword arguments for --n-jobs, --isolate, --devices, --dask, --trial-timeout
    and --heartbeat-timeout."""
    options: dict[str, Any] = {}
    if args.n_jobs is not None:
        if args.n_jobs == 0 or args.n_jobs < -1:
            raise UsageError(f"--n-jobs must be a positive number or -1 (one per CPU), got {args.n_jobs}.")
        options["n_jobs"] = args.n_jobs
    if args.isolate:
        options["isolate"] = True
    if args.devices:
        options["devices"] = [d.strip() for d in args.devices.split(",") if d.strip()]
    if cfg.trial_timeout is not None and not command:  # a command stops itself (its runner's timeout)
        options["trial_timeout"] = cfg.trial_timeout
    if args.heartbeat_timeout is not None:
        if args.heartbeat_timeout <= 0:
            raise UsageError(f"--heartbeat-timeout must be positive, got {args.heartbeat_timeout}.")
        options["heartbeat_timeout"] = args.heartbeat_timeout
    if args.dask:
        if set(options) & {"n_jobs", "devices"}:
            raise UsageError("--dask runs trials where the cluster puts them: leave out --n-jobs "
                             "and --devices.")
        try:
            from distributed import Client
        except ImportError:
            raise UsageError("--dask needs Dask: pip install 'tunewise[dask]'.") from None
        import tunewise

        try:
            client = Client(args.dask, timeout=10)
        except OSError as exc:
            raise UsageError(f"--dask {args.dask}: cannot reach the Dask scheduler ({exc}); check "
                             "the address (tcp://host:8786) and that the scheduler runs.") from None
        options["executor"] = tunewise.DaskExecutor(client)
    return options


def _no_objective(study_name: str) -> NoReturn:
    raise ConfigError(
        f"no objective for the new study {study_name!r}: pass --objective METRIC (the metric to "
        "optimise, such as val_accuracy) or set 'objective:' in the config file.")


def _sqlite_path(url: str) -> str | None:
    """The file of an ``sqlite:///file.db`` URL; None for other URLs and in-memory SQLite."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix):].split("?", 1)[0]
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return path


def _source(cfg: RunConfig) -> str:
    return str(cfg.config_path) if cfg.config_path else "config"


def _command_template(cfg: RunConfig, hyperparameters: Any) -> tuple[Any, str]:
    """The checked command template and the folder it runs in."""
    from .execution.command import CommandTemplate

    names = [h.name for h in hyperparameters.space] if hyperparameters is not None else []
    try:
        template = CommandTemplate(cfg.command, names)  # type: ignore[arg-type]
    except ValueError as exc:
        where = f"{_source(cfg)}: 'command'" if cfg.command_from_file else "--command"
        raise ConfigError(f"{where}: {exc}") from None
    if cfg.workdir:
        cwd = cfg.workdir
    elif cfg.command_from_file:
        cwd = str(cfg.base_dir)
    else:
        cwd = os.getcwd()
    if not Path(cwd).is_dir():
        raise ConfigError(f"the command's working folder {cwd!r} does not exist; fix 'workdir:'.")
    return template, cwd


def _command_function(cfg: RunConfig, template: Any, cwd: str, study_name: str,
                      objective: Any) -> Callable[[Any], Any]:
    from .execution.command import command_objective

    objectives = objective if isinstance(objective, list) else [objective]
    # The command's metrics keep the objectives' values even when they are not numbers, so
    # that the study says what is wrong with them.
    names_kept = [getattr(o, "name", o) for o in objectives]
    return command_objective(template, cwd=cwd, env=cfg.env, timeout=cfg.trial_timeout,
                             show_output=bool(cfg.show_output), log_dir=cfg.log_dir,
                             study_name=study_name, objective_names=names_kept)


def load_function(target: str) -> Callable[[Any], Any]:
    """Import ``path/to/train.py:train`` or ``package.module:train`` without running the
    script's ``__main__`` block. A function whose first parameter is named ``hp`` receives
    ``trial.hp`` instead of the trial."""
    module_part, sep, attr = target.rpartition(":")
    if not sep or not module_part or not attr:
        raise UsageError(
            f"cannot read the function {target!r}; write path/to/train.py:function or "
            "package.module:function.")
    looks_like_path = module_part.endswith(".py") or "/" in module_part or os.sep in module_part
    if looks_like_path:
        path = Path(module_part)
        if not path.is_file():
            raise UsageError(f"the script {module_part!r} does not exist; check the path in "
                             f"{target!r}.")
        path = path.resolve()
        folder = str(path.parent)
        if folder not in sys.path:
            sys.path.insert(0, folder)  # so the script's own imports of its neighbours work
        name = path.stem if path.stem.isidentifier() else "tunewise_target"
        existing = sys.modules.get(name)
        if existing is not None and getattr(existing, "__file__", None) != str(path):
            name = f"_tunewise_target_{abs(hash(str(path)))}"
        try:
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None:
                raise UsageError(f"cannot import {module_part!r}: it is not a Python file.")
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            # Worker processes and Dask workers cannot import a script by this name: its
            # functions travel by value.
            import cloudpickle

            cloudpickle.register_pickle_by_value(module)
        except UsageError:
            raise
        except (Exception, SystemExit) as exc:
            sys.modules.pop(name, None)
            raise UsageError(f"importing {module_part!r} failed{_where(exc, str(path))}: "
                             f"{type(exc).__name__}: {exc}; fix the script.") from None
    else:
        if os.getcwd() not in sys.path and "" not in sys.path:
            sys.path.insert(0, os.getcwd())
        try:
            module = importlib.import_module(module_part)
        except ModuleNotFoundError as exc:
            if exc.name and module_part.split(".")[0] == exc.name.split(".")[0] \
                    and module_part.startswith(exc.name):
                raise UsageError(
                    f"no module named {module_part!r}; check the name, run tunewise from the "
                    "folder that holds it, or give the path (path/to/train.py:function).") from None
            raise UsageError(f"importing {module_part!r} failed: {type(exc).__name__}: {exc}.") from None
        except (Exception, SystemExit) as exc:
            raise UsageError(f"importing {module_part!r} failed{_where(exc, None)}: "
                             f"{type(exc).__name__}: {exc}; fix the module.") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            available = sorted(n for n, v in vars(module).items()
                               if callable(v) and not n.startswith("_")
                               and getattr(v, "__module__", None) == module.__name__)
            hint = f" (functions there: {', '.join(available)})" if available else ""
            raise UsageError(f"{module_part!r} has no function {attr!r}{hint}.")
        obj = getattr(obj, part)
    if not callable(obj):
        raise UsageError(f"{target!r} is a {type(obj).__name__}, not a function.")
    try:
        params = list(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        params = []
    if params and params[0] == "hp":
        func = obj

        def call_with_hp(trial: Any) -> Any:
            return func(trial.hp)

        call_with_hp.__name__ = getattr(obj, "__name__", "function")
        return call_with_hp
    return obj


def _where(exc: BaseException, path: str | None) -> str:
    """`` at file:line`` for the innermost frame of the user's file."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f" at line {exc.lineno}"
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if path is None or frame.filename == path:
            return f" at line {frame.lineno}" if path else f" at {frame.filename}:{frame.lineno}"
    return ""


# -- reading results ----------------------------------------------------------------------
def _open_study(args: argparse.Namespace, need_one: bool = True) -> tuple[Any, Any]:
    """The storage named by the flags (or config), and the chosen study (None for status
    without --study). Never creates a database."""
    from .storage import get_storage

    study_name = args.study
    url = args.storage
    if args.config:
        values = load_config_file(args.config)
        cfg_path = Path(args.config).resolve()
        if url is None and values.get("storage"):
            url = resolve_sqlite_path(values["storage"], cfg_path.parent)
        if study_name is None:
            study_name = values.get("study") or default_study_name(
                RunConfig(config_path=cfg_path))
    url = url or DEFAULT_STORAGE
    _check_exists(url)
    storage = get_storage(url)
    if study_name is None:
        if not need_one:
            return storage, None
        studies = storage.list_studies()
        if len(studies) == 1:
            study_name = studies[0].name
        elif not studies:
            raise _StudyNotFound(f"no studies in {storage.url}; run 'tunewise run' first.")
        else:
            names = ", ".join(s.name for s in studies)
            raise _StudyNotFound(f"{storage.url} holds several studies ({names}); choose one with "
                                 "--study NAME.")
    import tunewise

    try:
        study = tunewise.load_study(study_name, storage)
    except KeyError as exc:
        message = exc.args[0] if exc.args else f"no study named {study_name!r}"
        raise _StudyNotFound(f"{message} Pass --study with one of them.") from None
    return storage, study


def _check_exists(url: str) -> None:
    """Reading commands must not create an empty database where the user mistyped a path."""
    path = _sqlite_path(url)
    if path is not None and not Path(path).exists():
        raise _StudyNotFound(
            f"no database at {path!r}; run 'tunewise run' here first, or point --storage at "
            "an existing one (such as sqlite:///path/to/tunewise.db).")


def _state_counts(trials: Sequence[Any]) -> str:
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1
    order = ["completed", "failed", "pruned", "running", "interrupted", "waiting"]
    parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
    parts += [f"{n} {s}" for s, n in counts.items() if s not in order]
    return ", ".join(parts) or "none yet"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return "-" if value is None else str(value)


def _objectives_text(study: Any) -> str:
    return ", ".join(f"{o.name} ({o.direction})" for o in study.objectives)


def _best_text(study: Any) -> str:
    if study.is_multi_objective:
        front = study.best_trials()
        return f"{len(front)} on the Pareto front" if front else "-"
    best = study.best_trials(1)
    if not best:
        return "-"
    return f"{_fmt(best[0].score)} (trial {best[0].number})"


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)).rstrip()]
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
    return "\n".join(lines)


def _print_best(study: Any, best: list[Any]) -> None:
    if not best:
        print("no completed trial yet.")
        return
    if len(best) == 1 and not study.is_multi_objective:
        t = best[0]
        print(f"best: trial {t.number}, {study.objectives[0].name} = {_fmt(t.score)} "
              f"({study.direction})")
        for name, value in t.hyperparameters.items():
            print(f"  {name}: {_fmt(value)}")
        return
    print(_best_table(study, best))


def _best_table(study: Any, best: list[Any]) -> str:
    hp_names = list(dict.fromkeys(k for t in best for k in t.hyperparameters))
    if study.is_multi_objective:
        score_heads = [o.name for o in study.objectives]
    else:
        score_heads = [f"{study.objectives[0].name} ({study.direction})"]
    rows = []
    for rank, t in enumerate(best, 1):
        scores = list(t.score) if study.is_multi_objective else [t.score]
        rows.append([str(rank), str(t.number)] + [_fmt(s) for s in scores]
                    + [_fmt(t.hyperparameters.get(h)) for h in hp_names])
    return _table(["rank", "trial"] + score_heads + hp_names, rows)


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _trial_json(t: Any, full: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"number": t.number, "state": t.state.value, "score": t.score,
                           "score_std": t.score_std, "hyperparameters": t.hyperparameters,
                           "metrics": t.metrics}
    if full:
        out.update({"executions": t.executions, "intermediate": t.intermediate,
                    "started": t.started, "finished": t.finished, "duration": t.duration,
                    "error": t.error, "seed": t.seed, "attempts": t.attempts,
                    "budget": t.budget, "bracket": t.bracket,
                    "rungs": {str(b): v for b, v in t.rungs.items()}})
    return _json_value(out)


def _study_summary(study: Any) -> dict[str, Any]:
    trials = study.trials
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.value] = counts.get(t.state.value, 0) + 1
    best = study.best_trials(1)
    return _json_value({
        "study": study.name,
        "objectives": [o.to_config() for o in study.objectives],
        "trials": len(trials),
        "states": counts,
        "best": {"number": best[0].number, "score": best[0].score} if best else None,
    })


def cmd_status(args: argparse.Namespace) -> int:
    import tunewise

    storage, study = _open_study(args, need_one=False)
    if study is None and args.study is None:
        infos = storage.list_studies()
        studies = [tunewise.load_study(info.name, storage) for info in infos]
        if args.json:
            print(json.dumps([_study_summary(s) for s in studies], indent=2))
            return 0
        if not studies:
            print(f"no studies in {storage.url}")
            return 0
        rows = [[s.name, _objectives_text(s), str(len(trials := s.trials)), _state_counts(trials),
                 _best_text(s)] for s in studies]
        print(_table(["study", "objective", "trials", "states", "best"], rows))
        return 0
    if args.json:
        summary = _study_summary(study)
        summary["storage"] = storage.url
        print(json.dumps(summary, indent=2))
        return 0
    trials = study.trials
    sampler = study.settings.get("sampler", {})
    print(f"study:      {study.name}")
    print(f"storage:    {storage.url}")
    print(f"objective:  {_objectives_text(study)}")
    if isinstance(sampler, dict) and sampler.get("name"):
        print(f"sampler:    {sampler['name']} (seed {study.seed})")
    print(f"trials:     {len(trials)} ({_state_counts(trials)})")
    print(f"best:       {_best_text(study)}")
    space = study.hyperparameters.space
    if space:
        print("space:")
        for hp in space:
            print(f"  {hp.describe()}")
    failed = [t for t in trials if t.state.value == "failed"]
    if failed:
        print("recent failures:")
        for t in failed[-3:]:
            first = (t.error or "").splitlines()[0] if t.error else ""
            print(f"  trial {t.number}: {first[:200]}")
    return 0


def cmd_best(args: argparse.Namespace) -> int:
    _, study = _open_study(args)
    best = study.best_trials(None if study.is_multi_objective else args.n)
    if study.is_multi_objective:
        best = best[:args.n] if args.n > 1 else best
    if args.json:
        print(json.dumps([_trial_json(t) for t in best], indent=2))
        return 0
    if not best:
        print(f"study {study.name!r} has no completed trial yet ({_state_counts(study.trials)}).")
        return 0
    _print_best(study, best)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    if args.format == "tensorboard":
        return _export_tensorboard(args)
    _, study = _open_study(args)
    if args.format == "json" and args.steps:
        rows = [{"number": t.number, "state": t.state.value, "step": step, "metrics": metrics}
                for t in study.trials for step, metrics in t.intermediate.items()]
        text = json.dumps(rows, indent=2) + "\n"
    elif args.format == "json":
        text = json.dumps([_trial_json(t, full=True) for t in study.trials], indent=2) + "\n"
    else:
        buffer = io.StringIO()
        study.to_csv(buffer, steps=args.steps)
        text = buffer.getvalue()
    if args.out:
        try:
            Path(args.out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {args.out!r}: {exc.strerror or exc}; check the path.") from None
        print(f"wrote {len(study.trials)} trials to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _export_tensorboard(args: argparse.Namespace) -> int:
    if not args.out:
        raise UsageError("--format tensorboard writes a folder; give it with --out DIR "
                         "(such as --out runs/).")
    if args.steps:
        raise UsageError("--steps does not apply to --format tensorboard: the intermediate "
                         "results are always exported, as scalars at their steps.")
    from .export_tensorboard import write_tensorboard

    _, study = _open_study(args)
    runs = write_tensorboard(study, args.out)
    print(f"wrote {len(runs)} trials to {args.out}; view them with "
          f"'tensorboard --logdir {args.out}' (HParams tab)", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    import time

    _, study = _open_study(args)
    start = time.monotonic()
    try:
        if args.format == "png":
            from .report.png import write_pngs

            out = args.out or "report"
            os.makedirs(out, exist_ok=True)
            paths = write_pngs(study, out, metric=args.metric)
            what = f"{len(paths)} figures to {out}/"
        else:
            from .report import write_report

            out = args.out or "report.html"
            write_report(study, out, metric=args.metric)
            what = out
    except ImportError as exc:
        raise ValueError(f"{exc}; install with: pip install 'tunewise[report]'") from None
    print(f"wrote {what} ({len(study.trials)} trials, {time.monotonic() - start:.1f} s)",
          file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(trials=args.trials, epochs=args.epochs, storage=args.storage,
                    study_name=args.study, resume=args.resume, seed=args.seed)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
