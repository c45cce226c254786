"""Real concurrency on one SQLite file: several processes (spawn) creating, claiming, finishing
and reading trials of one study at the same moment.

Each worker waits for a common start time, so that the processes really overlap, and returns
what it did and any error text; the test then checks the file. The same cases run on
PostgreSQL (the session's server, tests/_postgres.py, or ``TUNEWISE_TEST_POSTGRES_URL``'s),
each test in a new, empty database (the ``postgres_fresh_url`` fixture).
"""

from __future__ import annotations

import multiprocessing
import random
import time
import traceback

import pytest

from tunewise.storage import DuplicatePointError, StudyExistsError, get_storage
from tunewise.trial import TrialState

N_PROCS = 4
TIMEOUT = 120.0  # seconds for one round of workers: generous, for a loaded 2-core machine
SETTINGS = {"objectives": [{"name": "loss", "direction": "min"}], "sampler": {"name": "grid"},
            "scheduler": None, "seed": 0, "hyperparameters": None}


# -- workers (module level, so that spawned processes can import them) -------------------------
def _wait(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))


def open_new_database(url: str, start_at: float):
    _wait(start_at)
    storage = get_storage(url)
    try:
        info = storage.create_study("s", SETTINGS, [])
    except StudyExistsError:
        info = storage.get_study("s")
    storage.create_trial(info.id, {"x": 0}, key=None, seed=0, worker="w", max_trials=None,
                         now=time.time())
    return info.id


def create_until_full(url: str, study_id: int, max_trials: int, start_at: float):
    storage = get_storage(url)
    _wait(start_at)
    numbers = []
    while True:
        record = storage.create_trial(study_id, {"x": len(numbers)}, key=None, seed=0,
                                      worker=f"p{id(storage)}", max_trials=max_trials,
                                      now=time.time())
        if record is None:
            return numbers
        numbers.append(record.number)


def claim_keys(url: str, study_id: int, keys: list[str], seed: int, start_at: float):
    storage = get_storage(url)
    order = list(keys)
    random.Random(seed).shuffle(order)
    _wait(start_at)
    claimed, refused = [], 0
    for key in order:
        try:
            record = storage.create_trial(study_id, {"key": key}, key=key, seed=seed,
                                          worker=str(seed), max_trials=None, now=time.time())
        except DuplicatePointError:
            refused += 1
            continue
        claimed.append((record.number, key))
    return claimed, refused


def claim_and_finish(url: str, study_id: int, name: str, start_at: float):
    """Claim queued trials until none is left; try to finish every trial, as a worker whose
    result arrives late would."""
    storage = get_storage(url)
    _wait(start_at)
    claimed = []
    while (record := storage.claim_trial(study_id, name, time.time())) is not None:
        claimed.append(record.number)
    n = len(storage.get_trials(study_id))
    won = [number for number in range(n)
           if storage.update_trial(study_id, number, [TrialState.RUNNING],
                                   state=TrialState.COMPLETED, score=float(number),
                                   metrics={"by": name})]
    return claimed, won


def write_and_finish(url: str, study_id: int, count: int, seed: int, start_at: float):
    storage = get_storage(url)
    rng = random.Random(seed)
    _wait(start_at)
    for i in range(count):
        record = storage.create_trial(study_id, {"i": i, "w": seed}, key=None, seed=seed,
                                      worker=str(seed), max_trials=None, now=time.time())
        for step in range(rng.randint(0, 2)):
            storage.add_step(study_id, record.number, step, {"loss": 1.0 / (step + 1)})
        storage.update_trial(study_id, record.number, [TrialState.RUNNING],
                             state=TrialState.COMPLETED, score=float(i), metrics={"loss": float(i)})
    return count


def read_in_a_loop(url: str, study_id: int, expected: int, start_at: float):
    """Read while others write: each look must be a consistent picture, never smaller than
    the one before; a fresh storage object now and then reads from scratch."""
    cached = get_storage(url)
    _wait(start_at)
    deadline, reads, last = time.time() + TIMEOUT, 0, 0
    while time.time() < deadline:
        storage = get_storage(url) if reads % 10 == 9 else cached
        trials = storage.get_trials(study_id)
        reads += 1
        assert [t.number for t in trials] == list(range(len(trials))), "numbers with a gap"
        assert len(trials) >= last, f"went back from {last} to {len(trials)} trials"
        last = len(trials)
        for t in trials:
            if t.state == TrialState.COMPLETED:
                assert t.score == float(t.hyperparameters["i"]), f"trial {t.number} without score"
        if storage is not cached:
            storage.close()
        if len(trials) == expected and all(t.state == TrialState.COMPLETED for t in trials):
            return reads
    raise AssertionError(f"the reader saw {last} of {expected} trials before its deadline")


