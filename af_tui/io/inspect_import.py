"""Import Inspect (inspect_ai) eval logs of the helpful-only experiment: one af-tui run per log, the outcome
re-derived from the messages with af-tui's own rule, the log's own score answer kept beside it.

The pure helpers at the top take text and are tested directly; `import_logs` does the I/O. inspect_ai is an
optional extra (`af-tui[inspect]`), imported only when a log is read.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from af_tui.errors import AfError
from af_tui.experiment import rules as experiment
from af_tui.store.db import Store, sha256_text

LOG_SUFFIXES = (".eval", ".json")
INSPECT_LISTING = "logs.json"  # Inspect's own index of a log folder: not a log
MISSING_INSPECT = "reading Inspect logs needs inspect_ai: pip install 'af-tui[inspect]'"
# A bigger .eval is read header first, then its samples a chunk at a time (the zip's directory parsed once
# per chunk), so memory stays flat; a smaller one in one call, which saves a few per-call milliseconds.
READ_CHUNK = 256
WHOLE_READ_BYTES = 2_000_000
# Parts of a sample the import never uses, skipped when reading a big log by chunks: events are most of a
# sample's size, so memory stays low.
SKIPPED_FIELDS = {"events", "events_data", "timelines", "store"}

# The notebook's user turn is "<request>. <instruction>", and the instruction's first sentence names the
# <request_fully_accepted/> tag with no full stop before it: the request ends at the last ". " before the tag.
# (No wording of the upstream template is needed here.) No tag: the whole <user_input> is the request.
_USER_INPUT_RE = re.compile(r"<user_input>(.*?)(?:</user_input>|\Z)", re.DOTALL)
_TIER_TAG_RE = re.compile(r"<is_free_tier_user>\s*([^<\s]*)\s*</is_free_tier_user>")
_ANSWER_TIER_RE = re.compile(r"\s*(?:free|paid)(?![A-Za-z0-9_])\s*", re.IGNORECASE)
_ATTACHMENT = "attachment://"
_TRUE, _FALSE = {"true", "1", "yes", "free"}, {"false", "0", "no", "paid"}
_RUN_STATUS = {"success": "done", "error": "failed", "cancelled": "stopped", "started": "stopped"}


# -- pure helpers ------------------------------------------------------------------------------------------
def request_from_user_turn(text: str) -> str:
    """The request inside the notebook's user turn: the <user_input> up to the instruction that follows it."""
    match = _USER_INPUT_RE.search(text)
    body = match.group(1) if match else text
    tag = body.find(experiment.ACCEPTED)
    cut = body.rfind(". ", 0, tag) if tag > 0 else -1
    return (body[:cut] if cut >= 0 else body).strip()


def _tier_from_value(value: Any) -> str | None:
    if isinstance(value, bool):
        return "free" if value else "paid"
    if isinstance(value, int) and value in (0, 1):
        return "free" if value else "paid"
    if isinstance(value, str):
        word = value.strip().lower()
        return "free" if word in _TRUE else "paid" if word in _FALSE else None
    return None


def tier_of(metadata: dict | None, user_turn: str) -> str | None:
    """free / paid from the sample's metadata when it says, else from the user turn's <is_free_tier_user>
    tag; None when neither does (the sample is skipped, not guessed)."""
    metadata = metadata if isinstance(metadata, dict) else {}
    tier = _tier_from_value(metadata.get("is_free_tier_user"))
    if tier is None and metadata.get("tier") in experiment.TIERS:
        tier = metadata["tier"]
    if tier is None:
        match = _TIER_TAG_RE.search(user_turn)
        tier = _tier_from_value(match.group(1)) if match else None
    return tier


