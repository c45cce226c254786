"""The storage contract: every storage (in memory, SQLite file and in-memory SQLite, PostgreSQL)
passes the same cases.

PostgreSQL runs on the session's server (the ``postgres_url`` fixture, tests/_postgres.py: one
started on 127.0.0.1, or the database ``TUNEWISE_TEST_POSTGRES_URL`` names); each test uses its
own study names and deletes them afterwards. Where no server can be had, those cases skip and
say why.
"""

from __future__ import annotations

import sqlite3
import uuid
from dataclasses import dataclass, field

import pytest

from tunewise.storage import (BaseStorage, DuplicatePointError, InMemoryStorage,
                              StudyExistsError, get_storage)
from tunewise.space import point_id
from tunewise.trial import FrozenTrial, TrialState

RUNNING, WAITING, INTERRUPTED = TrialState.RUNNING, TrialState.WAITING, TrialState.INTERRUPTED
COMPLETED, FAILED = TrialState.COMPLETED, TrialState.FAILED

SPACE_A = {"class_name": "Int", "config": {"name": "a", "min_value": 1, "max_value": 4,
                                           "step": None, "sampling": "linear", "default": None}}
SPACE_A_OTHER = {"class_name": "Int", "config": {"name": "a", "min_value": 0, "max_value": 9,
                                                 "step": None, "sampling": "linear", "default": None}}
SPACE_B = {"class_name": "Choice", "config": {"name": "b", "values": ["x", "y"], "ordered": False,
                                              "default": None}}
SPACE_C = {"class_name": "Boolean", "config": {"name": "c", "default": False}}
SETTINGS = {"objectives": [{"name": "loss", "direction": "min"}], "sampler": {"name": "random"},
            "scheduler": None, "seed": 7, "hyperparameters": None}


@dataclass
class Store:
    """A storage under test, with unique study names and a way to open a second connection
    to the same data (as another process would)."""

    kind: str
    storage: BaseStorage
    url: str | None  # None: in memory, no second connection possible
    prefix: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}-")
    others: list[BaseStorage] = field(default_factory=list)

    def name(self, n: str = "s") -> str:
        return self.prefix + n

    def study(self, space=None, n: str = "s") -> int:
        return self.storage.create_study(self.name(n), SETTINGS, list(space or [])).id

    def other(self) -> BaseStorage:
        if self.url is None:
            pytest.skip("an in-memory database lives in one storage object; no second one")
        storage = get_storage(self.url)
        self.others.append(storage)
        return storage

    def mine(self, studies):
        return [s for s in studies if s.name.startswith(self.prefix)]


@pytest.fixture(params=[
    "memory",
    "sqlite",
    "sqlite-in-memory",
    "postgresql",
])
def store(request, tmp_path):
    if request.param == "memory":
        s = Store("memory", InMemoryStorage(), None)
    elif request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'contract.db'}"
        s = Store("sqlite", get_storage(url), url)
    elif request.param == "sqlite-in-memory":  # one private database per storage object
        s = Store("sqlite-in-memory", get_storage("sqlite://"), None)
    else:
        url = request.getfixturevalue("postgres_url")  # skips, saying why, without a server
        s = Store("postgresql", get_storage(url), url)
    yield s
    for info in s.mine(s.storage.list_studies()):
        s.storage.delete_study(info.name)
    for storage in [s.storage, *s.others]:
        storage.close()


def create(storage, sid, params=None, *, key=None, max_trials=None, state=RUNNING, now=100.0,
           seed=None, worker="w0"):
    return storage.create_trial(sid, {"a": 1} if params is None else params, key=key, seed=seed,
                                worker=worker, max_trials=max_trials, state=state, now=now)


def snapshot(trials: list[FrozenTrial]):
    """Everything a trial record holds, for comparing before and after."""
    return [(t.number, t.state, t.hyperparameters, t.metrics, t.score, t.score_std, t.executions,
             t.intermediate, t.started, t.finished, t.error, t.traceback, t.seed, t.worker,
             t.attempts, t.key, t.params_key) for t in trials]


