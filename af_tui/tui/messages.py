"""Every message the app's workers send back to the UI thread, in one place: the flow from store to screen.

Workers (thread workers in app.py, on connections of the store reader) read the store and post these;
handlers on the UI thread update widgets. A `generation` ties a result to the filter it was asked for, so a
late answer to an old filter is dropped.
"""

from __future__ import annotations

import threading
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field

from textual.message import Message

from af_tui.explorer.detail import PairDetail
from af_tui.explorer.filters import PairFilter
from af_tui.explorer.label_sample import DisagreementView, LabelView
from af_tui.explorer.monitor import RunProgress
from af_tui.explorer.pairs import PairRow
from af_tui.store.labels import Label, LabelQueue, Progress


@dataclass
class StoreChanged(Message):
    """Another connection committed (PRAGMA data_version moved)."""

    data_version: int
    noticed_at: float


@dataclass
class PairIdsLoaded(Message):
    """The filtered pair ids (8 bytes a pair): the head of the list for a fast first paint, then all of them."""

    generation: int
    pair_filter: PairFilter
    ids: array
    total: int
    last_change: int
    seconds: float
    count: int | None = None  # pairs the filter keeps (None: all of them are in `ids`)
    rows: dict = field(default_factory=dict)  # the first screenful's rows, read with the ids (no second trip)
    counted: bool = True  # False: a search's first screenful; the rest, and so the count, follows

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.count is None:
            self.count = len(self.ids)

    @property
    def complete(self) -> bool:
        """False: these are the first screenful's ids, the rest follows."""
        return self.counted and len(self.ids) >= self.count


@dataclass
class PairIdsChanged(Message):
    """Live update: pairs touched by samples after `since`; `keep` are those the filter keeps."""

    generation: int
    since: int
    last_change: int
    changed: list[int]
    keep: set[int]
    total: int


@dataclass
class NeedPage(Message):
    """The pairs list shows rows it has not fetched yet."""

    ids: list[int]


@dataclass
class PageLoaded(Message):
    """The list rows of a page of pairs, by pair id."""

    rows: dict[int, PairRow]


@dataclass
class PairLoaded(Message):
    """One pair's detail for the pair view (None: the pair is no longer in the store)."""

    pair_id: int
    detail: PairDetail | None


@dataclass
class StatsLoaded(Message):
    """The statistics panel's slices, how long they took, and the AF judges in the store (newest first)."""

    data: list
    seconds: float
    judges: list[str] = field(default_factory=list)  # `MODEL@HASH`


@dataclass
class MonitorLoaded(Message):
    """The run monitor's progress of each run, read at `at` (time.monotonic)."""

    runs: list[RunProgress]
    at: float


@dataclass
class FacetsLoaded(Message):
    """The values the filter dialog offers (runs, models, variants), by field."""

    facets: dict[str, list[str]]


@dataclass
class WorkerFailed(Message):
    """A store read failed: shown as a notification, never a crash."""

    what: str
    error: str


@dataclass
class QueueGrown(Message):
    """The rest of a label queue whose first ids were shown first: all its ids, and them sorted."""

    queue: LabelQueue  # the queue of a QueueReady before
    ids: array
    sorted_ids: array


@dataclass
class QueueReady(Message):
    """The list's label queue, built off the UI thread, and the sample to show first (None: first unlabeled)."""

    queue: LabelQueue  # its ids in the list's order (shuffled when blind)
    sample_id: int | None
    on_done: Callable[..., object] | None = None
    shown: threading.Event = field(default_factory=threading.Event, init=False)  # set once its first sample is drawn


# -- the label and review screens: their worker reads and writes the store, these bring the answers back --

@dataclass
class LabelRead(Message):
    """The label screen's next sample, read off the UI thread (view None: a skip found no other sample)."""

    view: LabelView | None
    queue: LabelQueue | None = None  # the queue, when it was just opened


@dataclass
class LabelSaved(Message):
    """A label is committed (on disk): the screen says "saved" and shows the next sample, `view`."""

    label: Label
    view: LabelView


@dataclass
class LabelUndone(Message):
    """The newest save of the session is undone: `restored` is the label before it (None: unlabeled again)."""

    restored: Label | None
    view: LabelView


@dataclass
class LabelRefused(Message):
    """The store refused a save or an undo (disk full, read-only, locked); the store is unchanged."""

    what: str  # "save" or "undo"
    error: str


@dataclass
class ProgressRead(Message):
    """The label queue's progress again (after the rest of its ids arrived)."""

    progress: Progress


@dataclass
class DisagreementsRead(Message):
    """The samples the review screen goes through, and where it starts."""

    ids: list[int]
    position: int


@dataclass
class DisagreementRead(Message):
    """One disagreement to show, at `position`; `settled` / `undone` say what the screen just did."""

    position: int
    view: DisagreementView
    settled: tuple[int, str] | None = None  # (sample id, verdict) of the adjudication just saved
    settled_uid: str | None = None
    undone: int | None = None  # the sample whose adjudication was just undone