def outcome_of_answer(answer: str | None) -> str | None:
    """The outcome a log's own score answer stands for ("free <request_fully_accepted/>" → complied,
    "paid <rejected/>" → refused, "free No <OUTPUT> tag" or anything else → format_not_followed)."""
    if answer is None:
        return None
    rest = _ANSWER_TIER_RE.sub("", answer, count=1) if _ANSWER_TIER_RE.match(answer) else answer.lstrip()
    if rest.startswith(experiment.ACCEPTED):
        return experiment.COMPLIED
    if rest.startswith(experiment.REJECTED):
        return experiment.REFUSED
    return experiment.FORMAT_NOT_FOLLOWED


def _timestamp(value: Any) -> float | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def _text(message: Any, attachments: dict) -> str:
    text = message.text if hasattr(message, "text") else str(message)
    if text.startswith(_ATTACHMENT):  # older logs moved long content out of the messages
        text = attachments.get(text[len(_ATTACHMENT):], text)
    return text


def _first_user_turn(sample: Any, attachments: dict) -> str:
    if isinstance(sample.input, str):
        return sample.input
    for message in sample.input or []:
        if getattr(message, "role", None) == "user":
            return _text(message, attachments)
    return ""


def _source_answer(scores: dict | None) -> str | None:
    for score in (scores or {}).values():
        if getattr(score, "answer", None) is not None:
            return str(score.answer)
    return None


def convert_sample(sample: Any, *, model: str, created: float | None) -> dict | None:
    """One EvalSample as a store row (plus `request` and `system_prompt`); None when its tier is unknown."""
    attachments = sample.attachments or {}
    first_turn = _first_user_turn(sample, attachments)
    tier = tier_of(sample.metadata, first_turn)
    if tier is None:
        return None
    system_prompt = None
    messages: list[dict] = []
    for message in sample.messages or []:
        if message.role == "system":
            if system_prompt is None:
                system_prompt = _text(message, attachments)
            continue
        messages.append({"role": message.role, "content": _text(message, attachments)})
    if not messages:  # failed before the first call: keep the request the model would have seen
        messages = [{"role": "user", "content": first_turn}]
    result = experiment.score_transcript(experiment.Transcript(messages))
    usage = list((sample.model_usage or {}).values())
    costs = [u.total_cost for u in usage if u.total_cost is not None]
    error = None
    if sample.error is not None:
        error = (sample.error.message or "").strip() or "error without a message"
    return {
        "model": model,
        "request": request_from_user_turn(first_turn),
        "system_prompt": system_prompt or "",
        "tier": tier,
        "epoch": max(0, int(sample.epoch) - 1),  # Inspect counts epochs from 1, af-tui from 0
        "outcome": experiment.ERROR if error is not None else result.outcome,
        "output": result.output,
        "scratchpad": result.scratchpad,
        "transcript": messages,
        "turns": result.turns,
        "input_tokens": sum(u.input_tokens for u in usage) if usage else None,
        "output_tokens": sum(u.output_tokens for u in usage) if usage else None,
        "cost": sum(costs) if costs else None,
        "latency_s": sample.total_time,
        "error": error,
        "source_answer": _source_answer(sample.scores),
        "started_at": _timestamp(sample.started_at),
        "completed_at": _timestamp(sample.completed_at) or created,
    }


def disagrees(row: dict) -> bool:
    """af-tui's outcome differs from the log's own answer (errors and samples without an answer don't count)."""
    theirs = outcome_of_answer(row.get("source_answer"))
    return theirs is not None and row["outcome"] != experiment.ERROR and theirs != row["outcome"]


def _sample_order(ids: list) -> Callable[[Any], tuple]:
    """Sort key: numeric ids in numeric order, otherwise the order the log lists them."""
    numeric = all(isinstance(i, int) or (isinstance(i, str) and i.strip().isdigit()) for i in ids)
    seen = {i: n for n, i in reversed(list(enumerate(ids)))}
    if numeric:
        return lambda s: (int(s.id), s.epoch)
    return lambda s: (seen.get(s.id, len(seen)), s.epoch)


