"""Screens whose keys read or write the store in a thread worker (the label and review screens): a key that comes
while the store is being read waits (the app holds it, af_tui/tui/keys.py), and goes on in the order the keys
were typed once the answer is on screen, so that a burst of keys (`1 2 3 4 a enter e w h y enter`) labels the
sample each key was meant for and types the note's text into the note. An action called otherwise than by a
key (`in_turn`) waits the same way."""

from __future__ import annotations

import functools
import threading
from collections import deque
from pathlib import Path

from textual.worker import Worker, WorkerState

from af_tui.store.db import Store, StoreError
from af_tui.tui.keys import TakesTurns


def in_turn(action):
    """An action that waits for the screen's store read under way, and for the actions waiting before it."""

    @functools.wraps(action)
    def run(self, *args):
        if self._reading or self._waiting:
            self._waiting.append((action, args))
            return None
        return action(self, *args)

    return run


class StoreTurns(TakesTurns):
    """Mixed into a screen: its own connection to the store, opened and used by its workers only (one at a
    time, under `_db`), and the turn-taking of its keys and actions (`in_turn`). A worker started by `_begin`
    holds the keys and actions back until its answer is handled and `_done` is called."""

    db_path: Path
    WORKER_GROUP = "store"
    READ_FAILED = "reading the store"

    def _init_turns(self) -> None:
        self.store: Store | None = None
        self._db = threading.Lock()
        self._closed = False
        self._reading = True  # the screen opens on a read (on_mount starts it): keys typed before that wait too
        self._waiting: deque = deque()

    def _conn(self):
        """The screen's connection (call with `_db` held, from a worker): opened on first use."""
        if self.store is None:
            self.store = Store(self.db_path, create=False, check_same_thread=False)
        return self.store.conn

    def keys_wait(self) -> bool:
        return self._reading or bool(self._waiting)

    def _begin(self) -> None:
        self._reading = True

    def _done(self) -> None:
        """The answer of the store is on screen: the actions that waited run, in order, until one reads; then
        the keys typed meanwhile."""
        self._reading = False
        while self._waiting and not self._reading:
            action, args = self._waiting.popleft()
            action(self, *args)
        if not self._reading and hasattr(self.app, "release_keys"):
            self.app.release_keys()

    def _close_store(self) -> None:
        with self._db:
            self._closed = True
            if self.store is not None:
                self.store.close()
                self.store = None

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != self.WORKER_GROUP or event.state != WorkerState.ERROR:
            return
        event.stop()
        error = event.worker.error
        if not isinstance(error, StoreError):
            raise error  # a bug: the app stops with its traceback
        self.notify(f"{self.READ_FAILED}: {type(error).__name__}: {error}", severity="error", timeout=8,
                    markup=False)
        self._done()
