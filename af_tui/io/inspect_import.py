"""Import Inspect (inspect_ai) eval logs into the store: one af-tui run per log (or the --run given), each
file's new samples in one transaction, a re-import adding nothing. Reading is in inspect_read.py, the
conversion of a sample in inspect_parse.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from af_tui.domain import Outcome
from af_tui.experiment.setting import Setting
from af_tui.io.inspect_read import (
    LogReport,
    Progress,
    ReadLog,
    failure_reason,
    find_logs,
    read_log,
    require_inspect,
)
from af_tui.io.variant_names import variant_name as _variant_name
from af_tui.store.db import Store
from af_tui.store.sample import Sample

_RUN_STATUS = {"success": "done", "error": "failed", "cancelled": "stopped", "started": "stopped"}


class _Refused(Exception):
    """The store has no place for this log (its run name is taken by another kind of run)."""


def _default_run_name(store: Store, read: ReadLog) -> str:
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


def _write_log(store: Store, read: ReadLog, report: LogReport, run_name: str | None) -> None:
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
    variants = {digest: store.ensure_variant(_variant_name(store, text, digest, read.variant_names.get(digest)), text,
                                             source=f"inspect:{read.path.name}")
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
        "rule": str(read.rule),  # the outcome is re-derived from the messages by this rule
    }
    if read.tags:  # and through these tag pairs (so that rescore reads the replies the same way)
        config["tags"] = [list(p) for p in read.tags]
    if read.setting:  # and in this setting (an af-tui export's): stats name it, rescore reads its markers
        config["setting"] = read.setting
    entry["variants"] = sorted(set(variants.values()))
    planned = sum(e.get("samples", 0) - e.get("no_tier", 0) for e in logs)
    run_id = store.start_run(name, config, source="inspect", planned=planned)
    report.run = name

    known = {(model, variant, prompt_id, tier, epoch): outcome for model, variant, prompt_id, tier, epoch, outcome
             in store.conn.execute("SELECT model, variant, prompt_id, tier, epoch, outcome FROM samples "
                                   "WHERE run_id = ?", (run_id,))}
    index = store.request_indexes(run_id, (prompt_ids[request] for request in read.requests))

    seen: set[tuple] = set()

    def rows() -> Iterator[Sample]:
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
            if before is not None and (before != Outcome.ERROR or row["outcome"] == Outcome.ERROR):
                report.present += 1  # nothing new: a re-import adds nothing
                continue
            yield Sample(**row)

    ids = store.save_samples(rows())  # one transaction: all of this file's new samples or none
    report.added = sum(i is not None for i in ids)
    report.present += len(ids) - report.added  # written meanwhile by another import of the same log
    statuses = {_RUN_STATUS.get(e.get("status"), "stopped") for e in logs}
    store.finish_run(run_id, next(s for s in ("failed", "stopped", "done") if s in statuses))


def import_logs(store: Store | Callable[[], Store], paths: Iterable[str | Path], *, run_name: str | None = None,
                progress: Progress | None = None, model: str | None = None, variant: str | None = None,
                setting: Setting | None = None) -> list[LogReport]:
    """Import every log under `paths`: Inspect logs, and the open-source pipeline's result files (a JSON list;
    io/pipeline_import.py, where `model`, `variant` and a `setting` apply). A damaged, truncated or foreign file gets a
    report with its reason and nothing in the store; the others import. Store failures (disk full) are raised.
    `store` may be a function that opens it: it is then called only once a log has been read whole (no store
    is created for files that all fail)."""
    from af_tui.io.pipeline_import import import_files, is_pipeline_file

    files, reports = find_logs(paths)
    if not files:
        return reports
    pipeline = {path for path in files if is_pipeline_file(path)}
    inspect_log = require_inspect() if len(pipeline) < len(files) else None
    opened: list[Store] = [store] if isinstance(store, Store) else []

    def open_store() -> Store:
        if not opened:
            opened.append(store())
        return opened[0]

    for path in files:
        if path in pipeline:
            import_files(open_store, [path], reports, run_name=run_name, model=model, variant=variant,
                         progress=progress, setting=setting)
            continue
        report = LogReport(path)
        reports.append(report)
        try:
            read = read_log(inspect_log, path, report, progress)
        except Exception as exc:
            report.failure = failure_reason(path, exc)
            continue
        try:
            _write_log(open_store(), read, report, run_name)
        except _Refused as exc:
            report.failure = str(exc)
        finally:
            read.spool.close()
    return reports
