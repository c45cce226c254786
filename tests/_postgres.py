"""A real PostgreSQL server for the tests: started once per test session on 127.0.0.1, or the
one that ``TUNEWISE_TEST_POSTGRES_URL`` names.

The server this module starts lives in a temporary folder: ``initdb`` makes a cluster there
(as the ``postgres`` user when the tests run as root, since PostgreSQL refuses to run as
root), ``pg_ctl`` starts it on a free port, trusting connections from 127.0.0.1 except for
roles in the group ``tunewise_password_login``, which must give their password
(``scram-sha-256``). ``stop()`` stops the server and removes the folder; a watchdog process
does it should the test session be killed before it could.

Where no server can be started (no PostgreSQL binaries, root without a ``postgres`` user,
...), ``start()`` raises ``Unavailable`` with the reason, which the fixtures turn into a
skip that says why.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

ENV = "TUNEWISE_TEST_POSTGRES_URL"
PASSWORD_GROUP = "tunewise_password_login"
SUPERUSER = "postgres"


class Unavailable(Exception):
    """No PostgreSQL server for the tests; the message says why."""


def with_driver(url: str | URL) -> URL:
    """``url`` with the psycopg 3 driver where it names none (SQLAlchemy's default for a bare
    ``postgresql://`` is psycopg2), for the tests' own engines."""
    parsed = make_url(url)
    if parsed.drivername == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def render(url: URL) -> str:
    """The URL as text, password included (the tests hand it to tunewise)."""
    return url.render_as_string(hide_password=False)


def admin_engine(url: str | URL, **kwargs: Any) -> sa.Engine:
    return sa.create_engine(with_driver(url), **kwargs)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Server:
    """A PostgreSQL server the tests may write to. ``url`` is a database for the tests
    (``postgresql://...``, the driver left to tunewise); ``admin_url`` connects with the
    rights to create databases and roles, where the server grants them."""

    def __init__(self, url: str, admin_url: str, *, owned: bool, folder: str | None = None,
                 pg_ctl: list[str] | None = None) -> None:
        self.url = url
        self.admin_url = admin_url
        self.owned = owned  # started here: ours to stop, and its pg_hba.conf is ours
        self._folder = folder
        self._pg_ctl = pg_ctl
        self._stopped = False
        self._pid = os.getpid()  # a forked child that exits must not stop its parent's server

    # -- for tests ------------------------------------------------------------------------
    def _autocommit(self, *statements: str) -> None:
        engine = admin_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                for statement in statements:
                    conn.execute(sa.text(statement))
        finally:
            engine.dispose()

    def create_database(self, owner: str | None = None) -> str:
        """A new, empty database (owned by ``owner``, if given); its URL, as the superuser
        (or as ``admin_url``'s user) without a driver."""
        name = f"tunewise_{uuid.uuid4().hex[:12]}"
        try:
            self._autocommit(f"CREATE DATABASE {_quote_ident(name)}"
                             + (f" OWNER {_quote_ident(owner)}" if owner else ""))
        except sa.exc.DBAPIError as exc:
            raise Unavailable(f"cannot create a database on the test server: {exc.orig}") from None
        return render(make_url(self.admin_url).set(database=name))

    def fresh(self) -> tuple[str, Callable[[], None]]:
        """The URL of a new, empty database and a function that drops it: a database where
        the server lets the tests create one, else a new schema of ``url``'s database (the
        URL then sets ``search_path``)."""
        try:
            url = self.create_database()
        except Unavailable:
            pass
        else:
            name = make_url(url).database
            if self.owned:  # the whole server goes at the end of the session
                return url, lambda: None
            return url, lambda: self._autocommit(f"DROP DATABASE IF EXISTS {_quote_ident(name)} "
                                                 "WITH (FORCE)")
        schema = f"tunewise_{uuid.uuid4().hex[:12]}"
        engine = admin_engine(self.url)
        try:
            with engine.begin() as conn:
                conn.execute(sa.text(f"CREATE SCHEMA {_quote_ident(schema)}"))
        except sa.exc.DBAPIError as exc:
            raise Unavailable(f"cannot create a database or a schema on the test server: "
                              f"{exc.orig}") from None
        finally:
            engine.dispose()

        def drop() -> None:
            engine = admin_engine(self.url)
            try:
                with engine.begin() as conn:
                    conn.execute(sa.text(f"DROP SCHEMA {_quote_ident(schema)} CASCADE"))
            finally:
                engine.dispose()

        return render(make_url(self.url).update_query_dict(
            {"options": f"-csearch_path={schema}"})), drop

    def create_password_role(self, name: str, password: str) -> None:
        """A login role that must give ``password`` to connect (on a server started here;
        on another server, whatever its pg_hba.conf says)."""
        quoted = password.replace("'", "''")
        try:
            self._autocommit(
                f"CREATE ROLE {_quote_ident(name)} LOGIN PASSWORD '{quoted}'"
                + (f" IN ROLE {PASSWORD_GROUP}" if self.owned else ""))
        except sa.exc.DBAPIError as exc:
            raise Unavailable(f"cannot create a role on the test server: {exc.orig}") from None

    def stop(self) -> None:
        if self._stopped or not self.owned or os.getpid() != self._pid:
            return
        self._stopped = True
        assert self._folder is not None and self._pg_ctl is not None
        data = os.path.join(self._folder, "data")
        try:
            for mode in ("fast", "immediate"):  # immediate: should clients hang on
                try:
                    done = subprocess.run([*self._pg_ctl, "-D", data, "stop", "-m", mode, "-w",
                                           "-t", "30"], capture_output=True, timeout=60,
                                          check=False)
                except (OSError, subprocess.SubprocessError):
                    continue
                if done.returncode == 0:
                    break
        finally:
            shutil.rmtree(self._folder, ignore_errors=True)


def _find_binaries() -> tuple[str, str]:
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl

    def version(path: str) -> tuple[int, ...]:
        folder = path.split("/postgresql/")[1].split("/")[0]
        return tuple(int(p) for p in re.findall(r"\d+", folder))

    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        if os.access(os.path.join(folder, "initdb"), os.X_OK) and \
                os.access(os.path.join(folder, "pg_ctl"), os.X_OK):
            return os.path.join(folder, "initdb"), os.path.join(folder, "pg_ctl")
    raise Unavailable("no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in "
                      "/usr/lib/postgresql/*/bin; install PostgreSQL (apt-get install postgresql) "
                      f"or set {ENV}=postgresql://user@host/db")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(cmd: list[str], what: str, timeout: float = 120) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        raise Unavailable(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        output = (done.stderr or done.stdout).strip().splitlines()
        raise Unavailable(f"{what} failed (exit {done.returncode}): {' / '.join(output[-3:])}")


# Stops the server and removes its folder once the test session's process is gone, however
# it ended (SIGKILL included); after a normal stop it finds no folder and just exits.
_WATCHDOG = """
import os, shutil, subprocess, sys, time
pid, folder, pg_ctl = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    except PermissionError:
        pass
    time.sleep(1)
if os.path.isdir(os.path.join(folder, "data")):
    subprocess.run([*pg_ctl, "-D", os.path.join(folder, "data"), "stop", "-m", "immediate"],
                   capture_output=True, timeout=60)
shutil.rmtree(folder, ignore_errors=True)
"""


def _watch(folder: str, pg_ctl: list[str]) -> None:
    # through a shell that leaves it running in the background: not a child of this process,
    # which therefore never waits for it
    subprocess.run(["/bin/sh", "-c", '"$@" &', "sh", sys.executable, "-c", _WATCHDOG,
                    str(os.getpid()), folder, *pg_ctl],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, start_new_session=True, check=False)


def start() -> Server:
    """The server the tests use: ``TUNEWISE_TEST_POSTGRES_URL``'s, or one started here."""
    given = os.environ.get(ENV)
    if given:
        return Server(given, given, owned=False)
    initdb, pg_ctl = _find_binaries()
    as_user: list[str] = []
    owner: pwd.struct_passwd | None = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root: as its own user, then
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no 'postgres' user to run the "
                              "PostgreSQL server as") from None
        runuser = shutil.which("runuser")
        if runuser is None:
            raise Unavailable("running as root and 'runuser' is missing: cannot run the "
                              "PostgreSQL server as the 'postgres' user")
        as_user = [runuser, "-u", "postgres", "--"]
    folder = tempfile.mkdtemp(prefix="tunewise-pg-")
    try:
        return _start_in(folder, [*as_user, initdb], [*as_user, pg_ctl], owner)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


def _start_in(folder: str, initdb: list[str], pg_ctl: list[str],
              owner: pwd.struct_passwd | None) -> Server:
    data, sockets = os.path.join(folder, "data"), os.path.join(folder, "sockets")
    os.makedirs(sockets)
    if owner is not None:
        for path in (folder, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
    _run([*initdb, "-D", data, "-U", SUPERUSER, "--auth=trust", "--no-locale", "-E", "UTF8",
          "--no-sync"], "initdb")
    # First match wins: roles in the group give a password; everyone else is trusted, and
    # only from this machine (the server listens on 127.0.0.1 and a private socket folder).
    hba = (f"host all +{PASSWORD_GROUP} 127.0.0.1/32 scram-sha-256\n"
           "host all all 127.0.0.1/32 trust\n"
           f"local all +{PASSWORD_GROUP} scram-sha-256\n"
           "local all all trust\n")
    with open(os.path.join(data, "pg_hba.conf"), "w") as f:
        f.write(hba)
    if owner is not None:
        os.chown(os.path.join(data, "pg_hba.conf"), owner.pw_uid, owner.pw_gid)
    log = os.path.join(folder, "server.log")
    error: Unavailable | None = None
    for _ in range(3):  # the free port may be taken between finding it and binding it
        port = free_port()
        options = (f"-h 127.0.0.1 -p {port} -k {sockets} -c max_connections=300 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off")
        try:
            _run([*pg_ctl, "-D", data, "-l", log, "-o", options, "-w", "-t", "60", "start"],
                 "pg_ctl start")
        except Unavailable as exc:
            error = exc
            continue
        break
    else:
        tail = ""
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                tail = " / ".join(f.read().strip().splitlines()[-3:])
        raise Unavailable(f"{error}{'; server log: ' + tail if tail else ''}")
    admin = f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
    server = Server(admin, admin, owned=True, folder=folder, pg_ctl=pg_ctl)
    atexit.register(server.stop)  # should the session end without its finaliser
    _watch(folder, pg_ctl)  # should the session be killed outright
    try:
        server._autocommit(f"CREATE ROLE {PASSWORD_GROUP} NOLOGIN")
        server.url = server.create_database()
    except BaseException:
        server.stop()
        raise
    return server
