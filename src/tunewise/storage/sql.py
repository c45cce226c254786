"""SQL storage through SQLAlchemy Core: SQLite (embedded, one file) and PostgreSQL.

Every write runs in one short transaction. On SQLite the transaction takes the write lock at
its start (``BEGIN IMMEDIATE``) and waits for it (``busy_timeout``), so that concurrent
processes queue instead of failing with "database is locked"; the file uses write-ahead
logging, so readers never wait. Each write also bumps a per-study sequence number stamped
on the rows it touches: a process re-reads only the trials that changed since its last look.
"""

from __future__ import annotations

import json
import os
import sqlite3
from importlib.util import find_spec
import threading
import time
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, NoSuchModuleError

from ..space import point_id
from ..trial import QUEUED_STATES, FrozenTrial, TrialState
from .base import BaseStorage, DuplicatePointError, StudyExistsError, StudyInfo
from .urls import hide_password, scrub

SCHEMA_VERSION = 3  # 2: budget, bracket and rungs of multi-fidelity trials; 3: heartbeat

_meta = sa.MetaData()
_info = sa.Table(
    "tunewise_info", _meta,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
_studies = sa.Table(
    "studies", _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(512), nullable=False, unique=True),
    sa.Column("created", sa.Float, nullable=False),
    sa.Column("settings", sa.Text, nullable=False),
    sa.Column("space", sa.Text, nullable=False),
    sa.Column("n_trials", sa.Integer, nullable=False, default=0),
    sa.Column("seq", sa.BigInteger, nullable=False, default=0),
    # Never reuse the id of a deleted study: other processes cache trials by study id.
    sqlite_autoincrement=True,
)
_trials = sa.Table(
    "trials", _meta,
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("claim_key", sa.Text, nullable=True),
    sa.Column("metrics", sa.Text, nullable=True),
    sa.Column("score", sa.Text, nullable=True),
    sa.Column("value", sa.Float, nullable=True),  # first objective, for sorting in SQL
    sa.Column("score_std", sa.Text, nullable=True),
    sa.Column("executions", sa.Text, nullable=True),
    sa.Column("seed", sa.BigInteger, nullable=True),
    sa.Column("worker", sa.String(256), nullable=True),
    sa.Column("started", sa.Float, nullable=True),
    sa.Column("finished", sa.Float, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("traceback", sa.Text, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("n_steps", sa.Integer, nullable=False, default=0),
    sa.Column("budget", sa.Integer, nullable=True),
    sa.Column("bracket", sa.Integer, nullable=True),
    sa.Column("rungs", sa.Text, nullable=True),
    # The lease of a running trial: when its worker's heartbeat expires. Renewing it does
    # not bump ``seq`` (nothing another process caches changes).
    sa.Column("heartbeat", sa.Float, nullable=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("study_id", "claim_key", name="uq_trials_claim"),
    sa.Index("ix_trials_seq", "study_id", "seq"),
    sa.Index("ix_trials_state", "study_id", "state"),
)
_steps = sa.Table(
    "trial_steps", _meta,
    sa.Column("study_id", sa.Integer, primary_key=True),
    sa.Column("number", sa.Integer, primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    sa.Column("metrics", sa.Text, nullable=False),
    sa.ForeignKeyConstraint(["study_id", "number"], ["trials.study_id", "trials.number"],
                            ondelete="CASCADE"),
)
# Slots a scheduler's promotions claim: one row per claim, never released, so that no two
# workers fill one slot of a round, however stale their view.
_claims = sa.Table(
    "claims", _meta,
    sa.Column("study_id", sa.Integer, sa.ForeignKey("studies.id", ondelete="CASCADE"),
              primary_key=True),
    sa.Column("key", sa.String(256), primary_key=True),
)

_JSON_FIELDS = {"hyperparameters": "params", "metrics": "metrics", "score": "score",
                "score_std": "score_std", "executions": "executions", "rungs": "rungs"}
_PLAIN_FIELDS = {"error", "traceback", "started", "finished", "worker", "attempts", "seed",
                 "budget", "bracket", "heartbeat"}
# Columns added after schema version 1, with their SQL types, for upgrading old files.
_ADDED_COLUMNS = {"budget": "INTEGER", "bracket": "INTEGER", "rungs": "TEXT", "heartbeat": "FLOAT"}
_QUEUED = [s.value for s in QUEUED_STATES]


def _dumps(value: Any, ordered: bool = False) -> str:
    """JSON text; ``ordered`` keeps the dict's own order (hyperparameters in the order the
    function defined them) instead of sorting the keys."""
    return json.dumps(value, sort_keys=not ordered, separators=(",", ":"), allow_nan=False)


def _score_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _merge_configs(stored: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = {c["config"]["name"] for c in stored}
    return stored + [c for c in new if c["config"]["name"] not in names]


def _unstorable_name(name: str) -> str | None:
    """Why a study name cannot be stored (the same rule on SQLite and PostgreSQL), or None."""
    limit = _studies.c.name.type.length
    if len(name) > limit:
        return f"is {len(name)} characters long; a study name has at most {limit}: shorten it"
    if "\x00" in name:
        return "contains a NUL character (\\x00), which PostgreSQL cannot store: remove it"
    return None


def _short(name: str) -> str:
    return repr(name) if len(name) <= 60 else repr(name[:60]) + "..."


def _no_nul(text: Any) -> Any:
    """Text for a PostgreSQL text column, which cannot hold NUL: shown as the escape ``\\x00``
    (an error message may quote binary data)."""
    return text.replace("\x00", "\\x00") if isinstance(text, str) else text


class _Statements:
    """Statements built once: building and hashing SQLAlchemy statements on every call
    costs more than running them on SQLite."""

    def __init__(self) -> None:
        b = sa.bindparam
        s, t, st = _studies.c, _trials.c, _steps.c
        self.bump = sa.update(_studies).where(s.id == b("b_id")).values(seq=s.seq + 1).returning(s.seq)
        grow = {"n_trials": s.n_trials + 1, "seq": s.seq + 1}
        self.count = (sa.update(_studies).where(s.id == b("b_id")).values(**grow)
                      .returning(s.n_trials, s.seq))
        self.count_below = (sa.update(_studies).where(s.id == b("b_id"), s.n_trials < b("b_max"))
                            .values(**grow).returning(s.n_trials, s.seq))
        self.insert_trial = sa.insert(_trials)
        self.space = sa.select(s.space).where(s.id == b("b_id"))
        self.set_space = sa.update(_studies).where(s.id == b("b_id")).values(space=b("b_space"))
        queued = (sa.select(t.number).where(t.study_id == b("b_id"), t.state.in_(_QUEUED))
                  .order_by(t.number).limit(1))
        self.first_queued = queued
        self.first_queued_locked = queued.with_for_update(skip_locked=True)
        this = (t.study_id == b("b_id"), t.number == b("b_number"))
        self.claim = sa.update(_trials).where(*this).values(
            state=TrialState.RUNNING.value, worker=b("b_worker"), started=b("b_now"),
            finished=None, error=None, traceback=None, heartbeat=b("b_lease"), seq=b("b_seq"))
        self.one_trial = sa.select(_trials).where(*this)
        self.trial_steps = sa.select(st.step, st.metrics).where(st.study_id == b("b_id"),
                                                                st.number == b("b_number"))
        self.changed = (sa.select(_trials).where(t.study_id == b("b_id"), t.seq > b("b_seq"))
                        .order_by(t.seq))
        self.delete_step = sa.delete(_steps).where(st.study_id == b("b_id"), st.number == b("b_number"),
                                                   st.step == b("b_step"))
        self.insert_step = sa.insert(_steps)
        self.step_added = sa.update(_trials).where(*this).values(seq=b("b_seq"),
                                                                 n_steps=t.n_steps + 1)
        running_by = (t.study_id == b("b_id"), t.state == TrialState.RUNNING.value,
                      t.worker == b("b_worker"))
        self.renew = sa.update(_trials).where(*running_by).values(heartbeat=b("b_until")).returning(t.number)
        self.owned = sa.select(t.number).where(*this, t.state == TrialState.RUNNING.value,
                                               t.worker == b("b_worker"))
        self.expired = sa.select(t.number).where(
            t.study_id == b("b_id"), t.state == TrialState.RUNNING.value, t.heartbeat < b("b_now"))
        self._updates: dict[tuple[Any, ...], Any] = {}

    def update_trial(self, columns: tuple[str, ...], expected: tuple[str, ...], owned: bool) -> Any:
        key = (columns, expected, owned)
        stmt = self._updates.get(key)
        if stmt is None:
            b, t = sa.bindparam, _trials.c
            where = [t.study_id == b("b_id"), t.number == b("b_number"), t.state.in_(expected)]
            if owned:
                where.append(t.worker == b("b_owner"))
            stmt = sa.update(_trials).where(*where).values(seq=b("b_seq"), **{c: b(f"b_{c}") for c in columns})
            self._updates[key] = stmt
        return stmt


_Q = _Statements()


class _NotInState(Exception):
    """Rolls back an update whose trial is not in the expected state."""


class _Cache:
    __slots__ = ("seq", "trials", "queued")

    def __init__(self) -> None:
        self.seq = -1
        self.trials: list[FrozenTrial | None] = []
        self.queued: set[int] = set()


class SQLStorage(BaseStorage):
    """Storage in a SQL database given by a SQLAlchemy URL.

    A bare ``postgresql://`` URL connects with psycopg 3 (``pip install 'tunewise[postgres]'``).
    ``url`` is the URL as it may be shown, its password as ``***``.

    >>> storage = SQLStorage("sqlite:///:memory:")
    >>> storage.list_studies()
    []
    """

    def __init__(self, url: str) -> None:
        # ``url`` is for showing (messages, reprs, the command line): its password, if any,
        # is ``***``. The real one connects, here and in worker processes that reconnect.
        self.url = hide_password(url)
        self._connect_url = url
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError):  # ValueError: a port that is not a number
            raise ValueError(
                f"Bad storage URL {self.url!r}; use 'sqlite:///path/to/file.db' or "
                "'postgresql://user@host/dbname'.") from None
        if parsed.drivername == "postgresql" and find_spec("psycopg") is not None:
            # SQLAlchemy's default PostgreSQL driver is psycopg2; tunewise[postgres] installs
            # psycopg 3. A driver the user names (postgresql+psycopg2://) is kept.
            parsed = parsed.set(drivername="postgresql+psycopg")
        self._sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self._sqlite:
            database = parsed.database or ""
            if database and database != ":memory:" and not database.startswith("file:"):
                folder = os.path.dirname(os.path.abspath(database))
                if not os.path.isdir(folder):
                    raise ValueError(
                        f"Bad storage URL {self.url!r}: the folder {folder!r} does not exist; "
                        "create it or give another path.")
            if not database or database == ":memory:":
                kwargs["poolclass"] = sa.pool.StaticPool  # one shared in-memory database
            kwargs["connect_args"] = {"timeout": 600.0, "check_same_thread": False}
        try:
            self._engine = sa.create_engine(parsed, **kwargs)
        except NoSuchModuleError:
            raise ValueError(
                f"Bad storage URL {self.url!r}: no database driver for {parsed.drivername!r}; use "
                "'sqlite:///file.db' or 'postgresql://...' (pip install 'tunewise[postgres]').") from None
        except ModuleNotFoundError as exc:
            raise ValueError(
                f"Storage URL {self.url!r} needs the Python package {exc.name!r}; install it (for "
                "PostgreSQL: pip install 'tunewise[postgres]').") from None
        if self._sqlite:
            event.listen(self._engine, "connect", _sqlite_on_connect)
            event.listen(self._engine, "begin", _sqlite_on_begin)
        self._writer = self._engine.execution_options(tunewise_write=True)
        self._caches: dict[int, _Cache] = {}
        self._lock = threading.RLock()
        self._init_schema()

    # -- schema ---------------------------------------------------------------------------
    def _init_schema(self) -> None:
        try:
            with self._writer.begin() as conn:
                if conn.dialect.name == "postgresql":
                    # Workers that open a new database at once would each create the tables
                    # ("relation already exists"): one at a time, until this commits.
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(7263390127)"))
                _meta.create_all(conn)
                row = conn.execute(sa.select(_info.c.value).where(_info.c.key == "schema_version")).first()
                if row is None:
                    conn.execute(sa.insert(_info).values(key="schema_version", value=str(SCHEMA_VERSION)))
                    version = SCHEMA_VERSION
                else:
                    version = int(row[0])
                if version < SCHEMA_VERSION:
                    have = {c["name"] for c in sa.inspect(conn).get_columns("trials")}
                    for column, kind in _ADDED_COLUMNS.items():
                        if column not in have:
                            conn.execute(sa.text(f"ALTER TABLE trials ADD COLUMN {column} {kind}"))
                    conn.execute(sa.update(_info).where(_info.c.key == "schema_version")
                                 .values(value=str(SCHEMA_VERSION)))
                    version = SCHEMA_VERSION
        except IntegrityError:  # another process created the schema at the same moment
            return self._init_schema()
        except DBAPIError as exc:  # unreachable server, or a file that is not a database
            raise ValueError(
                f"Cannot open storage {self.url!r}: {scrub(str(exc.orig), self._connect_url)}; "
                "check the URL (a new or tunewise SQLite file, or a reachable database).") from None
        if version > SCHEMA_VERSION:
            raise ValueError(
                f"Storage {self.url!r} has schema version {version}, written by a newer tunewise; "
                "upgrade tunewise (pip install -U tunewise).")
        self.schema_version = version

    # -- studies --------------------------------------------------------------------------
    def _study_info(self, row: Any) -> StudyInfo:
        return StudyInfo(row.id, row.name, json.loads(row.settings), json.loads(row.space),
                         row.created, row.n_trials)

    def create_study(self, name, settings, space):
        problem = _unstorable_name(name)
        if problem:
            raise ValueError(f"Study name {_short(name)} {problem}.")
        try:
            with self._writer.begin() as conn:
                conn.execute(sa.insert(_studies).values(
                    name=name, created=time.time(), settings=_dumps(settings), space=_dumps(space),
                    n_trials=0, seq=0))
        except IntegrityError:
            raise StudyExistsError(name) from None
        info = self.get_study(name)
        assert info is not None
        return info

    def get_study(self, name):
        if _unstorable_name(name):  # never created, and PostgreSQL refuses to compare it
            return None
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(_studies).where(_studies.c.name == name)).first()
        return None if row is None else self._study_info(row)

    def list_studies(self):
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(_studies).order_by(_studies.c.id)).all()
        return [self._study_info(r) for r in rows]

    def delete_study(self, name):
        if _unstorable_name(name):
            return
        with self._writer.begin() as conn:
            sid = conn.execute(sa.select(_studies.c.id).where(_studies.c.name == name)).scalar()
            if sid is None:
                return
            conn.execute(sa.delete(_steps).where(_steps.c.study_id == sid))
            conn.execute(sa.delete(_claims).where(_claims.c.study_id == sid))
            conn.execute(sa.delete(_trials).where(_trials.c.study_id == sid))
            conn.execute(sa.delete(_studies).where(_studies.c.id == sid))
        with self._lock:
            self._caches.pop(sid, None)

    def update_settings(self, study_id, changes):
        with self._writer.begin() as conn:
            stored = conn.execute(sa.select(_studies.c.settings).where(_studies.c.id == study_id)).scalar()
            if stored is None:
                raise KeyError(f"Study {study_id} no longer exists.")
            settings = {**json.loads(stored), **changes}
            conn.execute(sa.update(_studies).where(_studies.c.id == study_id)
                         .values(settings=_dumps(settings)))

    def merge_space(self, study_id, space):
        with self._writer.begin() as conn:
            return self._merge_space(conn, study_id, space)

    @staticmethod
    def _merge_space(conn: sa.Connection, study_id: int, space: list[dict[str, Any]]
                     ) -> list[dict[str, Any]]:
        """Merge inside the caller's write transaction."""
        stored = conn.execute(_Q.space, {"b_id": study_id}).scalar()
        if stored is None:
            raise KeyError(f"Study {study_id} no longer exists.")
        old = json.loads(stored)
        merged = _merge_configs(old, space)
        if len(merged) > len(old):
            conn.execute(_Q.set_space, {"b_id": study_id, "b_space": _dumps(merged)})
        return merged

    # -- trials ---------------------------------------------------------------------------
    @staticmethod
    def _bump(conn: sa.Connection, study_id: int) -> int:
        seq = conn.execute(_Q.bump, {"b_id": study_id}).scalar()
        if seq is None:
            raise KeyError(f"Study {study_id} no longer exists (was it deleted or overwritten?).")
        return seq

    def create_trial(self, study_id, params, *, key, seed, worker, max_trials,
                     state=TrialState.RUNNING, now, budget=None, bracket=None, lease=None):
        state = TrialState(state)
        params_json = _dumps(params, ordered=True)
        started = now if state == TrialState.RUNNING else None
        try:
            with self._writer.begin() as conn:
                if max_trials is None:
                    row = conn.execute(_Q.count, {"b_id": study_id}).first()
                else:
                    row = conn.execute(_Q.count_below, {"b_id": study_id, "b_max": max_trials}).first()
                if row is None:  # the budget is spent, or the study is gone
                    if conn.execute(_Q.space, {"b_id": study_id}).first() is None:
                        raise KeyError(f"Study {study_id} no longer exists (was it deleted or "
                                       "overwritten?).")
                    return None
                number, seq = row[0] - 1, row[1]
                conn.execute(_Q.insert_trial, {
                    "study_id": study_id, "number": number, "state": state.value,
                    "params": params_json, "claim_key": key, "seed": seed, "worker": worker,
                    "started": started, "attempts": 0, "n_steps": 0, "seq": seq,
                    "budget": budget, "bracket": bracket,
                    "heartbeat": lease if state == TrialState.RUNNING else None})
        except IntegrityError:
            raise DuplicatePointError(key) from None
        return FrozenTrial(number=number, state=state, hyperparameters=params, seed=seed,
                           worker=worker, key=key, params_key=point_id(params),
                           started=started, budget=budget, bracket=bracket)

    def claim_trial(self, study_id, worker, now, lease=None):
        with self._writer.begin() as conn:
            number = conn.execute(_Q.first_queued if self._sqlite else _Q.first_queued_locked,
                                  {"b_id": study_id}).scalar()
            if number is None:
                return None
            seq = self._bump(conn, study_id)
            conn.execute(_Q.claim, {"b_id": study_id, "b_number": number, "b_worker": worker,
                                    "b_now": now, "b_seq": seq, "b_lease": lease})
            row = conn.execute(_Q.one_trial, {"b_id": study_id, "b_number": number}).first()
            steps = {}
            if row.n_steps:  # what an interrupted run reported: the new run resumes after it
                steps = {s.step: json.loads(s.metrics) for s in
                         conn.execute(_Q.trial_steps, {"b_id": study_id, "b_number": number})}
        return self._record(row, steps)

    def update_trial(self, study_id, number, expected: Iterable[TrialState], *,
                     owner: str | None = None, **fields: Any):
        space = fields.pop("space", None)
        claim = fields.pop("claim", None)
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "state":
                values["state"] = TrialState(value).value
            elif name in _JSON_FIELDS:
                values[_JSON_FIELDS[name]] = None if value is None else _dumps(value, ordered=True)
                if name == "score":
                    first = value[0] if isinstance(value, (list, tuple)) else value
                    values["value"] = first
            elif name in _PLAIN_FIELDS:
                values[name] = _no_nul(value) if not self._sqlite else value
            else:
                raise TypeError(f"update_trial: unknown field {name!r}")
        expected = tuple(sorted(TrialState(s).value for s in expected))
        stmt = _Q.update_trial(tuple(values), expected, owner is not None)
        params = {f"b_{k}": v for k, v in values.items()}
        params.update(b_id=study_id, b_number=number)
        if owner is not None:
            params["b_owner"] = owner
        try:
            with self._writer.begin() as conn:
                params["b_seq"] = self._bump(conn, study_id)
                if conn.execute(stmt, params).rowcount != 1:
                    raise _NotInState
                if space:
                    self._merge_space(conn, study_id, space)
                if claim is not None:  # taken already: IntegrityError rolls it all back
                    conn.execute(sa.insert(_claims).values(study_id=study_id, key=claim))
        except (_NotInState, IntegrityError):  # not in the state, or the claim is taken
            return False
        return True

    def add_step(self, study_id, number, step, metrics, owner=None):
        with self._writer.begin() as conn:
            ids = {"b_id": study_id, "b_number": number}
            if owner is not None and conn.execute(_Q.owned, {**ids, "b_worker": owner}).first() is None:
                return False
            seq = self._bump(conn, study_id)
            conn.execute(_Q.delete_step, {**ids, "b_step": step})
            conn.execute(_Q.insert_step, {"study_id": study_id, "number": number, "step": step,
                                          "metrics": _dumps(metrics)})
            conn.execute(_Q.step_added, {**ids, "b_seq": seq})
        return True

    def renew_leases(self, study_id, worker, until):
        with self._writer.begin() as conn:
            return sorted(r[0] for r in conn.execute(_Q.renew, {"b_id": study_id, "b_worker": worker,
                                                                "b_until": until}))

    def expired_trials(self, study_id, now):
        with self._engine.connect() as conn:
            return sorted(r[0] for r in conn.execute(_Q.expired, {"b_id": study_id, "b_now": now}))

    def get_trials(self, study_id):
        with self._lock:
            cache = self._caches.setdefault(study_id, _Cache())
            with self._engine.connect() as conn:
                rows = conn.execute(_Q.changed, {"b_id": study_id, "b_seq": cache.seq}).all()
                if not rows:
                    return list(cache.trials)  # type: ignore[arg-type]
                with_steps = [r.number for r in rows if r.n_steps]
                steps: dict[int, dict[int, dict[str, Any]]] = {}
                if with_steps:
                    for s in conn.execute(sa.select(_steps).where(
                            _steps.c.study_id == study_id, _steps.c.number.in_(with_steps))):
                        steps.setdefault(s.number, {})[s.step] = json.loads(s.metrics)
            for row in rows:
                record = self._record(row, steps.get(row.number, {}))
                if row.number >= len(cache.trials):
                    cache.trials.extend([None] * (row.number + 1 - len(cache.trials)))
                cache.trials[row.number] = record
                cache.seq = max(cache.seq, row.seq)
                if record.state in QUEUED_STATES:
                    cache.queued.add(record.number)
                else:
                    cache.queued.discard(record.number)
            return [t for t in cache.trials if t is not None]

    def has_queued(self, study_id):
        with self._lock:
            cache = self._caches.get(study_id)
            return cache is None or bool(cache.queued)

    @staticmethod
    def _record(row: Any, steps: dict[int, dict[str, Any]]) -> FrozenTrial:
        params = json.loads(row.params)
        return FrozenTrial(
            number=row.number, state=TrialState(row.state),
            hyperparameters=params,
            metrics=json.loads(row.metrics) if row.metrics else {},
            score=_score_tuple(json.loads(row.score)) if row.score else None,
            score_std=_score_tuple(json.loads(row.score_std)) if row.score_std else None,
            executions=json.loads(row.executions) if row.executions else [],
            intermediate=dict(sorted(steps.items())),
            started=row.started, finished=row.finished, error=row.error,
            traceback=row.traceback, seed=row.seed, worker=row.worker, attempts=row.attempts,
            key=row.claim_key, params_key=point_id(params), budget=row.budget,
            bracket=row.bracket, heartbeat=row.heartbeat,
            rungs={int(k): _score_tuple(v) for k, v in json.loads(row.rungs).items()} if row.rungs else {})

    @property
    def shared(self) -> bool:  # type: ignore[override]
        """False for an in-memory SQLite database, which only this process can see."""
        return self._engine.pool.__class__ is not sa.pool.StaticPool

    def close(self) -> None:
        self._engine.dispose()


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Transactions are begun by hand (below), so that writers take the lock up front.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout=600000")
    # Switching a file to WAL needs a moment alone with it, and SQLite does not wait for that
    # moment (no busy handler): retry while another process is opening the same new file.
    deadline = time.monotonic() + 60.0
    while cur.execute("PRAGMA journal_mode").fetchone()[0].lower() not in ("wal", "memory"):
        try:
            cur.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def _sqlite_on_begin(conn: sa.Connection) -> None:
    # Writers take the write lock up front, so that two writers queue (busy_timeout) instead
    # of deadlocking on a lock upgrade. Readers run each SELECT in autocommit: one statement
    # reads one consistent snapshot, and no transaction is needed around it.
    if conn.get_execution_options().get("tunewise_write"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
