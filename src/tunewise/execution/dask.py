"""Run a study's workers on a Dask cluster (``optimize(fn, executor=DaskExecutor(client))``).

Each Dask task is one tunewise worker: it opens the study in its storage and runs trials one
after another, exactly as ``tunewise worker`` does on any machine. The workers coordinate only
through the storage (atomic trial creation, heartbeats), so there is no coordinator to fail:
a lost Dask worker's running trial is taken over by the others when its heartbeat lease runs
out. Dask brings the cluster: a ``LocalCluster``, an SSH cluster, or an HPC batch system
through dask-jobqueue.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..study import Study

logger = logging.getLogger("tunewise")


class DaskExecutor:
    """Run trials on the Dask cluster of ``client`` (a ``distributed.Client``).

    ``n_workers`` is how many tunewise workers (trials at once) to start; by default one per
    Dask worker thread. The study's storage must be a database every Dask worker can reach:
    PostgreSQL, or SQLite on a file system they share.

    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=2, threads_per_worker=1))  # doctest: +SKIP
    >>> study = tunewise.Study("s", objective="loss", storage="sqlite:///tune.db")  # doctest: +SKIP
    >>> study.optimize(train, max_trials=50, executor=tunewise.DaskExecutor(client))  # doctest: +SKIP
    """

    def __init__(self, client: Any, n_workers: int | None = None) -> None:
        if not hasattr(client, "submit") or not hasattr(client, "scheduler_info"):
            raise ValueError(f"DaskExecutor needs a distributed.Client, got {client!r}.")
        if n_workers is not None and (isinstance(n_workers, bool) or not isinstance(n_workers, int)
                                      or n_workers < 1):
            raise ValueError(f"n_workers must be a positive integer or None, got {n_workers!r}.")
        self.client = client
        self.n_workers = n_workers

    def _threads(self) -> int:
        workers = self.client.scheduler_info().get("workers", {})
        return sum(int(w.get("nthreads", 1)) for w in workers.values())

    def run(self, study: "Study", fn: Any, options: dict[str, Any], show_progress: bool = True) -> None:
        """Start the workers, show progress while they run, and wait for them all."""
        from ..progress import Progress

        storage = study.storage
        if not storage.shared:
            raise ValueError(
                f"Study {study.name!r} is kept in {storage.url}, which only this process can see; "
                "Dask workers write to the study's storage, so give the study a database they "
                "can reach: storage='postgresql://user@host/db', or 'sqlite:///path.db' on a "
                "file system they share.")
        n = self.n_workers or self._threads()
        if n < 1:
            raise ValueError("The Dask cluster has no workers; start some, or wait for them "
                             "(client.wait_for_workers(n)).")
        from ..storage.urls import SecretURL

        url = SecretURL(getattr(storage, "_connect_url", storage.url))  # Dask logs task arguments
        token = uuid.uuid4().hex[:8]
        from distributed import Event

        stop = Event(f"tunewise-{token}-stop", client=self.client)
        from .pool import dumps_function

        # by value: Dask pickles by reference what it can, and a script's module is not
        # importable on the cluster's workers
        payload = dumps_function(fn)
        futures = [self.client.submit(run_worker, url, study.name, payload, options, stop.name,
                                      pure=False, key=f"tunewise-{token}-worker-{i}")
                   for i in range(n)]
        progress = Progress(options.get("max_trials"), enabled=None if show_progress else False)
        try:
            while not all(f.done() for f in futures):
                if not stop.is_set() and any(f.status == "error" for f in futures):
                    stop.set()  # a fatal error (or a crash) in one worker stops the others
                if progress.enabled:
                    trials = study.trials
                    progress.update(sum(t.state.is_finished for t in trials), study._best_text(),
                                    len(trials))
                time.sleep(0.2)
            failed = [f for f in futures if f.status == "error"]
            if failed:
                failed[0].result()  # re-raises the worker's error here
            reasons = self.client.gather(futures)
        except BaseException:
            stop.set()
            self.client.cancel(futures)
            raise
        finally:
            progress.close()
        study.stop_reason = next((r for r in reasons if r and r != _STOPPED), None)


_STOPPED = "another worker stopped the search"


def run_worker(url: Any, name: str, fn: Any, options: dict[str, Any],
               stop_event: str | None = None) -> str | None:
    """One worker, inside a Dask task: run trials of study ``name`` until the search ends
    (or the Dask event ``stop_event`` is set); return why it stopped. ``fn`` is the function
    or its cloudpickle bytes."""
    if isinstance(fn, bytes):
        import cloudpickle

        fn = cloudpickle.loads(fn)
    from ..execution.pool import threads_per_worker
    from ..study import load_study

    try:  # torch on one core per task thread, as the Dask worker runs that many tasks at once
        from distributed import get_worker

        threads = threads_per_worker(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        threads = 1
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(threads)
    study = load_study(name, url.reveal() if hasattr(url, "reveal") else url)
    if stop_event is not None:
        from distributed import Event

        event = Event(stop_event)
        study._stop_requested = event.is_set
    try:
        study.optimize(fn, show_progress=False, **options)
    finally:
        study.storage.close()  # let go of the database (an SQLite file and its -wal)
    return study.stop_reason
