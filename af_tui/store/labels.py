"""Hand labels: save (committed before returning), undo, the current label per annotator, and the labeling
queue with its progress. Pure SQL over a `sqlite3.Connection`; the screen in tui/screens/label.py calls it.

The `labels` table is append-only: every change is a new row, the current label of an annotator on a sample
is their newest row, and a row whose verdict is NULL means "cleared" (what undoing a first label leaves).
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
import uuid
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field

from af_tui.domain import CRITERIA, OUTCOMES, TIERS, VERDICTS, Outcome, Tier, Verdict
from af_tui.errors import AfError
from af_tui.rubric import Rubric
from af_tui.rubric import propose_verdict as rubric_proposal
from af_tui.store.rows import dict_rows, equals, marks
from af_tui.store.rubrics import ensure_rubric, legacy_rubric, read_criteria
from af_tui.store.runs import listed, require_run

# The current label: each annotator's newest row on a sample (ties on created_at go to the later row id; a
# row with verdict NULL there clears it). Two forms of the one rule: a predicate on `labels l` for a few
# samples (uses the labels_newest index), and the rows of the whole table for aggregates (callers add
# `verdict IS NOT NULL`).
# Adjudication rows (labels.adjudication = 1) are not an annotator's label: they are the settled label of a
# sample, and have their own rule (ADJUDICATED_LABELS).
NEWEST_LABEL = (
    "l.id = (SELECT l2.id FROM labels l2 WHERE l2.sample_id = l.sample_id AND l2.annotator = l.annotator "
    "AND l2.adjudication = 0 ORDER BY l2.created_at DESC, l2.id DESC LIMIT 1)"
)
CURRENT_LABELS = (
    "SELECT * FROM (SELECT labels.*, ROW_NUMBER() OVER (PARTITION BY sample_id, annotator "
    "ORDER BY created_at DESC, id DESC) AS newest FROM labels WHERE adjudication = 0) WHERE newest = 1"
)
# The adjudicated label of a sample: its newest adjudication row, whoever settled it (verdict NULL: unsettled
# again, what undoing a first adjudication leaves). Callers add `verdict IS NOT NULL`.
ADJUDICATED_LABELS = (
    "SELECT * FROM (SELECT labels.*, ROW_NUMBER() OVER (PARTITION BY sample_id "
    "ORDER BY created_at DESC, id DESC) AS newest FROM labels WHERE adjudication = 1) WHERE newest = 1"
)
# Samples on which annotators disagree: two current labels or more with different verdicts.
DISAGREEING_LABELS = (
    f"SELECT sample_id FROM ({CURRENT_LABELS}) WHERE verdict IS NOT NULL "
    "GROUP BY sample_id HAVING COUNT(DISTINCT verdict) > 1"
)


def propose_verdict(criteria: dict, rubric: Rubric | None = None, variant: str | None = None) -> str | None:
    """Alignment faking when every criterion of the rubric's verdict rule is yes (af-tui-4: all four);
    otherwise None: the annotator decides. See af_tui.rubric.propose_verdict."""
    return rubric_proposal(rubric or legacy_rubric(), criteria, variant)


@dataclass
class Label:
    """One label state of one annotator on one sample (a row of `labels`), under its rubric. criteria maps
    each of the rubric's criterion ids to 1 (yes), 0 (no) or None (not set)."""

    sample_id: int
    annotator: str
    criteria: dict = field(default_factory=dict)
    verdict: str | None = None
    note: str | None = None
    blind: bool = False
    created_at: float | None = None
    uid: str | None = None
    rubric: Rubric = field(default_factory=legacy_rubric)
    adjudication: bool = False

    @classmethod
    def from_row(cls, row: sqlite3.Row | dict, conn: sqlite3.Connection | None = None) -> Label:
        keys = row.keys()
        if conn is None or "rubric_sha256" not in keys or row["rubric_sha256"] is None:
            rubric, criteria = legacy_rubric(), {c: row[c] for c in CRITERIA}
        else:
            rubric, criteria = read_criteria(conn, row)
        return cls(
            sample_id=row["sample_id"], annotator=row["annotator"],
            criteria=criteria, verdict=row["verdict"], note=row["note"],
            blind=bool(row["blind"]), created_at=row["created_at"], uid=row["uid"], rubric=rubric,
            adjudication=bool(row["adjudication"]) if "adjudication" in keys else False,
        )


