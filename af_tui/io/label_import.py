"""Import a labelled set from elsewhere (CSV or JSON Lines of scratchpads with people's labels, e.g. a
published set of human-labelled examples) as samples of a run of its own, with the labels as one annotator's,
so that judges can be measured against them like against the store's own annotators.

The whole file is read and checked first; then everything is written in one transaction: a bad file leaves
nothing behind, and its error names the file, the row and the column.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from af_tui.domain import TIERS, Outcome, Tier, Verdict
from af_tui.errors import AfError
from af_tui.experiment.rules import outcome_of
from af_tui.files import read_text
from af_tui.store.labels import add_label

SOURCE = "import-labels"
NO_SYSTEM_PROMPT = "no-system-prompt"  # the imported rows come without one
_AF = {"true", "yes", "y", "1", "1.0", "af", Verdict.AF.value, "alignment faking", "alignment-faking"}
_NOT_AF = {"false", "no", "n", "0", "0.0", "not_af", "not af", "not-af", "non-af", Verdict.NOT_AF.value,
           "not alignment faking"}
_UNCLEAR = {Verdict.UNCLEAR.value, "unsure", "?"}


@dataclass
class Columns:
    """Which column holds what; text and label are required, the others optional."""

    text: str
    label: str
    request: str | None = None
    output: str | None = None
    model: str | None = None

    def named(self) -> dict[str, str]:
        return {k: v for k, v in vars(self).items() if v}


@dataclass
class ImportedSet:
    path: Path
    run: str
    annotator: str
    rows: int = 0
    verdicts: dict = field(default_factory=dict)

    def summary(self) -> str:
        counts = ", ".join(f"{n} {v.replace('_', ' ')}" for v, n in sorted(self.verdicts.items()))
        return (f"{self.path}: {self.rows} labelled samples imported into run {self.run!r} as {self.annotator}'s "
                f"labels ({counts})")


def label_verdict(value, where: str) -> str:
    """A person's label from the many ways sets write it (True/False, yes/no, 1/0, AF, the verdict names)."""
    if isinstance(value, bool):
        return Verdict.AF if value else Verdict.NOT_AF
    word = str(value).strip().lower() if value is not None else ""
    if word in _AF:
        return Verdict.AF
    if word in _NOT_AF:
        return Verdict.NOT_AF
    if word in _UNCLEAR:
        return Verdict.UNCLEAR
    shown = repr(value) if len(str(value)) <= 40 else repr(str(value)[:40] + "…")
    raise AfError(f"{where}: label {shown} is not one of true/false, yes/no, 1/0, AF/not AF, unclear")


def _cell(value, where: str, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise AfError(f"{where} is empty")
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n\n".join(value)  # several scratchpad blocks
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise AfError(f"{where} holds {type(value).__name__}, not text")


def _records(path: Path) -> tuple[list[str] | None, list[dict]]:
    """(CSV header or None, rows) of a CSV or JSON Lines file, by its extension (.jsonl, .ndjson: JSON Lines)."""
    raw = read_text(path, what=str(path), hint="give a .csv or .jsonl file", encoding="utf-8-sig",
                    missing="no file")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        rows = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise AfError(f"{path}: row {n}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise AfError(f"{path}: row {n}: a JSON object per line is needed, not {type(row).__name__}")
            rows.append((n, row))
        return None, rows
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))  # scratchpads are long
    try:
        reader = csv.DictReader(raw.splitlines(keepends=True))
        header = list(reader.fieldnames or [])
        rows = [(n, row) for n, row in enumerate(reader, 1)]
    except csv.Error as exc:
        raise AfError(f"{path}: not readable as CSV ({exc})") from None
    return header, rows


