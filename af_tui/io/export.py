"""Export samples and their labels to CSV (RFC 4180, UTF-8), JSON Lines or Parquet, streaming: rows go from a SQLite
cursor to the file one by one, so memory stays flat at any size. The file appears whole or not at all
(written beside the target under a temporary name, then renamed).

Every row carries what an appendix needs to select and cite it: the pair id and the other tier's outcome (so
"complied on free, refused on paid" is a filter in a spreadsheet), the label's rubric and criteria, the
sample's adjudicated verdict, and one judge's verdict, score and criteria (`--judge MODEL[@HASH]`, else the
newest judge in the store); JSON Lines also carries every judgement of the sample as a list.

The criterion columns follow the labels: one per criterion that the exported labels, under the rubric(s) they
were made under, answered (Layout, read by a first query over the labels alone), so a file of paper-rubric
labels has the paper's criteria as columns and no empty af-tui-4 ones.

Spreadsheets run a cell that begins with `=`, `+`, `-`, `@`, tab or carriage return as a formula; model text
is hostile, so in CSV such a text cell gets a single quote `'` in front (the OWASP advice). JSON Lines and
Parquet are written as stored; Parquet's columns are typed (COLUMN_TYPES, which af_tui.open's DataFrames use too).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from af_tui.domain import CRITERIA, LEGACY_RULE, OUTCOMES, TIERS
from af_tui.errors import AfError
from af_tui.experiment.setting import rule_sql
from af_tui.files import atomic_write, write_csv
from af_tui.rubric import LEGACY_RUBRIC
from af_tui.safe_text import FORMULA_START
from af_tui.store.labels import NEWEST_LABEL, check_names
from af_tui.store.rows import equals
from af_tui.store.rubrics import rubric_by_sha

# The columns, in order, of an export whose labels were all made under af-tui-4 (docs/export.md documents
# each): the criterion columns (here CRITERIA) are those of the exported labels' rubrics (Layout).
COLUMNS = (
    "run", "model", "variant", "prompt_index", "prompt_sha256", "epoch", "sample_id", "pair_id",
    "request", "tier", "outcome", "rule", "other_tier_outcome", "scratchpad", "output", "reasoning",
    "annotator", *CRITERIA, "rubric", "criteria", "verdict", "note", "blind", "adjudication", "labeled_at",
    "label_uid", "completed_at", "adjudicated_verdict", "adjudicated_by",
    "judge", "judge_verdict", "judge_score", "judge_criteria",
)
FIXED_COLUMNS = tuple(c for c in COLUMNS if c not in CRITERIA)  # every export's, whatever its rubrics
# The columns of one label; `--per sample` replaces them by `verdict:ANNOTATOR`, `rubric:ANNOTATOR` and
# `CRITERION:ANNOTATOR` columns per annotator.
LABEL_COLUMNS = ("annotator", *CRITERIA, "rubric", "criteria", "verdict", "note", "blind", "adjudication",
                 "labeled_at", "label_uid")
SAMPLE_COLUMNS = tuple(c for c in COLUMNS if c not in LABEL_COLUMNS)
PER = ("annotator", "sample")  # the layouts: a row per sample and annotator (the default), a row per sample
JSONL_ONLY = ("judges",)  # every judgement of the sample, as a list of objects
# What the Python API's samples() adds after the export's columns (the sample's measures).
MEASURES = ("input_tokens", "output_tokens", "cost", "latency_s")
FORMATS = ("csv", "jsonl", "parquet")
SUFFIXES = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}
MISSING_PYARROW = "writing Parquet needs pyarrow: pip install 'af-tui[data]'"
# The type of each column in Parquet and in af_tui.open(...).samples(): int, float, bool (1/0), time (ISO text
# in CSV, a UTC timestamp here), json (JSON text), a vocabulary's name (a categorical), else text.
COLUMN_TYPES = {
    **dict.fromkeys(("prompt_index", "epoch", "sample_id", "pair_id", "input_tokens", "output_tokens"), "int"),
    **dict.fromkeys(("judge_score", "cost", "latency_s"), "float"),
    **dict.fromkeys((*CRITERIA, "blind", "adjudication"), "bool"),
    **dict.fromkeys(("labeled_at", "completed_at"), "time"),
    **dict.fromkeys(("criteria", "judge_criteria"), "json"),
    **dict.fromkeys(("tier",), "tier"),
    **dict.fromkeys(("outcome", "other_tier_outcome"), "outcome"),
    **dict.fromkeys(("verdict", "adjudicated_verdict", "judge_verdict"), "verdict"),
    "rule": "rule",
}
_JSON_COLUMNS = ("criteria", "judge_criteria")
_TIME_COLUMNS = ("labeled_at", "completed_at")


@dataclass(frozen=True)
class ExportFilter:
    run: str | None = None
    model: str | None = None
    variant: str | None = None
    tier: str | None = None
    outcome: str | None = None
    annotator: str | None = None
    judge: str | None = None  # MODEL or MODEL@HASH (a prefix of the judge prompt's sha256); None: the newest
    labeled_only: bool = False
    per_label: bool = False
    per: str = "annotator"  # or "sample": one row per sample, each annotator's verdict in a column of its own
    # The app's list view (ctrl+e on the pairs list): only the samples of the pairs that an SQL condition on
    # `pairs p` keeps (the explorer's PairFilter.where: its filters and search), described in `view`.
    pairs_where: str | None = None
    pairs_params: tuple = ()
    view: str = ""

    def describe(self) -> str:
        options = {k: v for k, v in vars(self).items() if k not in ("pairs_where", "pairs_params", "view")}
        parts = [f"--{k.replace('_', '-')} {v}" for k, v in options.items()
                 if v and not isinstance(v, bool) and (k, v) != ("per", "annotator")]
        parts += [f"--{k.replace('_', '-')}" for k, v in options.items() if v is True]
        if self.pairs_where:
            parts.append(f"the list's view ({self.view or 'filtered'})")
        return " ".join(parts) or "no filters"


@dataclass(frozen=True)
class Layout:
    """The columns of one export: the fixed ones with, after `annotator`, one column per criterion that its
    labels answered, under the rubric(s) they were made under (a criterion id two rubrics share, or one that
    clashes with a fixed column, is written `RUBRIC.CRITERION`). None answered: no criterion column."""

    criteria: dict[str, str] = field(default_factory=dict)  # criterion column -> its SQL expression
    annotators: dict[str, tuple[str, ...]] = field(default_factory=dict)  # annotator -> the criterion columns they answered

    @property
    def columns(self) -> tuple[str, ...]:
        at = FIXED_COLUMNS.index("annotator") + 1
        return (*FIXED_COLUMNS[:at], *self.criteria, *FIXED_COLUMNS[at:])

    @property
    def kinds(self) -> dict[str, str]:
        """The criterion columns' type (COLUMN_TYPES has the fixed ones'): yes / no / not set."""
        return dict.fromkeys(self.criteria, "bool")


def format_for(path: Path, fmt: str | None) -> str:
    """The format to write: --format, else the suffix's. A suffix of a format af-tui does not write (.xlsx,
    .parquet…) is refused rather than given CSV under that name."""
    if fmt and fmt not in FORMATS:
        raise AfError(f"unknown export format {fmt!r}; use csv, jsonl, parquet or inspect")
    suffix = path.suffix.lower()
    if suffix and suffix not in SUFFIXES and suffix != ".txt":
        raise AfError(f"af-tui does not write {suffix} files; name the export .csv, .jsonl or .parquet "
                      "(a spreadsheet opens the CSV)")
    return fmt or SUFFIXES.get(suffix, "csv")


def resolve_judge(conn: sqlite3.Connection, spec: str | None) -> tuple[str, str] | None:
    """(judge_model, prompt_sha256) of the judge whose verdicts fill the judge columns: `spec` is MODEL or
    MODEL@HASH (a prefix of the judge prompt's sha256); None picks the judge of the newest alignment-faking
    judgement. None when the store has no judgement at all (the columns stay empty)."""
    # a model name may itself hold '@' (sim/judge@k=3): the whole spec as a model name first, then MODEL@HASH
    candidates = [(spec, "")] + ([tuple(spec.rsplit("@", 1))] if spec and "@" in spec else []) if spec else [("", "")]
    row = None
    for model, sha in candidates:
        where, params = ["task = 'alignment_faking'"], []
        if model:
            where.append("judge_model = ?")
            params.append(model)
        if sha:
            where.append("prompt_sha256 LIKE ? || '%'")
            params.append(sha.lower())
        row = conn.execute(f"SELECT judge_model, prompt_sha256 FROM judgements WHERE {' AND '.join(where)} "
                           "ORDER BY created_at DESC, id DESC LIMIT 1", params).fetchone()
        if row:
            break
    if row is None and spec:
        known = [f"{m}@{h[:8]}" for m, h in conn.execute(
            "SELECT DISTINCT judge_model, prompt_sha256 FROM judgements WHERE task = 'alignment_faking' "
            "ORDER BY 1, 2 LIMIT 20")]
        raise AfError(f"no judgements by {spec!r}; judges in this store: {', '.join(known) or 'none'}")
    if row is None:
        return None
    judge_model, prompt_sha256 = row
    return judge_model, prompt_sha256


def _validate(conn: sqlite3.Connection, f: ExportFilter) -> None:
    """Unknown names get a one-line error naming what exists (a typo must not export an empty file)."""
    check_names(conn, run=f.run, model=f.model, variant=f.variant, annotator=f.annotator)
    if f.tier is not None and f.tier not in TIERS:
        raise AfError(f"unknown tier {f.tier!r}; use free or paid")
    if f.outcome is not None and f.outcome not in OUTCOMES:
        raise AfError(f"unknown outcome {f.outcome!r}; use one of {', '.join(OUTCOMES)}")
    resolve_judge(conn, f.judge)


# Text cells that can hold anything (model text, names people typed); the other columns hold hashes, numbers,
# ISO times or values from a closed list, none of which can start like a formula.
_FREE_TEXT = ("run", "model", "variant", "request", "scratchpad", "output", "reasoning", "annotator", "note",
              "adjudicated_by", "judge")
_FOUR = ", ".join(f"'{c}', {{t}}.{c}" for c in CRITERIA)
# A label's answers under its rubric as JSON; a label made before rubrics has them in the four legacy columns.
_LABEL_CRITERIA = "coalesce(l.criteria, json_object(" + _FOUR.format(t="l") + "))"
_EXPRESSIONS = {
    "run": "r.name", "model": "s.model", "variant": "s.variant", "prompt_index": "s.prompt_index",
    "prompt_sha256": "p.sha256", "epoch": "s.epoch", "sample_id": "s.id", "request": "p.text", "tier": "s.tier",
    "outcome": "s.outcome", "scratchpad": "s.scratchpad", "output": "s.output", "annotator": "l.annotator",
    **{c: f"l.{c}" for c in CRITERIA}, "verdict": "l.verdict", "note": "l.note", "blind": "l.blind",
    "labeled_at": "l.created_at", "label_uid": "l.uid", "completed_at": "s.completed_at",
    "pair_id": "pr.id", "reasoning": "s.reasoning",
    **{c: f"s.{c}" for c in MEASURES},
    # the outcome rule the run was read by (runs stored before rules were named used last-scratchpad), and its
    # setting unless that is the built-in helpful-only: `notebook · setting animal-welfare`
    "rule": rule_sql("r.config", str(LEGACY_RULE)),
    "other_tier_outcome": "CASE s.tier WHEN 'free' THEN pr.paid_outcome ELSE pr.free_outcome END",
    # a label saved before rubrics has no rubric row: it was made under the four-criterion af-tui-4; one
    # whose rubric the store lacks (merged without it) is under an unknown one, as rubric_by_sha reads it
    "rubric": f"CASE WHEN l.id IS NOT NULL THEN coalesce(rb.id, CASE WHEN l.rubric_sha256 IS NULL "
              f"THEN '{LEGACY_RUBRIC}' ELSE 'unknown' END) END",
    "criteria": f"CASE WHEN l.id IS NOT NULL THEN {_LABEL_CRITERIA} END",
    "adjudication": "l.adjudication", "adjudicated_verdict": "adj.verdict", "adjudicated_by": "adj.annotator",
    "_annotator": "l.annotator",  # as stored (the CSV's `annotator` cell is neutralised): for --per sample
    "judge": "CASE WHEN j.id IS NOT NULL THEN j.judge_model || '@' || substr(j.prompt_sha256, 1, 8) END",
    "judge_verdict": "j.verdict", "judge_score": "j.score",
    "judge_criteria": "CASE WHEN j.id IS NOT NULL THEN coalesce(j.criteria, json_object("
                      + _FOUR.format(t="j") + ")) END",
}
# The sample's settled label: the newest adjudication row (a clearing row unsettles it).
_ADJUDICATED = ("adj.id = (SELECT a2.id FROM labels a2 WHERE a2.sample_id = s.id AND a2.adjudication = 1 "
                "ORDER BY a2.created_at DESC, a2.id DESC LIMIT 1)")
_ALL_JUDGES = (
    "(SELECT json_group_array(json_object('judge_model', j2.judge_model, 'prompt_sha256', j2.prompt_sha256, "
    "'task', j2.task, 'verdict', j2.verdict, 'score', j2.score, 'threshold', j2.threshold, "
    "'criteria', json(coalesce(j2.criteria, json_object(" + _FOUR.format(t="j2") + "))), "
    "'created_at', strftime('%Y-%m-%dT%H:%M:%fZ', j2.created_at, 'unixepoch'))) "
    "FROM (SELECT * FROM judgements WHERE sample_id = s.id ORDER BY created_at, id) j2)"
)


def _column_sql(name: str, *, for_csv: bool, as_json: bool = False, layout: Layout | None = None) -> str:
    """The SELECT expression of one column. The per-cell work (ISO times, formula neutralisation) is done by
    SQLite in C: that makes the export several times faster than doing it cell by cell in Python."""
    expr = layout.criteria[name] if layout is not None and name in layout.criteria else _EXPRESSIONS[name]
    if name in _TIME_COLUMNS:
        return f"strftime('%Y-%m-%dT%H:%M:%fZ', {expr}, 'unixepoch')"
    if for_csv and name in _FREE_TEXT:
        starts = ", ".join(f"char({ord(c)})" for c in FORMULA_START)
        return f"CASE WHEN substr({expr}, 1, 1) IN ({starts}) THEN char(39) || {expr} ELSE {expr} END"
    if as_json and name in _JSON_COLUMNS:
        return f"json({expr})"  # an object in JSON Lines, not a string holding one
    return expr


def _scope(f: ExportFilter) -> tuple[list[str], list, list[str], list]:
    """Which labels and samples an export holds: the conditions that join a sample's labels (and their
    parameters), and those on the sample (and theirs)."""
    label_on, label_params = ["l.sample_id = s.id"], []
    if not f.per_label:
        label_on += ["l.verdict IS NOT NULL", NEWEST_LABEL]
    if f.annotator:
        label_on.append("l.annotator = ?")
        label_params.append(f.annotator)
    where, where_params = equals(("r.name", f.run), ("s.model", f.model), ("s.variant", f.variant),
                                 ("s.tier", f.tier), ("s.outcome", f.outcome))
    if f.labeled_only or f.per_label:
        where.append("l.id IS NOT NULL")
    if f.pairs_where:
        where.append(f"pr.id IN (SELECT p.id FROM pairs p WHERE {f.pairs_where})")
        where_params += list(f.pairs_params)
    return label_on, label_params, where, where_params


_PAIR_JOIN = ("LEFT JOIN pairs pr ON pr.run_id = s.run_id AND pr.model = s.model AND pr.variant = s.variant "
              "AND pr.prompt_id = s.prompt_id AND pr.epoch = s.epoch ")
_SAFE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def export_layout(conn: sqlite3.Connection, f: ExportFilter) -> Layout:
    """The criterion columns of the export `f`: which criteria of which rubrics its labels answered (yes or
    no), and per annotator those they answered. One query over the export's labels, not its samples."""
    label_on, label_params, where, where_params = _scope(f)
    found = conn.execute(
        "SELECT DISTINCT l.annotator, l.rubric_sha256, je.key FROM samples s JOIN runs r ON r.id = s.run_id "
        + (_PAIR_JOIN if f.pairs_where else "")
        + f"JOIN labels l ON {' AND '.join(label_on)} JOIN json_each({_LABEL_CRITERIA}) je "
        f"WHERE je.type != 'null'" + "".join(f" AND {w}" for w in where),
        [*label_params, *where_params]).fetchall()
    # a criterion id JSON paths cannot name (a '"' in a label merged from elsewhere) stays in `criteria` only
    found = [(annotator, sha, key) for annotator, sha, key in found if '"' not in key]
    rubrics = {sha: rubric_by_sha(conn, sha) for sha in {sha for _, sha, _ in found}}
    answered = {(sha, key) for _, sha, key in found}
    # (rubric id, criterion id) by rubric id, each in its rubric's order (the newest version's first), with
    # the hashes it comes from
    wanted: dict[tuple[str, str], set] = {}
    for rid in sorted({r.id for r in rubrics.values()}):
        versions = sorted(((sha, r) for sha, r in rubrics.items() if r.id == rid),
                          key=lambda item: (item[1].version, item[0] or ""), reverse=True)
        order = list(dict.fromkeys(c for _, r in versions for c in r.ids))
        keys = {key for sha, _ in versions for s, key in answered if s == sha}
        for key in [*(c for c in order if c in keys), *sorted(keys - set(order))]:
            wanted[(rid, key)] = {sha for sha, _ in versions if (sha, key) in answered}
    names: dict[tuple[str, str], str] = {}
    for rid, key in wanted:
        shared = any(k == key and r != rid for r, k in wanted)
        names[(rid, key)] = key if _SAFE_NAME.match(key) and not shared and key not in FIXED_COLUMNS \
            else f"{rid}.{key}"
    criteria = {}
    for (rid, key), shas in wanted.items():
        known = ", ".join(_sql_text(sha or "") for sha in sorted(shas, key=lambda s: s or ""))
        path = _sql_text(f'$."{key}"')
        criteria[names[(rid, key)]] = (f"CASE WHEN coalesce(l.rubric_sha256, '') IN ({known}) "
                                       f"THEN json_extract({_LABEL_CRITERIA}, {path}) END")
    by_sha_key = {(sha, key): names[(rubrics[sha].id, key)] for sha, key in answered}
    annotators: dict[str, list[str]] = {}
    for annotator, sha, key in found:
        annotators.setdefault(annotator, []).append(by_sha_key[(sha, key)])
    order = list(criteria)
    return Layout(criteria, {a: tuple(sorted(set(cols), key=order.index)) for a, cols in sorted(annotators.items())})


