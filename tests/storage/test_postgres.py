"""PostgreSQL beyond the storage contract: the driver a bare ``postgresql://`` URL gets, study
names the server cannot hold, and whole searches run by several processes on one study.

The server is the session's (tests/_postgres.py): one started on 127.0.0.1, or the one that
``TUNEWISE_TEST_POSTGRES_URL`` names; without one these tests skip and say why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from _postgres import render
from sqlalchemy.engine import make_url

import tunewise
from tunewise import TrialState
from tunewise.storage import get_storage

SEARCH = Path(__file__).parent.parent / "scripts" / "search.py"


def test_a_bare_postgresql_url_connects_with_psycopg_3(postgres_fresh_url):
    url = make_url(postgres_fresh_url).set(drivername="postgresql")
    storage = get_storage(render(url))
    try:
        assert storage._engine.dialect.driver == "psycopg"
        assert storage.url == render(url)  # the URL as the user gave it
        assert storage.list_studies() == []
    finally:
        storage.close()


def test_a_driver_the_user_names_is_kept(postgres_fresh_url):
    url = render(make_url(postgres_fresh_url).set(drivername="postgresql+psycopg"))
    storage = get_storage(url)
    try:
        assert storage._engine.dialect.driver == "psycopg"
        assert storage.url == url
    finally:
        storage.close()
    # psycopg2 is not installed here: naming it is an error that says what to install
    with pytest.raises(ValueError, match="needs the Python package 'psycopg2'"):
        get_storage(render(make_url(postgres_fresh_url).set(drivername="postgresql+psycopg2")))


@pytest.mark.parametrize("where", ["sqlite", "postgresql"])
def test_a_study_name_the_database_cannot_hold_is_a_clear_error(where, tmp_path, request):
    if where == "postgresql":
        url = request.getfixturevalue("postgres_fresh_url")
    else:
        url = f"sqlite:///{tmp_path / 'names.db'}"
    longest = "n" * 512
    tunewise.Study(longest, objective="loss", storage=url)  # the longest name fits
    with pytest.raises(ValueError, match="is 513 characters long; a study name has at most 512"):
        tunewise.Study("n" * 513, objective="loss", storage=url)
    with pytest.raises(ValueError, match="contains a NUL character"):
        tunewise.Study("a\x00b", objective="loss", storage=url)
    with pytest.raises(KeyError, match="No study named"):
        tunewise.load_study("a\x00b", url)
    assert [s.name for s in get_storage(url).list_studies()] == [longest]


def test_an_error_text_with_a_nul_character_is_stored(postgres_fresh_url):
    def fails(trial):
        trial.hp.Float("x", 0.0, 1.0)
        raise RuntimeError("cannot decode b'\x00\x01'")

    study = tunewise.Study("nul", objective="loss", storage=postgres_fresh_url)
    study.optimize(fails, max_trials=1, max_consecutive_failed_trials=None, show_progress=False)
    [trial] = tunewise.load_study("nul", postgres_fresh_url).trials
    assert trial.state == TrialState.FAILED
    assert trial.error == "RuntimeError: cannot decode b'\\x00\x01'"  # PostgreSQL holds no NUL


@pytest.mark.slow
@pytest.mark.parametrize("sampler", ["random", "grid"])
def test_two_processes_search_one_study_on_postgresql(postgres_fresh_url, tmp_path, sampler):
    """tests/test_resilience.py's two processes on one SQLite file, on PostgreSQL: every trial
    runs once, the budget is met exactly, and no point of the discrete space runs twice."""
    max_trials, log = 30, tmp_path / "runs.log"
    cmd = [sys.executable, str(SEARCH), postgres_fresh_url, "s", sampler, str(max_trials),
           str(log), "0.02", "-1", str(tmp_path)]
    children = [subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errors = [child.communicate(timeout=180)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0], errors
    trials = tunewise.load_study("s", postgres_fresh_url).trials
    assert [t.number for t in trials] == list(range(max_trials))
    assert [t.state for t in trials] == [TrialState.COMPLETED] * max_trials
    runs = [line.split(" ", 2) for line in log.read_text().splitlines()]
    by_pid = Counter(pid for _, pid, _ in runs)
    assert len(by_pid) == 2, "both processes ran trials"
    assert sorted(int(n) for n, _, _ in runs) == list(range(max_trials))  # none ran twice
    points = [json.dumps(t.hyperparameters, sort_keys=True) for t in trials]
    assert len(set(points)) == max_trials