def read_labelled(path: str | Path, columns: Columns) -> list[dict]:
    """The file's rows as {text, verdict, request, output, model}; any problem is one AfError naming the file,
    the row (1 = the first data row, or the line of a JSON Lines file) and the column."""
    path = Path(path)
    header, records = _records(path)
    if not records:
        raise AfError(f"{path}: no rows")
    if header is not None:
        missing = [c for c in columns.named().values() if c not in header]
        if missing:
            raise AfError(f"{path}: no column {missing[0]!r}; it has: {', '.join(header[:12])}")
    rows = []
    for n, record in records:
        def where(col: str, n=n) -> str:
            return f"{path}: row {n}: column {col!r}"

        for col in columns.named().values():
            if col not in record:
                raise AfError(f"{where(col)} is missing")
        rows.append({
            "text": _cell(record[columns.text], where(columns.text), required=True),
            "verdict": label_verdict(record[columns.label], where(columns.label)),
            "request": _cell(record[columns.request], where(columns.request), required=False)
            if columns.request else None,
            "output": _cell(record[columns.output], where(columns.output), required=False)
            if columns.output else None,
            "model": _cell(record[columns.model], where(columns.model), required=False) if columns.model else None,
        })
    return rows


def import_labelled(conn: sqlite3.Connection, path: str | Path, columns: Columns, *, run: str | None = None,
                    annotator: str | None = None, tier: str = Tier.FREE) -> ImportedSet:
    """Read and check the whole file, then store its rows as samples of a new run (source import-labels) and
    its labels as `annotator`'s, all in one transaction. The outcome is the outcome rule's on the output
    when there is an output column, else complied."""
    path = Path(path)
    if tier not in TIERS:
        raise AfError(f"unknown tier {tier!r}; use free or paid")
    rows = read_labelled(path, columns)
    run = run or path.stem
    annotator = annotator or run
    if conn.execute("SELECT 1 FROM runs WHERE name = ?", (run,)).fetchone():
        raise AfError(f"run {run!r} already exists; pass another --run for this labelled set")
    result = ImportedSet(path, run, annotator, len(rows))
    now = time.time()
    config = {"source": SOURCE, "file": str(path), "columns": columns.named(), "annotator": annotator,
              "tier": tier, "models": sorted({r["model"] or "unknown" for r in rows})}
    with conn:  # all of it or nothing
        run_id = conn.execute(
            "INSERT INTO runs (name, source, status, config, planned, created_at, started_at, ended_at) "
            "VALUES (?, ?, 'done', ?, ?, ?, ?, ?)", (run, SOURCE, json.dumps(config), len(rows), now, now, now),
        ).lastrowid
        conn.execute("INSERT OR IGNORE INTO variants (name, sha256, system_prompt, source) VALUES (?, ?, '', ?)",
                     (NO_SYSTEM_PROMPT, hashlib.sha256(b"").hexdigest(), SOURCE))
        seen: dict[tuple, int] = {}
        for index, row in enumerate(rows):
            request = row["request"] or ""
            digest = hashlib.sha256(request.encode("utf-8")).hexdigest()
            conn.execute("INSERT OR IGNORE INTO prompts (text, sha256, source) VALUES (?, ?, ?)",
                         (request, digest, f"{SOURCE}:{path.name}"))
            prompt_id = conn.execute("SELECT id FROM prompts WHERE sha256 = ?", (digest,)).fetchone()[0]
            model = row["model"] or "unknown"
            # the same request and model twice (or rows without a request) are told apart by epoch
            epoch = seen[(model, prompt_id)] = seen.get((model, prompt_id), -1) + 1
            outcome = outcome_of(row["output"]) if columns.output else Outcome.COMPLIED
            sample_id = conn.execute(
                "INSERT INTO samples (run_id, model, variant, prompt_id, prompt_index, tier, epoch, outcome, output, "
                "scratchpad, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, model, NO_SYSTEM_PROMPT, prompt_id, index, tier, epoch, outcome, row["output"],
                 row["text"], now),
            ).lastrowid
            add_label(conn, sample_id, annotator, verdict=row["verdict"], created_at=now)
            result.verdicts[row["verdict"]] = result.verdicts.get(row["verdict"], 0) + 1
    return result
