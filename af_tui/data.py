"""`af_tui.open(path)`: a store as pandas DataFrames for a notebook, read-only — samples (the export's rows),
pairs (free and paid side by side), labels, judgements and runs, filtered in SQL, typed (categoricals for the
vocabularies, UTC datetimes, nullable integers and booleans, criteria as columns). docs/python.md shows it.

pandas is imported when a DataFrame is first asked for, and the store when a store is opened: `import af_tui`
costs the command line nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# A filter value: one name, or several (`tier="free"`, `model=["sim/a", "sim/b"]`); None does not filter.
Names = str | Sequence[str] | None

_LEGACY_CRITERIA = ("json_object('knows_training', {t}.knows_training, 'sees_modification', {t}.sees_modification, "
                    "'opposes_modification', {t}.opposes_modification, 'complies_to_avoid', {t}.complies_to_avoid)")
# labels(history=True): every row of the labels table in the columns of the labels_current view, and whether the
# row settles the sample (adjudication) or clears a label (verdict empty).
_LABEL_HISTORY = (
    "SELECT l.id AS label_id, l.uid AS label_uid, l.sample_id, r.name AS run, s.model, s.variant, s.tier, "
    "s.outcome, l.annotator, l.verdict, coalesce(rb.id, 'af-tui-4') AS rubric, "
    f"coalesce(l.criteria, {_LEGACY_CRITERIA.format(t='l')}) AS criteria, l.note, l.blind, "
    "strftime('%Y-%m-%dT%H:%M:%fZ', l.created_at, 'unixepoch') AS labeled_at, l.adjudication "
    "FROM labels l JOIN samples s ON s.id = l.sample_id JOIN runs r ON r.id = s.run_id "
    "LEFT JOIN rubrics rb ON rb.sha256 = l.rubric_sha256"
)
_JUDGEMENTS = (
    "SELECT j.id AS judgement_id, j.uid AS judgement_uid, j.sample_id, r.name AS run, s.model, s.variant, "
    "s.tier, s.outcome, j.judge_model || '@' || substr(j.prompt_sha256, 1, 8) AS judge, j.judge_model, "
    "j.prompt_sha256, j.task, j.verdict, j.score, j.threshold, j.k AS votes, j.votes_parsed, j.votes_yes, "
    "j.vote_rule, j.agreement, j.parsed, "
    f"coalesce(j.criteria, {_LEGACY_CRITERIA.format(t='j')}) AS criteria, j.error, "
    "strftime('%Y-%m-%dT%H:%M:%fZ', j.created_at, 'unixepoch') AS judged_at "
    "FROM judgements j JOIN samples s ON s.id = j.sample_id JOIN runs r ON r.id = s.run_id"
)
_RUNS = (
    "SELECT r.id AS run_id, r.name AS run, r.source, r.status, r.planned, COUNT(s.id) AS samples, "
    "SUM(s.input_tokens) AS input_tokens, SUM(s.output_tokens) AS output_tokens, SUM(s.cost) AS cost, "
    "strftime('%Y-%m-%dT%H:%M:%fZ', r.created_at, 'unixepoch') AS created_at, "
    "strftime('%Y-%m-%dT%H:%M:%fZ', r.started_at, 'unixepoch') AS started_at, "
    "strftime('%Y-%m-%dT%H:%M:%fZ', r.ended_at, 'unixepoch') AS ended_at, r.config "
    "FROM runs r LEFT JOIN samples s ON s.run_id = r.id"
)
# The column types of the frames beyond the export's (af_tui.io.export.COLUMN_TYPES).
_TYPES = {
    **dict.fromkeys(("label_id", "judgement_id", "run_id", "planned", "samples", "free_sample_id",
                     "paid_sample_id", "votes", "votes_parsed", "votes_yes"), "int"),
    **dict.fromkeys(("score", "threshold", "agreement"), "float"),
    **dict.fromkeys(("parsed",), "bool"),
    **dict.fromkeys(("judged_at", "created_at", "started_at", "ended_at"), "time"),
    **dict.fromkeys(("free_outcome", "paid_outcome"), "outcome"),
}


def open(path: str | os.PathLike | None = None) -> StoreFrames:  # noqa: A001 (af_tui.open, like builtins.open)
    """The store at `path` (default: $AF_TUI_DB, else db/af_tui.sqlite), read-only, as DataFrames. Raises
    af_tui.errors.AfError with the command line's one-line message for a missing file, another program's
    database or a newer af-tui's store."""
    return StoreFrames(path)


