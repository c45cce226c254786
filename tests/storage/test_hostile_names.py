"""Study and hyperparameter names reach SQL only as bound parameters: names made of SQL, quotes,
placeholders, backslashes and unicode are stored and read back as they are, and leave every
other study in the database alone (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from _postgres import with_driver

import tunewise
from tunewise import TrialState
from tunewise.storage import get_storage

HOSTILE = [
    "x'); DROP TABLE trials; --",
    '"quoted"',
    "Robert'); DELETE FROM studies;--",
    "'; UPDATE trials SET state = 'failed'; --",
    "名前 ünïcödé 🙂 \u202eright-to-left",
    "%s",
    "%(name)s",
    ":name",
    "?",
    "$1",
    "back\\slash\\' \\\\ C:\\new\\table",
    "line\nbreak\ttab\r",
    "/* comment */ -- dash",
    "%_ LIKE wildcards *",
    "s" * 500,
]
TABLES = {"tunewise_info", "studies", "trials", "trial_steps", "claims"}


def engine_for(url: str) -> sa.Engine:
    return sa.create_engine(with_driver(url))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hostile.db'}"
    return request.getfixturevalue("postgres_fresh_url")  # skips, saying why, without a server


def bystander(trial):
    return {"loss": trial.hp.Int("units", 1, 9) / 10}


def snapshot(study):
    return [(t.number, t.state, t.hyperparameters, t.metrics, t.score) for t in study.trials]


def test_hostile_study_and_hyperparameter_names_round_trip_and_touch_nothing_else(url):
    bystanders = {}
    for name in ("before", "another"):
        study = tunewise.Study(name, objective="loss", storage=url, sampler="random", seed=1)
        study.optimize(bystander, max_trials=3, show_progress=False)
        bystanders[name] = snapshot(study)

    seen: dict[str, list[dict]] = {}
    for index, study_name in enumerate(HOSTILE):
        def train(trial, study_name=study_name):
            values = {}
            for i, hp_name in enumerate(HOSTILE):
                if i % 3 == 0:
                    values[hp_name] = trial.hp.Float(hp_name, 0.0, 1.0)
                elif i % 3 == 1:
                    values[hp_name] = trial.hp.Choice(hp_name, HOSTILE[:4])  # hostile values
                else:
                    values[hp_name] = trial.hp.Int(hp_name, 0, 5)
            seen.setdefault(study_name, []).append(values)
            return {"loss": sum(v for v in values.values() if isinstance(v, float)),
                    **{f"metric {m}": float(i) for i, m in enumerate(HOSTILE[:5])}}

        study = tunewise.Study(study_name, objective="loss", storage=url, sampler="random",
                               seed=index)
        study.optimize(train, max_trials=3, show_progress=False)

    for study_name in HOSTILE:  # read back from scratch, as another process would
        study = tunewise.load_study(study_name, url)
        assert study.name == study_name
        trials = study.trials
        assert [t.state for t in trials] == [TrialState.COMPLETED] * 3
        assert [t.hyperparameters for t in trials] == seen[study_name]
        assert [list(t.hyperparameters) for t in trials] == [HOSTILE] * 3  # names, in order
        assert [hp.name for hp in study.hyperparameters.space] == HOSTILE
        for t in trials:
            assert t.metrics["metric " + HOSTILE[4]] == 4.0
        study.storage.close()

    storage = get_storage(url)
    assert [s.name for s in storage.list_studies()] == ["before", "another", *HOSTILE]
    for name, before in bystanders.items():
        assert snapshot(tunewise.load_study(name, url)) == before
    # a name is matched exactly: no pattern, no prefix, no case folding
    for near in ("%", "_", "%s%", HOSTILE[0].upper(), HOSTILE[0] + " ", "s" * 499, "BEFORE"):
        assert storage.get_study(near) is None
    storage.close()
    engine = engine_for(url)
    try:
        assert TABLES <= set(sa.inspect(engine).get_table_names())
        with engine.connect() as conn:
            count = conn.execute(sa.text("SELECT COUNT(*) FROM studies")).scalar()
            assert count == 2 + len(HOSTILE)
            count = conn.execute(sa.text("SELECT COUNT(*) FROM trials")).scalar()
            assert count == 3 * (2 + len(HOSTILE))
    finally:
        engine.dispose()


def test_overwriting_and_deleting_a_hostile_study_deletes_only_it(url):
    keep = tunewise.Study("keep", objective="loss", storage=url, sampler="random", seed=1)
    keep.optimize(bystander, max_trials=2, show_progress=False)
    before = snapshot(keep)
    for name in HOSTILE:
        tunewise.Study(name, objective="loss", storage=url, seed=0).optimize(
            bystander, max_trials=1, show_progress=False)
        again = tunewise.Study(name, objective="loss", storage=url, seed=0, overwrite=True)
        assert again.trials == []
    storage = get_storage(url)
    for name in HOSTILE:
        storage.delete_study(name)
    assert [s.name for s in storage.list_studies()] == ["keep"]
    assert snapshot(tunewise.load_study("keep", url)) == before
    storage.close()