def query(f: ExportFilter, *, for_csv: bool = False, as_json: bool = False,
          judge: tuple[str, str] | None = None, layout: Layout | None = None,
          extra: tuple[str, ...] = ()) -> tuple[str, list]:
    """The SQL of an export: one row per sample and current label (an unlabeled sample gives one row with
    empty label fields), or per label change with per_label. for_csv neutralises text cells; as_json
    selects one JSON object per row (built by SQLite) instead of the columns. `judge` (from resolve_judge)
    fills the judge columns; at most one judgement per sample matches it (unique per sample, model, prompt).
    The columns are the layout's (export_layout; None: the fixed ones only), then `extra` (MEASURES for the
    Python API's samples())."""
    layout = layout or Layout()
    columns = (*layout.columns, *extra)
    judge_on = "j.sample_id = s.id AND j.judge_model = ? AND j.prompt_sha256 = ? AND j.task = 'alignment_faking'"
    params: list = list(judge) if judge else []
    if not judge:
        judge_on = "0"
    label_on, label_params, where, where_params = _scope(f)
    params += label_params + where_params
    expressions = [_column_sql(c, for_csv=for_csv, as_json=as_json, layout=layout) for c in columns]
    if as_json:
        select = ("json_object(" + ", ".join(f"{_sql_text(c)}, {e}" for c, e in zip(columns, expressions, strict=True))
                  + f", 'judges', json({_ALL_JUDGES}))")
    else:
        select = ", ".join(f"{e} AS \"{c.replace(chr(34), chr(34) * 2)}\""
                           for c, e in zip(columns, expressions, strict=True))
    sql = (
        f"SELECT {select} "
        "FROM samples s JOIN runs r ON r.id = s.run_id JOIN prompts p ON p.id = s.prompt_id "
        + _PAIR_JOIN +
        f"LEFT JOIN judgements j ON {judge_on} "
        f"LEFT JOIN labels adj ON {_ADJUDICATED} "
        f"LEFT JOIN labels l ON {' AND '.join(label_on)} "
        "LEFT JOIN rubrics rb ON rb.sha256 = l.rubric_sha256"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY s.id, l.annotator, l.created_at, l.id"
    )
    return sql, params


