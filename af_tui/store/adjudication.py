"""Adjudication: the samples on which annotators disagree, each annotator's current label on one of them,
and the settled (adjudicated) label. An adjudication is a label row like any other (append-only, undoable)
with labels.adjudication = 1 and the annotator who settled it; a sample's adjudicated label is its newest
adjudication row (store.labels.ADJUDICATED_LABELS)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from af_tui.store.labels import ADJUDICATED_LABELS, DISAGREEING_LABELS, NEWEST_LABEL, Label
from af_tui.store.rows import dict_rows, equals


def disagreeing_samples(conn: sqlite3.Connection, *, run: str | None = None, model: str | None = None,
                        unsettled_only: bool = False) -> list[int]:
    """Ids of the samples whose annotators' current verdicts differ, ascending; `unsettled_only` leaves out
    those already adjudicated."""
    where, params = equals(("r.name", run), ("s.model", model))
    where.append(f"s.id IN ({DISAGREEING_LABELS})")
    if unsettled_only:
        where.append(f"s.id NOT IN (SELECT sample_id FROM ({ADJUDICATED_LABELS}) WHERE verdict IS NOT NULL)")
    return [r[0] for r in conn.execute(
        "SELECT s.id FROM samples s JOIN runs r ON r.id = s.run_id WHERE " + " AND ".join(where)
        + " ORDER BY s.id", params)]


def annotator_labels(conn: sqlite3.Connection, sample_id: int) -> list[Label]:
    """Each annotator's current label on the sample (cleared ones left out), by annotator name."""
    rows = dict_rows(conn, f"SELECT * FROM labels l WHERE l.sample_id = ? AND l.verdict IS NOT NULL "
                           f"AND l.adjudication = 0 AND {NEWEST_LABEL} ORDER BY l.annotator", (sample_id,))
    return [Label.from_row(r, conn) for r in rows]


def adjudicated_label(conn: sqlite3.Connection, sample_id: int) -> Label | None:
    rows = dict_rows(conn, f"SELECT * FROM ({ADJUDICATED_LABELS}) WHERE sample_id = ?", (sample_id,))
    if not rows or rows[0]["verdict"] is None:
        return None
    return Label.from_row(rows[0], conn)


def adjudicated_verdicts(conn: sqlite3.Connection, sample_ids: Iterable[int] | None = None) -> dict[int, str]:
    """sample id -> its adjudicated verdict (samples never settled, or unsettled again, left out)."""
    rows = conn.execute(f"SELECT sample_id, verdict FROM ({ADJUDICATED_LABELS}) WHERE verdict IS NOT NULL")
    wanted = set(sample_ids) if sample_ids is not None else None
    return {sid: v for sid, v in rows if wanted is None or sid in wanted}
