"""Storage of studies and trials: in memory, or SQL (SQLite, PostgreSQL)."""

from __future__ import annotations

from .base import BaseStorage, DuplicatePointError, StudyExistsError, StudyInfo
from .memory import InMemoryStorage


def get_storage(storage: "str | BaseStorage | None") -> BaseStorage:
    """Storage from ``None`` (in memory), a SQLAlchemy URL such as ``"sqlite:///tune.db"``
    or ``"postgresql://user@host/db"``, or a storage instance.

    >>> get_storage(None).url
    'memory'
    """
    if storage is None or storage == "memory":
        return InMemoryStorage()
    if isinstance(storage, BaseStorage):
        return storage
    if isinstance(storage, str) and "://" in storage:
        from .sql import SQLStorage

        return SQLStorage(storage)
    from .urls import hide_password

    shown = hide_password(storage) if isinstance(storage, str) else storage
    raise ValueError(
        f"Bad storage {shown!r}; pass None (in memory), 'sqlite:///path/to/file.db' or a "
        "database URL such as 'postgresql://user@host/dbname'.")


__all__ = ["BaseStorage", "InMemoryStorage", "StudyInfo", "DuplicatePointError",
           "StudyExistsError", "get_storage"]
