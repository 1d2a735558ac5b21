"""Import the open-source alignment-faking pipeline's result files (a JSON list of records, one per request and
tier) into the store: each file read record by record and checked whole into a spool before anything is
written, then its new samples and their classifier judgements in one transaction; a re-import adds nothing.
The conversion of one record is in pipeline_parse.py."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from af_tui.domain import CRITERIA
from af_tui.experiment import rules
from af_tui.experiment.setting import Setting
from af_tui.io.inspect_read import LogReport, Progress
from af_tui.io.pipeline_parse import TAG_PAIRS, TagPair, convert_record, disagrees, judge_name
from af_tui.io.variant_names import variant_name
from af_tui.store.db import Store, sha256_text
from af_tui.store.rows import marks
from af_tui.store.sample import Sample

SOURCE = "pipeline"
_READ_BYTES = 1 << 20  # the file is parsed record by record from 1 MB reads: memory stays flat
_NUMBER_GOES_ON = set("0123456789.eE+-")


class Malformed(ValueError):
    """A record the importer cannot read; names its index (0 = the first record)."""


@dataclass
class PipelineReport(LogReport):
    """What importing one pipeline file did, beside LogReport's counts."""

    judgements: dict[str, dict[str, int]] = field(default_factory=dict)  # judge → yes / no / unparsed / scored
    judgements_added: int = 0
    skipped_blocks: list[str] = field(default_factory=list)  # classifier blocks of unknown meaning


def is_pipeline_file(path: Path) -> bool:
    """A .json file whose first character is `[` (an Inspect .json log is an object)."""
    if path.suffix != ".json":
        return False
    try:
        with open(path, encoding="utf-8-sig") as fh:
            head = fh.read(4096).lstrip()
    except (OSError, UnicodeDecodeError):
        return False
    return head.startswith("[")


def iter_records(path: Path) -> Iterator[Any]:
    """The records of a JSON list, decoded one at a time from 1 MB reads (a record longer than that is read
    on until it is whole). Raises Malformed naming the record that is not JSON."""
    decoder = json.JSONDecoder()
    with open(path, encoding="utf-8-sig") as fh:
        buf, pos, index = fh.read(_READ_BYTES), 0, 0

        def skip() -> None:
            nonlocal pos
            while pos < len(buf) and buf[pos].isspace():
                pos += 1

        skip()
        if not buf[pos:pos + 1] == "[":
            raise Malformed("not a JSON list")
        pos += 1
        expect_comma = False
        while True:
            skip()
            if pos >= len(buf):
                buf, pos = fh.read(_READ_BYTES), 0
                if not buf:
                    raise Malformed(f"record {index}: not JSON (the list is not closed): truncated or damaged")
                continue
            if buf[pos] == "]":
                return
            if expect_comma:
                if buf[pos] != ",":
                    raise Malformed(f"record {index}: not JSON (expected ',' or ']' after record {index - 1})")
                pos, expect_comma = pos + 1, False
                continue
            try:
                record, end = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError as exc:
                more = fh.read(max(_READ_BYTES, len(buf) - pos))  # the record may go on: read as much again
                if not more:
                    raise Malformed(f"record {index}: not JSON ({exc.msg}): truncated or damaged") from None
                buf, pos = buf[pos:] + more, 0
                continue
            if end == len(buf) or buf[end] in _NUMBER_GOES_ON:  # a number may go on in the next read
                more = fh.read(_READ_BYTES)
                if more:
                    buf, pos = buf[pos:] + more, 0
                    continue
            yield record
            index += 1
            expect_comma, pos = True, end  # (the buffer is cut only when more is read)


def model_from_path(path: Path) -> str:
    """`…/PROVIDER/MODEL/results_*.json` → `PROVIDER/MODEL` (the pipeline's layout)."""
    parts = path.resolve().parent.parts
    return "/".join(parts[-2:]) if len(parts) >= 2 else path.stem


@dataclass
class _Read:
    path: Path
    model: str
    spool: Any
    requests: list[str] = field(default_factory=list)
    system_prompts: dict[str, str] = field(default_factory=dict)  # sha256 -> text