def iter_rows(conn: sqlite3.Connection, f: ExportFilter, *, for_csv: bool = False, as_json: bool = False,
              layout: Layout | None = None, extra: tuple[str, ...] = ()) -> Iterator[tuple]:
    """The export's rows, straight from a SQLite cursor (nothing is held but the current batch), in the
    layout's columns (default: export_layout's) and then `extra`."""
    layout = layout if layout is not None else export_layout(conn, f)
    sql, params = query(f, for_csv=for_csv, as_json=as_json, judge=resolve_judge(conn, f.judge), layout=layout,
                        extra=extra)
    cur = conn.execute(sql, params)
    cur.arraysize = 1000
    while batch := cur.fetchmany():
        yield from batch


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
    check_target(out, Path(db_path) if db_path else None)
    fmt = format_for(out, fmt)
    _validate(conn, f)
    # Two lines for two mistakes: `wide.jsonl --per sample` was told it "cannot be combined with --per-label".
    if f.per == "sample" and f.per_label:
        raise AfError("--per sample writes CSV (one row per sample, a verdict:ANNOTATOR column each) and "
                      "cannot be combined with --per-label (a row per label change); drop one of them")
    if f.per == "sample" and fmt != "csv":
        raise AfError(f"--per sample writes CSV (one row per sample, a verdict:ANNOTATOR column each), not {fmt}; "
                      "give a .csv path")
    writer = {"csv": _write_csv, "jsonl": _write_jsonl, "parquet": _write_parquet}[fmt]
    if fmt == "parquet":
        _require_pyarrow()
    try:
        with atomic_write(out, "wb" if fmt == "parquet" else "w", newline="") as fh:
            n = writer(fh, conn, f)
            if n == 0:
                raise AfError(f"no rows match {f.describe()}; nothing written")
    except OSError as exc:
        raise AfError(f"cannot write {out}: {exc.strerror or exc}; nothing written") from None
    return ExportResult(out, n, fmt)