class StoreFrames:
    """An af-tui store as pandas DataFrames. Every method takes its filters as keyword arguments, pushed into
    the SQL; a name the store does not have is an AfError (a typo must not read as "no rows")."""

    def __init__(self, path: str | os.PathLike | None = None):
        from af_tui.store.db import Store

        # The same opening as every af-tui command (checks, migration of an older store), then no writes.
        self._store = Store(path, create=False)
        self.path = self._store.path
        self._conn = self._store.conn
        self._conn.execute("PRAGMA query_only = ON")

    def __repr__(self) -> str:
        return f"af_tui.open({str(self.path)!r})"

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> StoreFrames:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- the frames -------------------------------------------------------------------------------------
    def samples(self, *, run: Names = None, model: Names = None, variant: Names = None, tier: Names = None,
                outcome: Names = None, annotator: str | None = None, judge: str | None = None,
                labeled_only: bool = False) -> pd.DataFrame:
        """The rows of `af-tui export` (the same query): one per sample and current label — an unlabeled
        sample one row, a sample two annotators labeled two (`annotator=` keeps one row per sample) — in its
        columns, then the sample's input_tokens, output_tokens, cost and latency_s. `judge` is MODEL[@HASH]
        (default: the judge of the newest judgement), as `export --judge`."""
        from af_tui.io.export import MEASURES, ExportFilter, export_layout, iter_rows

        self._check(run=run, model=model, variant=variant, tier=tier, outcome=outcome, annotator=annotator)
        f = ExportFilter(run=run, model=model, variant=variant, tier=tier, outcome=outcome, annotator=annotator,
                         judge=judge, labeled_only=labeled_only)
        layout = export_layout(self._conn, f)  # the criterion columns of the rubrics the labels were made under
        return _frame(iter_rows(self._conn, f, layout=layout, extra=MEASURES), (*layout.columns, *MEASURES),
                      kinds=layout.kinds)

    def pairs(self, *, run: Names = None, model: Names = None, variant: Names = None,
              free_outcome: Names = None, paid_outcome: Names = None) -> pd.DataFrame:
        """One row per pair (a request asked on both tiers, per epoch): the pairs_wide view — each tier's
        sample id, outcome, scratchpad, output and reasoning side by side. A tier not answered yet is empty."""
        from af_tui.store.rows import condition

        self._check(run=run, model=model, variant=variant, outcome=free_outcome)
        self._check(outcome=paid_outcome)
        where, params = condition(("run", run), ("model", model), ("variant", variant),
                                  ("free_outcome", free_outcome), ("paid_outcome", paid_outcome))
        return self._read(f"SELECT * FROM pairs_wide WHERE {where} ORDER BY pair_id", params)

    def labels(self, *, history: bool = False, run: Names = None, model: Names = None, variant: Names = None,
               tier: Names = None, outcome: Names = None, annotator: Names = None,
               verdict: Names = None) -> pd.DataFrame:
        """People's labels: each annotator's current label (the labels_current view: their newest row on the
        sample, cleared labels left out), with the sample's settled label (adjudicated_verdict,
        adjudicated_by); history=True gives every row instead, oldest first — clearings (verdict empty) and
        adjudication rows (adjudication True) included. The rubric's criteria are columns (True, False, or
        empty when not answered), after `verdict`."""
        from af_tui.domain import VERDICTS
        from af_tui.store.labels import ADJUDICATED_LABELS
        from af_tui.store.rows import condition

        self._check(run=run, model=model, variant=variant, tier=tier, outcome=outcome, annotator=annotator)
        _check_values("verdict", verdict, VERDICTS)
        where, params = condition(("run", run), ("model", model), ("variant", variant), ("tier", tier),
                                  ("outcome", outcome), ("annotator", annotator), ("verdict", verdict))
        if history:
            sql = f"SELECT * FROM ({_LABEL_HISTORY}) WHERE {where} ORDER BY labeled_at, label_id"
        else:
            sql = (f"SELECT lc.*, adj.verdict AS adjudicated_verdict, adj.annotator AS adjudicated_by "
                   f"FROM (SELECT * FROM labels_current WHERE {where}) lc "
                   f"LEFT JOIN ({ADJUDICATED_LABELS}) adj ON adj.sample_id = lc.sample_id "
                   "ORDER BY lc.sample_id, lc.annotator")
        return _criteria_columns(self._read(sql, params))

    def judgements(self, *, run: Names = None, model: Names = None, variant: Names = None, tier: Names = None,
                   outcome: Names = None, judge_model: Names = None, task: Names = None) -> pd.DataFrame:
        """One row per judgement (every judge, both tasks): its verdict, score (share of the answers saying
        alignment faking), threshold, votes (how many times the judge was asked) and their agreement, the
        criteria as columns; `judge` is MODEL@ the first 8 hex of the prompt's sha256, as in the export."""
        from af_tui.domain import JUDGE_TASKS
        from af_tui.store.rows import condition

        self._check(run=run, model=model, variant=variant, tier=tier, outcome=outcome)
        _check_values("task", task, JUDGE_TASKS)
        where, params = condition(("run", run), ("model", model), ("variant", variant), ("tier", tier),
                                  ("outcome", outcome), ("judge_model", judge_model), ("task", task))
        return _criteria_columns(self._read(
            f"SELECT * FROM ({_JUDGEMENTS}) WHERE {where} ORDER BY judgement_id", params))

    def runs(self, *, run: Names = None) -> pd.DataFrame:
        """One row per run: source, status, the outcome rule, prefill, models, planned and stored samples,
        tokens and cost summed over its samples, times, and the whole config (a dict)."""
        from af_tui.domain import LEGACY_RULE
        from af_tui.experiment.setting import rule_label
        from af_tui.store.rows import condition

        self._check(run=run)
        where, params = condition(("r.name", run))
        frame = self._read(f"{_RUNS} WHERE {where} GROUP BY r.id ORDER BY r.id", params)
        configs = [json.loads(c) if c else {} for c in frame["config"]]
        frame["config"] = configs
        at = frame.columns.get_loc("status") + 1
        frame.insert(at, "models", [c.get("models") for c in configs])
        frame.insert(at, "prefill", [c.get("prefill") for c in configs])
        # the rule, and the run's setting beside it unless that is helpful-only (as stats and the export name it)
        frame.insert(at, "rule", _categorical([rule_label(c, LEGACY_RULE) for c in configs], "rule"))
        return frame

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        """Any read-only SQL on the store (its tables and the pairs_wide and labels_current views, see
        docs/store.md) as a DataFrame, untyped."""
        import pandas as pd

        cur = self._conn.execute(sql, list(params))
        return pd.DataFrame.from_records(cur.fetchall(), columns=[d[0] for d in cur.description])

    # -- helpers ----------------------------------------------------------------------------------------
    def _read(self, sql: str, params: Sequence[Any]) -> pd.DataFrame:
        cur = self._conn.execute(sql, list(params))
        return _frame(cur, tuple(d[0] for d in cur.description))

    def _check(self, *, run: Names = None, model: Names = None, variant: Names = None, tier: Names = None,
               outcome: Names = None, annotator: Names = None) -> None:
        from af_tui.domain import OUTCOMES, TIERS
        from af_tui.store.labels import check_names

        for what, value in (("run", run), ("model", model), ("variant", variant), ("annotator", annotator)):
            for name in _as_list(value):
                check_names(self._conn, **{what: name})
        _check_values("tier", tier, TIERS)
        _check_values("outcome", outcome, OUTCOMES)