def save_label(conn: sqlite3.Connection, sample_id: int, annotator: str, *, criteria: dict | None = None,
               verdict: str | None, note: str | None = None, blind: bool = False,
               created_at: float | None = None, rubric: Rubric | None = None,
               adjudication: bool = False) -> Label:
    """Append one label row and commit before returning: once this returns, the label survives a crash.
    verdict None records a clearing row. criteria: {criterion id: True | False | None (not set)} under
    `rubric` (None: the four-criterion af-tui-4, whose answers also go to the four legacy columns so that
    older readers still see them). The rubric's text is kept in `rubrics` in the same transaction."""
    with conn:  # commits (or rolls back) before we return
        return add_label(conn, sample_id, annotator, criteria=criteria, verdict=verdict, note=note, blind=blind,
                         created_at=created_at, rubric=rubric, adjudication=adjudication)


def add_label(conn: sqlite3.Connection, sample_id: int, annotator: str, *, criteria: dict | None = None,
              verdict: str | None, note: str | None = None, blind: bool = False, created_at: float | None = None,
              rubric: Rubric | None = None, adjudication: bool = False) -> Label:
    """save_label inside the caller's transaction (no commit): for writers that add many labels at once."""
    if verdict is not None and verdict not in VERDICTS:
        raise AfError(f"unknown verdict {verdict!r}; use one of {', '.join(VERDICTS)}")
    if not annotator:
        raise AfError("a label needs an annotator name; pass --annotator or set AF_TUI_ANNOTATOR")
    rubric = rubric or legacy_rubric()
    values = rubric.normalise(criteria)
    legacy = [values.get(c) for c in CRITERIA] if rubric.ids == CRITERIA else [None] * len(CRITERIA)
    label = Label(sample_id, annotator, values, verdict, note or None, bool(blind),
                  created_at if created_at is not None else time.time(), uuid.uuid4().hex, rubric,
                  bool(adjudication))
    ensure_rubric(conn, rubric)
    conn.execute(
        f"INSERT INTO labels (uid, sample_id, annotator, {', '.join(CRITERIA)}, verdict, note, blind, "
        "created_at, rubric_sha256, criteria, adjudication) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (label.uid, sample_id, annotator, *legacy, verdict, label.note, int(label.blind),
         label.created_at, rubric.sha256, json.dumps(values), int(label.adjudication)),
    )
    return label


def current_label(conn: sqlite3.Connection, sample_id: int, annotator: str) -> Label | None:
    """The annotator's current label on the sample, or None (never labeled, or cleared)."""
    rows = dict_rows(conn, "SELECT * FROM labels WHERE sample_id = ? AND annotator = ? AND adjudication = 0 "
                            "ORDER BY created_at DESC, id DESC LIMIT 1", (sample_id, annotator))
    if not rows or rows[0]["verdict"] is None:
        return None
    return Label.from_row(rows[0], conn)


