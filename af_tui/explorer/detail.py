"""One pair's texts for the pair view: the request, and per tier the output, the scratchpads and the
provider's reasoning per assistant turn, the transcript and the sample's cost.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

from af_tui.domain import Outcome, Tier
from af_tui.experiment.rules import NEXT_TURN, NOTEBOOK_READING, SCRATCHPAD_SEPARATOR, Reading, scratchpads
from af_tui.experiment.setting import reading_of
from af_tui.store.rows import dict_rows


@dataclass
class Turn:
    index: int  # 1-based assistant turn
    after_next: bool  # this turn answered a <NEXT/> user turn
    scratchpads: list[str]
    reasoning: str | None = None  # the provider's reasoning channel for this turn (apart from the scratchpad)


@dataclass
class SampleDetail:
    id: int
    tier: Tier
    outcome: Outcome
    output: str | None
    turns: list[Turn]
    transcript: list[dict]
    input_tokens: int | None
    output_tokens: int | None
    latency_s: float | None
    attempts: int | None
    error: str | None
    reasoning: str | None = None  # samples.reasoning: every turn's provider reasoning, joined
    prefill: str = ""  # the text the run prefilled each assistant turn with (it starts each reply)
    rule: str | None = None  # the outcome rule the run was read by (None: recorded before rules were named)


@dataclass
class PairDetail:
    id: int
    run: str
    model: str
    variant: str
    prompt_index: int | None
    epoch: int
    request: str
    free: SampleDetail | None
    paid: SampleDetail | None
    extra: dict = field(default_factory=dict)
    system_prompt: str | None = None  # the variant's system prompt: the first message every sample was sent


def _turns(transcript: list[dict], scratchpad: str | None, reading: Reading = NOTEBOOK_READING) -> list[Turn]:
    """Scratchpads per assistant turn, from the transcript (in the run's setting's tags); the joined column when
    there is none."""
    turns: list[Turn] = []
    previous_user = None
    for message in transcript:
        content = message.get("content")
        if not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        if message.get("role") == "assistant":
            reasoning = message.get("reasoning")
            turns.append(Turn(len(turns) + 1, (previous_user or "").strip() == NEXT_TURN,
                              scratchpads([reading.as_notebook(content)]),
                              reasoning if isinstance(reasoning, str) and reasoning else None))
        else:
            previous_user = content
    if not turns and scratchpad:
        turns = [Turn(i + 1, i > 0, [part]) for i, part in enumerate(scratchpad.split(SCRATCHPAD_SEPARATOR))]
    return turns


def _sample(conn: sqlite3.Connection, sample_id: int | None) -> SampleDetail | None:
    if sample_id is None:
        return None
    rows = dict_rows(
        conn,
        "SELECT id, tier, outcome, output, scratchpad, transcript, input_tokens, output_tokens, latency_s,"
        " attempts, error, reasoning, model, (SELECT config FROM runs WHERE id = run_id) AS config FROM samples"
        " WHERE id = ?", (sample_id,))
    if not rows:
        return None
    row = rows[0]
    try:
        transcript = json.loads(row["transcript"]) if row["transcript"] else []
        if not isinstance(transcript, list):
            transcript = []
    except ValueError:
        transcript = [{"role": "?", "content": row["transcript"]}]
    transcript = [m if isinstance(m, dict) else {"role": "?", "content": str(m)} for m in transcript]
    prefill, rule, reading = _run_settings(row["config"], row["model"])
    return SampleDetail(
        id=row["id"], tier=Tier(row["tier"]), outcome=Outcome(row["outcome"]), output=row["output"],
        turns=_turns(transcript, row["scratchpad"], reading), transcript=transcript, input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"], latency_s=row["latency_s"], attempts=row["attempts"],
        error=row["error"], reasoning=row["reasoning"], prefill=prefill, rule=rule)


def _run_settings(config: str | None, model: str) -> tuple[str, str | None, Reading]:
    """(prefill text, outcome rule, how its replies are read: the setting's tags) of a sample's run, from its
    config."""
    try:
        c = json.loads(config) if config else {}
    except ValueError:
        return "", None, NOTEBOOK_READING
    if not isinstance(c, dict):
        return "", None, NOTEBOOK_READING
    prefill = (c.get("prefill_text") or {}).get(model)
    if prefill is None and c.get("prefill") is True:  # runs before --prefill took a text
        prefill = "<"
    rule = c.get("rule")
    return (prefill if isinstance(prefill, str) else ""), (rule if isinstance(rule, str) else None), reading_of(c)


def pair_detail(conn: sqlite3.Connection, pair_id: int) -> PairDetail | None:
    rows = dict_rows(
        conn,
        "SELECT p.id, r.name AS run, p.model, p.variant, p.prompt_index, p.epoch, pr.text AS request,"
        " p.free_sample_id, p.paid_sample_id, v.system_prompt FROM pairs p JOIN runs r ON r.id = p.run_id"
        " JOIN prompts pr ON pr.id = p.prompt_id LEFT JOIN variants v ON v.name = p.variant WHERE p.id = ?",
        (pair_id,))
    if not rows:
        return None
    row = rows[0]
    return PairDetail(id=row["id"], run=row["run"], model=row["model"], variant=row["variant"],
                      prompt_index=row["prompt_index"], epoch=row["epoch"], request=row["request"],
                      free=_sample(conn, row["free_sample_id"]), paid=_sample(conn, row["paid_sample_id"]),
                      system_prompt=row["system_prompt"])