# -- studies ---------------------------------------------------------------------------------
def test_create_get_list_and_delete_studies(store):
    st = store.storage
    assert st.get_study(store.name("a")) is None
    a = st.create_study(store.name("a"), SETTINGS, [SPACE_A])
    b = st.create_study(store.name("b"), {**SETTINGS, "seed": 8}, [])
    assert a.id != b.id
    assert (a.name, a.settings, a.space, a.n_trials) == (store.name("a"), SETTINGS, [SPACE_A], 0)
    got = st.get_study(store.name("a"))
    assert (got.id, got.name, got.settings, got.space, got.n_trials) == (a.id, a.name, SETTINGS,
                                                                         [SPACE_A], 0)
    assert got.created == pytest.approx(a.created)
    assert [s.name for s in store.mine(st.list_studies())] == [store.name("a"), store.name("b")]

    create(st, a.id)
    create(st, a.id, {"a": 2})
    assert st.get_study(store.name("a")).n_trials == 2
    assert st.get_study(store.name("b")).n_trials == 0

    st.delete_study(store.name("a"))
    assert st.get_study(store.name("a")) is None
    assert [s.name for s in store.mine(st.list_studies())] == [store.name("b")]
    st.delete_study(store.name("a"))  # deleting a missing study is not an error
    st.delete_study(store.name("never-created"))

    again = st.create_study(store.name("a"), SETTINGS, [])
    assert again.n_trials == 0
    assert st.get_trials(again.id) == []
    assert create(st, again.id).number == 0


def test_a_returned_study_is_the_callers_to_change(store):
    st = store.storage
    store.study([SPACE_A], n="own")
    info = st.get_study(store.name("own"))
    info.settings["seed"] = 99
    info.settings["objectives"].append({"name": "x", "direction": "max"})
    info.space.append(SPACE_B)
    store.mine(st.list_studies())[0].space.clear()
    again = st.get_study(store.name("own"))
    assert (again.settings, again.space) == (SETTINGS, [SPACE_A])


def test_a_duplicate_study_name_raises_study_exists_and_changes_nothing(store):
    st = store.storage
    sid = store.study([SPACE_A], n="dup")
    create(st, sid)
    with pytest.raises(StudyExistsError):
        st.create_study(store.name("dup"), {**SETTINGS, "seed": 99}, [SPACE_B])
    info = st.get_study(store.name("dup"))
    assert (info.id, info.settings, info.space, info.n_trials) == (sid, SETTINGS, [SPACE_A], 1)
    assert len(store.mine(st.list_studies())) == 1


def test_studies_do_not_share_trials_numbers_or_keys(store):
    st = store.storage
    one, two = store.study(n="one"), store.study(n="two")
    create(st, one, key="k")
    create(st, one, key="j")
    t = create(st, two, key="k")  # the same point in another study is free
    assert t.number == 0
    assert [t.number for t in st.get_trials(one)] == [0, 1]
    assert [t.key for t in st.get_trials(two)] == ["k"]


# -- creating trials -------------------------------------------------------------------------
def test_create_trial_numbers_from_zero_and_returns_the_record(store):
    st = store.storage
    sid = store.study()
    records = [create(st, sid, {"a": i, "b": "x"}, key=f"k{i}", seed=10 + i, worker=f"w{i}",
                      now=50.0 + i) for i in range(4)]
    assert [r.number for r in records] == [0, 1, 2, 3]
    r = records[2]
    assert (r.state, r.hyperparameters, r.key, r.seed, r.worker, r.started, r.finished) == (
        RUNNING, {"a": 2, "b": "x"}, "k2", 12, "w2", 52.0, None)
    assert (r.metrics, r.score, r.score_std, r.executions, r.intermediate, r.error, r.attempts) == (
        {}, None, None, [], {}, None, 0)
    assert snapshot(st.get_trials(sid)) == snapshot(records)
    assert st.get_study(store.name()).n_trials == 4