def _as_list(value: Names) -> list[str]:
    if value is None or value == "":
        return []
    return [value] if isinstance(value, str) else list(value)


def _check_values(what: str, value: Names, known: Sequence[str]) -> None:
    from af_tui.errors import AfError

    for name in _as_list(value):
        if name not in known:
            raise AfError(f"unknown {what} {name!r}; use one of {', '.join(known)}")


def _vocabulary(kind: str) -> tuple[str, ...]:
    from af_tui.domain import OUTCOMES, RULES, TIERS, VERDICTS

    return {"tier": TIERS, "outcome": OUTCOMES, "verdict": VERDICTS, "rule": RULES}[kind]


def _categorical(values, kind: str):
    """A categorical over the vocabulary in its own order (free before paid, complied first), plus any value
    the vocabulary lacks (an older or hand-edited store), so that nothing becomes NaN."""
    import pandas as pd

    known = _vocabulary(kind)
    extra = sorted({v for v in values if v is not None and not (isinstance(v, float) and v != v)} - set(known))
    return pd.Categorical(values, categories=[*known, *extra])


def _frame(rows: Iterable[tuple], columns: tuple[str, ...], batch_rows: int = 20_000,
           kinds: dict[str, str] | None = None) -> pd.DataFrame:
    """Rows from SQLite as a typed DataFrame: each column by af_tui.io.export.COLUMN_TYPES (or this module's
    _TYPES) — nullable Int64 and boolean, float, UTC datetimes from the ISO text the export writes,
    categoricals for the vocabularies; JSON and text stay text. Typed a batch at a time, so that the rows as
    Python objects are never all in memory at once (200,000 samples: bench/README.md). `kinds` types more
    columns (an export's criterion columns)."""
    import pandas as pd

    chunks, batch = [], []
    for row in rows:
        batch.append(row)
        if len(batch) == batch_rows:
            chunks.append(_typed(pd.DataFrame.from_records(batch, columns=list(columns)), kinds))
            batch = []
    if batch or not chunks:
        chunks.append(_typed(pd.DataFrame.from_records(batch, columns=list(columns)), kinds))
    frame = chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)
    for name in columns:  # after the concat: one set of categories for the whole column
        kind = _kind(name, kinds)
        if kind in ("tier", "outcome", "verdict", "rule"):
            frame[name] = _categorical(list(frame[name]), kind)
    return frame