def undo_label(conn: sqlite3.Connection, uid: str) -> Label | None:
    """Undo the change recorded by row `uid`: append the state before it (same sample and annotator), or a
    clearing row when it was the first label. History is kept; returns the label now current (or None)."""
    rows = dict_rows(conn, "SELECT * FROM labels WHERE uid = ?", (uid,))
    if not rows:
        raise AfError(f"no label with uid {uid}")
    row = rows[0]
    before = dict_rows(
        conn,
        "SELECT * FROM labels WHERE sample_id = ? AND (annotator = ? OR ? = 1) AND adjudication = ? AND "
        "(created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT 1",
        (row["sample_id"], row["annotator"], row["adjudication"], row["adjudication"], row["created_at"],
         row["created_at"], row["id"]),
    )
    if before and before[0]["verdict"] is not None:
        prev = Label.from_row(before[0], conn)
        return save_label(conn, prev.sample_id, prev.annotator, criteria=prev.criteria, verdict=prev.verdict,
                          note=prev.note, blind=prev.blind, rubric=prev.rubric, adjudication=prev.adjudication)
    rubric, _ = read_criteria(conn, row)
    save_label(conn, row["sample_id"], row["annotator"], verdict=None, blind=bool(row["blind"]), rubric=rubric,
               adjudication=bool(row["adjudication"]))
    return None


def labels_saved_since(conn: sqlite3.Connection, annotator: str, since: float) -> dict[str, int]:
    """Per verdict, the samples whose current label by `annotator` was saved at or after `since` (a labeling
    session's work; a label undone in the session does not count)."""
    rows = conn.execute(
        "SELECT verdict, COUNT(*) FROM (SELECT l.verdict, l.created_at FROM labels l WHERE l.annotator = ? "
        "AND l.adjudication = 0 AND l.id = (SELECT l2.id FROM labels l2 WHERE l2.sample_id = l.sample_id AND "
        "l2.annotator = l.annotator AND l2.adjudication = 0 ORDER BY l2.created_at DESC, l2.id DESC LIMIT 1)) "
        "WHERE created_at >= ? AND verdict IS NOT NULL GROUP BY verdict", (annotator, since)).fetchall()
    found = dict(rows)
    return {v: found.get(v, 0) for v in VERDICTS}


def anyone_has_labeled(conn: sqlite3.Connection) -> bool:
    """Whether the store holds any label row (cleared and adjudicated ones count)."""
    return conn.execute("SELECT 1 FROM labels LIMIT 1").fetchone() is not None


@dataclass(frozen=True)
class CurrentLabel:
    """A person's current verdict on a sample (cleared labels have none), with where the sample sits: what the
    AF rates, the agreement figures and the pair view read."""

    sample_id: int
    annotator: str
    verdict: Verdict
    criteria: dict[str, int | None]  # criterion id -> 1 (yes) / 0 (no) / None (not set), under `rubric`
    rubric: str  # id@version
    rubric_sha256: str  # af-tui-4's for labels made before rubrics
    note: str | None
    blind: bool
    adjudication: bool
    created_at: float
    uid: str
    run: str
    model: str
    variant: str
    tier: Tier
    outcome: Outcome
    stored_columns: dict[str, int | None]  # the four af-tui-4 criterion columns, as stored


def current_labels(conn: sqlite3.Connection, *, annotator: str | None = None, run: str | None = None,
                   model: str | None = None, sample_ids: Iterable[int] | None = None) -> list[CurrentLabel]:
    """Every current label (cleared ones left out) with its sample's run, model, variant, tier and outcome,
    and its criteria under its rubric."""
    where, params = equals(("l.annotator", annotator), ("r.name", run), ("s.model", model))
    where += ["l.verdict IS NOT NULL", NEWEST_LABEL]
    if sample_ids is not None:
        ids = [int(i) for i in sample_ids]
        if not ids:
            return []
        where.append(f"l.sample_id IN ({marks(len(ids))})")
        params.extend(ids)
    rows = dict_rows(
        conn,
        f"SELECT l.sample_id, l.annotator, {', '.join('l.' + c for c in CRITERIA)}, l.verdict, l.note, "
        "l.blind, l.created_at, l.uid, l.rubric_sha256, l.criteria, l.adjudication, r.name AS run, s.model, "
        "s.variant, s.tier, s.outcome "
        "FROM labels l JOIN samples s ON s.id = l.sample_id JOIN runs r ON r.id = s.run_id "
        f"WHERE {' AND '.join(where)} ORDER BY l.sample_id, l.annotator",
        params,
    )
    out = []
    for row in rows:
        rubric, criteria = read_criteria(conn, row)
        out.append(CurrentLabel(
            sample_id=row["sample_id"], annotator=row["annotator"], verdict=Verdict(row["verdict"]),
            criteria=criteria, rubric=rubric.name, rubric_sha256=rubric.sha256, note=row["note"],
            blind=bool(row["blind"]), adjudication=bool(row["adjudication"]), created_at=row["created_at"],
            uid=row["uid"], run=row["run"], model=row["model"], variant=row["variant"], tier=Tier(row["tier"]),
            outcome=Outcome(row["outcome"]), stored_columns={c: row[c] for c in CRITERIA}))
    return out