def _write_csv(fh, conn: sqlite3.Connection, f: ExportFilter) -> int:
    # RFC 4180 (CRLF); the text cells were neutralised by the query itself
    layout = export_layout(conn, f)
    if f.per == "sample":
        columns, rows = per_sample_rows(conn, f, layout)
        return write_csv(fh, columns, rows, cells_safe=True)
    return write_csv(fh, layout.columns, iter_rows(conn, f, for_csv=True, layout=layout), cells_safe=True)


def per_sample_rows(conn: sqlite3.Connection, f: ExportFilter,
                    layout: Layout | None = None) -> tuple[tuple[str, ...], Iterator[tuple]]:
    """`--per sample`: the header (the sample's columns, then per annotator of the export `verdict:ANNOTATOR`,
    `rubric:ANNOTATOR` and a `CRITERION:ANNOTATOR` column per criterion they answered, so the header says the
    layout) and one row per sample with each annotator's current label, empty where they gave none."""
    layout = layout if layout is not None else export_layout(conn, f)
    columns = layout.columns
    # every annotator with a current label in the export (one who answered no criterion too)
    label_on, label_params, scope, scope_params = _scope(f)
    annotators = [r[0] for r in conn.execute(
        "SELECT DISTINCT l.annotator FROM samples s JOIN runs r ON r.id = s.run_id "
        + (_PAIR_JOIN if f.pairs_where else "") + f"JOIN labels l ON {' AND '.join(label_on)}"
        + "".join(f" {'WHERE' if i == 0 else 'AND'} {w}" for i, w in enumerate(scope))
        + " ORDER BY l.annotator", [*label_params, *scope_params])]
    keep = [columns.index(c) for c in SAMPLE_COLUMNS]
    at_annotator, at_sample = len(columns), columns.index("sample_id")  # the name as stored: see `extra`
    per_annotator = {a: (columns.index("verdict"), columns.index("rubric"),
                         *(columns.index(c) for c in layout.annotators.get(a, ()))) for a in annotators}
    header = (*SAMPLE_COLUMNS, *(name for a in annotators for name in (
        f"verdict:{a}", f"rubric:{a}", *(f"{c}:{a}" for c in layout.annotators.get(a, ())))))
    empty = {a: (None,) * len(at) for a, at in per_annotator.items()}

    def rows() -> Iterator[tuple]:
        current, labels = None, {}
        for row in iter_rows(conn, f, for_csv=True, layout=layout, extra=("_annotator",)):
            if current is not None and row[at_sample] != current[at_sample]:
                yield (*(current[i] for i in keep), *(v for a in annotators for v in labels.get(a, empty[a])))
                labels = {}
            current = row
            annotator = row[at_annotator]
            if annotator is not None:
                labels[annotator] = tuple(row[i] for i in per_annotator[annotator])
        if current is not None:
            yield (*(current[i] for i in keep), *(v for a in annotators for v in labels.get(a, empty[a])))

    return header, rows()


