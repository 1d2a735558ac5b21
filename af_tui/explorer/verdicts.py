"""What the pair view shows beside a sample: each person's current verdict and every judge's judgement."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass

from af_tui.domain import CRITERIA, VERDICTS, JudgeTask, Verdict
from af_tui.store.labels import current_labels
from af_tui.store.rows import dict_rows


def _verdict(value: str | None) -> Verdict | str | None:
    """A stored verdict as the enum; a judge row holds whatever its reply said, so an unknown word stays."""
    return Verdict(value) if value in VERDICTS else value


@dataclass(frozen=True)
class JudgeReading:
    """One judge's judgement of a sample, as the pair view shows it."""

    judge_model: str
    prompt_sha256: str
    verdict: Verdict | str | None  # None: the reply was not parsed
    criteria: dict[str, int | None]  # criterion id -> 1 / 0 / None, under the reply's names
    evidence: dict[str, str]  # criterion id -> the quote the judge gave
    k: int | None  # answers asked
    agreement: float | None  # share of the K answers giving the verdict
    error: str | None  # why the call failed (then nothing else is set)
    created_at: float
    score: float | None = None
    threshold: float | None = None


@dataclass(frozen=True)
class SampleVerdicts:
    """Everything said about one sample: each person's current verdict and every judge's judgement."""

    people: dict[str, Verdict]  # annotator -> current verdict
    judges: list[JudgeReading]  # newest first


def _json_object(text: str | None) -> dict:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def judgement_for(conn: sqlite3.Connection, sample_id: int) -> list[JudgeReading]:
    """Every judge's judgement of one sample, newest first, evidence decoded (for the pair view)."""
    rows = dict_rows(
        conn,
        "SELECT judge_model, prompt_sha256, " + ", ".join(CRITERIA) + ", verdict, evidence, k, "
        "agreement, error, created_at, criteria, score, threshold FROM judgements WHERE sample_id = ? "
        f"AND task = '{JudgeTask.ALIGNMENT_FAKING}' ORDER BY created_at DESC",
        (sample_id,))
    # Made before criteria were stored as JSON: the four-criterion columns.
    return [JudgeReading(
        judge_model=row["judge_model"], prompt_sha256=row["prompt_sha256"], verdict=_verdict(row["verdict"]),
        criteria=_json_object(row["criteria"]) or {c: row[c] for c in CRITERIA},
        evidence=_json_object(row["evidence"]), k=row["k"], agreement=row["agreement"], error=row["error"],
        created_at=row["created_at"], score=row["score"], threshold=row["threshold"]) for row in rows]


def sample_verdicts(conn: sqlite3.Connection, sample_ids: Iterable[int | None]) -> dict[int, SampleVerdicts]:
    """sample id -> its people's verdicts and judges' judgements, for the pair view."""
    ids = [i for i in sample_ids if i is not None]
    out = {i: SampleVerdicts({}, judgement_for(conn, i)) for i in ids}
    for label in current_labels(conn, sample_ids=ids):
        out[label.sample_id].people[label.annotator] = label.verdict
    return out


def pair_verdicts(conn: sqlite3.Connection, detail) -> dict[int, SampleVerdicts]:
    """sample_verdicts for both samples of a `detail.PairDetail` (None tiers skipped)."""
    return sample_verdicts(conn, [s.id if s is not None else None for s in (detail.free, detail.paid)])
