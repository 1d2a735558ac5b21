"""Bring labels and judgements from other copies of a store into this one. Samples are matched by identity
(run name, model, variant name and text hash, request hash, tier, epoch), never by row id; rows are matched
by their uid, so merging twice adds nothing, and nothing already here is ever changed.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from af_tui.domain import CRITERIA
from af_tui.errors import AfError
from af_tui.store.rows import marks
from af_tui.store.schema import SCHEMA_VERSION

_IDENTITY_SQL = (
    "SELECT s.id, r.name, s.model, s.variant, v.sha256, p.sha256, s.tier, s.epoch FROM samples s "
    "JOIN runs r ON r.id = s.run_id JOIN variants v ON v.name = s.variant JOIN prompts p ON p.id = s.prompt_id"
)
_LABEL_COLUMNS = ("uid", "annotator", *CRITERIA, "verdict", "note", "blind", "created_at")
_JUDGEMENT_COLUMNS = ("uid", "judge_model", "prompt_sha256", *CRITERIA, "verdict", "parsed", "evidence", "raw",
                      "k", "agreement", "error", "created_at")
# Columns of schema 5 (rubrics, scores) and 8 (vote counts), copied when the copy has them (an older copy has not).
_LABEL_COLUMNS_V5 = ("rubric_sha256", "criteria", "adjudication")
_JUDGEMENT_COLUMNS_V5 = ("task", "score", "threshold", "criteria", "detail", "rubric_sha256", "votes_parsed",
                         "votes_yes", "vote_rule")


@dataclass
class MergeResult:
    source: Path
    labels_merged: int = 0
    labels_already: int = 0
    labels_unmatched: int = 0
    judgements_merged: int = 0
    judgements_already: int = 0
    judgements_unmatched: int = 0
    unmatched_samples: set = field(default_factory=set)

    def summary(self) -> str:
        return (f"{self.source}: {self.labels_merged} labels merged, {self.labels_already} already here, "
                f"{self.labels_unmatched} unmatched; {self.judgements_merged} judgements merged, "
                f"{self.judgements_already} already here, {self.judgements_unmatched} unmatched; "
                f"{len(self.unmatched_samples)} labeled samples of the copy not in this store")


def open_source(path: str | os.PathLike, target: Path | None = None) -> sqlite3.Connection:
    """The other store, read-only: merge must not change the copy it reads."""
    path = Path(path)
    if not path.exists():
        raise AfError(f"no store at {path}; check the path of the copy to merge")
    if path.is_dir():
        raise AfError(f"{path} is a directory, not a store; give the copy's .sqlite file")
    if target is not None and path.resolve() == Path(target).resolve():
        raise AfError(f"{path} is this store itself; give another copy to merge")
    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise AfError(f"{path} is not a SQLite database; give an af-tui store to merge")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise AfError(f"{path}: not a readable SQLite database ({exc})") from None
    if version > SCHEMA_VERSION:
        conn.close()
        raise AfError(f"{path} was written by a newer af-tui (schema {version}); upgrade af-tui to merge it")
    if not {"samples", "labels", "runs", "variants", "prompts"} <= tables:
        conn.close()
        raise AfError(f"{path} is a SQLite database but not an af-tui store; give an af-tui store to merge")
    return conn


def merge_store(conn: sqlite3.Connection, source: str | os.PathLike, *, target_path: Path | None = None
                ) -> MergeResult:
    """Merge one copy into `conn` in one transaction (all of it or nothing)."""
    src = open_source(source, target_path)
    result = MergeResult(Path(source))
    try:
        # identity -> sample id in this store; variants match by name and text hash (a same-named variant
        # with another text was stored here as name@hash8)
        here: dict[tuple, int] = {}
        for sid, run, model, variant, vsha, psha, tier, epoch in conn.execute(_IDENTITY_SQL):
            base = variant[: -9] if len(variant) > 9 and variant[-9] == "@" and variant[-8:] == vsha[:8] else variant
            here[(run, model, base, vsha, psha, tier, epoch)] = sid
        there: dict[int, int | None] = {}
        for sid, run, model, variant, vsha, psha, tier, epoch in src.execute(_IDENTITY_SQL):
            base = variant[: -9] if len(variant) > 9 and variant[-9] == "@" and variant[-8:] == vsha[:8] else variant
            there[sid] = here.get((run, model, base, vsha, psha, tier, epoch))
        tables = {r[0] for r in src.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        with conn:
            if "rubrics" in tables:  # the rubrics the copy's labels and judgements name come along
                conn.executemany("INSERT OR IGNORE INTO rubrics (sha256, id, version, text, created_at) "
                                 "VALUES (?, ?, ?, ?, ?)",
                                 src.execute("SELECT sha256, id, version, text, created_at FROM rubrics"))
            _copy(conn, src, "labels", _with(src, "labels", _LABEL_COLUMNS, _LABEL_COLUMNS_V5), there, result,
                  "labels")
            if "judgements" in tables:
                _copy(conn, src, "judgements", _with(src, "judgements", _JUDGEMENT_COLUMNS, _JUDGEMENT_COLUMNS_V5),
                      there, result, "judgements")
    finally:
        src.close()
    return result


def _with(src: sqlite3.Connection, table: str, columns: tuple, newer: tuple) -> tuple:
    have = {name for _, name, *_ in src.execute(f"PRAGMA table_info({table})")}
    return (*columns, *(c for c in newer if c in have))


def _copy(conn, src, table, columns, there, result: MergeResult, counter: str) -> None:
    cols = ", ".join(columns)
    insert = f"INSERT INTO {table} (sample_id, {cols}) VALUES (?, {marks(len(columns))}) "
    if table == "judgements":
        # A copy's answer replaces this store's failed call for the same judge and prompt (as a re-run of
        # the judge would); an answer already here is never overwritten.
        insert += ("ON CONFLICT (uid) DO NOTHING ON CONFLICT (sample_id, judge_model, prompt_sha256) DO UPDATE SET "
                   + ", ".join(f"{c} = excluded.{c}" for c in columns if c not in ("judge_model", "prompt_sha256"))
                   + " WHERE judgements.error IS NOT NULL AND excluded.error IS NULL")
    else:
        insert += "ON CONFLICT DO NOTHING"
    for sample_id, *values in src.execute(f"SELECT sample_id, {cols} FROM {table} ORDER BY id"):
        target_id = there.get(sample_id)
        if target_id is None:
            setattr(result, f"{counter}_unmatched", getattr(result, f"{counter}_unmatched") + 1)
            result.unmatched_samples.add(sample_id)
            continue
        added = conn.execute(insert, (target_id, *values)).rowcount
        name = f"{counter}_merged" if added else f"{counter}_already"
        setattr(result, name, getattr(result, name) + 1)
