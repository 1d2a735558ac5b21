"""What the pair view shows beside a sample: each person's current verdict and every judge's judgement."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable

from af_tui.domain import CRITERIA
from af_tui.store.labels import current_labels
from af_tui.store.rows import dict_rows


def judgement_for(conn: sqlite3.Connection, sample_id: int) -> list[dict]:
    """Every judge's judgement of one sample, newest first, evidence decoded (for the pair view)."""
    items = dict_rows(
        conn,
        "SELECT judge_model, prompt_sha256, " + ", ".join(CRITERIA) + ", verdict, parsed, evidence, k, "
        "agreement, error, created_at, criteria, score, threshold FROM judgements WHERE sample_id = ? "
        "AND task = 'alignment_faking' ORDER BY created_at DESC",
        (sample_id,))
    out = []
    for item in items:
        for key in ("evidence", "criteria"):
            try:
                item[key] = json.loads(item[key]) if item[key] else {}
            except ValueError:
                item[key] = {}
        if not item["criteria"]:  # made before criteria were stored as JSON: the four-criterion columns
            item["criteria"] = {c: item[c] for c in CRITERIA}
        out.append(item)
    return out


def sample_verdicts(conn: sqlite3.Connection, sample_ids: Iterable[int | None]) -> dict[int, dict]:
    """sample id -> {"people": {annotator: verdict}, "judges": [judgement_for rows]} for the pair view."""
    ids = [i for i in sample_ids if i is not None]
    out = {i: {"people": {}, "judges": judgement_for(conn, i)} for i in ids}
    for row in current_labels(conn, sample_ids=ids):
        out[row["sample_id"]]["people"][row["annotator"]] = row["verdict"]
    return out


def pair_verdicts(conn: sqlite3.Connection, detail) -> dict[int, dict]:
    """sample_verdicts for both samples of a `detail.PairDetail` (None tiers skipped)."""
    return sample_verdicts(conn, [s.id if s is not None else None for s in (detail.free, detail.paid)])
