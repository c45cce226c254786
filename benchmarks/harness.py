"""What the benchmark harnesses share: one thread per process, cached run files written
atomically, a process pool that reports each finished run, and the statistics and number
formats of the reports.

``search_quality.py`` (``quality/``) and ``multifidelity.py`` (``mf/``) differ in what a run is
and how it is scored; how runs are stored, scheduled and summarised is this module.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable


def one_thread() -> None:
    """One thread for every numerical library in this process (2-core machine, jobs in
    parallel). Environment variables must be set before numpy is first imported; the runner
    does that, this covers torch, which reads its own setting."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = "1"
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------

def parse_seeds(text: str) -> list[int]:
    """``0-9`` or ``0,3,5`` (or both) as a list without repeats."""
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            lo, hi = part.split("-", 1)
            seeds += list(range(int(lo), int(hi) + 1))
        else:
            seeds.append(int(part))
    if not seeds or any(s < 0 for s in seeds):
        raise ValueError(f"--seeds: expected e.g. 0-9 or 0,3,5, got {text!r}")
    return list(dict.fromkeys(seeds))


def parse_list(text: str | None) -> list[str] | None:
    """A comma-separated list; None stays None (the default)."""
    if text is None:
        return None
    return [x.strip() for x in text.split(",") if x.strip()]


# ---------------------------------------------------------------------------------------------
# Run files
# ---------------------------------------------------------------------------------------------

def load_run(path: Path | str) -> dict[str, Any] | None:
    """One cached run, or None if it is missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def load_runs(folder: Path | str) -> list[dict[str, Any]]:
    """Every readable run under ``folder/runs/<problem>/<method>/seed-*.json``."""
    runs = [load_run(f) for f in sorted((Path(folder) / "runs").glob("*/*/seed-*.json"))]
    return [r for r in runs if r is not None]


def write_run(record: dict[str, Any], path: Path | str, compact: bool = False) -> None:
    """Write one run atomically: a killed run leaves no half-written file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(record, separators=(",", ":")) if compact else json.dumps(record))
    tmp.replace(p)


def failed(head: dict[str, Any], exc: BaseException, t0: float) -> dict[str, Any]:
    """A job's result for a run that raised: the error goes back to the parent, the rest go on."""
    return {**head, "error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(),
            "wall_s": time.perf_counter() - t0}


def run_jobs(job: Callable[..., dict[str, Any]], jobs_list: list[tuple], jobs: int,
             line: Callable[[dict[str, Any]], str], head: Callable[[tuple], dict[str, Any]],
             label: Callable[[dict[str, Any]], str], log: Any = sys.stderr) -> list[dict[str, Any]]:
    """Run ``job(*args)`` for each tuple of ``jobs_list``, ``jobs`` at a time in fresh processes
    with one thread each, printing one line per finished run: ``label(result)``, then the error
    or ``line(result)``. A worker that dies gives the result ``head(args)`` with the error.
    ``job`` must never raise (see :func:`failed`). Returns one result per job."""
    results: list[dict[str, Any]] = []
    total = len(jobs_list)
    t_start = time.perf_counter()

    def report(res: dict[str, Any]) -> None:
        results.append(res)
        start = f"[{len(results)}/{total}] {label(res)}"
        if "error" in res:
            print(f"{start} FAILED after {res['wall_s']:.1f} s: {res['error']}", file=log, flush=True)
            return
        print(f"{start} {line(res)}  [elapsed {time.perf_counter() - t_start:.0f} s]",
              file=log, flush=True)

    if jobs <= 1:
        for args in jobs_list:
            report(job(*args))
        return results
    import concurrent.futures as cf
    import multiprocessing as mp

    # spawn: each worker starts clean and reads the one-thread settings before numpy loads.
    with cf.ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn"),
                                initializer=one_thread) as pool:
        futures = {pool.submit(job, *args): args for args in jobs_list}
        for fut in cf.as_completed(futures):
            try:
                report(fut.result())
            except Exception as exc:  # noqa: BLE001  (a worker died: killed, out of memory)
                report({**head(futures[fut]), "error": f"worker died: {type(exc).__name__}: {exc}",
                        "wall_s": 0.0})
    return results


