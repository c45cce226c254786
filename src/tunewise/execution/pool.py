"""Trial processes for ``optimize(n_jobs=N, isolate=..., trial_timeout=..., devices=...)``.

The study's own process keeps the storage, the sampler and the scheduler; each trial runs in a
child process (``execution.child``) that it talks to over a socket pair. That is what lets the
parent stop a trial that runs too long, notice one the system killed for memory, hand every
worker its share of the CPU threads and its own GPU, and, with ``isolate=True``, give each
trial a fresh process whose memory goes back to the system when it ends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection, Pipe
from typing import Any, Sequence

from .child import THREAD_VARIABLES


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def threads_per_worker(n_workers: int) -> int:
    """Each of ``n_workers`` gets an equal share of the CPUs, at least one thread: more
    threads than cores was measured ten times slower on a busy 2-core machine."""
    return max(1, available_cpus() // max(1, n_workers))


def dumps_function(fn: Any) -> bytes:
    try:
        import cloudpickle
    except ImportError:  # pragma: no cover - a dependency of tunewise
        raise ImportError("n_jobs > 1, isolate and trial_timeout need cloudpickle: "
                          "pip install cloudpickle") from None
    try:
        return cloudpickle.dumps(fn)
    except Exception as exc:  # noqa: BLE001 - the user's closure holds something unpicklable
        raise ValueError(
            f"The function {getattr(fn, '__name__', fn)!r} cannot be sent to a trial process "
            f"({type(exc).__name__}: {exc}). n_jobs > 1, isolate=True and trial_timeout run "
            "trials in other processes: make the function's captured variables picklable "
            "(for example, load data inside the function), or use n_jobs=1.") from None


class ChildProcess:
    """One trial process: started, given the function, then given trials one at a time."""

    def __init__(self, payload: bytes, threads: int, device: str | None) -> None:
        parent_end, child_end = Pipe(duplex=True)
        env = dict(os.environ)
        for name in THREAD_VARIABLES:  # a smaller count the user set is kept
            current = env.get(name, "")
            if not (current.isdigit() and 0 < int(current) < threads):
                env[name] = str(threads)
        env["TUNEWISE_CHILD_THREADS"] = env["OMP_NUM_THREADS"]  # torch's count, as OpenMP's
        env["TUNEWISE_CHILD_FD"] = str(child_end.fileno())
        if device is not None:
            env["CUDA_VISIBLE_DEVICES"] = device
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from tunewise.execution.child import main; main()"],
            env=env, stdin=subprocess.DEVNULL, pass_fds=(child_end.fileno(),),
            start_new_session=True)  # its own process group: killed as one, no Ctrl-C
        child_end.close()
        self.conn: Connection = parent_end
        self.conn.send(("init", payload, list(sys.path)))

    def send(self, message: Any) -> bool:
        try:
            self.conn.send(message)
            return True
        except (OSError, EOFError):
            return False

    def kill(self) -> None:
        """Kill the process and everything it started."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.close()

    def close(self) -> None:
        try:
            self.conn.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            pass

    def stop(self) -> None:
        """Ask an idle process to exit, and wait for it."""
        self.send(("exit",))
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return
        self.close()

    def death(self) -> str:
        """Why the process ended on its own, as a trial's error."""
        try:
            code = self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - the socket closed, not the process
            self.kill()
            code = self.process.wait()
        if code == -signal.SIGKILL:
            return ("out of memory: the trial's process was killed by the system (SIGKILL, as "
                    "the kernel's out-of-memory killer does)")
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return f"the trial's process died ({name})"
        return f"the trial's process exited with status {code}"


def check_devices(devices: Sequence[Any] | None) -> list[str] | None:
    if devices is None:
        return None
    if isinstance(devices, (str, bytes)) or not hasattr(devices, "__iter__"):
        raise ValueError(f"devices must be a list of GPU ids such as [0, 1], got {devices!r}.")
    out = []
    for d in devices:
        if isinstance(d, bool) or not isinstance(d, (int, str)) or str(d).strip() == "":
            raise ValueError(f"devices must be a list of GPU ids such as [0, 1] or ['0', '1'], "
                             f"got {d!r} in {list(devices)!r}.")
        out.append(str(d))
    if not out:
        raise ValueError("devices is empty; pass GPU ids such as [0, 1], or leave it out.")
    return out


def wait_time(deadlines: Sequence[float | None], default: float) -> float:
    now = time.monotonic()
    left = [d - now for d in deadlines if d is not None]
    return max(0.0, min([default] + left))