def warm_up(pause: float) -> None:
    import tunewise.storage.sql  # noqa: F401 - imported once per process, outside the tests

    time.sleep(pause)  # so that each process takes one of the warm-up tasks


# -- the pool ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pool():
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(N_PROCS) as p:
        p.map(warm_up, [0.2] * N_PROCS, chunksize=1)  # every process ready before the tests
        yield p


def run_together(pool, jobs):
    """Run each ``(worker, args)`` in its own process, all starting at the same moment; a
    worker's error (such as "database is locked") fails the test with its traceback."""
    start_at = time.time() + 0.3
    outcomes = pool.starmap_async(_guarded, [(fn.__name__, args + (start_at,))
                                             for fn, args in jobs]).get(timeout=TIMEOUT)
    errors = [error for _, error in outcomes if error]
    assert not errors, "a worker failed:\n" + "\n".join(errors)
    return [result for result, _ in outcomes]


def _guarded(name: str, args: tuple):
    """Run a worker and return ``(result, error text or None)``: a worker never raises, so
    that the test sees every process's outcome."""
    try:
        return globals()[name](*args), None
    except BaseException:  # noqa: BLE001 - reported to the test
        return None, traceback.format_exc()


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'shared.db'}"
        return
    # a new, empty database (skips, saying why, without a server)
    yield request.getfixturevalue("postgres_fresh_url")


def new_study(url: str) -> int:
    storage = get_storage(url)
    sid = storage.create_study("s", SETTINGS, []).id
    storage.close()
    return sid


# -- tests ---------------------------------------------------------------------------------------
def test_processes_opening_a_new_database_at_once_share_one_schema_and_study(pool, url):
    ids = run_together(pool, [(open_new_database, (url,))] * N_PROCS)
    assert len(set(ids)) == 1
    storage = get_storage(url)
    assert len(storage.list_studies()) == 1
    assert [t.number for t in storage.get_trials(ids[0])] == list(range(N_PROCS))


def test_processes_creating_trials_share_the_budget_exactly(pool, url):
    sid, max_trials = new_study(url), 40
    results = run_together(pool, [(create_until_full, (url, sid, max_trials))] * N_PROCS)
    numbers = sorted(n for got in results for n in got)
    assert numbers == list(range(max_trials))  # exactly N, each number once
    storage = get_storage(url)
    assert [t.number for t in storage.get_trials(sid)] == list(range(max_trials))
    assert storage.get_study("s").n_trials == max_trials


def test_processes_claiming_grid_keys_never_claim_one_twice(pool, url):
    sid = new_study(url)
    keys = [f'{{"a":{a},"b":{b}}}' for a in range(6) for b in range(5)]  # a 30-point grid
    results = run_together(pool, [(claim_keys, (url, sid, keys, seed)) for seed in range(N_PROCS)])
    claimed = [key for got, _ in results for _, key in got]
    assert sorted(claimed) == sorted(keys)  # every key once, none twice
    assert sum(refused for _, refused in results) == len(keys) * (N_PROCS - 1)
    trials = get_storage(url).get_trials(sid)
    assert [t.number for t in trials] == list(range(len(keys)))
    assert sorted(t.key for t in trials) == sorted(keys)
    assert all(t.hyperparameters == {"key": t.key} for t in trials)


def test_processes_claiming_queued_trials_take_each_once_and_only_one_result_counts(pool, url):
    sid, n = new_study(url), 24
    storage = get_storage(url)
    for i in range(n):
        storage.create_trial(sid, {"i": i}, key=None, seed=0, worker=None, max_trials=None,
                             state=TrialState.WAITING if i % 3 else TrialState.RUNNING, now=0.0)
        if i % 3 == 0:
            storage.update_trial(sid, i, [TrialState.RUNNING], state=TrialState.INTERRUPTED)
    results = run_together(pool, [(claim_and_finish, (url, sid, f"w{k}")) for k in range(N_PROCS)])
    claimed = sorted(number for got, _ in results for number in got)
    assert claimed == list(range(n))
    won = sorted(number for _, got in results for number in got)
    assert won == list(range(n))  # each trial finished by exactly one worker
    trials = storage.get_trials(sid)
    assert all(t.state == TrialState.COMPLETED and t.score == float(t.number) for t in trials)


def test_a_reader_in_a_loop_never_errors_while_writers_write(pool, url):
    sid, per_writer, writers = new_study(url), 25, N_PROCS - 1
    expected = per_writer * writers
    reads, *_ = run_together(pool, [(read_in_a_loop, (url, sid, expected))] + [
        (write_and_finish, (url, sid, per_writer, seed)) for seed in range(writers)])
    assert reads >= 1
    trials = get_storage(url).get_trials(sid)
    assert len(trials) == expected
    assert sorted((t.hyperparameters["w"], t.hyperparameters["i"]) for t in trials) == sorted(
        (w, i) for w in range(writers) for i in range(per_writer))