def run_and_summarise(run_all: Callable[[list[tuple], int], list[dict[str, Any]]],
                      todo: list[tuple], jobs: int, label: Callable[[dict[str, Any]], str],
                      log: Any = sys.stderr) -> int:
    """Run ``todo`` with ``run_all``, print how many were written and failed (with the first
    five failures' tracebacks); 1 if any failed, else 0."""
    t0 = time.perf_counter()
    results = run_all(todo, jobs)
    failed = [r for r in results if "error" in r]
    print(f"# done in {time.perf_counter() - t0:.0f} s: {len(results) - len(failed)} runs written, "
          f"{len(failed)} failed", file=log)
    for r in failed[:5]:
        print(f"\n! {label(r)}:\n{r.get('traceback', r['error'])}", file=log)
    return 1 if failed else 0


# ---------------------------------------------------------------------------------------------
# Statistics and formats
# ---------------------------------------------------------------------------------------------

def mean_se(xs: list[float | None]) -> tuple[float, float, int]:
    """(mean, standard error, n) of the finite values; nan where undefined."""
    xs = [x for x in xs if x is not None and math.isfinite(x)]
    if not xs:
        return float("nan"), float("nan"), 0
    m = statistics.fmean(xs)
    se = statistics.stdev(xs) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
    return m, se, len(xs)


def fmt_mean_se(m: float, se: float, n: int, digits: int = 3) -> str:
    """``m ± se``; ``m`` alone from one value; a dash from none."""
    if n == 0 or not math.isfinite(m):
        return "—"
    if not math.isfinite(se):
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {se:.{digits}f}"


def seed_text(seeds: list[int]) -> str:
    """``0–9`` for a run of three or more seeds, else the list."""
    if seeds and seeds == list(range(seeds[0], seeds[-1] + 1)) and len(seeds) > 2:
        return f"{seeds[0]}–{seeds[-1]}"
    return ", ".join(map(str, seeds))


def secs(x: float) -> str:
    return f"{x * 1000:.0f} ms" if x < 1 else f"{x:.1f} s"


def json_num(x: float | None) -> float | None:
    """A float for JSON: None for a missing or non-finite value."""
    return None if x is None or not math.isfinite(x) else float(x)


def shown(path: Path | str) -> Path:
    """The path relative to the working directory when it lies below it (reports are
    committed; a machine's absolute path means nothing elsewhere)."""
    try:
        return Path(path).resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        return Path(path)


def package_version(dist: str) -> str | None:
    """The installed version of a distribution, or None."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def cpu_model() -> str | None:
    """The CPU's model name (Linux), or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def git_commit(repo: Path | str) -> str | None:
    """The short commit of ``repo``, marked when src/ has uncommitted changes; None outside git."""
    import subprocess

    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=False).stdout.strip() or None
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + " + uncommitted changes in src/" if commit and dirty else commit


def snapshot_source(repo: Path | str, workdir: str) -> tuple[str | None, str | None]:
    """Copy src/tunewise into the work folder, so that every repeat runs the same code even if
    the source tree changes during the run. Returns (folder for PYTHONPATH, digest)."""
    import hashlib
    import shutil

    origin = Path(repo) / "src" / "tunewise"
    if not origin.is_dir():
        return None, None
    dest = Path(workdir) / "_src"
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(origin, dest / "tunewise", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    h = hashlib.sha256()
    for f in sorted((dest / "tunewise").rglob("*.py")):
        h.update(str(f.relative_to(dest)).encode())
        h.update(f.read_bytes())
    return str(dest), h.hexdigest()[:12]
