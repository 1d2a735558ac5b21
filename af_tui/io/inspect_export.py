"""Export the store as Inspect (inspect_ai) eval logs, written with inspect_ai's own log API: one `.eval` file
per run × model × variant, one Inspect sample per af-tui sample (a request in one tier and epoch), so that
Inspect View and Docent open an af-tui run and `af-tui import` reads it back with the same outcomes.

What goes where is chosen for that round trip: the tier in `metadata.is_free_tier_user` (where the importer
looks first), the outcome rule in the log's metadata (the importer re-reads the messages with it), a
provider's block as Inspect's `content_filter` stop reason, an error as the sample's error. The model's text
is written as stored: a log file is data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from af_tui import __version__
from af_tui.domain import LEGACY_RULE, JudgeTask, Outcome, Tier
from af_tui.errors import AfError
from af_tui.io.export import _FOUR, ExportFilter, _validate, resolve_judge
from af_tui.store.labels import NEWEST_LABEL
from af_tui.store.rows import equals, marks

MISSING_INSPECT = "writing Inspect logs needs inspect_ai: pip install 'af-tui[inspect]'"
# Inspect's run statuses for af-tui's (a run still running is exported as Inspect's "started").
_LOG_STATUS = {"done": "success", "failed": "error", "stopped": "cancelled", "running": "started"}
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")

Progress = Callable[[Path, int, int], None]  # (folder, samples written, samples in all), after each file


@dataclass
class InspectExportResult:
    """What an Inspect export wrote: the folder, the files and how many samples in all."""

    folder: Path
    files: list[Path] = field(default_factory=list)
    samples: int = 0


def require_inspect():
    """inspect_ai's log and model modules, or a one-line error naming the extra."""
    try:
        from inspect_ai import log as inspect_log
        from inspect_ai import model as inspect_model
        from inspect_ai import scorer as inspect_scorer
    except ImportError:
        raise AfError(MISSING_INSPECT) from None
    return inspect_log, inspect_model, inspect_scorer


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts is not None else None


def _json(text: str | None, default: Any) -> Any:
    try:
        return json.loads(text) if text else default
    except ValueError:
        return default


def file_name(run: str, model: str, variant: str) -> str:
    """`RUN_MODEL_VARIANT.eval` with anything but letters, digits, `.`, `_` and `-` as `-` (a model name holds
    `/`)."""
    return "_".join(_UNSAFE_NAME.sub("-", part).strip("-") or "x" for part in (run, model, variant)) + ".eval"


