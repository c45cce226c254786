"""A storage URL's password is never shown: not in logs (DEBUG included, SQLAlchemy's and the
driver's too), error messages, tracebacks, reprs, the progress display, files the command line
writes, nor the command line's output. It is only used to connect.

The PostgreSQL server is the session's (tests/_postgres.py); the role these tests log in as
must give its password (``scram-sha-256``), so a search that runs proves the password was
used, and a wrong one is refused.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import traceback
import uuid
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

import pytest
import sqlalchemy as sa
from _postgres import Unavailable, admin_engine, free_port, render
from sqlalchemy.engine import make_url

import tunewise
from tunewise.cli import main
from tunewise.storage import get_storage
from tunewise.storage.urls import hide_password

# Every password below contains TOKEN, which URL encoding leaves as it is: finding TOKEN
# anywhere finds the password, encoded or not, whole or in part.
TOKEN = "Zq" + uuid.uuid4().hex[:16]
PASSWORD = f"S3cret-{TOKEN}-@/:% é"  # characters a URL must encode
WRONG = f"Wrong-{TOKEN}"

TRAIN_PY = textwrap.dedent('''
    import logging

    def train(trial):
        x = trial.hp.Float("x", 0.0, 1.0)
        trial.report(0, {"loss": x + 1})
        logging.getLogger("tunewise.user").debug("trial %s with x=%s", trial.number, x)
        if trial.number == 1:
            raise RuntimeError("this trial fails on purpose")
        return {"loss": x}
''')


def train(trial):  # TRAIN_PY's, for the Python API
    x = trial.hp.Float("x", 0.0, 1.0)
    trial.report(0, {"loss": x + 1})
    logging.getLogger("tunewise.user").debug("trial %s with x=%s", trial.number, x)
    if trial.number == 1:
        raise RuntimeError("this trial fails on purpose")
    return {"loss": x}


@dataclass
class Secret:
    url: str  # with the password, URL-encoded
    role: str
    enforced: bool  # a wrong password is refused (TUNEWISE_TEST_POSTGRES_URL's server may trust)


@pytest.fixture(scope="module")
def secret(postgres_server):
    role = f"tunewise_pw_{uuid.uuid4().hex[:8]}"
    try:
        postgres_server.create_password_role(role, PASSWORD)
        database = postgres_server.create_database(owner=role)
    except Unavailable as exc:
        pytest.skip(f"PostgreSQL with a password: {exc}")
    url = render(make_url(database).set(username=role, password=PASSWORD))
    assert TOKEN in url and PASSWORD not in url  # encoded, yet TOKEN is still there to find
    return Secret(url, role, enforced=postgres_server.owned)


def assert_hidden(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text), f"the password shows in: {str(text)[:2000]}"


def exception_text(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + str(exc) + repr(exc)


@pytest.fixture
def debug_logs(caplog):
    """Every logger at DEBUG (tunewise's, SQLAlchemy's statements and pool, psycopg's)."""
    for name in (None, "sqlalchemy", "psycopg", "tunewise"):  # sqlalchemy sets WARNING itself
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def log_text(caplog) -> str:
    records = caplog.records
    return caplog.text + "".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in records)


# -- units ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("url, shown", [
    ("postgresql://me:pw@db.example.com:5432/tune", "postgresql://me:***@db.example.com:5432/tune"),
    ("postgresql+psycopg://me:p%40ss%2Fw@db/tune", "postgresql+psycopg://me:***@db/tune"),
    ("postgresql://me@db/tune?password=pw&sslmode=require",
     "postgresql://me@db/tune?password=***&sslmode=require"),
    ("postgresql://me:p@ss@db/tune", "postgresql://me:***@db/tune"),  # an unencoded "@"
    ("postgresql://me:pw@db:port/tune", "postgresql://me:***@db:port/tune"),  # unparseable
    ("postgresql://me@db/tune", "postgresql://me@db/tune"),
    ("sqlite:///relative/tune.db", "sqlite:///relative/tune.db"),
    ("sqlite:////abs/a b:c@d.db", "sqlite:////abs/a b:c@d.db"),  # a path: left exactly as given
    ("sqlite://", "sqlite://"),
])
def test_hide_password(url, shown):
    assert hide_password(url) == shown


