"""Storage URLs as they may be shown: in messages, logs, reprs and the command line's
output, a password never appears."""

from __future__ import annotations

import re

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# user:password@ in a URL that SQLAlchemy cannot parse; the greedy one for a password with
# an unencoded "@" (which SQLAlchemy splits at the first "@", taking the rest for the host)
_USERINFO = re.compile(r"(://[^:/@]*:)[^@]*@")
_USERINFO_NO_SCHEME = re.compile(r"(^[^:/@]*:)[^@]*@")
_USERINFO_GREEDY = re.compile(r"(://[^:/@]*:)[^?]*@")
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&]*")


def hide_password(url: str) -> str:
    """``url`` with its password, if it has one, shown as ``***``; any other URL unchanged.

    >>> hide_password("postgresql://me:s3cret@db.example.com/tune")
    'postgresql://me:***@db.example.com/tune'
    >>> hide_password("sqlite:///tune.db")
    'sqlite:///tune.db'
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        userinfo = _USERINFO if "://" in url else _USERINFO_NO_SCHEME
        return _QUERY_PASSWORD.sub(r"\1***", userinfo.sub(r"\1***@", url))
    if parsed.password is None and "password" not in parsed.query:
        return url  # unchanged to the byte: a SQLite path stays the path the user gave
    if parsed.host and "@" in parsed.host:
        return _QUERY_PASSWORD.sub(r"\1***", _USERINFO_GREEDY.sub(r"\1***@", url))
    if "password" in parsed.query:  # libpq also takes it as ?password=...
        parsed = parsed.update_query_dict({"password": "***"})
    return parsed.render_as_string(hide_password=True).replace("password=%2A%2A%2A", "password=***")


def secrets_of(url: str) -> list[str]:
    """The passwords in ``url``, to scrub from a driver's error message."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError, TypeError):
        return []
    found = [] if parsed.password is None else [str(parsed.password)]
    if parsed.host and "@" in parsed.host:  # the rest of a password with an unencoded "@"
        rest = parsed.host.rsplit("@", 1)[0]
        found += [rest, f"{parsed.password}@{rest}"]
    query = parsed.query.get("password")
    found += [query] if isinstance(query, str) else list(query or ())
    return [s for s in found if s]


def scrub(text: str, url: str) -> str:
    """``text`` with every password of ``url`` replaced by ``***``."""
    for secret in sorted(secrets_of(url), key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


class SecretURL:
    """A storage URL to hand to another process (a Dask task) whose ``repr`` and ``str``
    hide the password: Dask logs the arguments of a task that fails.

    >>> SecretURL("postgresql://me:s3cret@db/tune")
    SecretURL('postgresql://me:***@db/tune')
    """

    __slots__ = ("_url",)

    def __init__(self, url: str) -> None:
        self._url = url

    def reveal(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return f"SecretURL({hide_password(self._url)!r})"

    __str__ = __repr__

    def __getstate__(self) -> str:
        return self._url

    def __setstate__(self, state: str) -> None:
        self._url = state