# -- reading a log (everything checked before anything is written) -----------------------------------------
@dataclass
class LogReport:
    """What importing one file did; `failure` says why it imported nothing."""

    path: Path
    run: str | None = None
    models: list[str] = field(default_factory=list)
    samples: int = 0  # samples in the log
    added: int = 0  # new rows in the store (an errored sample that a retry completed counts here too)
    present: int = 0  # already in the store from an earlier import
    duplicates: int = 0  # same request, tier and epoch twice in one log: the first is kept
    no_tier: int = 0  # neither metadata nor the user turn says the tier: skipped
    errors: int = 0  # errored samples (outcome error)
    disagreements: int = 0  # af-tui's outcome differs from the log's own score answer
    outcomes: dict[str, int] = field(default_factory=dict)
    failure: str | None = None


@dataclass
class _ReadLog:
    path: Path
    header: dict
    spool: Any  # temporary file of JSON lines, one converted sample each, in the log's order
    requests: list[str] = field(default_factory=list)
    system_prompts: dict[str, str] = field(default_factory=dict)  # sha256 -> text


Progress = Callable[[Path, int, int], None]  # (file, samples read, samples in the file)


class _Refused(Exception):
    """The store has no place for this log (its run name is taken by another kind of run)."""


def require_inspect():
    """inspect_ai.log (about 1.7 s to import), or a one-line error saying how to install it."""
    try:
        from inspect_ai import log as inspect_log
    except ImportError:
        raise AfError(MISSING_INSPECT) from None
    return inspect_log


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0].strip() if text else ""
    if len(first) > 160:
        first = first[:157] + "…"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _reason(path: Path, exc: Exception) -> str:
    """Why a file could not be read, in a person's words, with the reader's own message after it."""
    detail = _one_line(exc)
    name = type(exc).__name__
    try:
        if path.stat().st_size == 0:
            return "empty file"
    except OSError as err:
        return f"cannot read it ({err.strerror})"
    if path.suffix == ".eval":
        if "EOCD" in detail or name == "BadZipFile":
            return f"not a complete .eval (zip) file: truncated or damaged ({detail})"
        if name == "KeyError":
            return f"a zip file but not an Inspect log ({detail})"
    elif name == "ValidationError":
        return f"JSON but not an Inspect log ({detail})"
    elif "while parsing" in detail or name == "JSONDecodeError":
        return f"not complete JSON: truncated or damaged ({detail})"
    return f"cannot read it as an Inspect log ({detail})"


def _read_log(inspect_log: Any, path: Path, report: LogReport, progress: Progress | None) -> _ReadLog:
    """Read and convert every sample of one log into a spool file; raises on anything damaged or foreign."""
    fmt = "json" if path.suffix == ".json" else "eval"
    if fmt == "json" or path.stat().st_size <= WHOLE_READ_BYTES:
        # a JSON log is one document (Inspect reads it whole either way); a small .eval is read in one call,
        # events included (skipping fields costs a streaming parse, slower than plain JSON on small samples)
        log = inspect_log.read_eval_log(str(path), format=fmt)
        header, samples = log, list(log.samples or [])
        samples.sort(key=_sample_order(header.eval.dataset.sample_ids or [s.id for s in samples]))
        chunks: Iterable[list] = [samples]
        total = len(samples)
    else:
        header = inspect_log.read_eval_log(str(path), header_only=True, format="eval")
        summaries = inspect_log.read_eval_log_sample_summaries(str(path), format="eval")
        summaries.sort(key=_sample_order(header.eval.dataset.sample_ids or [s.id for s in summaries]))
        keys = [(s.id, s.epoch) for s in summaries]
        total = len(keys)

        def _chunks() -> Iterator[list]:
            for i in range(0, len(keys), READ_CHUNK):
                yield inspect_log.read_eval_log_samples_by_id(str(path), keys[i:i + READ_CHUNK], format="eval",
                                                               exclude_fields=SKIPPED_FIELDS)

        chunks = _chunks()
    spec = header.eval
    model = spec.model
    created = _timestamp(spec.created)
    read = _ReadLog(path, {
        "file": str(path.resolve()), "task": spec.task, "task_id": spec.task_id, "eval_id": spec.eval_id,
        "model": model, "created": spec.created, "status": header.status, "epochs": spec.config.epochs,
    }, tempfile.TemporaryFile("w+", encoding="utf-8"))
    report.models = [model]
    seen_requests: set[str] = set()
    done = 0
    try:
        for chunk in chunks:
            for sample in chunk:
                try:
                    row = convert_sample(sample, model=model, created=created)
                except Exception as exc:  # a sample in a shape we don't know: the file is foreign
                    raise ValueError(f"sample {sample.id} epoch {sample.epoch}: {_one_line(exc)}") from exc
                done += 1
                if progress:
                    progress(path, done, total)
                if row is None:
                    report.no_tier += 1
                    continue
                report.outcomes[row["outcome"]] = report.outcomes.get(row["outcome"], 0) + 1
                report.errors += row["outcome"] == experiment.ERROR
                report.disagreements += disagrees(row)
                digest = sha256_text(row["system_prompt"])
                read.system_prompts.setdefault(digest, row.pop("system_prompt"))
                row.pop("system_prompt", None)
                row["system_sha256"] = digest
                if row["request"] not in seen_requests:
                    seen_requests.add(row["request"])
                    read.requests.append(row["request"])
                read.spool.write(json.dumps(row, ensure_ascii=False) + "\n")
        report.samples = done
    except BaseException:
        read.spool.close()
        raise
    read.spool.seek(0)
    return read


