"""The app's coalescing of repeated reads of one kind (statistics, the run monitor, new samples): one worker
of a kind at a time, and one more after it however many were asked for meanwhile."""

from __future__ import annotations

from collections.abc import Callable


class Coalescer:
    """One read of a kind at a time: a request meanwhile runs once after it, however many came. `start` maps
    each kind to the function that starts its worker; the worker's answer (or failure) calls `done`."""

    def __init__(self, start: dict[str, Callable[[], object]]) -> None:
        self._start = start
        self._busy: set[str] = set()
        self._pending: set[str] = set()

    def __contains__(self, kind: str) -> bool:
        return kind in self._start

    def busy(self, kind: str) -> bool:
        return kind in self._busy

    def kick(self, kind: str) -> None:
        if kind in self._busy:
            self._pending.add(kind)
            return
        self._busy.add(kind)
        self._start[kind]()

    def done(self, kind: str) -> None:
        self._busy.discard(kind)
        if kind in self._pending:
            self._pending.discard(kind)
            self.kick(kind)
