"""The pairs list's queries: the ids a filter keeps, counts, what changed since the last look, one page of
rows with their label and judge marks, and the facets a filter picks from.
"""

from __future__ import annotations

import sqlite3
import sys
from array import array
from dataclasses import dataclass

from af_tui.domain import JudgeTask, Outcome, Verdict
from af_tui.explorer.filters import PairFilter
from af_tui.store.labels import NEWEST_LABEL
from af_tui.store.rows import marks


def pair_ids(conn: sqlite3.Connection, pair_filter: PairFilter, after_id: int = 0, limit: int = -1,
             up_to: int | None = None) -> array:
    """Ids of the pairs the filter keeps, in the filter's order. `after_id` and `up_to` (ids after the one,
    up to the other) page the arrival order, which is ascending ids; another order is read whole."""
    where, params = pair_filter.where(conn)
    below = "" if up_to is None else f" AND p.id <= {int(up_to)}"
    select = f"SELECT p.id FROM pairs p WHERE p.id > ?{below} AND {where} ORDER BY {pair_filter.order_sql()} LIMIT ?"
    ids = array("q")
    if 0 <= limit <= 1000:
        ids.extend(r[0] for r in conn.execute(select, [after_id, *params, limit]))
        return ids
    # Many ids: SQLite packs them into one hex string in a single step (the GIL is released meanwhile, so
    # the UI thread keeps running), and Python unpacks it in C — no Python object per row.
    packed = conn.execute(f"SELECT group_concat(printf('%016x', id), '') FROM ({select})",
                          [after_id, *params, limit]).fetchone()[0]
    if packed:
        ids.frombytes(bytes.fromhex(packed))
        if sys.byteorder == "little":
            ids.byteswap()
    return ids


# A search's first screenful is looked for among this many pairs from the top, then among 8 times as many
# after them, and so on: the matches are gathered only among the pairs looked at (PairFilter.where's `within`).
HEAD_WINDOW = 1000


def search_head(conn: sqlite3.Connection, pair_filter: PairFilter, limit: int, keep: int | None = None,
                window: int | None = None) -> tuple[array, bool]:
    """The first `limit` ids that a search with many matches (filters.few_matches False) keeps in arrival
    order — or, when the selected pair `keep` lies beyond them, the ids up to it and `limit` after it — and
    whether they are all it keeps, without reading the others or counting them: a common word matches most
    pairs, and its first screenful is among the first pairs (a few ms at a million samples, where gathering
    every match first took 0.5–1 s and reading all ids 1–2.6 s)."""
    window = HEAD_WINDOW if window is None else window
    ids, complete = _search_from(conn, pair_filter, 0, limit, window)
    if complete or keep is None or keep <= ids[-1]:
        return ids, complete
    where, params = pair_filter.where(conn, within=(ids[-1], keep))
    ids.extend(r[0] for r in conn.execute(f"SELECT p.id FROM pairs p WHERE p.id > ? AND p.id <= ? AND {where} "
                                          "ORDER BY p.id", [ids[-1], keep, *params]))
    more, complete = _search_from(conn, pair_filter, ids[-1], limit, window)
    ids.extend(more)
    return ids, complete


# The orders whose keys an index gives in order (schema 6), so that their first pairs cost no sort.
INDEXED_ORDERS = ("model", "request")


def ordered_search_head(conn: sqlite3.Connection, pair_filter: PairFilter, limit: int,
                        window: int | None = None) -> tuple[array, bool] | None:
    """search_head for the model and request orders: the first `window` pairs in the order (read from its
    index) each checked against the index, and whether the matches are all the search keeps; None when
    fewer than `limit` of them match and the window does not hold every pair (then read the search whole)."""
    window = HEAD_WINDOW if window is None else window
    first = [r[0] for r in conn.execute(f"SELECT p.id FROM pairs p ORDER BY {pair_filter.order_sql()} LIMIT ?",
                                        (window,))]
    where, params = pair_filter.where(conn, per_pair=True)
    ids = array("q")
    for i in range(0, len(first), 250):  # a chunk at a time, in the order: a dense search stops early
        chunk = first[i:i + 250]
        kept = {r[0] for r in conn.execute(f"SELECT p.id FROM pairs p WHERE p.id IN ({marks(len(chunk))}) "
                                           f"AND {where}", [*chunk, *params])}
        ids.extend(pair_id for pair_id in chunk if pair_id in kept)
        if len(ids) >= limit:
            return ids[:limit], False
    return (ids, True) if len(first) < window else None