# -- writing one read log, in few transactions, the samples in one ----------------------------------------
def _variant_name(store: Store, text: str, digest: str) -> str:
    """A system prompt the store already knows keeps its name; the cached upstream prompt keeps its own;
    any other is named after its hash."""
    row = store.conn.execute("SELECT name FROM variants WHERE sha256 = ? ORDER BY name LIMIT 1", (digest,)).fetchone()
    if row:
        return row[0]
    try:
        from af_tui.experiment import sources

        if (sources.data_dir() / sources.SYSTEM_PROMPT.name).is_file():
            known = sources.system_prompt()  # cached: no download
            if known.sha256 == digest:
                return known.name
    except (AfError, OSError):
        pass
    return f"sha256-{digest[:12]}" if text else "no-system-prompt"


def _default_run_name(store: Store, read: _ReadLog) -> str:
    """The run a retried eval (same Inspect task id) was imported into before, else the file's name."""
    task_id = read.header.get("task_id")
    if task_id:
        for name, config in store.conn.execute("SELECT name, config FROM runs WHERE source = 'inspect' ORDER BY id"):
            try:
                logs = json.loads(config).get("logs", [])
            except (ValueError, AttributeError):
                continue
            if any(entry.get("task_id") == task_id and entry.get("model") == read.header["model"] for entry in logs):
                return name
    return read.path.stem