def test_a_waiting_trial_has_no_start_time(store):
    st = store.storage
    sid = store.study()
    t = create(st, sid, state=WAITING, now=5.0)
    assert (t.state, t.started) == (WAITING, None)
    assert st.get_trial(sid, 0).state == WAITING
    assert st.has_queued(sid)


def test_max_trials_is_a_budget_for_the_whole_study(store):
    st = store.storage
    sid = store.study()
    numbers = [create(st, sid, {"a": i}, max_trials=3).number for i in range(3)]
    assert numbers == [0, 1, 2]
    assert create(st, sid, {"a": 9}, max_trials=3) is None
    assert create(st, sid, {"a": 9}, key="new", max_trials=2) is None  # below the count: None too
    # finished trials count as well
    assert st.update_trial(sid, 0, [RUNNING], state=COMPLETED, score=1.0)
    assert create(st, sid, {"a": 9}, max_trials=3) is None
    assert len(st.get_trials(sid)) == 3
    assert st.get_study(store.name()).n_trials == 3
    # a larger budget (a resumed run with more trials) continues the numbering
    assert create(st, sid, {"a": 9}, max_trials=4).number == 3
    assert create(st, sid, {"a": 10}).number == 4  # no budget


def test_a_claimed_key_raises_duplicate_point_and_the_failed_create_changes_nothing(store):
    st = store.storage
    sid = store.study()
    create(st, sid, {"a": 1}, key='{"a":1}')
    create(st, sid, {"a": 2}, key='{"a":2}', state=WAITING)
    before = snapshot(st.get_trials(sid))
    for max_trials in (None, 5):
        with pytest.raises(DuplicatePointError):
            create(st, sid, {"a": 1}, key='{"a":1}', max_trials=max_trials)
    with pytest.raises(DuplicatePointError):
        create(st, sid, {"a": 2}, key='{"a":2}')
    assert snapshot(st.get_trials(sid)) == before
    assert st.get_study(store.name()).n_trials == 2
    # the numbering has no gap, and a trial without a key never conflicts
    assert create(st, sid, {"a": 3}, key='{"a":3}').number == 2
    assert create(st, sid, {"a": 1}, key=None).number == 3
    assert create(st, sid, {"a": 1}, key=None).number == 4


def test_a_key_stays_claimed_whatever_happens_to_its_trial(store):
    st = store.storage
    sid = store.study()
    create(st, sid, key="p")
    st.update_trial(sid, 0, [RUNNING], state=FAILED, error="boom")
    with pytest.raises(DuplicatePointError):
        create(st, sid, key="p")
    st.update_trial(sid, 0, [FAILED], state=INTERRUPTED)
    with pytest.raises(DuplicatePointError):
        create(st, sid, key="p")
    assert len(st.get_trials(sid)) == 1


# -- claiming and updating -------------------------------------------------------------------
def test_claim_trial_takes_the_lowest_waiting_or_interrupted_trial(store):
    st = store.storage
    sid = store.study()
    assert st.claim_trial(sid, "w", 1.0) is None  # nothing queued in a new study
    create(st, sid, {"a": 0})                                   # 0 running
    create(st, sid, {"a": 1}, state=WAITING)                    # 1 waiting
    create(st, sid, {"a": 2})                                   # 2 interrupted (below)
    create(st, sid, {"a": 3}, state=WAITING)                    # 3 waiting
    create(st, sid, {"a": 4})                                   # 4 completed
    assert st.update_trial(sid, 2, [RUNNING], state=INTERRUPTED, finished=9.0,
                           error="its worker died", traceback="tb")
    assert st.update_trial(sid, 4, [RUNNING], state=COMPLETED, score=0.5)
    st.get_trials(sid)
    assert st.has_queued(sid)

    first = st.claim_trial(sid, "claimer", 200.0)
    assert (first.number, first.state, first.worker, first.started, first.hyperparameters) == (
        1, RUNNING, "claimer", 200.0, {"a": 1})
    second = st.claim_trial(sid, "claimer-2", 201.0)
    assert (second.number, second.state, second.worker, second.started) == (
        2, RUNNING, "claimer-2", 201.0)
    # a claimed interrupted trial starts afresh: no finish time or old error
    assert (second.finished, second.error, second.traceback) == (None, None, None)
    assert st.claim_trial(sid, "c", 202.0).number == 3
    assert st.claim_trial(sid, "c", 203.0) is None
    trials = st.get_trials(sid)
    assert [t.state for t in trials] == [RUNNING, RUNNING, RUNNING, RUNNING, COMPLETED]
    assert snapshot([trials[2]]) == snapshot([second])
    assert not st.has_queued(sid)