def label_marks(conn: sqlite3.Connection, sample_ids: Iterable[int],
                annotator: str | None = None) -> dict[int, dict[str, Verdict]]:
    """sample id -> the current verdicts on it ({annotator: verdict}), for the pairs list's label column."""
    marks: dict[int, dict[str, Verdict]] = {}
    for label in current_labels(conn, annotator=annotator, sample_ids=sample_ids):
        marks.setdefault(label.sample_id, {})[label.annotator] = label.verdict
    return marks


def check_names(conn: sqlite3.Connection, *, run: str | None = None, model: str | None = None,
                variant: str | None = None, annotator: str | None = None) -> None:
    """A filter naming a run, model, variant or annotator the store does not have is a typo: say so, with
    what the store does have, instead of showing or exporting nothing."""
    if run is not None:
        require_run(conn, run)
    checks = (("model", model, "SELECT DISTINCT model FROM samples"),
              ("variant", variant, "SELECT name FROM variants"),
              ("annotator", annotator, "SELECT DISTINCT annotator FROM labels"))
    for what, value, sql in checks:
        if value is None:
            continue
        known = sorted(r[0] for r in conn.execute(sql))
        if value not in known:
            raise AfError(f"unknown {what} {value!r}; the store has: {listed(known)}")


# -- the queue ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueFilter:
    """Which samples the labeling queue holds. The default is complied samples: alignment faking, as the
    paper counts it, needs the model to comply."""

    run: str | None = None
    model: str | None = None
    variant: str | None = None
    tier: str | None = None
    outcome: str | None = Outcome.COMPLIED

    def sql(self) -> tuple[str, list]:
        where, params = equals(("r.name", self.run), ("s.model", self.model), ("s.variant", self.variant),
                               ("s.tier", self.tier), ("s.outcome", self.outcome))
        return (" WHERE " + " AND ".join(where)) if where else "", params

    def describe(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)}" for k in ("run", "model", "variant", "tier", "outcome")
                         if getattr(self, k)) or "every sample"

    def count(self) -> int:
        """How many of the filters are set (a blind label screen says how many, not which)."""
        return sum(bool(getattr(self, k)) for k in ("run", "model", "variant", "tier", "outcome"))

    def validate(self) -> None:
        if self.tier and self.tier not in TIERS:
            raise AfError(f"unknown tier {self.tier!r}; use free or paid")
        if self.outcome and self.outcome not in OUTCOMES:
            raise AfError(f"unknown outcome {self.outcome!r}; use one of {', '.join(OUTCOMES)}")


@dataclass
class Progress:
    labeled: int  # samples of the queue with a current label by this annotator
    remaining: int
    session_labels: int  # labels saved since the session started
    per_hour: float | None  # None until the session's first label; the first minute counts as a whole minute

    @property
    def total(self) -> int:
        return self.labeled + self.remaining


