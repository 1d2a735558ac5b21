"""Rubrics in the store: each rubric used by a label (or a judgement) is kept in table `rubrics` by the sha256 of
its text, and a label row's criteria are read back under its rubric. A row made before rubrics
(rubric_sha256 NULL) is under the four-criterion rubric `af-tui-4`, its answers in the four legacy columns.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping

from af_tui.domain import CRITERIA
from af_tui.rubric import LEGACY_RUBRIC, Rubric, RubricCriterion, builtin_rubrics, load_rubric, parse_rubric

_CACHE: dict[str, Rubric] = {}


def _builtins() -> dict[str, Rubric]:
    if not _CACHE:
        for name in builtin_rubrics():
            r = load_rubric(name)
            _CACHE[r.sha256] = r
    return _CACHE


def legacy_rubric() -> Rubric:
    return load_rubric(LEGACY_RUBRIC)


def ensure_rubric(conn: sqlite3.Connection, rubric: Rubric) -> None:
    """Keep the rubric's text in the store (once per hash). Runs inside the caller's transaction."""
    conn.execute("INSERT OR IGNORE INTO rubrics (sha256, id, version, text, created_at) VALUES (?, ?, ?, ?, ?)",
                 (rubric.sha256, rubric.id, rubric.version, rubric.text, time.time()))


def rubric_by_sha(conn: sqlite3.Connection, sha256: str | None, criteria_json: str | None = None) -> Rubric:
    """The rubric with this hash: built-in, else from the store's `rubrics` table; None is af-tui-4. A hash
    the store does not hold (a label merged without its rubric) gives a stand-in rubric named after the
    hash whose criteria are the label's own keys, so reading never fails."""
    if sha256 is None:
        return legacy_rubric()
    known = _builtins()
    if sha256 in known:
        return known[sha256]
    row = conn.execute("SELECT text FROM rubrics WHERE sha256 = ?", (sha256,)).fetchone()
    if row:
        rubric = parse_rubric(row[0], f"stored rubric {sha256[:12]}")
        if rubric.sha256 == sha256:
            known[sha256] = rubric
            return rubric
    ids = list(json.loads(criteria_json or "{}"))
    return Rubric("unknown", sha256[:12], "a rubric this store does not hold",
                  tuple(RubricCriterion(c, c, c, str(i % 10)) for i, c in enumerate(ids, 1)), {}, "", "", sha256)


def read_criteria(conn: sqlite3.Connection, row: Mapping) -> tuple[Rubric, dict]:
    """(rubric, {criterion id: 1 | 0 | None}) of a labels row; a pre-rubric row reads its four columns
    (0 no, 1 yes, NULL not set)."""
    sha = row["rubric_sha256"] if "rubric_sha256" in row.keys() else None
    raw = row["criteria"] if "criteria" in row.keys() else None
    if sha is None:
        return legacy_rubric(), {c: row[c] for c in CRITERIA}
    rubric = rubric_by_sha(conn, sha, raw)
    stored = json.loads(raw or "{}")
    return rubric, {c: stored.get(c) for c in rubric.ids}
