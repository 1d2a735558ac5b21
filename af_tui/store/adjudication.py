"""Adjudication: the samples on which annotators disagree, each annotator's current label on one of them,
and the settled (adjudicated) label. An adjudication is a label row like any other (append-only, undoable)
with labels.adjudication = 1 and the annotator who settled it; a sample's adjudicated label is its newest
adjudication row (store.labels.ADJUDICATED_LABELS).

The rule of a settlement is pure and lives here too: a verdict the adjudicator chooses keeps the criteria the
annotators agree on; taking one annotator's label takes all of it; the majority settles when one verdict has
more annotators than any other (a tie has no majority). The people's verdict on a sample (people_verdict) is
the majority, a tie settled by the adjudicated label, else undecided."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from af_tui.domain import Verdict
from af_tui.rubric import Rubric
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


def adjudicated_verdicts(conn: sqlite3.Connection, sample_ids: Iterable[int] | None = None) -> dict[int, Verdict]:
    """sample id -> its adjudicated verdict (samples never settled, or unsettled again, left out)."""
    rows = conn.execute(f"SELECT sample_id, verdict FROM ({ADJUDICATED_LABELS}) WHERE verdict IS NOT NULL")
    wanted = set(sample_ids) if sample_ids is not None else None
    return {sid: Verdict(v) for sid, v in rows if wanted is None or sid in wanted}


# -- the rule: what a settlement stores -----------------------------------------------------------------

@dataclass(frozen=True)
class Settlement:
    """The adjudicated label to store: its verdict, criteria under `rubric`, and a note saying where it came
    from (None when the adjudicator chose the verdict)."""

    verdict: str
    criteria: dict
    rubric: Rubric
    note: str | None = None


def majority_verdict(verdicts: Iterable[str | None]) -> str | None:
    """The annotators' majority on one sample: the most frequent verdict (cleared ones left out); a tie has no
    majority (None)."""
    counts = Counter(v for v in verdicts if v is not None)
    if not counts:
        return None
    (top, n), *rest = counts.most_common()
    return None if rest and rest[0][1] == n else top


def people_verdict(verdicts: Iterable[str | None], adjudicated: str | None = None) -> str | None:
    """The people's verdict on one sample, the rule every view uses (af_counts' SQL is the same): the
    annotators' majority; on a tie, the adjudicated label's verdict; a tie with none is undecided (None)."""
    return majority_verdict(verdicts) or adjudicated


def agreed_criteria(labels: list[Label]) -> dict:
    """The criteria of the first label's rubric on which every label under that rubric agrees (others not
    set): what an adjudication by verdict alone keeps."""
    rubric = labels[0].rubric
    same = [lb for lb in labels if lb.rubric.sha256 == rubric.sha256]
    return {c: (same[0].criteria.get(c) if len({lb.criteria.get(c) for lb in same}) == 1 else None)
            for c in rubric.ids}


def settle_with_verdict(labels: list[Label], verdict: str) -> Settlement:
    """The adjudicator's verdict, with the criteria the annotators agree on (under the first label's rubric)."""
    return Settlement(verdict, agreed_criteria(labels), labels[0].rubric)


def settle_by_taking(label: Label) -> Settlement:
    """One annotator's label as the adjudicated one: criteria, verdict and rubric; the note says whose."""
    note = f"adjudicated: {label.annotator}'s label" + (f" — {label.note}" if label.note else "")
    return Settlement(label.verdict, dict(label.criteria), label.rubric, note)


def settle_by_majority(labels: list[Label]) -> Settlement | None:
    """The majority's verdict with the agreed criteria; None when no verdict has a majority."""
    verdict = majority_verdict(lb.verdict for lb in labels)
    return None if verdict is None else settle_with_verdict(labels, verdict)
