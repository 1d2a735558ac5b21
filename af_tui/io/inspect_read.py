"""Reading Inspect eval logs (inspect_ai, an optional extra imported only here): each file checked and
converted whole into a spool before anything is written, with a reason in a person's words for one that
cannot be read."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from af_tui.domain import Outcome
from af_tui.errors import AfError
from af_tui.experiment import rules
from af_tui.experiment.setting import reading_of
from af_tui.experiment.tags import TagPair
from af_tui.io.inspect_parse import convert_sample, disagrees, timestamp
from af_tui.store.db import sha256_text

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


def _sample_order(ids: list) -> Callable[[Any], tuple]:
    """Sort key: numeric ids in numeric order, otherwise the order the log lists them."""
    numeric = all(isinstance(i, int) or (isinstance(i, str) and i.strip().isdigit()) for i in ids)
    seen = {i: n for n, i in reversed(list(enumerate(ids)))}
    if numeric:
        return lambda s: (int(s.id), s.epoch)
    return lambda s: (seen.get(s.id, len(seen)), s.epoch)


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
    status: str | None = None  # the log's own status: "started" is a run Inspect never finished (or a damaged
    # .eval whose index Inspect could not read, which it reads the same way): only the samples it recovered


@dataclass
class ReadLog:
    path: Path
    header: dict
    spool: Any  # temporary file of JSON lines, one converted sample each, in the log's order
    requests: list[str] = field(default_factory=list)
    system_prompts: dict[str, str] = field(default_factory=dict)  # sha256 -> text
    variant_names: dict[str, str] = field(default_factory=dict)  # sha256 -> the name af-tui's export gave it
    rule: str = rules.DEFAULT_RULE  # the outcome rule the messages are read by
    tags: tuple[TagPair, ...] = ()  # tag pairs replies are read through (an af-tui export of a pipeline run)
    setting: dict | None = None  # the setting record of an af-tui export's run (its tags and markers)


def _ours(spec: Any) -> dict:
    metadata = getattr(spec, "metadata", None) or {}
    ours = metadata.get("af_tui") if isinstance(metadata, dict) else None
    return ours if isinstance(ours, dict) else {}


def log_rule(spec: Any) -> str:
    """The outcome rule a log names (af-tui's own export writes its run's), else af-tui's default."""
    rule = _ours(spec).get("rule")
    return rule if rule in rules.RULES else rules.DEFAULT_RULE


def log_setting(spec: Any) -> dict | None:
    """The setting an af-tui export's run was asked and read in (run.md, settings as data), else None."""
    config = _ours(spec).get("config")
    setting = config.get("setting") if isinstance(config, dict) else None
    return setting if isinstance(setting, dict) else None


def log_tags(spec: Any) -> tuple[TagPair, ...]:
    """The tag pairs an af-tui export's run read its replies through (a pipeline run's), else none."""
    config = _ours(spec).get("config")
    pairs = config.get("tags") if isinstance(config, dict) else None
    if not isinstance(pairs, list):
        return ()
    return tuple(TagPair(*p) for p in pairs
                 if isinstance(p, list | tuple) and len(p) == 2 and all(isinstance(t, str) and t for t in p))


Progress = Callable[[Path, int, int | None], None]  # (file, samples read, samples in the file if known)


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


def failure_reason(path: Path, exc: Exception) -> str:
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


def read_log(inspect_log: Any, path: Path, report: LogReport, progress: Progress | None) -> ReadLog:
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
    created = timestamp(spec.created)
    read = ReadLog(path, {
        "file": str(path.resolve()), "task": spec.task, "task_id": spec.task_id, "eval_id": spec.eval_id,
        "model": model, "created": spec.created, "status": header.status, "epochs": spec.config.epochs,
    }, tempfile.TemporaryFile("w+", encoding="utf-8"), rule=log_rule(spec),
                   tags=log_tags(spec), setting=log_setting(spec))
    # an af-tui export's setting reads the replies as its run did (tags and markers); else the tag pairs alone
    reading = reading_of({"setting": read.setting, "tags": [list(p) for p in read.tags]}) if read.setting else None
    report.models = [model]
    report.status = header.status
    seen_requests: set[str] = set()
    done = 0
    try:
        for chunk in chunks:
            for sample in chunk:
                try:
                    row = convert_sample(sample, model=model, created=created, rule=read.rule, tags=read.tags,
                                         reading=reading)
                except Exception as exc:  # a sample in a shape we don't know: the file is foreign
                    raise ValueError(f"sample {sample.id} epoch {sample.epoch}: {_one_line(exc)}") from exc
                done += 1
                if progress:
                    progress(path, done, total)
                if row is None:
                    report.no_tier += 1
                    continue
                report.outcomes[row["outcome"]] = report.outcomes.get(row["outcome"], 0) + 1
                report.errors += row["outcome"] == Outcome.ERROR
                report.disagreements += disagrees(row)
                digest = sha256_text(row["system_prompt"])
                read.system_prompts.setdefault(digest, row.pop("system_prompt"))
                row.pop("system_prompt", None)
                name = row.pop("variant_name", None)
                if name:
                    read.variant_names.setdefault(digest, name)
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