def test_a_sqlite_storage_shows_its_url_as_given(tmp_path):
    url = f"sqlite:///{tmp_path / 'a:b@c.db'}"
    storage = get_storage(url)
    assert storage.url == storage._connect_url == url
    storage.close()


@pytest.mark.parametrize("url", [
    f"postgresql://me:{TOKEN}@db.invalid:port/tune",  # bad port: unparseable
    f"mysql://me:{TOKEN}@db.invalid/tune",  # driver not installed
    f"nosuchdb://me:{TOKEN}@db.invalid/tune",  # no such dialect
    f"postgresql://me:{TOKEN}@db.invalid/tune",  # unknown host
    f"postgresql://me:{TOKEN}@bad@db.invalid/tune",  # an unencoded "@" in the password
    f"me:{TOKEN}@db.invalid/tune",  # no scheme
])
def test_a_bad_url_is_an_error_that_hides_its_password(url, debug_logs):
    with pytest.raises(ValueError) as info:
        get_storage(url)
    assert "***" in str(info.value)
    assert_hidden(exception_text(info.value), log_text(debug_logs))


# -- PostgreSQL with a password ----------------------------------------------------------------
def test_a_search_through_the_python_api_never_shows_the_password(secret, debug_logs, capsys):
    study = tunewise.Study("api", objective="loss", storage=secret.url, sampler="random", seed=0)
    study.optimize(train, max_trials=4, show_progress=True,
                   max_consecutive_failed_trials=None)
    storage = study.storage
    # it connected with the password, and keeps it only to connect again (worker processes)
    assert storage._connect_url == secret.url
    assert storage.url == hide_password(secret.url) and ":***@" in storage.url
    again = tunewise.load_study("api", secret.url)
    states = [t.state.value for t in again.trials]
    assert states == ["completed", "failed", "completed", "completed"]
    texts = [repr(study), str(study), repr(again), repr(storage), storage.url, repr(vars(study)),
             study.checkpoint_root, repr(storage._engine), study.trials, study.best_trial,
             study.to_dataframe().to_string() if find_spec("pandas") else ""]
    errors = []
    with pytest.raises(ValueError) as info:  # a setting that differs: the message names the storage
        tunewise.Study("api", objective="accuracy", storage=secret.url)
    errors.append(info.value)
    with pytest.raises(KeyError) as missing:
        tunewise.load_study("missing", secret.url)
    errors.append(missing.value)
    assert "***" in str(missing.value)
    out, err = capsys.readouterr()
    assert any(r.name.startswith("sqlalchemy") for r in debug_logs.records), "DEBUG logs are on"
    assert_hidden(*texts, *map(exception_text, errors), out, err, log_text(debug_logs))
    # and nothing stored in the database holds it
    engine = admin_engine(secret.url)
    try:
        with engine.connect() as conn:
            for table in ("studies", "trials", "tunewise_info"):
                assert_hidden(conn.execute(sa.text(f"SELECT * FROM {table}")).all())
    finally:
        engine.dispose()


def test_a_wrong_password_is_an_error_without_it(secret, debug_logs):
    url = render(make_url(secret.url).set(password=WRONG))
    try:
        storage = get_storage(url)
    except ValueError as exc:
        message = str(exc)
        assert message.startswith("Cannot open storage 'postgresql://")
        assert "password authentication failed" in message
        assert_hidden(exception_text(exc), log_text(debug_logs))
    else:  # a server of TUNEWISE_TEST_POSTGRES_URL's that trusts this connection
        storage.close()
        assert not secret.enforced
        pytest.skip("the server accepted a wrong password (it trusts this connection)")


def test_an_unreachable_server_is_an_error_without_the_password(debug_logs):
    url = f"postgresql://someone:{TOKEN}@127.0.0.1:{free_port()}/db"
    with pytest.raises(ValueError, match=r"Cannot open storage 'postgresql://someone:\*\*\*@") as info:
        get_storage(url)
    assert "refused" in str(info.value).lower()
    assert_hidden(exception_text(info.value), log_text(debug_logs))


