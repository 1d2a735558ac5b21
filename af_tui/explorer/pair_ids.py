"""The pairs list's first read of a filter: its ids, counts and first rows from one snapshot, so that a large
list paints its first screenful before the rest of the ids arrive."""

from __future__ import annotations

import sqlite3
from array import array
from bisect import bisect_left
from dataclasses import dataclass

from af_tui.explorer.filters import PairFilter, few_matches
from af_tui.explorer.pairs import (
    INDEXED_ORDERS,
    PairRow,
    changed_pairs,
    count_pairs,
    last_change,
    matching,
    ordered_search_head,
    pair_ids,
    pair_rows,
    search_head,
    total_pairs,
)
from af_tui.store.reader import snapshot


@dataclass
class PairChanges:
    """What commits since a live list's last read changed, from one snapshot."""

    changed: list[int]  # pairs touched by samples after `since`, ascending
    last_change: int  # the newest sample: the next update starts after it
    keep: set[int]  # of `changed`, those the filter keeps
    total: int  # pairs in the store


@dataclass
class IdsSnapshot:
    ids: array
    total: int  # pairs in the store
    last_change: int  # the newest sample: live updates start after it
    count: int | None  # pairs the filter keeps, when `ids` holds only the head of them (else None)
    rows: dict  # the list rows shown first
    counted: bool = True  # False: `ids` is a search's head, not counted; the rest (and so the count) follows


def position_of(ids: array, pair_id: int | None, by_id: bool = True) -> int | None:
    """Where `pair_id` is in the list's `ids`: a bisection when they ascend (the arrival order), else a scan
    (linear, on a new filter or order and on n/p in the pair view; its cost is in bench/README.md)."""
    if pair_id is None:
        return None
    if by_id:
        i = bisect_left(ids, pair_id)
        return i if i < len(ids) and ids[i] == pair_id else None
    try:
        return ids.index(pair_id)
    except ValueError:
        return None


def merge_by_id(ids: array, changed: list[int], keep: set[int]) -> bool:
    """A live update of a list in arrival order (ascending ids): changed pairs put in place or taken out."""
    added = False
    for pair_id in changed:
        i = bisect_left(ids, pair_id)
        present = i < len(ids) and ids[i] == pair_id
        if pair_id in keep and not present:
            ids.insert(i, pair_id)
            added = True
        elif pair_id not in keep and present:
            del ids[i]
    return added


def rows_near(conn: sqlite3.Connection, ids, keep: int | None, first_page: int,
              by_id: bool = True) -> dict[int, PairRow]:
    """The list rows around `keep` in `ids` (the top when it is not there): what the list shows first."""
    position = position_of(ids, keep, by_id) or 0
    start = max(position - first_page // 2, 0)
    return pair_rows(conn, list(ids[start:start + first_page]))


def read_pair_ids(conn: sqlite3.Connection, pair_filter: PairFilter, keep: int | None, *, head_rows: int,
                  first_page: int) -> IdsSnapshot:
    """The filter's ids and the rows the list will show first: around the selected pair `keep` (the list
    keeps it selected when the new filter keeps it), else the top. A search with many matches, in arrival
    order or an indexed one (model, request), gives its first screenful uncounted (`counted` False):
    counting it costs what reading all its ids does, so the count comes with the rest, after the first paint
    (one with few matches is read whole)."""
    with snapshot(conn):  # ids, counts and newest sample that agree with one another
        newest = last_change(conn)
        total = total_pairs(conn)
        count = None
        many = bool(pair_filter.search) and not few_matches(conn, pair_filter.search)
        if many and pair_filter.by_arrival:
            ids, complete = search_head(conn, pair_filter, head_rows, keep)  # to the selected pair, if further
            return IdsSnapshot(ids, total, newest, None, rows_near(conn, ids, keep, first_page), counted=complete)
        if many and pair_filter.order in INDEXED_ORDERS:
            head = ordered_search_head(conn, pair_filter, head_rows)
            # the selected pair elsewhere than in the head: read whole, to find where it is
            if head is not None and (keep is None or keep in head[0]):
                ids, complete = head
                return IdsSnapshot(ids, total, newest, None, rows_near(conn, ids, keep, first_page, False),
                                   counted=complete)
        if pair_filter.search or not pair_filter.by_arrival:  # few matches cost little; another order is one sort, read whole
            ids = pair_ids(conn, pair_filter)
        else:
            # A large list: paint the first screenful at once (counting is cheap inside SQLite), then bring
            # the rest of the ids once it is drawn: reading every id of a large list takes CPU the first paint needs more.
            head_count = count_pairs(conn, pair_filter)
            ids = pair_ids(conn, pair_filter, limit=head_rows)
            if len(ids) < head_count and keep is not None and keep > ids[-1]:
                # The selected pair lies beyond the first screenful: the ids up to it and a screenful after
                # it (not all of them: switching a filter off on a selected pair read every id before drawing).
                ids.extend(pair_ids(conn, pair_filter, after_id=ids[-1], up_to=keep))
                ids.extend(pair_ids(conn, pair_filter, after_id=ids[-1], limit=head_rows))
            if len(ids) < head_count:
                count = head_count
        return IdsSnapshot(ids, total, newest, count, rows_near(conn, ids, keep, first_page, pair_filter.by_arrival))


def pair_changes(conn: sqlite3.Connection, pair_filter: PairFilter, since: int) -> PairChanges:
    """The pairs that samples after `since` touched, which of them the filter keeps, and the store's total,
    from one snapshot."""
    with snapshot(conn):
        changed, newest = changed_pairs(conn, since)
        keep = matching(conn, pair_filter, changed) if pair_filter.by_content or not pair_filter.is_empty else set(changed)
        return PairChanges(changed, newest, keep, total_pairs(conn))