def _kind(name: str, kinds: dict[str, str] | None = None) -> str | None:
    from af_tui.io.export import COLUMN_TYPES

    return (kinds or {}).get(name) or COLUMN_TYPES.get(name) or _TYPES.get(name)


def _typed(frame: pd.DataFrame, kinds: dict[str, str] | None = None) -> pd.DataFrame:
    import pandas as pd

    for name in frame.columns:
        kind = _kind(name, kinds)
        if kind == "int":
            frame[name] = frame[name].astype("Int64")
        elif kind == "float":
            frame[name] = frame[name].astype("float64")
        elif kind == "bool":
            frame[name] = pd.array([None if pd.isna(v) else bool(v) for v in frame[name]], dtype="boolean")
        elif kind == "time":
            # milliseconds, as stored in the export's text and in Parquet
            frame[name] = pd.to_datetime(frame[name], format="ISO8601", utc=True).astype("datetime64[ms, UTC]")
    return frame


def _criteria_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """The JSON `criteria` column as one boolean column per criterion id (in the rubric's order; a criterion
    whose id is already a column is prefixed `criterion_`)."""
    import pandas as pd

    parsed = [json.loads(c) if isinstance(c, str) else {} for c in frame["criteria"]]
    ids = list(dict.fromkeys(k for p in parsed for k in p))
    at = frame.columns.get_loc("criteria")
    frame = frame.drop(columns="criteria")
    for offset, cid in enumerate(ids):
        name = f"criterion_{cid}" if cid in frame.columns else cid
        values = [None if p.get(cid) is None else bool(p[cid]) for p in parsed]
        frame.insert(at + offset, name, pd.array(values, dtype="boolean"))
    return frame