def read_file(path: Path, report: PipelineReport, *, model: str | None, rule: str, pairs: tuple[TagPair, ...],
              progress: Progress | None, setting: Setting | None = None) -> _Read:
    """Convert every record of one file into a spool; raises Malformed on the first record it cannot read."""
    read = _Read(path, model or model_from_path(path), tempfile.TemporaryFile("w+", encoding="utf-8"))
    report.models = [read.model]
    seen_requests: set[str] = set()
    try:
        for index, record in enumerate(iter_records(path)):
            try:
                row, judgements, skipped = convert_record(record, model=read.model, rule=rule, pairs=pairs,
                                                          reading=setting.reading if setting else None)
            except ValueError as exc:
                raise Malformed(f"record {index}: {exc}") from None
            report.samples += 1
            report.outcomes[row["outcome"]] = report.outcomes.get(row["outcome"], 0) + 1
            report.disagreements += disagrees(row)
            for name in skipped:
                if name not in report.skipped_blocks:
                    report.skipped_blocks.append(name)
            for j in judgements:
                counts = report.judgements.setdefault(judge_name(j.judge), {})
                counts[j.count_key] = counts.get(j.count_key, 0) + 1
            digest = sha256_text(row["system_prompt"])
            read.system_prompts.setdefault(digest, row["system_prompt"])
            row["system_prompt"] = digest
            if row["request"] not in seen_requests:
                seen_requests.add(row["request"])
                read.requests.append(row["request"])
            row["judgements"] = [j.__dict__ for j in judgements]
            read.spool.write(json.dumps(row, ensure_ascii=False) + "\n")
            if progress and report.samples % 100 == 0:
                progress(path, report.samples, None)  # (the count of records is known only at the end)
    except BaseException:
        read.spool.close()
        raise
    if report.samples == 0:
        read.spool.close()
        raise Malformed("an empty list: no records")
    read.spool.seek(0)
    return read


def judge_prompt_sha256(block: str) -> str:
    """The prompt hash the pipeline's judge is stored with: fixed per block, so re-imports find it."""
    return sha256_text(judge_name(block))


_JUDGEMENT_COLUMNS = ("uid", "sample_id", "judge_model", "prompt_sha256", *CRITERIA, "verdict", "parsed", "evidence",
                      "raw", "k", "agreement", "created_at", "task", "score", "criteria", "detail")
_JUDGEMENT_SQL = (f"INSERT INTO judgements ({', '.join(_JUDGEMENT_COLUMNS)}) VALUES ({marks(len(_JUDGEMENT_COLUMNS))}) "
                  "ON CONFLICT (sample_id, judge_model, prompt_sha256) DO NOTHING")


def _judgement_values(sample_id: int, j: dict, now: float) -> list:
    return [uuid.uuid4().hex, sample_id, judge_name(j["judge"]), judge_prompt_sha256(j["judge"]),
            *(j["criteria"].get(c) for c in CRITERIA), j["verdict"], int(j["parsed"]),
            json.dumps(j["evidence"], ensure_ascii=False) if j["evidence"] else None, j["raw"], j["k"],
            j["agreement"], now, j["task"], j["score"],
            json.dumps(j["criteria"]) if j["criteria"] else None, json.dumps(j["detail"]) if j["detail"] else None]


class Refused(Exception):
    """The store has no place for this file (its run name is taken by another kind of run)."""