def check_folder(out: Path, db_path: Path | None) -> None:
    """The target must be a folder (made if missing), not a file and not the store's own."""
    if out.exists() and not out.is_dir():
        raise AfError(f"{out} is a file; --format inspect writes one .eval file per run, model and variant "
                      "into a folder: give a folder path")
    if not out.exists() and out.suffix.lower() in (".eval", ".json"):
        raise AfError(f"{out} looks like one log file; --format inspect writes one .eval file per run, model and "
                      "variant into a folder: give a folder path")
    if db_path is not None and out.resolve() == Path(db_path).resolve():
        raise AfError(f"{out} is the store itself; choose another folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AfError(f"cannot create folder {out}: {exc.strerror or exc}; choose another path") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise AfError(f"cannot write in {out} (permission denied); choose another folder")


def _groups(conn: sqlite3.Connection, f: ExportFilter) -> list[tuple]:
    where, params = _where(f)
    return conn.execute(
        "SELECT r.id, r.name, r.source, r.status, r.config, r.created_at, r.started_at, r.ended_at, s.model, "
        "s.variant, v.system_prompt, COUNT(*) FROM samples s JOIN runs r ON r.id = s.run_id "
        "JOIN variants v ON v.name = s.variant"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " GROUP BY r.id, s.model, s.variant ORDER BY r.id, s.model, s.variant", params).fetchall()


def _where(f: ExportFilter) -> tuple[list[str], list]:
    where, params = equals(("r.name", f.run), ("s.model", f.model), ("s.variant", f.variant),
                           ("s.tier", f.tier), ("s.outcome", f.outcome))
    if f.labeled_only:
        annotator = " AND l.annotator = ?" if f.annotator else ""
        where.append("EXISTS (SELECT 1 FROM labels l WHERE l.sample_id = s.id AND l.verdict IS NOT NULL"
                     f"{annotator} AND {NEWEST_LABEL})")
        params += [f.annotator] if f.annotator else []
    return where, params


_SAMPLE_COLUMNS = ("id", "prompt_index", "epoch", "tier", "outcome", "output", "transcript", "input_tokens",
                   "output_tokens", "cost", "latency_s", "attempts", "error", "started_at", "completed_at",
                   "cache_read_tokens", "cache_write_tokens", "reasoning", "scratchpad")


def _samples(conn: sqlite3.Connection, f: ExportFilter, run_id: int, model: str, variant: str) -> Iterator[dict]:
    where, params = _where(f)
    where += ["s.run_id = ?", "s.model = ?", "s.variant = ?"]
    params += [run_id, model, variant]
    cur = conn.execute(
        "SELECT " + ", ".join(f"s.{c}" for c in _SAMPLE_COLUMNS) + ", p.text, pr.id "
        "FROM samples s JOIN runs r ON r.id = s.run_id JOIN prompts p ON p.id = s.prompt_id "
        "LEFT JOIN pairs pr ON pr.run_id = s.run_id AND pr.model = s.model AND pr.variant = s.variant "
        "AND pr.prompt_id = s.prompt_id AND pr.epoch = s.epoch WHERE " + " AND ".join(where)
        + " ORDER BY s.prompt_index, s.prompt_id, s.epoch, s.tier, s.id", params)
    cur.arraysize = 500
    while batch := cur.fetchmany():
        for row in batch:
            yield {**dict(zip(_SAMPLE_COLUMNS, row[:-2], strict=True)), "request": row[-2], "pair_id": row[-1]}


def _labels(conn: sqlite3.Connection, ids: list[int], annotator: str | None) -> dict[int, list[dict]]:
    """Each sample's current labels (one per annotator) and its settled label, if any."""
    found: dict[int, list[dict]] = {}
    extra, params = ("AND l.annotator = ? ", [annotator]) if annotator else ("", [])
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        rows = conn.execute(
            "SELECT l.sample_id, l.annotator, l.verdict, l.note, l.blind, l.created_at, l.uid, l.adjudication, "
            "coalesce(rb.id, 'af-tui-4'), "
            "coalesce(l.criteria, json_object(" + _FOUR.format(t="l") + ")) "
            "FROM labels l LEFT JOIN rubrics rb ON rb.sha256 = l.rubric_sha256 "
            f"WHERE l.sample_id IN ({marks(len(chunk))}) {extra}AND l.verdict IS NOT NULL AND ("
            f"(l.adjudication = 0 AND {NEWEST_LABEL}) OR l.id = (SELECT a2.id FROM labels a2 WHERE "
            "a2.sample_id = l.sample_id AND a2.adjudication = 1 ORDER BY a2.created_at DESC, a2.id DESC LIMIT 1)) "
            "ORDER BY l.sample_id, l.adjudication, l.annotator", [*chunk, *params])
        for sid, annotator_, verdict, note, blind, created, uid, adjudication, rubric, criteria in rows:
            found.setdefault(sid, []).append({
                "annotator": annotator_, "verdict": verdict, "note": note, "blind": bool(blind),
                "labeled_at": _iso(created), "label_uid": uid, "adjudication": bool(adjudication),
                "rubric": rubric, "criteria": _json(criteria, {})})
    return found


def _judgements(conn: sqlite3.Connection, ids: list[int], judge: tuple[str, str] | None) -> dict[int, list[dict]]:
    """Every judgement of each sample (both tasks), or only the chosen judge's."""
    found: dict[int, list[dict]] = {}
    extra, params = ("AND j.judge_model = ? AND j.prompt_sha256 = ? ", list(judge)) if judge else ("", [])
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        rows = conn.execute(
            "SELECT j.sample_id, j.judge_model, j.prompt_sha256, j.task, j.verdict, j.score, j.threshold, j.k, "
            "j.agreement, j.created_at, coalesce(j.criteria, json_object(" + _FOUR.format(t="j") + ")), j.error "
            f"FROM judgements j WHERE j.sample_id IN ({marks(len(chunk))}) {extra}"
            "ORDER BY j.sample_id, j.created_at, j.id", [*chunk, *params])
        for sid, model, sha, task, verdict, score, threshold, k, agreement, created, criteria, error in rows:
            found.setdefault(sid, []).append({
                "judge_model": model, "prompt_sha256": sha, "task": task, "verdict": verdict, "score": score,
                "threshold": threshold, "k": k, "agreement": agreement, "created_at": _iso(created),
                "criteria": _json(criteria, {}), "error": error})
    return found


def _messages(inspect_model: Any, system_prompt: str, sample: dict, model: str) -> list:
    """The conversation as Inspect messages: the system prompt, then the stored transcript's turns (the first
    user turn, each `<NEXT/>`, each reply with its reasoning channel as ContentReasoning)."""
    transcript = _json(sample["transcript"], []) if isinstance(sample["transcript"], str) else sample["transcript"]
    if not transcript:  # a sample stored without its conversation (import-labels): the request alone
        transcript = [{"role": "user", "content": sample["request"]}]
    out = [inspect_model.ChatMessageSystem(content=system_prompt)] if system_prompt else []
    for message in transcript:
        content = message.get("content") or ""
        if message.get("role") == "assistant":
            reasoning = message.get("reasoning")
            if reasoning:
                content = [inspect_model.ContentReasoning(reasoning=reasoning), inspect_model.ContentText(text=content)]
            out.append(inspect_model.ChatMessageAssistant(content=content, model=model, source="generate"))
        elif message.get("role") == "system":
            out.append(inspect_model.ChatMessageSystem(content=content))
        else:
            out.append(inspect_model.ChatMessageUser(content=content))
    return out


def _usage(inspect_model: Any, sample: dict):
    if sample["input_tokens"] is None and sample["output_tokens"] is None:
        return None
    i, o = sample["input_tokens"] or 0, sample["output_tokens"] or 0
    return inspect_model.ModelUsage(input_tokens=i, output_tokens=o, total_tokens=i + o,
                                    input_tokens_cache_read=sample["cache_read_tokens"],
                                    input_tokens_cache_write=sample["cache_write_tokens"], total_cost=sample["cost"])


def _scores(inspect_scorer: Any, sample: dict, rule: str, labels: list[dict], judgements: list[dict]) -> dict:
    """The outcome as the `outcome` score (its answer the final output, as a scorer would give it); each
    current label as `label:ANNOTATOR`, the settled label as `adjudicated`, each judgement as
    `judge:MODEL@HASH` (`compliance-judge:…` for the compliance task)."""
    Score = inspect_scorer.Score
    scores = {"outcome": Score(value=sample["outcome"], answer=sample["output"],
                               explanation=f"read by af-tui's {rule} outcome rule", metadata={"rule": rule})}
    for label in labels:
        name = "adjudicated" if label["adjudication"] else f"label:{label['annotator']}"
        scores[name] = Score(value=label["verdict"], explanation=label["note"] or None,
                             metadata={k: v for k, v in label.items() if k not in ("verdict", "note")})
    for j in judgements:
        prefix = "judge" if j["task"] == JudgeTask.ALIGNMENT_FAKING else f"{j['task']}-judge"
        scores[f"{prefix}:{j['judge_model']}@{j['prompt_sha256'][:8]}"] = Score(
            value=j["verdict"] if j["verdict"] is not None else "unparsed", explanation=j["error"],
            metadata={k: v for k, v in j.items() if k not in ("verdict", "error")})
    return scores


def _events(modules: tuple, messages: list, output: Any, outcome: Any, model: str, sample: dict) -> list:
    """Inspect View's transcript: one model call per reply (what was sent, what came back), then the score."""
    from inspect_ai import event as inspect_event

    _, inspect_model, _ = modules
    when = datetime.fromtimestamp(sample["completed_at"] or sample["started_at"] or 0, UTC)
    config = inspect_model.GenerateConfig()
    events = []
    for i, message in enumerate(messages):
        if message.role == "assistant":
            reply = inspect_model.ModelOutput(model=model, completion=message.text, choices=[
                inspect_model.ChatCompletionChoice(message=message, stop_reason="stop")])
            events.append(inspect_event.ModelEvent(model=model, input=messages[:i], tools=[], tool_choice="none",
                                                   config=config, output=reply, timestamp=when))
    if sample["outcome"] == Outcome.BLOCKED:
        events.append(inspect_event.ModelEvent(model=model, input=messages, tools=[], tool_choice="none",
                                               config=config, output=output, timestamp=when))
    events.append(inspect_event.ScoreEvent(score=outcome, scorer="outcome", timestamp=when))
    return events


def _sample(modules: tuple, sample: dict, *, run: str, model: str, variant: str, system_prompt: str, rule: str,
            labels: list[dict], judgements: list[dict], sample_id: str):
    inspect_log, inspect_model, inspect_scorer = modules
    messages = _messages(inspect_model, system_prompt, sample, model)
    first_user = next((m.text for m in messages if m.role == "user"), sample["request"])
    replies = [m for m in messages if m.role == "assistant"]
    blocked = sample["outcome"] == Outcome.BLOCKED
    output = inspect_model.ModelOutput(
        model=model, completion=replies[-1].text if replies else "",
        choices=[inspect_model.ChatCompletionChoice(message=replies[-1], stop_reason="stop")] if replies else [],
        error=sample["error"] if blocked else None)
    if blocked:  # Inspect's own word for a provider's refusal to answer
        output.choices = [inspect_model.ChatCompletionChoice(
            message=inspect_model.ChatMessageAssistant(content="", model=model), stop_reason="content_filter")]
    usage = _usage(inspect_model, sample)
    scores = _scores(inspect_scorer, sample, rule, labels, judgements)
    error = None
    if sample["outcome"] == Outcome.ERROR:
        error = inspect_log.EvalError(message=sample["error"] or "error", traceback="", traceback_ansi="")
    tier = sample["tier"]
    return inspect_log.EvalSample(
        id=sample_id, epoch=sample["epoch"] + 1, input=first_user, target="", messages=messages, output=output,
        scores=scores, events=_events(modules, messages, output, scores["outcome"], model, sample),
        metadata={"is_free_tier_user": tier == Tier.FREE, "tier": tier, "af_tui": {
            "run": run, "variant": variant, "request": sample["request"], "prompt_index": sample["prompt_index"],
            "pair_id": sample["pair_id"], "sample_id": sample["id"], "outcome": sample["outcome"], "rule": rule,
            "scratchpad": sample["scratchpad"], "attempts": sample["attempts"], "error": sample["error"]}},
        model_usage={model: usage} if usage else {}, total_time=sample["latency_s"],
        started_at=_iso(sample["started_at"]), completed_at=_iso(sample["completed_at"]), error=error)


def _results(inspect_log: Any, outcomes: dict[str, int], total: int):
    """The outcome counts as Inspect metrics: each outcome's share of the log's samples."""
    metrics = {o: inspect_log.EvalMetric(name=o, value=round(n / total, 4) if total else 0.0)
               for o, n in sorted(outcomes.items())}
    return inspect_log.EvalResults(total_samples=total, completed_samples=total - outcomes.get(Outcome.ERROR, 0),
                                   scores=[inspect_log.EvalScore(name="outcome", scorer="af-tui", metrics=metrics,
                                                                 metadata={"counts": outcomes})])


def _write_group(modules: tuple, conn: sqlite3.Connection, f: ExportFilter, group: tuple, path: Path,
                 judge: tuple[str, str] | None) -> int:
    inspect_log, inspect_model, _ = modules
    run_id, run, source, status, config_text, created, started, ended, model, variant, system_prompt, total = group
    config = _json(config_text, {})
    rule = config.get("rule") or LEGACY_RULE  # runs stored before rules were named used last-scratchpad
    rows = list(_samples(conn, f, run_id, model, variant))
    ids = [r["id"] for r in rows]
    labels, judgements = _labels(conn, ids, f.annotator), _judgements(conn, ids, judge)
    samples, seen, outcomes = [], set(), {}
    usage = {"input": 0, "output": 0, "read": None, "write": None, "cost": None}
    for row in rows:
        sid = f"{row['prompt_index'] if row['prompt_index'] is not None else 's' + str(row['id'])}-{row['tier']}"
        if (sid, row["epoch"]) in seen:  # two requests at one index (pooled imports): keep both
            sid = f"{sid}-{row['id']}"
        seen.add((sid, row["epoch"]))
        samples.append(_sample(modules, row, run=run, model=model, variant=variant, system_prompt=system_prompt,
                               rule=rule, labels=labels.get(row["id"], []), judgements=judgements.get(row["id"], []),
                               sample_id=sid))
        outcomes[row["outcome"]] = outcomes.get(row["outcome"], 0) + 1
        usage["input"] += row["input_tokens"] or 0
        usage["output"] += row["output_tokens"] or 0
        for key, column in (("read", "cache_read_tokens"), ("write", "cache_write_tokens"), ("cost", "cost")):
            if row[column] is not None:
                usage[key] = (usage[key] or 0) + row[column]
    # the same for every export of this run × model × variant (a re-import adds nothing), another for a run of
    # the same name in another store (its creation time differs): the importer pools logs by task id and model
    task_id = hashlib.sha256(f"{run}\0{created!r}\0{model}\0{variant}".encode()).hexdigest()[:22]
    eval_id = hashlib.sha256(f"{task_id}\0{len(rows)}\0{ended}".encode()).hexdigest()[:22]
    dataset = config.get("dataset") if isinstance(config.get("dataset"), dict) else {}
    epochs = max((r["epoch"] for r in rows), default=0) + 1
    generate = {k: v for k, v in (("temperature", config.get("temperature")),
                                  ("max_tokens", (config.get("max_tokens") or {}).get(model)
                                   if isinstance(config.get("max_tokens"), dict) else config.get("max_tokens")))
                if v is not None}
    log = inspect_log.EvalLog(
        status=_LOG_STATUS.get(status, "started"),
        eval=inspect_log.EvalSpec(
            created=_iso(created), task=run, task_id=task_id, eval_id=eval_id, run_id=task_id,
            task_display_name=f"{run} · {variant}", model=model,
            model_generate_config=inspect_model.GenerateConfig(**generate),
            dataset=inspect_log.EvalDataset(name=dataset.get("name"), samples=len(rows),
                                            sample_ids=list(dict.fromkeys(s.id for s in samples))),
            config=inspect_log.EvalConfig(epochs=epochs), packages={"af-tui": __version__},
            metadata={"af_tui": {"run": run, "source": source, "status": status, "variant": variant,
                                 "rule": rule, "config": config}}),
        plan=inspect_log.EvalPlan(name="af-tui", steps=[inspect_log.EvalPlanStep(solver="af-tui conversation loop")]),
        results=_results(inspect_log, outcomes, len(rows)),
        stats=inspect_log.EvalStats(
            started_at=_iso(started or created) or "", completed_at=_iso(ended) or "",
            model_usage={model: inspect_model.ModelUsage(
                input_tokens=usage["input"], output_tokens=usage["output"],
                total_tokens=usage["input"] + usage["output"], input_tokens_cache_read=usage["read"],
                input_tokens_cache_write=usage["write"], total_cost=usage["cost"])}),
        samples=samples)
    # written beside the target under a temporary name, then renamed: the file appears whole or not at all
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part.eval")
    os.close(fd)
    try:
        inspect_log.write_eval_log(log, tmp, format="eval")
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return len(rows)


def export_inspect(conn: sqlite3.Connection, out: str | os.PathLike, f: ExportFilter | None = None, *,
                   db_path: str | os.PathLike | None = None, progress: Progress | None = None
                   ) -> InspectExportResult:
    """Write one `.eval` log per run × model × variant of the samples that match `f` into the folder `out`
    (made if missing; a file of the same name is replaced, as the other exports replace theirs). A filter
    that matches no sample is an error."""
    f = f or ExportFilter()
    if f.per_label:
        raise AfError("--per-label is a table of label changes; --format inspect writes samples "
                      "(each with its current labels)")
    modules = require_inspect()
    out = Path(out)
    _validate(conn, f)
    judge = resolve_judge(conn, f.judge) if f.judge else None
    groups = _groups(conn, f)
    if not groups:
        raise AfError(f"no samples match {f.describe()}; nothing written")
    check_folder(out, Path(db_path) if db_path else None)
    result = InspectExportResult(out)
    total = sum(group[-1] for group in groups)
    if progress:
        progress(out, 0, total)
    names: set[str] = set()
    for group in groups:
        name = file_name(group[1], group[8], group[9])
        if name in names:  # two runs whose names differ only in characters a file name cannot hold
            name = name.removesuffix(".eval") + f"-{group[0]}.eval"
        names.add(name)
        path = out / name
        try:
            result.samples += _write_group(modules, conn, f, group, path, judge)
        except OSError as exc:
            raise AfError(f"cannot write {path}: {exc.strerror or exc}") from None
        result.files.append(path)
        if progress:
            progress(out, result.samples, total)
    return result