def test_a_claimed_trial_keeps_what_it_reported_before_it_was_interrupted(store):
    st = store.storage
    sid = store.study()
    create(st, sid, {"a": 1}, seed=5)
    st.add_step(sid, 0, 0, {"loss": 1.0})
    st.add_step(sid, 0, 1, {"loss": 0.5})
    assert st.update_trial(sid, 0, [RUNNING], state=INTERRUPTED, attempts=1)
    claimed = st.claim_trial(sid, "w2", 300.0)
    # the new run can resume from its last step: the record it gets says where that is
    assert claimed.intermediate == {0: {"loss": 1.0}, 1: {"loss": 0.5}}
    assert (claimed.hyperparameters, claimed.seed, claimed.attempts) == ({"a": 1}, 5, 1)
    assert snapshot([claimed]) == snapshot(st.get_trials(sid))


def test_update_trial_changes_nothing_when_the_state_differs(store):
    st = store.storage
    sid = store.study([SPACE_A])
    create(st, sid, {"a": 1}, key="k")
    before = snapshot(st.get_trials(sid))
    assert st.update_trial(sid, 0, [WAITING, COMPLETED], state=FAILED, error="x", score=1.0,
                           space=[SPACE_B]) is False
    assert snapshot(st.get_trials(sid)) == before
    assert st.get_study(store.name()).space == [SPACE_A]  # the space was not merged either

    assert st.update_trial(sid, 0, [RUNNING], state=COMPLETED, score=2.0) is True
    # a second worker that also thinks the trial is running loses
    assert st.update_trial(sid, 0, [RUNNING], state=FAILED, error="late") is False
    t = st.get_trial(sid, 0)
    assert (t.state, t.score, t.error) == (COMPLETED, 2.0, None)
    # a field update that keeps the state
    assert st.update_trial(sid, 0, [COMPLETED], attempts=3) is True
    assert st.get_trial(sid, 0).attempts == 3