def _search_from(conn: sqlite3.Connection, pair_filter: PairFilter, after_id: int, limit: int,
                 window: int) -> tuple[array, bool]:
    """The first `limit` ids after `after_id` (see search_head), a growing window of pairs at a time, and
    whether they are all."""
    ids = array("q")
    while True:
        row = conn.execute("SELECT id FROM pairs WHERE id > ? ORDER BY id LIMIT 1 OFFSET ?",
                           (after_id, max(window - 1, 0))).fetchone()
        end = None if row is None else row[0]  # None: the window holds every pair after after_id
        where, params = pair_filter.where(conn, within=(after_id, end))
        below, bound = ("", []) if end is None else (" AND p.id <= ?", [end])
        ids.extend(r[0] for r in conn.execute(
            f"SELECT p.id FROM pairs p WHERE p.id > ?{below} AND {where} ORDER BY p.id LIMIT ?",
            [after_id, *bound, *params, limit - len(ids)]))
        if len(ids) >= limit:
            return ids, False
        if end is None:
            return ids, True
        after_id, window = end, window * 8


def count_pairs(conn: sqlite3.Connection, pair_filter: PairFilter) -> int:
    """How many pairs the filter keeps (counted inside SQLite: no row reaches Python). A filter on run,
    model, variant and outcomes only is summed from `pair_counts` (the store's triggers keep it; a few
    thousand rows in a sweep) instead of counting the pairs (figures: bench/README.md, a million samples)."""
    where, params = pair_filter.where(conn)
    if pair_filter.by_slice_and_outcome:
        # pair_counts has the pairs' column names; a missing tier is '' there, NULL in pairs, and no
        # condition of such a filter tells them apart
        sql = f"SELECT COALESCE(SUM(p.n), 0) FROM pair_counts p WHERE {where}"
    else:
        sql = f"SELECT COUNT(*) FROM pairs p WHERE {where}"
    return conn.execute(sql, params).fetchone()[0]


def total_pairs(conn: sqlite3.Connection) -> int:
    """Pairs in the store, from the counts the triggers keep (a COUNT(*) of the pairs took 7–15 ms at 1M)."""
    return conn.execute("SELECT COALESCE(SUM(n), 0) FROM pair_counts").fetchone()[0]


def matching(conn: sqlite3.Connection, pair_filter: PairFilter, ids: list[int]) -> set[int]:
    """Which of these pair ids the filter keeps."""
    if not ids:
        return set()
    where, params = pair_filter.where(conn)
    found: set[int] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        rows = conn.execute(f"SELECT p.id FROM pairs p WHERE p.id IN ({marks(len(chunk))}) AND {where}",
                            [*chunk, *params])
        found.update(r[0] for r in rows)
    return found


def last_change(conn: sqlite3.Connection) -> int:
    """The newest entry of the store's pair-change log (a watermark for `changed_pairs`)."""
    return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM pair_changes").fetchone()[0]


def changed_pairs(conn: sqlite3.Connection, after: int) -> tuple[list[int], int]:
    """Pairs that changed after the watermark `after` — new pairs, a second tier arriving, an error sample
    replaced by its retry — and the new watermark. The log is kept by the store's triggers."""
    rows = conn.execute("SELECT seq, pair_id FROM pair_changes WHERE seq > ? ORDER BY seq", (after,)).fetchall()
    newest = rows[-1][0] if rows else after
    return sorted({pair_id for _, pair_id in rows}), newest


