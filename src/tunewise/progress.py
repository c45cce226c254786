"""A one-line progress display for long searches, shown only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import IO, Any


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """``trial k of N · best so far · elapsed · time left``, rewritten in place.

    Quiet unless ``stream`` is a terminal (or ``enabled=True``).
    """

    def __init__(self, total: int | None, stream: IO[str] | None = None,
                 enabled: bool | None = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty())
        self.enabled = enabled
        self.start = time.monotonic()
        self._width = 0

    def line(self, done: int, best: Any = None, new: int | None = None) -> str:
        """``done`` trials of the study are finished, ``new`` of them in this run."""
        new = done if new is None else new
        elapsed = time.monotonic() - self.start
        parts = [f"trial {done} of {self.total}" if self.total else f"trial {done}"]
        if best is not None:
            parts.append(f"best {best}")
        parts.append(f"{_clock(elapsed)} elapsed")
        if self.total and new > 0 and done < self.total:
            parts.append(f"~{_clock(elapsed / new * (self.total - done))} left")
        return "tunewise: " + " · ".join(parts)

    def update(self, done: int, best: Any = None, new: int | None = None) -> None:
        if not self.enabled:
            return
        text = self.line(done, best, new)
        pad = max(self._width - len(text), 0)
        self._width = len(text)
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
