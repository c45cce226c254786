"""Run any command as a trial: substitute hyperparameters, read metrics from its output.

The template is split into arguments with ``shlex`` first and the values are substituted into
each argument afterwards, so a value can never inject another argument or shell syntax: no shell
runs. ``{name}`` is replaced by the value of hyperparameter ``name`` (a format spec works:
``{learning_rate:.2e}``; ``{{`` and ``}}`` are literal braces). Booleans are written ``true`` /
``false``. An argument naming an inactive conditional hyperparameter is dropped, together with
the option just before it when the argument is only the placeholder
(``--filters {filters}`` disappears as a whole).

The child also sees the trial in its environment: ``TUNEWISE_STUDY``, ``TUNEWISE_TRIAL_NUMBER``,
``TUNEWISE_TRIAL_SEED`` and ``TUNEWISE_HPARAMS`` (the active values as a JSON object).

Its metrics are the last line of its standard output that parses as a JSON object, such as
``{"val_accuracy": 0.93, "val_loss": 0.21}``. A non-zero exit status fails the trial with the
status and the end of its standard error; an output without a JSON object fails it too.

>>> t = CommandTemplate("python train.py --lr {lr} --act {act}", known=["lr", "act"])
>>> t.render({"lr": 0.01, "act": "relu"})
['python', 'train.py', '--lr', '0.01', '--act', 'relu']
"""

from __future__ import annotations

import collections
import json
import os
import shlex
import signal
import string
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Sequence

from ..errors import FailedTrialError

__all__ = ["CommandTemplate", "CommandResult", "CommandError", "run_command",
           "command_objective", "parse_metrics_line"]

_TAIL_LINES = 20
_TAIL_CHARS = 2000


class CommandError(RuntimeError):
    """The command exited with a non-zero status (retried up to ``max_retries_per_trial``)."""


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if isinstance(value, bool) and not format_spec:
            return "true" if value else "false"
        if isinstance(value, float) and not format_spec:
            return repr(value)
        return super().format_field(value, format_spec)

    def get_value(self, key: Any, args: Sequence[Any], kwargs: Any) -> Any:
        return kwargs[key]


_FORMATTER = _Formatter()


def _fields(token: str) -> list[str]:
    """The names that ``token`` substitutes; ValueError for a malformed placeholder."""
    names = []
    for _, field_name, format_spec, _ in _FORMATTER.parse(token):
        if field_name is None:
            continue
        if field_name == "" or field_name.isdigit():
            raise ValueError(
                f"command argument {token!r} has an empty or numbered placeholder; name a "
                "hyperparameter, as in {learning_rate}, or write {{ and }} for literal braces.")
        if any(c in field_name for c in ".[]"):
            raise ValueError(
                f"command argument {token!r}: placeholder {{{field_name}}} must be a plain "
                "hyperparameter name (no attribute or index access).")
        if format_spec and "{" in format_spec:
            raise ValueError(f"command argument {token!r}: nested placeholders are not supported.")
        names.append(field_name)
    return names


class CommandTemplate:
    """A command line with ``{name}`` placeholders, checked against the search space.

    ``template`` is a string (split like a POSIX shell would, without running one) or a list of
    arguments. ``known`` lists the hyperparameter names of the space: a placeholder naming any
    other raises ``ValueError`` before anything runs.
    """

    def __init__(self, template: str | Sequence[str], known: Iterable[str]) -> None:
        if isinstance(template, str):
            try:
                tokens = shlex.split(template)
            except ValueError as exc:
                raise ValueError(f"cannot split the command {template!r} into arguments: {exc}; "
                                 "check its quotes.") from None
        else:
            tokens = [str(t) for t in template]
        if not tokens:
            raise ValueError("the command is empty; give the program to run, such as "
                             "\"python train.py --lr {learning_rate}\".")
        self.tokens = tokens
        self.text = template if isinstance(template, str) else shlex.join(tokens)
        known = list(known)
        self.fields: list[list[str]] = []
        for tok in tokens:
            try:
                self.fields.append(_fields(tok))
            except ValueError as exc:
                if "placeholder" in str(exc):
                    raise
                raise ValueError(f"command argument {tok!r} has unbalanced braces ({exc}); write "
                                 "{{ and }} for literal braces.") from None
        unknown = sorted({n for names in self.fields for n in names if n not in known})
        if unknown:
            space = ", ".join(known) or "none"
            raise ValueError(
                f"the command names {', '.join('{' + n + '}' for n in unknown)}, which "
                f"{'is' if len(unknown) == 1 else 'are'} not in the search space (declared: "
                f"{space}); declare {'it' if len(unknown) == 1 else 'them'} under 'space:' or "
                "fix the command.")
        if self.fields[0]:
            raise ValueError(f"the program itself ({tokens[0]!r}) cannot be a placeholder.")

    @property
    def names(self) -> list[str]:
        """The hyperparameters the template substitutes, in order of first use."""
        return list(dict.fromkeys(n for names in self.fields for n in names))

    def render(self, values: dict[str, Any]) -> list[str]:
        """The argument list for ``values``; arguments naming an inactive (missing or None)
        hyperparameter are dropped, with the option just before a bare placeholder."""
        argv: list[str] = []
        for i, (tok, names) in enumerate(zip(self.tokens, self.fields)):
            if not names:
                argv.append(_FORMATTER.format(tok) if "{" in tok or "}" in tok else tok)
                continue
            if any(values.get(n) is None for n in names):
                bare = len(names) == 1 and tok.strip().startswith("{") and tok.strip().endswith("}")
                if bare and argv and i > 0 and not self.fields[i - 1] and self.tokens[i - 1].startswith("-"):
                    argv.pop()
                continue
            argv.append(_FORMATTER.vformat(tok, (), values))
        return argv