@pytest.mark.parametrize("score, score_std, expected, expected_std", [
    (0.25, 0.0, 0.25, 0.0),
    (-3.5e-07, 1.25, -3.5e-07, 1.25),
    ([0.5, 0.91], [0.0, 0.125], (0.5, 0.91), (0.0, 0.125)),   # multi-objective, as Study passes
    ((0.5, 0.91), (0.0, 0.125), (0.5, 0.91), (0.0, 0.125)),
], ids=["float", "negative-small", "multi-list", "multi-tuple"])
def test_every_field_round_trips(store, score, score_std, expected, expected_std):
    st = store.storage
    sid = store.study()
    create(st, sid, {"placeholder": 0})
    hps = {"units": 64, "lr": 0.00031622776601683794, "act": "relu", "batch_norm": True,
           "dropout": 0.0, "z_last": "defined last", "a_first": 1}  # definition order, not sorted
    metrics = {"loss": 0.25, "val_accuracy": 0.9375, "diverged_metric": None}
    executions = [{"loss": 0.2, "val_accuracy": 0.9}, {"loss": 0.3, "val_accuracy": 0.975}]
    tb = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: bad ünïcode ✓\n"
    assert st.update_trial(
        sid, 0, [RUNNING], state=COMPLETED, hyperparameters=hps, metrics=metrics, score=score,
        score_std=score_std, executions=executions, error="ValueError: bad ünïcode ✓",
        traceback=tb, started=1700000000.125, finished=1700000012.5, seed=2**31 - 1, attempts=2,
        worker="host:123:456")
    for storage in [st] + ([store.other()] if store.url else []):
        t = storage.get_trial(sid, 0)
        assert t.state == COMPLETED
        assert t.hyperparameters == hps
        assert list(t.hyperparameters) == list(hps)
        assert type(t.hyperparameters["batch_norm"]) is bool
        assert type(t.hyperparameters["units"]) is int
        assert type(t.hyperparameters["dropout"]) is float
        assert t.metrics == metrics
        assert t.score == expected and type(t.score) is type(expected)
        assert t.score_std == expected_std and type(t.score_std) is type(expected_std)
        assert t.executions == executions
        assert t.error == "ValueError: bad ünïcode ✓"
        assert t.traceback == tb
        assert (t.started, t.finished, t.duration) == (1700000000.125, 1700000012.5, 12.375)
        assert (t.seed, t.attempts, t.worker) == (2**31 - 1, 2, "host:123:456")
        assert t.params_key == point_id(dict(reversed(list(t.hyperparameters.items()))))
        assert len(t.params_key) == 32


def test_fields_can_be_cleared_and_large_seeds_are_kept(store):
    st = store.storage
    sid = store.study()
    create(st, sid)
    assert st.update_trial(sid, 0, [RUNNING], state=FAILED, error="e", traceback="t", score=1.0,
                           seed=2**40 + 3)
    assert st.update_trial(sid, 0, [FAILED], state=WAITING, error=None, traceback=None, score=None,
                           started=None, finished=None)
    t = st.get_trial(sid, 0)
    assert (t.state, t.error, t.traceback, t.score, t.started, t.finished, t.seed) == (
        WAITING, None, None, None, None, None, 2**40 + 3)


# -- intermediate results ----------------------------------------------------------------------
def test_add_step_records_intermediate_results_and_a_re_report_replaces_the_step(store):
    st = store.storage
    sid = store.study()
    create(st, sid)
    create(st, sid, {"a": 2})
    st.add_step(sid, 0, 2, {"loss": 0.8})
    st.add_step(sid, 0, 0, {"loss": 1.0, "acc": 0.5})
    st.add_step(sid, 0, 1, {"loss": 0.9})
    st.add_step(sid, 0, 1, {"loss": 0.7, "acc": None})  # a resumed run reports step 1 again
    t0, t1 = st.get_trials(sid)
    assert t0.intermediate == {0: {"loss": 1.0, "acc": 0.5}, 1: {"loss": 0.7, "acc": None},
                               2: {"loss": 0.8}}
    assert list(t0.intermediate) == [0, 1, 2]  # by step, whatever the order of the reports
    assert t1.intermediate == {}
    assert t0.state == RUNNING  # reporting leaves the rest of the trial alone
    assert st.update_trial(sid, 0, [RUNNING], state=COMPLETED, score=0.7)
    assert st.get_trial(sid, 0).intermediate[1] == {"loss": 0.7, "acc": None}


# -- the search space --------------------------------------------------------------------------
def test_merge_space_adds_only_new_names_and_returns_the_merged_space(store):
    st = store.storage
    sid = store.study(space=[SPACE_A])
    assert st.merge_space(sid, [SPACE_A_OTHER, SPACE_B]) == [SPACE_A, SPACE_B]
    assert st.merge_space(sid, []) == [SPACE_A, SPACE_B]
    assert st.merge_space(sid, [SPACE_B, SPACE_C, SPACE_A]) == [SPACE_A, SPACE_B, SPACE_C]
    assert st.get_study(store.name()).space == [SPACE_A, SPACE_B, SPACE_C]
    # the returned list is the caller's: changing it does not change the stored space
    st.merge_space(sid, []).append(SPACE_A_OTHER)
    assert st.get_study(store.name()).space == [SPACE_A, SPACE_B, SPACE_C]


