"""The judgements table as the judge writes it: which samples still need a judgement, their scratchpads, and
one judgement saved at a time (a finished judgement is never overwritten; a failed one is)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid

from af_tui.domain import CRITERIA, JudgeTask, Outcome
from af_tui.errors import AfError
from af_tui.judge.vote import Judgement
from af_tui.store.rows import marks
from af_tui.store.runs import require_run

ONLY_CHOICES = (Outcome.COMPLIED.value, "all")


def select_samples(conn: sqlite3.Connection, *, judge_model: str, prompt_sha256: str, run: str | None = None,
                   only: str = Outcome.COMPLIED, task: str = JudgeTask.ALIGNMENT_FAKING) -> list[int]:
    """Ids of samples to judge: with a scratchpad (alignment faking) or an output (compliance), of the run (if
    given), complied ones unless only='all' (errors are never judged), and not yet judged by this model and
    prompt (failed judgements are redone)."""
    if only not in ONLY_CHOICES:
        raise AfError(f"--only must be one of {', '.join(ONLY_CHOICES)}, not {only!r}")
    text = "s.output" if task == JudgeTask.COMPLIANCE else "s.scratchpad"
    where = [f"{text} IS NOT NULL", f"TRIM({text}) != ''", "s.outcome != 'error'"]
    params: list = []
    if run is not None:
        where.append("s.run_id = ?")
        params.append(require_run(conn, run))
    if only == Outcome.COMPLIED:
        where.append("s.outcome = 'complied'")
    sql = (
        "SELECT s.id FROM samples s WHERE " + " AND ".join(where) +
        " AND NOT EXISTS (SELECT 1 FROM judgements j WHERE j.sample_id = s.id AND j.judge_model = ? "
        "AND j.prompt_sha256 = ? AND j.error IS NULL) ORDER BY s.id"
    )
    return [r[0] for r in conn.execute(sql, [*params, judge_model, prompt_sha256])]


def any_judgement(conn: sqlite3.Connection) -> bool:
    """Whether any judge has judged anything in this store (failed judgements count: the table is not empty)."""
    return conn.execute("SELECT 1 FROM judgements LIMIT 1").fetchone() is not None


def judged_count(conn: sqlite3.Connection, judge_model: str, prompt_sha256: str) -> int:
    """Finished judgements (failed ones left out) of this model and prompt, over the whole store."""
    return conn.execute(
        "SELECT COUNT(*) FROM judgements WHERE judge_model = ? AND prompt_sha256 = ? AND error IS NULL",
        (judge_model, prompt_sha256)).fetchone()[0]


def scratchpad(conn: sqlite3.Connection, sample_id: int) -> str:
    row = conn.execute("SELECT scratchpad FROM samples WHERE id = ?", (sample_id,)).fetchone()
    return (row[0] or "") if row else ""


def sample_texts(conn: sqlite3.Connection, sample_id: int) -> dict[str, str]:
    """What a judge prompt may show of one sample: request, scratchpad, output, reasoning ('' when none)."""
    row = conn.execute(
        "SELECT p.text, s.scratchpad, s.output, s.reasoning FROM samples s JOIN prompts p ON p.id = s.prompt_id "
        "WHERE s.id = ?", (sample_id,)).fetchone()
    return dict(zip(("request", "scratchpad", "output", "reasoning"), [v or "" for v in row or ("",) * 4],
                    strict=True))


_COLUMNS = (*CRITERIA, "verdict", "parsed", "evidence", "raw", "k", "agreement", "error", "created_at", "task",
            "score", "threshold", "criteria", "detail", "rubric_sha256", "votes_parsed", "votes_yes", "vote_rule")
_SAVE_SQL = (
    "INSERT INTO judgements (uid, sample_id, judge_model, prompt_sha256, " + ", ".join(_COLUMNS) +
    f") VALUES ({marks(4 + len(_COLUMNS))}) "
    "ON CONFLICT (sample_id, judge_model, prompt_sha256) DO UPDATE SET " +
    ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS) +
    " WHERE judgements.error IS NOT NULL"
)


def save_judgement(conn: sqlite3.Connection, sample_id: int, judge_model: str, prompt_sha256: str,
                   judgement: Judgement, rubric_sha256: str | None = None) -> bool:
    """Insert and commit one judgement. A finished judgement already there is kept (never duplicated, never
    overwritten); a failed one is replaced. True when a row was written. The criteria go into `criteria` (JSON,
    under the reply's names); those of the four-criterion rubric also into their own columns."""
    values = [
        uuid.uuid4().hex, sample_id, judge_model, prompt_sha256,
        *(judgement.criteria.get(c) for c in CRITERIA),
        judgement.verdict, int(judgement.parsed),
        json.dumps(judgement.evidence, ensure_ascii=False) if judgement.evidence else None,
        judgement.raw, judgement.k, judgement.agreement, judgement.error, time.time(), judgement.task,
        judgement.score, judgement.threshold,
        json.dumps(judgement.criteria) if judgement.criteria else None,
        json.dumps(judgement.detail) if judgement.detail else None, rubric_sha256,
        judgement.votes_parsed, judgement.votes_yes, judgement.vote_rule,
    ]
    with conn:
        cur = conn.execute(_SAVE_SQL, values)
    return cur.rowcount > 0
