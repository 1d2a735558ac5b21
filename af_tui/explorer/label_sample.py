"""What the labeling and review screens read, off the UI thread: one sample with its request and the same
request's answer on the other tier, the annotator's label on it and the queue's progress (`read_label_view`);
the disagreements to review and one of them with each annotator's label (`read_disagreement`); the sample a
saved label belongs to."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from af_tui.domain import Outcome, Tier
from af_tui.store.adjudication import (
    adjudicated_label,
    adjudicated_verdicts,
    annotator_labels,
    disagreeing_samples,
)
from af_tui.store.labels import Label, LabelQueue, Progress, current_label
from af_tui.store.rows import dict_rows

_SAMPLE_SQL = (
    "SELECT s.id, r.name AS run, s.model, s.variant, s.prompt_index, s.epoch, s.tier, s.outcome, s.scratchpad, "
    "s.output, p.text AS request, s.run_id, s.prompt_id FROM samples s JOIN runs r ON r.id = s.run_id "
    "JOIN prompts p ON p.id = s.prompt_id WHERE s.id = ?"
)
_OTHER_TIER_SQL = (
    "SELECT tier, outcome, scratchpad, output FROM samples WHERE run_id = ? AND model = ? AND variant = ? "
    "AND prompt_id = ? AND epoch = ? AND tier != ?"
)


@dataclass(frozen=True)
class OtherTier:
    """The same request's sample on the other tier, beside the one being labeled."""

    tier: Tier
    outcome: Outcome
    scratchpad: str | None
    output: str | None


@dataclass
class LabelSample:
    """What the screen shows of one sample and of the same request on the other tier."""

    id: int
    run: str
    model: str
    variant: str
    prompt_index: int | None
    epoch: int
    tier: Tier
    outcome: Outcome
    scratchpad: str | None
    output: str | None
    request: str
    other: OtherTier | None  # None: the other tier is not sampled yet


def load_sample(conn: sqlite3.Connection, sample_id: int) -> LabelSample | None:
    found = dict_rows(conn, _SAMPLE_SQL, (sample_id,))
    if not found:
        return None
    d = found[0]
    others = dict_rows(conn, _OTHER_TIER_SQL, (d["run_id"], d["model"], d["variant"], d["prompt_id"], d["epoch"],
                                                d["tier"]))
    other = others[0] if others else None
    return LabelSample(
        id=d["id"], run=d["run"], model=d["model"], variant=d["variant"], prompt_index=d["prompt_index"],
        epoch=d["epoch"], tier=Tier(d["tier"]), outcome=Outcome(d["outcome"]), scratchpad=d["scratchpad"],
        output=d["output"], request=d["request"],
        other=OtherTier(tier=Tier(other["tier"]), outcome=Outcome(other["outcome"]), scratchpad=other["scratchpad"],
                        output=other["output"]) if other else None)


def labeled_sample_id(conn: sqlite3.Connection, uid: str) -> int:
    """The sample that the label `uid` is on."""
    return conn.execute("SELECT sample_id FROM labels WHERE uid = ?", (uid,)).fetchone()[0]


@dataclass(frozen=True)
class LabelView:
    """What the label screen shows: a sample (None: the queue is done), the annotator's current label on it,
    and the queue's progress."""

    sample: LabelSample | None
    label: Label | None
    progress: Progress


def read_label_view(conn: sqlite3.Connection, queue: LabelQueue, sample_id: int | None) -> LabelView:
    """The sample `sample_id` of the queue as the label screen shows it, for the queue's annotator."""
    sample = load_sample(conn, sample_id) if sample_id is not None else None
    label = current_label(conn, sample_id, queue.annotator) if sample is not None else None
    return LabelView(sample, label, queue.progress())


@dataclass(frozen=True)
class DisagreementView:
    """One sample on which annotators disagree, as the review screen shows it: each annotator's current
    label, the adjudicated one if any, and how many of the reviewed samples are settled."""

    sample: LabelSample | None
    labels: list[Label]
    settled: Label | None
    settled_count: int


def disagreements_to_review(conn: sqlite3.Connection, *, run: str | None = None,
                            model: str | None = None) -> tuple[list[int], int]:
    """The samples on which annotators disagree as they are now (a sample settled during the review stays in
    the list, marked settled), and the position of the first one not settled yet (0 when all are)."""
    ids = disagreeing_samples(conn, run=run, model=model)
    unsettled = disagreeing_samples(conn, run=run, model=model, unsettled_only=True)
    return ids, ids.index(unsettled[0]) if unsettled else 0


def read_disagreement(conn: sqlite3.Connection, ids: list[int], position: int) -> DisagreementView:
    """The disagreement at `position` of `ids` (none when `ids` is empty)."""
    sid = ids[position] if ids else None
    if sid is None:
        return DisagreementView(None, [], None, 0)
    settled_count = len(adjudicated_verdicts(conn, ids))
    return DisagreementView(load_sample(conn, sid), annotator_labels(conn, sid), adjudicated_label(conn, sid),
                            settled_count)
