import os
import sys

# Keras runs on the torch CPU build; one intra-op thread per trial worker (two threads on a
# busy 2-core machine were measured ten times slower).
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tests/_postgres.py, whatever the import mode
import _postgres


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the whole session (see tests/_postgres.py): the one
    TUNEWISE_TEST_POSTGRES_URL names, or one started here on 127.0.0.1 and stopped at the
    end. Where none can be had, the tests that need it skip and say why."""
    try:
        server = _postgres.start()
    except _postgres.Unavailable as exc:
        pytest.skip(f"PostgreSQL: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_url(postgres_server):
    """The SQLAlchemy URL (``postgresql://...``) of a database the tests may write to."""
    return postgres_server.url


@pytest.fixture
def postgres_fresh_url(postgres_server):
    """The URL of a new, empty PostgreSQL database for one test, dropped afterwards."""
    url, drop = postgres_server.fresh()
    yield url
    drop()
