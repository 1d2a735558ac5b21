"""What the labeling screen reads: one sample with its request and the same request's answer on the other
tier, and the sample a saved label belongs to."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

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


@dataclass
class LabelSample:
    """What the screen shows of one sample and of the same request on the other tier."""

    id: int
    run: str
    model: str
    variant: str
    prompt_index: int | None
    epoch: int
    tier: str
    outcome: str
    scratchpad: str | None
    output: str | None
    request: str
    other: dict | None  # the other tier's sample: tier, outcome, scratchpad, output


def load_sample(conn: sqlite3.Connection, sample_id: int) -> LabelSample | None:
    found = dict_rows(conn, _SAMPLE_SQL, (sample_id,))
    if not found:
        return None
    d = found[0]
    others = dict_rows(conn, _OTHER_TIER_SQL, (d["run_id"], d["model"], d["variant"], d["prompt_id"], d["epoch"],
                                                d["tier"]))
    return LabelSample(
        d["id"], d["run"], d["model"], d["variant"], d["prompt_index"], d["epoch"], d["tier"], d["outcome"],
        d["scratchpad"], d["output"], d["request"],
        others[0] if others else None)


def labeled_sample_id(conn: sqlite3.Connection, uid: str) -> int:
    """The sample that the label `uid` is on."""
    return conn.execute("SELECT sample_id FROM labels WHERE uid = ?", (uid,)).fetchone()[0]