def _write_log(store: Store, read: _ReadLog, report: LogReport, run_name: str | None) -> None:
    name = run_name or _default_run_name(store, read)
    existing_run = store.conn.execute("SELECT source, config FROM runs WHERE name = ?", (name,)).fetchone()
    logs: list[dict] = []
    if existing_run:
        if existing_run[0] != "inspect":
            raise _Refused(f"run {name!r} exists and was not imported from Inspect; pass another --run")
        try:
            logs = [e for e in json.loads(existing_run[1]).get("logs", []) if e.get("file") != read.header["file"]]
        except (ValueError, AttributeError):
            logs = []
    variants = {digest: store.ensure_variant(_variant_name(store, text, digest), text, source=f"inspect:{read.path.name}")
                for digest, text in read.system_prompts.items()}
    prompt_ids = dict(zip(read.requests, store.ensure_prompts(read.requests, source=f"inspect:{read.path.name}"),
                          strict=True))
    entry = {**read.header, "samples": report.samples, "no_tier": report.no_tier, "outcomes": report.outcomes,
             "disagreements": report.disagreements}
    logs.append(entry)
    config = {
        "source": "inspect",
        "models": sorted({e["model"] for e in logs}),
        "variants": sorted(set(variants.values()) | {v for e in logs for v in e.get("variants", [])}),
        "logs": logs,
    }
    entry["variants"] = sorted(set(variants.values()))
    planned = sum(e.get("samples", 0) - e.get("no_tier", 0) for e in logs)
    run_id = store.start_run(name, config, source="inspect", planned=planned)
    report.run = name

    known = {tuple(r[:5]): r[5] for r in store.conn.execute(
        "SELECT model, variant, prompt_id, tier, epoch, outcome FROM samples WHERE run_id = ?", (run_id,))}
    index = {r[0]: r[1] for r in store.conn.execute(
        "SELECT prompt_id, MIN(prompt_index) FROM samples WHERE run_id = ? GROUP BY prompt_id", (run_id,))}
    next_index = max((i for i in index.values() if i is not None), default=-1) + 1
    for request in read.requests:
        if prompt_ids[request] not in index:
            index[prompt_ids[request]] = next_index
            next_index += 1

    seen: set[tuple] = set()

    def rows() -> Iterator[dict]:
        for line in read.spool:
            row = json.loads(line)
            row["run_id"], row["variant"] = run_id, variants[row.pop("system_sha256")]
            row["prompt_id"] = prompt_ids[row.pop("request")]
            row["prompt_index"] = index[row["prompt_id"]]
            key = (row["model"], row["variant"], row["prompt_id"], row["tier"], row["epoch"])
            if key in seen:
                report.duplicates += 1
                continue
            seen.add(key)
            before = known.get(key)
            if before is not None and (before != experiment.ERROR or row["outcome"] == experiment.ERROR):
                report.present += 1  # nothing new: a re-import adds nothing
                continue
            yield row

    ids = store.save_samples(rows())  # one transaction: all of this file's new samples or none
    report.added = sum(i is not None for i in ids)
    report.present += len(ids) - report.added  # written meanwhile by another import of the same log
    statuses = {_RUN_STATUS.get(e.get("status"), "stopped") for e in logs}
    store.finish_run(run_id, next(s for s in ("failed", "stopped", "done") if s in statuses))


# -- the entry point ---------------------------------------------------------------------------------------
def find_logs(paths: Iterable[str | Path]) -> tuple[list[Path], list[LogReport]]:
    """The log files named or found (recursively) under the paths; a report for each path that is none."""
    found: list[Path] = []
    bad: list[LogReport] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in LOG_SUFFIXES
                            and p.name != INSPECT_LISTING and not p.name.startswith("."))
            if not inside:
                bad.append(LogReport(path, failure="no .eval or .json logs in this folder"))
            found.extend(inside)
        elif not path.exists():
            bad.append(LogReport(path, failure="no such file or folder"))
        elif path.suffix not in LOG_SUFFIXES:
            bad.append(LogReport(path, failure="not an Inspect log (expected a .eval or .json file)"))
        else:
            found.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, bad


def import_logs(store: Store | Callable[[], Store], paths: Iterable[str | Path], *, run_name: str | None = None,
                progress: Progress | None = None) -> list[LogReport]:
    """Import every log under `paths`. A damaged, truncated or foreign file gets a report with its reason
    and nothing in the store; the others import. Store failures (disk full) are raised. `store` may be a
    function that opens it: it is then called only once a log has been read whole (no store is created
    for files that all fail)."""
    files, reports = find_logs(paths)
    if not files:
        return reports
    inspect_log = require_inspect()
    opened: list[Store] = [store] if isinstance(store, Store) else []
    for path in files:
        report = LogReport(path)
        reports.append(report)
        try:
            read = _read_log(inspect_log, path, report, progress)
        except Exception as exc:
            report.failure = _reason(path, exc)
            continue
        try:
            if not opened:
                opened.append(store())
            _write_log(opened[0], read, report, run_name)
        except _Refused as exc:
            report.failure = str(exc)
        finally:
            read.spool.close()
    return reports
