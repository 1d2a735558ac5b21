"""Export samples and their labels to CSV (RFC 4180, UTF-8) or JSON Lines, streaming: rows go from a SQLite
cursor to the file one by one, so memory stays flat at any size. The file appears whole or not at all
(written beside the target under a temporary name, then renamed).

Spreadsheets run a cell that begins with `=`, `+`, `-`, `@`, tab or carriage return as a formula; model text
is hostile, so in CSV such a text cell gets a single quote `'` in front (the OWASP advice). JSON Lines is
written as stored.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from .errors import AfError
from .labels import _NEWEST, OUTCOMES, TIERS
from .store import CRITERIA

# The columns, in order; the README documents each.
COLUMNS = (
    "run", "model", "variant", "prompt_index", "prompt_sha256", "epoch", "sample_id",
    "request", "tier", "outcome", "scratchpad", "output",
    "annotator", *CRITERIA, "verdict", "note", "blind", "labeled_at", "label_uid", "completed_at",
)
FORMATS = ("csv", "jsonl")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TIME_COLUMNS = ("labeled_at", "completed_at")


@dataclass(frozen=True)
class ExportFilter:
    run: str | None = None
    model: str | None = None
    variant: str | None = None
    tier: str | None = None
    outcome: str | None = None
    annotator: str | None = None
    labeled_only: bool = False
    per_label: bool = False

    def describe(self) -> str:
        parts = [f"--{k.replace('_', '-')} {v}" for k, v in vars(self).items()
                 if v and not isinstance(v, bool)]
        parts += [f"--{k.replace('_', '-')}" for k, v in vars(self).items() if v is True]
        return " ".join(parts) or "no filters"


def neutralise(cell: str) -> str:
    """A text cell made inert for spreadsheets: a leading = + - @ tab or CR gets a `'` in front."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")


def format_for(path: Path, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise AfError(f"unknown export format {fmt!r}; use csv or jsonl")
        return fmt
    return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv"


def _validate(conn: sqlite3.Connection, f: ExportFilter) -> None:
    """Unknown names get a one-line error naming what exists (a typo must not export an empty file)."""
    checks = (("run", f.run, "SELECT name FROM runs"), ("model", f.model, "SELECT DISTINCT model FROM samples"),
              ("variant", f.variant, "SELECT name FROM variants"),
              ("annotator", f.annotator, "SELECT DISTINCT annotator FROM labels"))
    for what, value, sql in checks:
        if value is None:
            continue
        known = sorted(r[0] for r in conn.execute(sql))
        if value not in known:
            listed = ", ".join(known[:10]) + (" …" if len(known) > 10 else "") if known else "none yet"
            raise AfError(f"unknown {what} {value!r}; the store has: {listed}")
    if f.tier is not None and f.tier not in TIERS:
        raise AfError(f"unknown tier {f.tier!r}; use free or paid")
    if f.outcome is not None and f.outcome not in OUTCOMES:
        raise AfError(f"unknown outcome {f.outcome!r}; use one of {', '.join(OUTCOMES)}")


def query(f: ExportFilter) -> tuple[str, list]:
    """The SQL of an export: one row per sample and current label (an unlabeled sample gives one row with
    empty label fields), or per label change with per_label."""
    label_on, params = ["l.sample_id = s.id"], []
    if not f.per_label:
        label_on += ["l.verdict IS NOT NULL", _NEWEST]
    if f.annotator:
        label_on.append("l.annotator = ?")
        params.append(f.annotator)
    where = []
    for column, value in (("r.name", f.run), ("s.model", f.model), ("s.variant", f.variant),
                          ("s.tier", f.tier), ("s.outcome", f.outcome)):
        if value is not None:
            where.append(f"{column} = ?")
            params.append(value)
    if f.labeled_only or f.per_label:
        where.append("l.id IS NOT NULL")
    sql = (
        "SELECT r.name AS run, s.model, s.variant, s.prompt_index, p.sha256 AS prompt_sha256, s.epoch, "
        "s.id AS sample_id, p.text AS request, s.tier, s.outcome, s.scratchpad, s.output, l.annotator, "
        + ", ".join(f"l.{c}" for c in CRITERIA)
        + ", l.verdict, l.note, l.blind, l.created_at AS labeled_at, l.uid AS label_uid, s.completed_at "
        "FROM samples s JOIN runs r ON r.id = s.run_id JOIN prompts p ON p.id = s.prompt_id "
        f"LEFT JOIN labels l ON {' AND '.join(label_on)}"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY s.id, l.annotator, l.created_at, l.id"
    )
    return sql, params


def iter_rows(conn: sqlite3.Connection, f: ExportFilter) -> Iterator[tuple]:
    sql, params = query(f)
    cur = conn.execute(sql, params)
    cur.arraysize = 500
    times = [COLUMNS.index(c) for c in _TIME_COLUMNS]
    while batch := cur.fetchmany():
        for row in batch:
            row = list(row)
            for i in times:
                row[i] = _iso(row[i])
            yield row


@dataclass
class ExportResult:
    path: Path
    rows: int
    format: str


def check_target(out: Path, db_path: Path | None = None) -> None:
    """Bad targets are refused before anything is read or written."""
    if out.is_dir():
        raise AfError(f"{out} is a directory; give a file path such as {out / 'labels.csv'}")
    if not out.parent.is_dir():
        raise AfError(f"directory {out.parent} does not exist; create it or choose another path")
    if db_path is not None:
        store = Path(db_path).resolve()
        if out.resolve() in (store, Path(f"{store}-wal"), Path(f"{store}-shm")):
            raise AfError(f"{out} is the store itself; choose another export path")
    if out.exists() and not os.access(out, os.W_OK):
        raise AfError(f"{out} is not writable; choose another path")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise AfError(f"cannot write in {out.parent} (permission denied); choose another path")


def export(conn: sqlite3.Connection, out: str | os.PathLike, f: ExportFilter | None = None, *,
           fmt: str | None = None, db_path: str | os.PathLike | None = None) -> ExportResult:
    """Write the rows that match `f` to `out` and return how many; nothing is left behind on failure, and a
    filter that matches no row is an error (a typo must not pass as an empty export)."""
    f = f or ExportFilter()
    out = Path(out)
    fmt = format_for(out, fmt)
    check_target(out, Path(db_path) if db_path else None)
    _validate(conn, f)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    except OSError as exc:
        raise AfError(f"cannot write in {out.parent}: {exc.strerror}; choose another path") from None
    tmp = Path(tmp_name)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as fh:
            n = _write_csv(fh, conn, f) if fmt == "csv" else _write_jsonl(fh, conn, f)
            fh.flush()
            os.fsync(fh.fileno())
        if n == 0:
            raise AfError(f"no rows match {f.describe()}; nothing written")
        os.replace(tmp, out)
    except OSError as exc:
        raise AfError(f"cannot write {out}: {exc.strerror or exc}; nothing written") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, n, fmt)


def _write_csv(fh, conn: sqlite3.Connection, f: ExportFilter) -> int:
    writer = csv.writer(fh, dialect="excel", lineterminator="\r\n")  # RFC 4180: CRLF, quotes as needed
    writer.writerow(COLUMNS)
    n = 0
    for row in iter_rows(conn, f):
        writer.writerow([neutralise(v) if isinstance(v, str) else v for v in row])
        n += 1
    return n


def _write_jsonl(fh, conn: sqlite3.Connection, f: ExportFilter) -> int:
    n = 0
    for row in iter_rows(conn, f):
        fh.write(json.dumps(dict(zip(COLUMNS, row, strict=True)), ensure_ascii=False))
        fh.write("\n")
        n += 1
    return n