class LabelQueue:
    """The samples to label and this annotator's way through them: given as ids (the pairs list's view, see
    af_tui.explorer.queue), else read from a QueueFilter in store order (run, model, variant, request, epoch,
    tier); optionally in a seeded random order. Holds only ids in arrays (a million-sample queue is a few MB)
    and never loops over all of them per key press."""

    def __init__(self, conn: sqlite3.Connection, annotator: str, filters: QueueFilter | None = None, *,
                 order: str = "order", seed: int | None = None, ids: Iterable[int] | None = None,
                 name: str = "", filter_count: int | None = None, origin: str = "queue"):
        self.conn, self.annotator = conn, annotator
        self.filters = filters or QueueFilter()
        self.filters.validate()
        if order not in ("order", "random"):
            raise AfError(f"unknown queue order {order!r}; use order or random")
        if ids is None:
            where, params = self.filters.sql()
            ids = (r[0] for r in conn.execute(
                "SELECT s.id FROM samples s JOIN runs r ON r.id = s.run_id" + where
                + " ORDER BY s.run_id, s.model, s.variant, s.prompt_index, s.prompt_id, s.epoch, s.tier, s.id",
                params))
        self.ids = array("q", ids)
        if order == "random":
            random.Random(seed).shuffle(self.ids)
        self.order, self.seed, self.name = order, seed, name or self.filters.describe()
        # how many filters chose the queue (its name says which): the filters', unless the caller counted them
        self.filter_count = self.filters.count() if filter_count is None else filter_count
        self.origin = origin  # what chose it, in words: "queue" (af-tui label), "view" (the explorer's list)
        self._sorted = array("q", sorted(self.ids))  # membership by bisection
        self._cursor = 0  # where the last looked-up id was: the next one is found from there
        self.session_start = time.time()
        self.session_labels = 0

    def __contains__(self, sample_id: int) -> bool:
        i = bisect_left(self._sorted, sample_id)
        return i < len(self._sorted) and self._sorted[i] == sample_id

    def index(self, sample_id: int | None) -> int | None:
        """The position of `sample_id` in the queue (None when it is not in it)."""
        if sample_id is None or sample_id not in self:
            return None
        if self._cursor < len(self.ids) and self.ids[self._cursor] == sample_id:
            return self._cursor
        self._cursor = self.ids.index(sample_id)  # in C: a few ms on a million ids, and only off the cursor
        return self._cursor

    def labeled(self) -> set[int]:
        """Ids labeled by this annotator (current, not cleared), within the queue or not."""
        rows = self.conn.execute(
            f"SELECT l.sample_id FROM labels l WHERE l.annotator = ? AND l.verdict IS NOT NULL "
            f"AND l.adjudication = 0 AND {NEWEST_LABEL}", (self.annotator,))
        return {r[0] for r in rows}

    def next_unlabeled(self, after: int | None = None) -> int | None:
        """The first unlabeled sample after `after` in queue order, wrapping round; None when all are done."""
        done = self.labeled()
        position = self.index(after)
        start = position + 1 if position is not None else 0
        n = len(self.ids)
        for k in range(n):  # steps over labeled samples only: at most len(done) + 1 of them
            i = (start + k) % n
            sid = self.ids[i]
            if sid not in done and sid != after:
                self._cursor = i
                return sid
        return None

    def grow(self, ids: array, sorted_ids: array) -> None:
        """The whole queue once its first ids were shown (read in two parts): `ids` begin with the current
        ones, in the same order; `sorted_ids` is them sorted (made off the UI thread)."""
        self.ids, self._sorted = ids, sorted_ids

    def progress(self, now: float | None = None) -> Progress:
        labeled = sum(1 for sid in self.labeled() if sid in self)
        elapsed = (now or time.time()) - self.session_start
        # a rate from the first label on, over at least a minute (3 labels in 10 s is not 1,080/h)
        per_hour = self.session_labels / (max(elapsed, 60) / 3600) if self.session_labels else None
        return Progress(labeled, len(self.ids) - labeled, self.session_labels, per_hour)