def test_update_trial_merges_definitions_into_the_space_with_the_values(store):
    st = store.storage
    sid = store.study(space=[SPACE_A])
    create(st, sid)
    assert st.update_trial(sid, 0, [RUNNING], state=COMPLETED, hyperparameters={"a": 1, "b": "y"},
                           score=1.0, space=[SPACE_A_OTHER, SPACE_B])
    assert st.get_study(store.name()).space == [SPACE_A, SPACE_B]
    assert st.get_trial(sid, 0).hyperparameters == {"a": 1, "b": "y"}


# -- reading -----------------------------------------------------------------------------------
def test_get_trials_returns_records_by_number(store):
    st = store.storage
    sid = store.study()
    for i in range(5):
        create(st, sid, {"a": i}, state=WAITING if i % 2 else RUNNING)
    st.update_trial(sid, 3, [WAITING], state=RUNNING)
    st.update_trial(sid, 0, [RUNNING], state=COMPLETED, score=0.0)
    st.claim_trial(sid, "w", 1.0)
    trials = st.get_trials(sid)
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert [t.hyperparameters["a"] for t in trials] == [0, 1, 2, 3, 4]
    assert all(st.get_trial(sid, n) == trials[n] for n in range(5))
    with pytest.raises(KeyError, match="Trial 5 does not exist"):
        st.get_trial(sid, 5)
    # the list is a copy: changing it changes nothing stored
    trials.clear()
    assert len(st.get_trials(sid)) == 5


def test_get_trials_sees_writes_made_through_a_second_storage_object(store):
    a = store.storage
    sid = store.study([SPACE_A])
    b = store.other()
    assert b.get_trials(sid) == []
    create(a, sid, {"a": 1}, key="1")
    create(a, sid, {"a": 2}, key="2", state=WAITING)
    assert [t.hyperparameters for t in b.get_trials(sid)] == [{"a": 1}, {"a": 2}]
    assert b.has_queued(sid)

    # every kind of write, each seen by the other object's incremental cache
    assert a.update_trial(sid, 0, [RUNNING], state=COMPLETED, score=0.5, metrics={"loss": 0.5})
    assert b.get_trial(sid, 0).score == 0.5
    assert b.claim_trial(sid, "b", 3.0).number == 1
    assert a.get_trial(sid, 1).worker == "b"
    a.add_step(sid, 1, 0, {"loss": 2.0})
    assert b.get_trial(sid, 1).intermediate == {0: {"loss": 2.0}}
    b.add_step(sid, 1, 0, {"loss": 1.5})
    assert a.get_trial(sid, 1).intermediate == {0: {"loss": 1.5}}
    assert b.update_trial(sid, 1, [RUNNING], state=INTERRUPTED, error="killed")
    assert a.get_trials(sid)[1].state == INTERRUPTED
    assert a.has_queued(sid)
    with pytest.raises(DuplicatePointError):
        create(b, sid, {"a": 1}, key="1")
    assert create(b, sid, {"a": 3}, key="3", max_trials=3).number == 2
    assert create(a, sid, {"a": 4}, key="4", max_trials=3) is None
    b.merge_space(sid, [SPACE_B])
    assert a.get_study(store.name()).space == [SPACE_A, SPACE_B]
    assert snapshot(a.get_trials(sid)) == snapshot(b.get_trials(sid))
    assert snapshot(a.get_trials(sid)) == snapshot(store.other().get_trials(sid))


