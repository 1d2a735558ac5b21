"""The pairs list's first read of a filter: its ids, counts and first rows from one snapshot, so that a large
list paints its first screenful before the rest of the ids arrive."""

from __future__ import annotations

import sqlite3
from array import array
from bisect import bisect_left
from dataclasses import dataclass

from af_tui.explorer import pairs as q
from af_tui.explorer.filters import PairFilter


@dataclass
class IdsSnapshot:
    ids: array
    total: int  # pairs in the store
    last_change: int  # the newest sample: live updates start after it
    count: int | None  # pairs the filter keeps, when `ids` holds only the head of them (else None)
    rows: dict  # the list rows shown first


def rows_near(conn: sqlite3.Connection, ids, keep: int | None, first_page: int) -> dict:
    """The list rows around `keep` in `ids` (the top when it is not there): what the list shows first."""
    position = bisect_left(ids, keep) if keep is not None else 0
    if position >= len(ids) or ids[position] != keep:
        position = 0
    start = max(position - first_page // 2, 0)
    return q.pair_rows(conn, list(ids[start:start + first_page]))


def read_pair_ids(conn: sqlite3.Connection, flt: PairFilter, keep: int | None, *, head_rows: int,
                  first_page: int) -> IdsSnapshot:
    """The filter's ids and the rows the list will show first: around the selected pair `keep` (the list
    keeps it selected when the new filter keeps it), else the top."""
    conn.execute("BEGIN")  # ids, counts and newest sample from one snapshot
    newest = q.last_change(conn)
    total = q.total_pairs(conn)
    count = None
    if flt.search:  # a search runs once
        ids = q.pair_ids(conn, flt)
    else:
        # A large list: paint the first screenful at once (counting is cheap inside SQLite), then bring the
        # rest of the ids once it is drawn: reading 500k ids takes CPU that the first paint needs more.
        head_count = q.count_pairs(conn, flt)
        ids = q.pair_ids(conn, flt, limit=head_rows)
        if len(ids) < head_count and keep is not None and keep > ids[-1]:
            # The selected pair lies beyond the first screenful: the ids up to it and a screenful after it
            # (not all of them: switching a filter off on a selected pair read 500k ids before drawing).
            ids.extend(q.pair_ids(conn, flt, after_id=ids[-1], up_to=keep))
            ids.extend(q.pair_ids(conn, flt, after_id=ids[-1], limit=head_rows))
        if len(ids) < head_count:
            count = head_count
    return IdsSnapshot(ids, total, newest, count, rows_near(conn, ids, keep, first_page))
