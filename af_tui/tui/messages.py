"""Every message the app's workers send back to the UI thread, in one place: the flow from store to screen.

Workers (thread workers in app.py, on connections of the store reader) read the store and post these;
handlers on the UI thread update widgets. A `generation` ties a result to the filter it was asked for, so a
late answer to an old filter is dropped.
"""

from __future__ import annotations

import threading
from array import array

from textual.message import Message

from af_tui.explorer.detail import PairDetail
from af_tui.explorer.filters import PairFilter
from af_tui.explorer.monitor import RunProgress
from af_tui.explorer.pairs import PairRow


class StoreChanged(Message):
    """Another connection committed (PRAGMA data_version moved)."""

    def __init__(self, data_version: int, noticed_at: float) -> None:
        super().__init__()
        self.data_version = data_version
        self.noticed_at = noticed_at


class PairIdsLoaded(Message):
    """The filtered pair ids (ids only: 8 bytes a pair): first the head of the list, for a fast first
    paint, then all of them, from the same snapshot."""

    def __init__(self, generation: int, flt: PairFilter, ids: array, total: int, last_change: int,
                 seconds: float, count: int | None = None, rows: dict | None = None) -> None:
        super().__init__()
        self.rows = rows or {}  # the first screenful's rows, read with the ids (no second round trip)
        self.count = len(ids) if count is None else count  # pairs the filter keeps
        self.complete = len(ids) >= self.count  # False: the first screenful, the rest follows
        self.generation = generation
        self.flt = flt
        self.ids = ids
        self.total = total
        self.last_change = last_change
        self.seconds = seconds


class PairIdsChanged(Message):
    """Live update: pairs touched by samples after `since`; `keep` are those the filter keeps."""

    def __init__(self, generation: int, since: int, last_change: int, changed: list[int], keep: set[int],
                 total: int) -> None:
        super().__init__()
        self.generation = generation
        self.since = since
        self.last_change = last_change
        self.changed = changed
        self.keep = keep
        self.total = total


class NeedPage(Message):
    """The pairs list shows rows it has not fetched yet."""

    def __init__(self, ids: list[int]) -> None:
        super().__init__()
        self.ids = ids


class PageLoaded(Message):
    def __init__(self, rows: dict[int, PairRow]) -> None:
        super().__init__()
        self.rows = rows


class PairLoaded(Message):
    def __init__(self, pair_id: int, detail: PairDetail | None) -> None:
        super().__init__()
        self.pair_id = pair_id
        self.detail = detail


class StatsLoaded(Message):
    def __init__(self, data: list, seconds: float, judges: list[str] | None = None) -> None:
        super().__init__()
        self.data = data
        self.seconds = seconds
        self.judges = judges or []  # the AF judges in the store, newest first (`MODEL@HASH`)


class MonitorLoaded(Message):
    def __init__(self, runs: list[RunProgress], at: float) -> None:
        super().__init__()
        self.runs = runs
        self.at = at


class FacetsLoaded(Message):
    def __init__(self, facets: dict[str, list[str]]) -> None:
        super().__init__()
        self.facets = facets


class WorkerFailed(Message):
    """A store read failed: shown as a notification, never a crash."""

    def __init__(self, what: str, error: str) -> None:
        super().__init__()
        self.what = what
        self.error = error


class QueueGrown(Message):
    """The rest of a label queue whose first ids were shown first: all its ids, and them sorted."""

    def __init__(self, queue, ids, sorted_ids) -> None:
        super().__init__()
        self.queue = queue  # the LabelQueue of a QueueReady before
        self.ids = ids
        self.sorted_ids = sorted_ids


class QueueReady(Message):
    """The label queue of the list's view, built off the UI thread: its ids in the list's order (shuffled when
    blind), and the sample to show first (None: the first unlabeled)."""

    def __init__(self, queue, sample_id: int | None, on_done=None) -> None:
        super().__init__()
        self.queue = queue  # af_tui.store.labels.LabelQueue
        self.sample_id = sample_id
        self.on_done = on_done
        self.shown = threading.Event()  # set once the label screen is drawn