def test_a_study_deleted_and_created_again_elsewhere_is_read_afresh(store):
    a = store.storage
    b = store.other()
    old = store.study(n="re")
    for i in range(3):
        create(a, old, {"a": i})
    assert len(b.get_trials(old)) == 3  # b now holds the old trials in its cache
    a.delete_study(store.name("re"))  # as `--overwrite` in another process does
    new = a.create_study(store.name("re"), SETTINGS, []).id
    create(a, new, {"a": 42})
    assert [t.hyperparameters for t in b.get_trials(new)] == [{"a": 42}]
    assert [t.hyperparameters for t in a.get_trials(new)] == [{"a": 42}]


# -- SQLite specifics: the schema version and bad URLs -----------------------------------------
def test_the_schema_version_is_recorded_in_the_sqlite_file(tmp_path):
    from tunewise.storage.sql import SCHEMA_VERSION

    path = tmp_path / "v.db"
    get_storage(f"sqlite:///{path}").close()
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT key, value FROM tunewise_info").fetchall()
    assert ("schema_version", str(SCHEMA_VERSION)) in rows
    # opening it again keeps the version and the data
    storage = get_storage(f"sqlite:///{path}")
    sid = storage.create_study("s", SETTINGS, []).id
    create(storage, sid)
    storage.close()
    storage = get_storage(f"sqlite:///{path}")
    assert storage.schema_version == SCHEMA_VERSION
    assert len(storage.get_trials(sid)) == 1
    storage.close()


def test_a_file_from_a_newer_tunewise_is_refused_and_left_alone(tmp_path):
    from tunewise.storage.sql import SCHEMA_VERSION

    path = tmp_path / "new.db"
    storage = get_storage(f"sqlite:///{path}")
    create(storage, storage.create_study("s", SETTINGS, []).id)
    storage.close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE tunewise_info SET value = ? WHERE key = 'schema_version'",
                     (str(SCHEMA_VERSION + 1),))
    with pytest.raises(ValueError) as err:
        get_storage(f"sqlite:///{path}")
    message = str(err.value)
    assert str(path) in message
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert "upgrade tunewise" in message
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM tunewise_info").fetchall() == [
            (str(SCHEMA_VERSION + 1),)]
        assert conn.execute("SELECT count(*) FROM trials").fetchone() == (1,)


def test_a_file_that_is_not_a_database_is_a_clear_error_and_left_alone(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 200)
    before = path.read_bytes()
    with pytest.raises(ValueError, match="notes.db"):
        get_storage(f"sqlite:///{path}")
    assert path.read_bytes() == before


