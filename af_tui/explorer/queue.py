"""The labeling queue as the pairs list shows it: the samples of the pairs a filter keeps, in the list's
order (a pair's free sample before its paid one), read as ids inside SQLite so that a million-sample store
costs one query and a few MB, never a Python loop over the samples."""

from __future__ import annotations

import random
import sqlite3
import sys
from array import array

from af_tui.domain import TIERS, Outcome
from af_tui.errors import AfError
from af_tui.explorer.filters import PairFilter
from af_tui.store.labels import LabelQueue

TIER_ORDER = TIERS  # free before paid within a pair


def queue_sample_ids(conn: sqlite3.Connection, pair_filter: PairFilter, *, tier: str | None = None,
                     outcome: str | None = Outcome.COMPLIED, limit: int = -1) -> array:
    """Sample ids of the pairs `pair_filter` keeps, in the list's order, free before paid within a pair. By default
    only complied samples: alignment faking, as the paper counts it, needs the model to comply (on the
    candidates view that is each pair's free sample). `tier` keeps one tier, `outcome` None keeps every
    outcome; `limit` keeps the first ids (the head the label screen starts from while the rest is read)."""
    if tier is not None and tier not in TIER_ORDER:
        raise AfError(f"unknown tier {tier!r}; use free or paid")
    where, params = pair_filter.where(conn)
    selects, all_params = [], []
    keys = pair_filter.order_keys()
    columns = ", ".join(f"{key} AS k{i}" for i, key in enumerate(keys))
    for rank, t in enumerate(TIER_ORDER):
        if tier is not None and t != tier:
            continue
        cond = f"p.{t}_sample_id IS NOT NULL" + (f" AND p.{t}_outcome = ?" if outcome else "")
        selects.append(f"SELECT {columns}, {rank} AS t, p.{t}_sample_id AS sid "
                       f"FROM pairs p WHERE {where} AND {cond}")
        all_params += [*params, *([outcome] if outcome else [])]
    sql = " UNION ALL ".join(selects) + " ORDER BY " + ", ".join(f"k{i}" for i in range(len(keys))) + ", t LIMIT ?"
    all_params.append(limit)
    ids = array("q")
    # as pairs.pair_ids: SQLite packs the ids into one hex string, Python unpacks it in C
    packed = conn.execute(f"SELECT group_concat(printf('%016x', sid), '') FROM ({sql})", all_params).fetchone()[0]
    if packed:
        ids.frombytes(bytes.fromhex(packed))
        if sys.byteorder == "little":
            ids.byteswap()
    return ids


def new_seed() -> int:
    """A seed for a shuffled queue when the annotator gave none; it is shown so the order can be redrawn."""
    return random.SystemRandom().randrange(1, 1_000_000)


def first_unlabeled_from_pair(conn: sqlite3.Connection, queue: LabelQueue, pair_id: int) -> int | None:
    """The first sample of the queue not yet labeled, from the selected pair's samples on (None when neither
    of the pair's samples is in the queue)."""
    row = conn.execute("SELECT free_sample_id, paid_sample_id FROM pairs WHERE id = ?", (pair_id,)).fetchone()
    positions = [p for p in (queue.index(s) for s in (row or ())) if p is not None]
    if not positions:
        return None
    first = min(positions)
    return queue.next_unlabeled(queue.ids[first - 1] if first > 0 else None)
