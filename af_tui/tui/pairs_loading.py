"""The explorer app's pairs list, loaded and kept live: the filtered ids (the first screenful ahead of the
rest), the pairs that new commits touch, and the rows in view. A mixin of ExplorerApp (app.py), which owns the
store reader, the main screen and the generation counters it uses."""

from __future__ import annotations

import time
from array import array

from textual import work

from af_tui.explorer.filters import PairFilter
from af_tui.explorer.pair_ids import merge_by_id, pair_changes, read_pair_ids
from af_tui.explorer.pairs import pair_ids, pair_rows
from af_tui.tui.messages import PageLoaded, PairIdsChanged, PairIdsLoaded

HEAD_ROWS = 200  # ids sent ahead of the rest: more than a tall terminal shows
FIRST_PAGE = 100  # rows read with the ids, so the first screenful needs no second round trip
RESORT_S = 2.0  # a list in another order than arrival re-reads its ids at most this often during a live run


class PairsLoading:
    def load_pair_ids(self, pair_filter: PairFilter) -> None:
        self._generation += 1
        self._ids_filter = pair_filter
        self.main.appended = 0
        # The previous filter's answer is not wanted: free the CPU for this one, and drop its failure (a
        # cancelled worker reports none; the ids worker is exclusive, so the newer one cancels it).
        self.reader.interrupt_ids()
        self.workers.cancel_group(self, "ids-rest")
        pairs = self.pairs_list
        keep = pairs.current_id if pairs is not None and not pairs.follow else None
        self._load_ids(self._generation, pair_filter, keep)

    @work(thread=True, exclusive=True, group="ids", exit_on_error=False)
    def _load_ids(self, generation: int, pair_filter: PairFilter, keep: int | None = None) -> None:
        started = time.perf_counter()
        with self.reader.ids_connection() as conn:
            if generation != self._generation:
                return
            head = read_pair_ids(conn, pair_filter, keep, head_rows=HEAD_ROWS, first_page=FIRST_PAGE)
        # An incomplete head: the rest follows once it is drawn (see on_pair_ids_loaded).
        self.post_message(PairIdsLoaded(generation, pair_filter, head.ids, head.total, head.last_change,
                                        time.perf_counter() - started, head.count, head.rows, head.counted))

    @work(thread=True, exclusive=True, group="ids-rest", exit_on_error=False)
    def _load_rest(self, head: PairIdsLoaded) -> None:
        """The ids after the first screenful. Read in a later snapshot: pairs changed in between are put
        right by the live update, which starts from the head's snapshot (head.last_change)."""
        started = time.perf_counter()
        with self.reader.ids_connection() as conn:
            if head.generation != self._generation:
                return
            if head.pair_filter.by_arrival:
                ids = array("q", head.ids)
                ids.extend(pair_ids(conn, head.pair_filter, after_id=ids[-1]))
            else:  # a search's head in another order: all its ids, in that order (the head comes first)
                ids = pair_ids(conn, head.pair_filter)
        self.post_message(PairIdsLoaded(head.generation, head.pair_filter, ids, head.total, head.last_change,
                                        head.seconds + time.perf_counter() - started))

    def on_pair_ids_loaded(self, message: PairIdsLoaded) -> None:
        if message.generation != self._generation:
            return
        self._last_change = message.last_change
        self.main.total = message.total
        self.main.loaded = True
        self.main.complete = message.complete
        self.main.counting = not message.counted
        pairs = self.pairs_list
        if message.rows:
            pairs.update_rows(message.rows)
            if self.first_rows_at is None:
                self.first_rows_at = time.perf_counter()
        # an uncounted head shows one `…` row after it: more may follow
        count = message.count if message.counted else len(message.ids) + 1
        pairs.set_ids(message.ids, count=count, by_id=message.pair_filter.by_arrival)
        self.list_version += 1
        self.main.update_status()
        if self.stats_version == 0 and not self.loads.busy("stats"):
            self.call_after_refresh(self._first_stats)
        if not message.complete:
            self.call_after_refresh(self._load_rest, message)
        elif self.changes_seen:
            self.loads.kick("changes")  # catch up with commits made while the list was loading

    @work(thread=True, group="changes", exit_on_error=False)
    def _load_changes(self) -> None:
        generation, since, pair_filter = self._generation, self._last_change, self.main.pair_filter
        with self.reader.connection() as conn:
            changes = pair_changes(conn, pair_filter, since)
        self.post_message(PairIdsChanged(generation, since, changes.last_change, changes.changed, changes.keep,
                                         changes.total))

    def on_pair_ids_changed(self, message: PairIdsChanged) -> None:
        self.loads.done("changes")
        if (message.generation != self._generation or message.since != self._last_change
                or not self.main.complete):
            return  # asked for another filter or an older snapshot: the newer answer is on its way
        self._last_change = message.last_change
        self.main.total = message.total
        pairs = self.pairs_list
        ids = pairs.ids
        if pairs.by_id:
            added = merge_by_id(ids, message.changed, message.keep)
        else:
            added = self._merge_sorted(pairs, message.changed, message.keep)
        # Rows in view are being read again (on_store_changed) and stay on screen until then; cached rows
        # out of view are dropped, to be read when shown.
        visible = set(pairs.visible_ids())
        pairs.forget([pair_id for pair_id in message.changed if pair_id not in visible])
        pairs.set_ids(ids)
        if added and pairs.follow:
            pairs.move_to(len(ids) - 1)
        self.list_version += 1
        self.main.update_status()

    def _merge_sorted(self, pairs, changed: list[int], keep: set[int]) -> bool:
        """A live update of a list in another order than arrival: pairs new to it are appended (the list
        says so); a pair already seen whose membership may have changed re-sorts the list a little later
        (one read of every id, at most every RESORT_S)."""
        new = [pair_id for pair_id in changed if pair_id in keep and pair_id > pairs.max_id]
        if new:
            pairs.ids.extend(new)
            pairs.max_id = new[-1]
            self.main.appended += len(new)
        if self.main.pair_filter.by_content and any(pair_id <= pairs.max_id and pair_id not in new for pair_id in changed):
            if self._resort_timer is None:
                self._resort_timer = self.set_timer(RESORT_S, self._resort)
        return bool(new)

    def _resort(self) -> None:
        self._resort_timer = None
        if not self.main.pair_filter.by_arrival:
            self.load_pair_ids(self.main.pair_filter)

    @work(thread=True, group="page", exit_on_error=False)
    def load_page(self, ids: list[int]) -> None:
        with self.reader.connection() as conn:
            rows = pair_rows(conn, ids)
        self.post_message(PageLoaded(rows))

    def on_page_loaded(self, message: PageLoaded) -> None:
        self.pairs_list.update_rows(message.rows)
        if self.first_rows_at is None and message.rows:
            self.first_rows_at = time.perf_counter()

