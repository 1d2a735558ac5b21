"""Reading and rewriting stored outcomes for `af-tui rescore`: the samples a rule can re-read, one
transaction of changes, and the rule recorded in the run's config. The triggers keep pairs and counts right."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

# error (no reply) and blocked (the provider refused) are not read from a transcript: a rule never changes them
RESCORABLE = "outcome NOT IN ('error', 'blocked')"


def runs_named(conn: sqlite3.Connection, name: str | None) -> list[tuple[int, str, dict]]:
    """(id, name, config) of the run called `name`, or of every run; [] when there is no such run."""
    sql = "SELECT id, name, config FROM runs" + (" WHERE name = ?" if name else "") + " ORDER BY id"
    return [(i, n, json.loads(c) if c else {}) for i, n, c in conn.execute(sql, (name,) if name else ())]


def rescorable(conn: sqlite3.Connection, run_id: int) -> Iterator[tuple[int, str, str | None, list[dict]]]:
    """(sample id, outcome, output, transcript messages) of every sample of the run a rule can read again."""
    for sample_id, outcome, output, transcript in conn.execute(
            f"SELECT id, outcome, output, transcript FROM samples WHERE run_id = ? AND {RESCORABLE} ORDER BY id",
            (run_id,)):
        yield sample_id, outcome, output, json.loads(transcript) if transcript else []


def save_rescore(conn: sqlite3.Connection, run_id: int, config: dict,
                 changes: list[tuple[int, str, str | None]]) -> None:
    """In one transaction: each changed sample's (id, outcome, output), and the run's config."""
    with conn:
        conn.executemany("UPDATE samples SET outcome = ?, output = ? WHERE id = ?",
                         [(outcome, output, i) for i, outcome, output in changes])
        conn.execute("UPDATE runs SET config = ? WHERE id = ?", (json.dumps(config), run_id))