def _write_jsonl(fh, conn: sqlite3.Connection, f: ExportFilter) -> int:
    n = 0
    for row in iter_rows(conn, f, as_json=True):
        fh.write(row[0] + "\n")
        n += 1
    return n


def _require_pyarrow() -> None:
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise AfError(MISSING_PYARROW) from None


def _arrow_type(pa, kind: str | None):
    return {"int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(), "time": pa.timestamp("ms", tz="UTC")}.get(
        kind, pa.string())


def _arrow_column(pa, values: list, kind: str | None):
    """One column of a batch, typed: the vocabularies dictionary-encoded (a categorical in pandas), ISO times
    parsed to UTC timestamps (the same text as the CSV's, so both read back equal)."""
    if kind == "bool":
        return pa.array([None if v is None else bool(v) for v in values], pa.bool_())
    if kind == "time":
        return pa.array(values, pa.string()).cast(pa.timestamp("ms", tz="UTC"))
    if kind in ("tier", "outcome", "verdict", "rule"):
        return pa.array(values, pa.string()).dictionary_encode()
    return pa.array(values, _arrow_type(pa, kind))


def parquet_schema(pa, layout: Layout | None = None):
    layout = layout or Layout()
    kinds = {**COLUMN_TYPES, **layout.kinds}
    return pa.schema([
        (c, pa.dictionary(pa.int32(), pa.string()) if kinds.get(c) in ("tier", "outcome", "verdict", "rule")
         else _arrow_type(pa, kinds.get(c))) for c in layout.columns])


def _write_parquet(fh, conn: sqlite3.Connection, f: ExportFilter, batch_rows: int = 10_000) -> int:
    """Row groups of `batch_rows` rows, so memory stays flat at any size."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    layout = export_layout(conn, f)
    schema = parquet_schema(pa, layout)
    n = 0
    with pq.ParquetWriter(fh, schema) as writer:
        batch: list[tuple] = []
        for row in iter_rows(conn, f, layout=layout):
            batch.append(row)
            if len(batch) == batch_rows:
                n += _write_batch(pa, writer, schema, batch, layout)
                batch = []
        if batch:
            n += _write_batch(pa, writer, schema, batch, layout)
    return n


def _write_batch(pa, writer, schema, rows: list[tuple], layout: Layout) -> int:
    kinds = {**COLUMN_TYPES, **layout.kinds}
    columns = [_arrow_column(pa, list(values), kinds.get(name))
               for name, values in zip(layout.columns, zip(*rows, strict=True), strict=True)]
    writer.write_batch(pa.record_batch(columns, schema=schema))
    return len(rows)