# -- the command line ----------------------------------------------------------------------------
def cli(capsys, *args):
    rc = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_the_command_line_never_shows_the_password(secret, tmp_path, monkeypatch, capsys,
                                                   debug_logs):
    (tmp_path / "pw_train.py").write_text(TRAIN_PY)
    monkeypatch.chdir(tmp_path)
    # the command imports pw_train.py as "pw_train" and puts its folder on sys.path
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setitem(sys.modules, "pw_train", sys.modules.get("pw_train"))
    url = secret.url
    outputs = []

    def ok(*args):
        rc, out, err = cli(capsys, *args)
        outputs.append((args[0], out, err))
        assert rc == 0, (args, out, err)
        return out, err

    _, err = ok("run", "pw_train.py:train", "--storage", url, "--study", "cli",
                "--objective", "loss", "--max-trials", 3, "--max-consecutive-failed-trials", 5)
    assert "starting study 'cli' in postgresql://" in err and ":***@" in err
    _, err = ok("run", "pw_train.py:train", "--storage", url, "--study", "cli", "--max-trials", 4)
    assert "resuming study 'cli'" in err
    out, _ = ok("status", "--storage", url)
    assert "cli" in out
    out, _ = ok("status", "--storage", url, "--study", "cli")
    assert "storage:    postgresql://" in out and ":***@" in out
    out, _ = ok("status", "--storage", url, "--study", "cli", "--json")
    assert '"storage": "postgresql://' in out
    ok("status", "--storage", url, "--json")
    ok("best", "--storage", url, "--study", "cli")
    ok("best", "--storage", url, "--study", "cli", "--json")
    ok("export", "--storage", url, "--study", "cli", "--format", "csv")
    ok("export", "--storage", url, "--study", "cli", "--format", "json", "--out",
       tmp_path / "trials.json")
    ok("report", "--storage", url, "--study", "cli", "--out", tmp_path / "report.html")
    rc, _, err = cli(capsys, "best", "--storage", url)  # which study? the message names the storage
    assert rc == 2 and ":***@" in err
    outputs.append(err)
    files = [p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()]

    errors = []
    for args in (["status", "--storage", url, "--study", "missing"],  # no such study
                 ["best", "--storage", render(make_url(url).set(password=WRONG)),  # refused
                  "--study", "missing"],
                 ["run", "pw_train.py:train", "--storage", url, "--study", "cli",
                  "--objective", "accuracy"]):  # differs from the stored study
        rc, out, err = cli(capsys, *args)
        assert rc == 2 and "Traceback" not in err, err
        assert "***" in err
        errors.append(out + err)
    assert_hidden(*outputs, *errors, *files, log_text(debug_logs))


@pytest.mark.slow
def test_the_command_line_as_a_process_never_shows_the_password(secret, tmp_path):
    (tmp_path / "train.py").write_text(TRAIN_PY)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(tunewise.__file__).parent.parent), os.environ.get("PYTHONPATH", "")])}

    def tunewise_cli(*args):
        return subprocess.run([sys.executable, "-m", "tunewise", *map(str, args)], cwd=tmp_path,
                              env=env, capture_output=True, text=True, timeout=180, check=False)

    done = [tunewise_cli("run", "train.py:train", "--storage", secret.url, "--study", "proc",
                         "--objective", "loss", "--max-trials", 3),
            tunewise_cli("status", "--storage", secret.url),
            tunewise_cli("best", "--storage", secret.url, "--study", "proc")]
    assert [d.returncode for d in done] == [0, 0, 0], [d.stderr for d in done]
    assert ":***@" in done[0].stderr
    refused = tunewise_cli("status", "--storage", render(make_url(secret.url).set(password=WRONG)))
    if secret.enforced:
        assert refused.returncode == 2 and "password authentication failed" in refused.stderr
    assert_hidden(*(d.stdout + d.stderr for d in [*done, refused]))