@pytest.mark.parametrize("url, fix", [
    ("nonsense", "sqlite:///"),
    ("sqlite:///no/such/dir/x.db", "create it"),
    ("mysqlx://x", "sqlite:///"),
])
def test_a_bad_url_is_a_value_error_that_names_the_url_and_the_fix(url, fix, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as err:
        get_storage(url)
    message = str(err.value)
    assert repr(url) in message
    assert fix in message
    assert not (tmp_path / "no").exists()  # nothing was created on the way


def test_writing_to_a_deleted_study_is_a_key_error_not_a_spent_budget(store):
    st = store.storage
    sid = store.study(n="gone")
    create(st, sid)
    st.delete_study(store.name("gone"))  # e.g. overwritten by another process
    for max_trials in (None, 10):
        with pytest.raises(KeyError):
            create(st, sid, max_trials=max_trials)
    with pytest.raises(KeyError):
        st.update_trial(sid, 0, [RUNNING], state=COMPLETED, score=1.0)
    with pytest.raises(KeyError):
        st.add_step(sid, 0, 0, {"loss": 1.0})
    with pytest.raises(KeyError):
        st.merge_space(sid, [SPACE_A])
    assert st.get_study(store.name("gone")) is None


# -- multi-fidelity fields ---------------------------------------------------------------------
def test_budget_bracket_and_rungs_round_trip(store):
    st = store.storage
    sid = store.study()
    made = st.create_trial(sid, {"a": 1}, key="hyperband:2:0:0", seed=None, worker="w0",
                           max_trials=None, now=1.0, budget=3, bracket=2)
    assert (made.budget, made.bracket, made.rungs, made.resume_step) == (3, 2, {}, 0)
    assert st.update_trial(sid, 0, [RUNNING], state=TrialState.PAUSED, rungs={3: 0.5}, score=0.5)
    assert st.update_trial(sid, 0, [TrialState.PAUSED], state=RUNNING, budget=9)
    assert st.update_trial(sid, 0, [RUNNING], state=COMPLETED, rungs={3: 0.5, 9: 0.75}, score=0.75)
    for storage in [st] + ([store.other()] if store.url else []):
        t = storage.get_trial(sid, 0)
        assert (t.state, t.budget, t.bracket) == (COMPLETED, 9, 2)
        assert t.rungs == {3: 0.5, 9: 0.75} and all(type(b) is int for b in t.rungs)
        assert (t.resume_step, t.budget_reached) == (9, 9)


def test_a_claim_is_taken_once_and_for_good(store):
    """A promotion claims its slot with the state change: a slot claimed before (by any
    trial, whatever became of it since) is refused (False) and nothing changes."""
    st = store.storage
    sid = store.study()
    for _ in range(3):
        create(st, sid, state=TrialState.PAUSED)
    assert st.update_trial(sid, 0, [TrialState.PAUSED], state=RUNNING, claim="slot:1:0") is True
    before = snapshot(st.get_trials(sid))
    assert st.update_trial(sid, 1, [TrialState.PAUSED], state=RUNNING, claim="slot:1:0") is False
    assert snapshot(st.get_trials(sid)) == before
    assert st.update_trial(sid, 0, [RUNNING], state=TrialState.PAUSED) is True
    assert st.update_trial(sid, 0, [TrialState.PAUSED], state=RUNNING, claim="slot:1:0") is False
    assert st.update_trial(sid, 2, [TrialState.PAUSED], state=RUNNING, claim="slot:1:1") is True
    assert st.update_trial(sid, 1, [RUNNING], claim="slot:1:2") is False  # wrong state: not claimed
    assert st.update_trial(sid, 1, [TrialState.PAUSED], state=RUNNING, claim="slot:1:2") is True
    other = store.study(n="other")  # claims are per study
    create(st, other, state=TrialState.PAUSED)
    assert st.update_trial(other, 0, [TrialState.PAUSED], state=RUNNING, claim="slot:1:0") is True


@pytest.mark.parametrize("version, added", [(1, ("budget", "bracket", "rungs", "heartbeat")),
                                             (2, ("heartbeat",))])
def test_an_older_schema_file_is_upgraded_and_keeps_its_trials(tmp_path, version, added):
    from tunewise.storage.sql import SCHEMA_VERSION

    path = tmp_path / "old.db"
    storage = get_storage(f"sqlite:///{path}")
    sid = storage.create_study("s", SETTINGS, []).id
    create(storage, sid, {"a": 7})
    storage.update_trial(sid, 0, [RUNNING], state=COMPLETED, score=0.5)
    storage.close()
    with sqlite3.connect(path) as conn:  # what an older tunewise wrote
        for column in added:
            conn.execute(f"ALTER TABLE trials DROP COLUMN {column}")
        conn.execute(f"UPDATE tunewise_info SET value = '{version}' WHERE key = 'schema_version'")
    storage = get_storage(f"sqlite:///{path}")
    assert storage.schema_version == SCHEMA_VERSION == 3
    [t] = storage.get_trials(sid)
    assert (t.hyperparameters, t.score, t.budget, t.rungs) == ({"a": 7}, 0.5, None, {})
    create(storage, sid)
    assert storage.update_trial(sid, 1, [RUNNING], state=TrialState.PAUSED, budget=3, rungs={3: 0.25})
    assert storage.get_trial(sid, 1).rungs == {3: 0.25}
    assert storage.update_trial(sid, 1, [TrialState.PAUSED], state=RUNNING, heartbeat=5.0)
    assert storage.expired_trials(sid, now=6.0) == [1]
    storage.close()