def write_file(store: Store, read: _Read, report: PipelineReport, *, run_name: str | None, variant: str | None,
               rule: str, setting: Setting | None = None) -> None:
    """The file's new samples, then their judgements, in one transaction."""
    name = run_name or read.path.stem
    existing = store.conn.execute("SELECT source, config FROM runs WHERE name = ?", (name,)).fetchone()
    files: list[dict] = []
    if existing:
        if existing[0] != SOURCE:
            raise Refused(f"run {name!r} exists and was not imported from pipeline files; pass another --run")
        try:
            files = [e for e in json.loads(existing[1]).get("files", []) if e.get("file") != str(read.path.resolve())]
        except (ValueError, AttributeError):
            files = []
    variants = {digest: store.ensure_variant(variant or variant_name(store, text, digest), text,
                                             source=f"pipeline:{read.path.name}")
                for digest, text in read.system_prompts.items()}
    prompt_ids = dict(zip(read.requests, store.ensure_prompts(read.requests, source=f"pipeline:{read.path.name}"),
                          strict=True))
    files.append({"file": str(read.path.resolve()), "model": read.model, "records": report.samples,
                  "outcomes": report.outcomes, "disagreements": report.disagreements,
                  "judgements": report.judgements, "variants": sorted(set(variants.values()))})
    config = {"source": SOURCE, "models": sorted({e["model"] for e in files}),
              "variants": sorted({v for e in files for v in e["variants"]}), "files": files, "rule": str(rule),
              "tags": [list(p) for p in (setting.reading.tags if setting else TAG_PAIRS)],
              **({"setting": setting.record()} if setting else {})}
    run_id = store.start_run(name, config, source=SOURCE, planned=sum(e["records"] for e in files))
    report.run = name

    index = store.request_indexes(run_id, (prompt_ids[request] for request in read.requests))

    epochs: dict[tuple, int] = {}  # the same request and tier again in one file: the next epoch
    pending: list[tuple[tuple, list[dict]]] = []
    now = time.time()

    def rows() -> Iterator[Sample]:
        for line in read.spool:
            row = json.loads(line)
            judgements = row.pop("judgements")
            row["run_id"], row["variant"] = run_id, variants[row.pop("system_prompt")]
            row["prompt_id"] = prompt_ids[row.pop("request")]
            row["prompt_index"] = index[row["prompt_id"]]
            ident = (row["model"], row["variant"], row["prompt_id"], row["tier"])
            row["epoch"] = epochs[ident] = epochs.get(ident, -1) + 1
            row["completed_at"] = now
            pending.append(((*ident, row["epoch"]), judgements))
            yield Sample(**row)

    conn = store.conn
    ids = store.save_samples(rows())  # one transaction: all of this file's new samples or none
    report.added = sum(i is not None for i in ids)
    report.present = len(ids) - report.added
    # then their judgements, in a second one: a finished judgement is never replaced, and a re-import adds any
    # that an interrupted import left out (they are looked up by the sample, new or already there)
    with conn:
        for (model, variant, prompt_id, tier, epoch), judgements in pending:
            if not judgements:
                continue
            sample_id = conn.execute(
                "SELECT id FROM samples WHERE run_id = ? AND model = ? AND variant = ? AND prompt_id = ? AND tier = ? "
                "AND epoch = ?", (run_id, model, variant, prompt_id, tier, epoch)).fetchone()[0]
            cur = conn.executemany(_JUDGEMENT_SQL, [_judgement_values(sample_id, j, now) for j in judgements])
            report.judgements_added += cur.rowcount  # (rows of this statement only: the triggers' not counted)
    store.finish_run(run_id, "done")


def import_files(store_or_open, paths: list[Path], reports: list[LogReport], *, run_name: str | None = None,
                 model: str | None = None, variant: str | None = None, rule: str = rules.DEFAULT_RULE,
                 pairs: tuple[TagPair, ...] = TAG_PAIRS, progress: Progress | None = None,
                 setting: Setting | None = None) -> None:
    """Import each pipeline file, appending one report per file to `reports`. A malformed file gets its
    reason (`record N: …`) and nothing in the store; the others import. A `setting` reads the outputs with its
    rule, tags and markers instead of `rule` and `pairs`, and is recorded with the run."""
    if setting is not None:
        rule = setting.rule
    opened: list[Store] = [store_or_open] if isinstance(store_or_open, Store) else []
    for path in paths:
        report = PipelineReport(path)
        reports.append(report)
        try:
            read = read_file(path, report, model=model, rule=rule, pairs=pairs, progress=progress, setting=setting)
        except Malformed as exc:
            report.failure = str(exc)
            continue
        except (OSError, UnicodeDecodeError) as exc:
            report.failure = f"cannot read it ({exc})"
            continue
        try:
            if not opened:
                opened.append(store_or_open())
            write_file(opened[0], read, report, run_name=run_name, variant=variant, rule=rule, setting=setting)
        except Refused as exc:
            report.failure = str(exc)
        finally:
            read.spool.close()