@dataclass
class CommandResult:
    """What one run of a command did."""

    argv: list[str]
    returncode: int
    metrics: dict[str, Any] | None
    stdout_tail: str
    stderr_tail: str
    duration: float
    timed_out: bool = False


def parse_metrics_line(line: str) -> dict[str, Any] | None:
    """The JSON object on ``line``, or None when the line is not one."""
    text = line.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class _Reader(threading.Thread):
    """Drains one pipe so the child never blocks on a full pipe, keeping the tail, the last
    JSON object, and optionally copying each line to ``echo`` and ``log``."""

    def __init__(self, pipe: IO[bytes], echo: IO[str] | None, log: IO[str] | None,
                 parse_json: bool) -> None:
        super().__init__(daemon=True)
        self.pipe, self.echo, self.log, self.parse_json = pipe, echo, log, parse_json
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self.metrics: dict[str, Any] | None = None

    def run(self) -> None:
        for raw in iter(self.pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            self.tail.append(line.rstrip("\r\n")[:_TAIL_CHARS])
            if self.parse_json:
                found = parse_metrics_line(line)
                if found is not None:
                    self.metrics = found
            for sink in (self.echo, self.log):
                if sink is not None:
                    try:
                        sink.write(line)
                        sink.flush()
                    except (OSError, ValueError):
                        pass
        self.pipe.close()

    def tail_text(self) -> str:
        text = "\n".join(self.tail)
        return text[-_TAIL_CHARS:]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the child (and its process group), then kill it if it lingers."""
    if proc.poll() is not None:
        return
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGTERM)
        else:  # pragma: no cover - not POSIX
            proc.terminate()
        proc.wait(timeout=5)
    except (ProcessLookupError, PermissionError):
        pass
    except subprocess.TimeoutExpired:
        try:
            if os.name == "posix":
                os.killpg(proc.pid, signal.SIGKILL)
            else:  # pragma: no cover
                proc.kill()
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()


def run_command(argv: Sequence[str], env: dict[str, str] | None = None,
                cwd: str | os.PathLike[str] | None = None, timeout: float | None = None,
                show_output: bool = False, log_prefix: str | os.PathLike[str] | None = None
                ) -> CommandResult:
    """Run ``argv`` (no shell), draining its output, and return what it did.

    ``show_output`` copies the child's output to ours as it comes; ``log_prefix`` keeps all of
    it in ``<prefix>.out`` and ``<prefix>.err``. ``timeout`` (seconds) stops the child.
    Ctrl-C stops the child and re-raises ``KeyboardInterrupt``.
    """
    logs: list[IO[str]] = []
    out_log = err_log = None
    if log_prefix is not None:
        Path(log_prefix).parent.mkdir(parents=True, exist_ok=True)
        out_log = open(f"{log_prefix}.out", "w", encoding="utf-8")
        err_log = open(f"{log_prefix}.err", "w", encoding="utf-8")
        logs = [out_log, err_log]
    start = time.monotonic()
    try:
        try:
            # A session of its own, so Ctrl-C reaches us and we stop the whole group cleanly.
            proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, env=env, cwd=cwd,
                                    start_new_session=(os.name == "posix"))
        except FileNotFoundError:
            raise FailedTrialError(
                f"cannot run {argv[0]!r}: no such program or file (working directory "
                f"{str(cwd or os.getcwd())!r}); check the command.") from None
        except PermissionError:
            raise FailedTrialError(f"cannot run {argv[0]!r}: permission denied; is it executable?") from None
        assert proc.stdout is not None and proc.stderr is not None
        out = _Reader(proc.stdout, sys.stdout if show_output else None, out_log, parse_json=True)
        err = _Reader(proc.stderr, sys.stderr if show_output else None, err_log, parse_json=False)
        out.start()
        err.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(proc)
        except BaseException:
            _stop(proc)
            raise
        out.join()
        err.join()
        return CommandResult(list(argv), proc.returncode, out.metrics, out.tail_text(),
                             err.tail_text(), time.monotonic() - start, timed_out)
    finally:
        for f in logs:
            f.close()


def _status_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def command_objective(template: CommandTemplate, *, cwd: str | os.PathLike[str] | None = None,
                      env: dict[str, str] | None = None, timeout: float | None = None,
                      show_output: bool = False, log_dir: str | os.PathLike[str] | None = None,
                      study_name: str | None = None, objective_names: Iterable[str] = ()
                      ) -> Callable[[Any], dict[str, Any]]:
    """A training function for ``Study.optimize`` that runs ``template`` for each trial and
    returns the metrics the command printed."""
    objective_names = tuple(objective_names)
    base_env = dict(os.environ)
    base_env.update(env or {})
    base_env.setdefault("PYTHONUNBUFFERED", "1")  # Python children stream their lines
    executions: collections.Counter[int] = collections.Counter()

    def run_trial(trial: Any) -> dict[str, Any]:
        hp = trial.hp
        values = {}
        for h in hp.space:
            # Reading each one marks it as used by this trial, as a training function would.
            value = hp.get(h.name)
            if value is not None:
                values[h.name] = value
        argv = template.render(values)
        child_env = dict(base_env)
        child_env.update({
            "TUNEWISE_TRIAL_NUMBER": str(trial.number),
            "TUNEWISE_TRIAL_SEED": "" if trial.seed is None else str(trial.seed),
            "TUNEWISE_HPARAMS": json.dumps(values, sort_keys=True),
        })
        if study_name:
            child_env["TUNEWISE_STUDY"] = study_name
        log_prefix = None
        if log_dir is not None:
            executions[trial.number] += 1
            n = executions[trial.number]
            log_prefix = Path(log_dir) / (f"trial-{trial.number:04d}" + (f"-{n}" if n > 1 else ""))
        result = run_command(argv, env=child_env, cwd=cwd, timeout=timeout,
                             show_output=show_output, log_prefix=log_prefix)
        shown = shlex.join(argv)
        if len(shown) > 300:
            shown = shown[:297] + "..."
        if result.timed_out:
            raise FailedTrialError(
                f"command timed out after {timeout:g} s and was stopped: {shown}"
                + _tail_block("stderr", result.stderr_tail))
        if result.returncode != 0:
            raise CommandError(
                f"command {_status_text(result.returncode)}: {shown}"
                + _tail_block("stderr", result.stderr_tail or result.stdout_tail))
        if result.metrics is None:
            raise FailedTrialError(
                "command exited with status 0 but printed no JSON object on its standard "
                f"output; print the metrics as the last JSON line, such as "
                f"{{\"val_accuracy\": 0.93}}: {shown}"
                + _tail_block("stdout", result.stdout_tail))
        return _clean_metrics(result.metrics, objective_names)

    run_trial.__name__ = "command"
    run_trial.__qualname__ = "command"
    return run_trial


def _tail_block(name: str, tail: str) -> str:
    if not tail.strip():
        return f" (no {name} output)"
    return f"\n--- last lines of {name} ---\n{tail}"


def _clean_metrics(metrics: dict[str, Any], keep: Iterable[str] = ()) -> dict[str, Any]:
    """The numbers of a printed JSON object. Other fields (text, lists, null) are dropped,
    since a command often prints more than metrics, except an objective's own value, which
    passes through so that the study reports what is wrong with it."""
    keep = set(keep)
    return {k: v for k, v in metrics.items()
            if k in keep or (isinstance(v, (int, float)) and not isinstance(v, bool))}
