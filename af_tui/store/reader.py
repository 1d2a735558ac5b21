"""Reading the store from an app's worker threads: pooled connections, the connection of the pairs' ids
queries (interruptible), a watcher thread that reports commits by other processes, and snapshot reads (several
queries that see the store as of one moment)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from af_tui.store.db import Store


def _open(db_path: Path) -> sqlite3.Connection:
    return Store(db_path, create=False, check_same_thread=False).conn


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Reads in one transaction: every query inside sees the store as of the first one, whatever a run
    commits meanwhile (ids, counts and the newest sample that agree with one another)."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.rollback()


class StoreReader:
    """Connections for reading, and a watcher on `PRAGMA data_version` (about 5 µs a check): when another
    connection commits, `on_change(data_version, noticed_at)` is called from the watcher thread; a failed
    check calls `on_error(exc)` and the watcher tries again 2 s later."""

    def __init__(self, db_path: Path, *, poll_s: float, on_change: Callable[[int, float], None],
                 on_error: Callable[[BaseException], None]) -> None:
        self.db_path = db_path
        self.poll_s = poll_s
        self.on_change, self.on_error = on_change, on_error
        self._pool: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._ids_db: sqlite3.Connection | None = None
        self._ids_lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # -- connections -----------------------------------------------------------------------------------
    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """A reader connection for this worker thread (pooled; one thread at a time uses each)."""
        with self._pool_lock:
            conn = self._pool.pop() if self._pool else None
        if conn is None:
            conn = _open(self.db_path)
        try:
            yield conn
        finally:
            if conn.in_transaction:
                conn.rollback()
            with self._pool_lock:
                self._pool.append(conn)

    @contextmanager
    def ids_connection(self) -> Iterator[sqlite3.Connection]:
        """The connection of the pairs' ids queries, one query at a time: a newer filter interrupts the older
        query on it (`interrupt_ids`) and waits here for it to let go."""
        with self._ids_lock:
            if self._ids_db is None:
                self._ids_db = _open(self.db_path)
            try:
                yield self._ids_db
            finally:
                if self._ids_db.in_transaction:
                    self._ids_db.rollback()

    def interrupt_ids(self) -> None:
        """Stop the ids query under way, if any: its answer is no longer wanted."""
        if self._ids_db is not None and self._ids_lock.locked():
            self._ids_db.interrupt()

    # -- the watcher -----------------------------------------------------------------------------------
    @property
    def watching(self) -> bool:
        return self._watcher is not None

    def start(self) -> None:
        """Start watching (once)."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="af-tui store watcher", daemon=True)
            self._watcher.start()

    def stop(self) -> None:
        """Stop watching, interrupt the ids query and close the pooled connections."""
        self._stop.set()
        if self._ids_db is not None:
            self._ids_db.interrupt()
        if self._watcher is not None:
            self._watcher.join(timeout=1)
        with self._pool_lock:
            for conn in self._pool:
                conn.close()
            self._pool.clear()

    def _watch(self) -> None:
        store = Store(self.db_path, create=False, check_same_thread=False)
        try:
            last = store.data_version()
            while not self._stop.wait(self.poll_s):
                try:
                    version = store.data_version()
                except sqlite3.Error as exc:
                    self.on_error(exc)
                    self._stop.wait(2)
                    continue
                if version != last:
                    last = version
                    self.on_change(version, time.perf_counter())
        finally:
            store.close()
