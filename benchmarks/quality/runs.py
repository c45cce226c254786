"""Running (sampler, problem, seed) and caching each run as one JSON file.

A run file holds the objective value of every evaluation, the proposal, evaluation and tell
time of every evaluation, the total wall time and the versions that produced it. It is
reused instead of run again when it was made for the same problem version, with at least the
budget asked for (a longer run's prefix is used), and by the same version of the library: for
tunewise that is a digest of the tunewise source, so editing tunewise redoes the tunewise runs
and never the competitors' (``--reuse-stale`` keeps them anyway).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from harness import failed, one_thread, run_jobs, secs, write_run

from .problems import REPO, get_problem
from .samplers import SAMPLERS, library_version, make_driver, preload

FORMAT = 1


def slug(problem: str) -> str:
    return problem.replace(":", "-").replace("/", "_")


def run_path(out: Path, sampler: str, problem: str, seed: int) -> Path:
    return Path(out) / "runs" / slug(problem) / sampler / f"seed-{seed}.json"


def tunewise_digest() -> str | None:
    """A digest of the tunewise source that is imported, so runs made with other code are
    recognised."""
    try:
        import tunewise
    except ImportError:
        return None
    root = Path(tunewise.__file__).parent
    h = hashlib.sha256()
    for f in sorted(root.rglob("*.py")):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:12]


def git_commit() -> str | None:
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + (" + uncommitted changes in src/" if dirty else "")) if commit else None


def lib_key(sampler: str) -> str | None:
    """What identifies the code that made a run: the library's version (tunewise: digest)."""
    lib = SAMPLERS[sampler][0]
    if lib == "tunewise":
        return f"tunewise-src:{tunewise_digest()}"
    return f"{lib}=={library_version(lib)}"


def cached_ok(record: dict[str, Any] | None, budget: int, problem_version: str,
              key: str | None, reuse_stale: bool) -> tuple[bool, str]:
    """(reuse it?, why not)."""
    if record is None:
        return False, "no run"
    if record.get("format") != FORMAT:
        return False, "older file format"
    if record.get("problem_version") != problem_version:
        return False, f"problem version {record.get('problem_version')} != {problem_version}"
    if record["budget"] < budget and not record.get("stopped_early"):
        return False, f"budget {record['budget']} < {budget}"
    if not reuse_stale and record.get("library_key") != key:
        return False, f"made by {record.get('library_key')}, now {key}"
    return True, ""


def run_one(sampler: str, problem_name: str, budget: int, seed: int) -> dict[str, Any]:
    """One run, in this process. Returns the record (not yet written)."""
    one_thread()
    t_import = time.perf_counter()
    preload(sampler)
    problem = get_problem(problem_name)
    problem.preload()
    import_s = time.perf_counter() - t_import
    t_start = time.perf_counter()
    driver = make_driver(sampler, problem, budget, seed)
    setup_s = time.perf_counter() - t_start
    values: list[float | None] = []
    configs: list[dict[str, Any]] = []
    proposal_s: list[float] = []
    eval_s: list[float] = []
    tell_s: list[float] = []
    stopped = None
    try:
        for number in range(budget):
            t0 = time.perf_counter()
            try:
                handle, config = driver.ask()
            except StopIteration as exc:  # the sampler says there is nothing left to propose
                stopped = str(exc) or "stopped"
                break
            t1 = time.perf_counter()
            y = problem.evaluate(config, seed, number)
            t2 = time.perf_counter()
            driver.tell(handle, y)
            t3 = time.perf_counter()
            values.append(y if math.isfinite(y) else None)
            configs.append(config)
            proposal_s.append(t1 - t0)
            eval_s.append(t2 - t1)
            tell_s.append(t3 - t2)
    finally:
        if hasattr(driver, "close"):
            driver.close()
    total_s = time.perf_counter() - t_start
    lib = SAMPLERS[sampler][0]
    versions = {lib: library_version(lib), "python": platform.python_version()}
    for mod in ("numpy", "onnxruntime", "sklearn", "torch", "keras", "scipy"):
        if mod in sys.modules:
            versions[mod] = getattr(sys.modules[mod], "__version__", None)
    if lib == "tunewise":
        versions["tunewise_src"] = tunewise_digest()
        versions["git"] = git_commit()
    return {
        "format": FORMAT,
        "sampler": sampler,
        "sampler_description": SAMPLERS[sampler][1],
        "sampler_detail": getattr(driver, "detail", None),
        "problem": problem_name,
        "problem_version": problem.version,
        "direction": problem.direction,
        "seed": seed,
        "budget": budget,
        "n_evaluations": len(values),
        "stopped_early": stopped,
        "values": values,
        "proposal_s": proposal_s,
        "eval_s": eval_s,
        "tell_s": tell_s,
        "configs": configs,
        "import_s": import_s,
        "setup_s": setup_s,
        "total_s": total_s,
        "library_key": lib_key(sampler),
        "versions": versions,
        "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
    }


def _job(sampler: str, problem: str, budget: int, seed: int, path: str) -> dict[str, Any]:
    """Run and write one run; never raises (the error goes back to the parent)."""
    t0 = time.perf_counter()
    head = {"sampler": sampler, "problem": problem, "seed": seed}
    try:
        record = run_one(sampler, problem, budget, seed)
    except Exception as exc:  # noqa: BLE001  (any failure of one run is reported, the rest go on)
        return failed(head, exc, t0)
    write_run(record, path)
    return {**head, "path": path, "wall_s": record["total_s"], "proposal_s": sum(record["proposal_s"]),
            "n": record["n_evaluations"], "best": _best(record), "stopped": record["stopped_early"]}


def _best(record: dict[str, Any]) -> float | None:
    vals = [v for v in record["values"] if v is not None]
    if not vals:
        return None
    return max(vals) if record["direction"] == "max" else min(vals)


def _line(res: dict[str, Any]) -> str:
    best = f"{res['best']:.6g}" if res["best"] is not None else "none"
    stop = f" (stopped early: {res['stopped']})" if res["stopped"] else ""
    return (f"{secs(res['wall_s']):>8s} (proposals {secs(res['proposal_s'])}), best {best} "
            f"in {res['n']} evaluations{stop}")


def run_all(jobs_list: list[tuple[str, str, int, int, str]], jobs: int,
            log: Any = sys.stderr) -> list[dict[str, Any]]:
    """Run the given (sampler, problem, budget, seed, path) jobs, ``jobs`` at a time, printing
    one line per finished run. Returns one result per job."""
    return run_jobs(_job, jobs_list, jobs, _line,
                    head=lambda j: {"sampler": j[0], "problem": j[1], "seed": j[3]},
                    label=lambda r: f"{r['sampler']:18s} {r['problem']:15s} seed {r['seed']:<3d}",
                    log=log)