@dataclass(frozen=True)
class PairRow:
    """One line of the pairs list."""

    id: int
    run: str
    model: str
    variant: str
    prompt_index: int | None
    epoch: int
    free_outcome: Outcome | None  # None: that tier has no sample yet
    paid_outcome: Outcome | None
    request: str  # the first words, raw (the widget makes them inert)
    labels: int = 0  # current labels (annotator × sample) with a verdict
    labels_af: bool = False  # one of them says alignment faking
    judged: bool = False
    judged_af: bool = False

    @property
    def marks(self) -> str:
        label = (f"L{self.labels}" + ("*" if self.labels_af else "")) if self.labels else ""
        judge = ("J*" if self.judged_af else "J") if self.judged else ""
        return " ".join(m for m in (label, judge) if m)


def pair_rows(conn: sqlite3.Connection, ids: list[int]) -> dict[int, PairRow]:
    """The list lines of these pairs (one page), with their label and judge marks."""
    if not ids:
        return {}
    # Each row is unpacked into names in the SELECT's order (a page is read on every scroll: no dict per row).
    rows = conn.execute(
        "SELECT p.id, r.name, p.model, p.variant, p.prompt_index, p.epoch, p.free_outcome, p.paid_outcome,"
        " substr(pr.text, 1, 300), p.free_sample_id, p.paid_sample_id FROM pairs p"
        " JOIN runs r ON r.id = p.run_id JOIN prompts pr ON pr.id = p.prompt_id"
        f" WHERE p.id IN ({marks(len(ids))})", list(ids)).fetchall()
    sample_pair = {}
    for pair_id, *_, free_sample_id, paid_sample_id in rows:
        for sid in (free_sample_id, paid_sample_id):
            if sid is not None:
                sample_pair[sid] = pair_id
    labels: dict[int, list] = {}
    judged: dict[int, list] = {}
    if sample_pair:
        sids = list(sample_pair)
        sample_marks = marks(len(sids))
        # The current label is the newest row per (sample, annotator); a NULL verdict clears it.
        for sid, verdict in conn.execute(
            f"SELECT l.sample_id, l.verdict FROM labels l WHERE l.sample_id IN ({sample_marks}) AND {NEWEST_LABEL}",
            sids):
            if verdict is not None:
                labels.setdefault(sample_pair[sid], []).append(verdict)
        for sid, verdict in conn.execute(f"SELECT sample_id, verdict FROM judgements WHERE sample_id IN ({sample_marks}) "
                                         f"AND task = '{JudgeTask.ALIGNMENT_FAKING}'",
                                         sids):
            judged.setdefault(sample_pair[sid], []).append(verdict)
    out = {}
    for (pair_id, run, model, variant, prompt_index, epoch, free_outcome, paid_outcome, request, _,
         _) in rows:
        ls, js = labels.get(pair_id, []), judged.get(pair_id, [])
        out[pair_id] = PairRow(
            id=pair_id, run=run, model=model, variant=variant, prompt_index=prompt_index, epoch=epoch,
            free_outcome=_OUTCOME[free_outcome], paid_outcome=_OUTCOME[paid_outcome], request=request or "",
            labels=len(ls), labels_af=Verdict.AF in ls, judged=bool(js), judged_af=Verdict.AF in js)
    return out


_OUTCOME: dict[str | None, Outcome | None] = {None: None, **{o.value: o for o in Outcome}}


def facets(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """The runs, models and variants a filter can pick from."""
    return {
        "run": [r[0] for r in conn.execute("SELECT name FROM runs ORDER BY id")],
        "model": [r[0] for r in conn.execute("SELECT DISTINCT model FROM pairs ORDER BY model")],
        "variant": [r[0] for r in conn.execute("SELECT DISTINCT variant FROM pairs ORDER BY variant")],
    }
