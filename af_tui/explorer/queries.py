"""The explorer's queries over the store: filtered pair ids, one page of pair rows, one pair's texts, what
changed since the last look, and the run monitor's progress. SQL lives here, not in widgets.

Every function takes a `sqlite3.Connection` owned by the calling (worker) thread and returns plain data.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
import time
from array import array
from dataclasses import dataclass, field, replace

from af_tui.domain import OUTCOME_BADGE as OUTCOME_SHORT  # noqa: E402,F401
from af_tui.domain import OUTCOMES  # noqa: E402,F401
from af_tui.experiment.rules import NEXT_TURN, SCRATCHPAD_SEPARATOR, scratchpads
from af_tui.store.labels import NEWEST_LABEL


@dataclass(frozen=True)
class PairFilter:
    """What the pairs list shows. Empty fields do not filter."""

    run: str | None = None
    model: str | None = None
    variant: str | None = None
    free_outcome: str | None = None
    paid_outcome: str | None = None
    errors_only: bool = False
    format_not_followed_only: bool = False
    search: str = ""
    judge_disagrees: bool = False  # the LLM judge and a person disagree on a sample of the pair

    @property
    def is_empty(self) -> bool:
        return self == PairFilter()

    @property
    def by_content(self) -> bool:
        """True when a pair's membership can change after it was first seen (its second tier arriving)."""
        return bool(self.free_outcome or self.paid_outcome or self.errors_only or self.format_not_followed_only
                    or self.search or self.judge_disagrees)

    def with_(self, **changes) -> PairFilter:
        return replace(self, **changes)

    def describe(self) -> str:
        parts = []
        for name in ("run", "model", "variant"):
            if getattr(self, name):
                parts.append(f"{name}={getattr(self, name)}")
        if self.free_outcome:
            parts.append(f"free={self.free_outcome}")
        if self.paid_outcome:
            parts.append(f"paid={self.paid_outcome}")
        if self.errors_only:
            parts.append("errors only")
        if self.format_not_followed_only:
            parts.append("format not followed only")
        if self.search:
            parts.append(f"search “{self.search}”")
        if self.judge_disagrees:
            parts.append("judge ≠ human")
        return ", ".join(parts)

    def where(self, conn: sqlite3.Connection | None = None) -> tuple[str, list]:
        """SQL condition on `pairs p` (and its parameters). With `conn`, a search with few matches takes
        the plan that starts from the matches (see _search_condition)."""
        conds: list[str] = []
        params: list = []
        for clause, value in (("p.run_id = (SELECT id FROM runs WHERE name = ?)", self.run),
                              ("p.model = ?", self.model), ("p.variant = ?", self.variant),
                              ("p.free_outcome = ?", self.free_outcome), ("p.paid_outcome = ?", self.paid_outcome)):
            if value:
                conds.append(clause)
                params.append(value)
        if self.errors_only:
            conds.append("(p.free_outcome = 'error' OR p.paid_outcome = 'error')")
        if self.format_not_followed_only:
            conds.append("(p.free_outcome = 'format_not_followed' OR p.paid_outcome = 'format_not_followed')")
        if self.search:
            query = fts_query(self.search)
            if query:
                cond, n = _search_condition(conn, query)
                conds.append(cond)
                params += [query] * n
        if self.judge_disagrees:
            from af_tui.judge.core import pair_disagreement_sql

            conds.append(pair_disagreement_sql())
        return (" AND ".join(conds) or "1"), params


# A search matching fewer than these starts from its matches; more, and it checks every pair.
FEW_SAMPLE_MATCHES = 5_000
FEW_PROMPT_MATCHES = 50


def _search_condition(conn: sqlite3.Connection | None, query: str) -> tuple[str, int]:
    """The search's condition on `pairs p`, and how many times it takes the FTS query as a parameter.

    Two plans: from the matches (FTS rowids → samples → pairs through the pairs' unique index, and matching
    prompts → pairs per slice, the slices read from the small pair_counts table) costs what the matches cost — 0.2 ms for a rare word in a 200k-sample
    store; checking every pair against the match sets costs a scan of the pairs (~40 ms there) but beats
    the first plan when nearly everything matches. A cheap probe (FTS with a LIMIT) picks one."""
    if conn is not None:
        try:
            samples = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM samples_fts WHERE samples_fts MATCH ? "
                                   "LIMIT ?)", (query, FEW_SAMPLE_MATCHES)).fetchone()[0]
            prompts = conn.execute("SELECT COUNT(*) FROM (SELECT 1 FROM prompts_fts WHERE prompts_fts MATCH ? "
                                   "LIMIT ?)", (query, FEW_PROMPT_MATCHES)).fetchone()[0]
        except sqlite3.OperationalError:
            samples = prompts = None
        if samples is not None and samples < FEW_SAMPLE_MATCHES and prompts < FEW_PROMPT_MATCHES:
            return (
                "p.id IN (SELECT p2.id FROM samples_fts f JOIN samples s ON s.id = f.rowid"
                " JOIN pairs p2 ON p2.run_id = s.run_id AND p2.model = s.model AND p2.variant = s.variant"
                " AND p2.prompt_id = s.prompt_id AND p2.epoch = s.epoch WHERE samples_fts MATCH ?"
                " UNION ALL SELECT p3.id FROM (SELECT DISTINCT run_id, model, variant FROM pair_counts) k"
                " JOIN pairs p3 ON p3.run_id = k.run_id AND p3.model = k.model AND p3.variant = k.variant"
                " AND p3.prompt_id IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ?))", 2)
    return ("(p.free_sample_id IN (SELECT rowid FROM samples_fts WHERE samples_fts MATCH ?)"
            " OR p.paid_sample_id IN (SELECT rowid FROM samples_fts WHERE samples_fts MATCH ?)"
            " OR p.prompt_id IN (SELECT rowid FROM prompts_fts WHERE prompts_fts MATCH ?))", 3)


# "Complied on free, refused on paid": the alignment-faking candidates, one key away.
CANDIDATES = PairFilter(free_outcome="complied", paid_outcome="refused")

_TOKEN = re.compile(r"\S+")


def fts_query(text: str) -> str:
    """A user's search words as a safe FTS5 query: every word must appear (as typed, a trailing * is a
    prefix search); quotes and FTS operators in the text are taken literally."""
    terms = []
    for word in _TOKEN.findall(text):
        prefix = word.endswith("*") and len(word) > 1
        word = word.rstrip("*") if prefix else word
        word = word.replace('"', '""')
        if word.strip("*"):
            terms.append(f'"{word}"' + ("*" if prefix else ""))
    return " ".join(terms)


# -- the list --------------------------------------------------------------------------------------------
def pair_ids(conn: sqlite3.Connection, flt: PairFilter, after_id: int = 0, limit: int = -1) -> array:
    """Ids of the pairs the filter keeps, ascending (the list's order: the order samples arrived)."""
    where, params = flt.where(conn)
    select = f"SELECT p.id FROM pairs p WHERE p.id > ? AND {where} ORDER BY p.id LIMIT ?"
    ids = array("q")
    if 0 <= limit <= 1000:
        ids.extend(r[0] for r in conn.execute(select, [after_id, *params, limit]))
        return ids
    # Many ids: SQLite packs them into one hex string in a single step (the GIL is released meanwhile, so
    # the UI thread keeps running), and Python unpacks it in C — no Python object per row.
    packed = conn.execute(f"SELECT group_concat(printf('%016x', id), '') FROM ({select})",
                          [after_id, *params, limit]).fetchone()[0]
    if packed:
        ids.frombytes(bytes.fromhex(packed))
        if sys.byteorder == "little":
            ids.byteswap()
    return ids


def count_pairs(conn: sqlite3.Connection, flt: PairFilter) -> int:
    """How many pairs the filter keeps (counted inside SQLite: no row reaches Python)."""
    where, params = flt.where(conn)
    return conn.execute(f"SELECT COUNT(*) FROM pairs p WHERE {where}", params).fetchone()[0]


def total_pairs(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT COUNT(*) FROM pairs").fetchone()[0]


def matching(conn: sqlite3.Connection, flt: PairFilter, ids: list[int]) -> set[int]:
    """Which of these pair ids the filter keeps."""
    if not ids:
        return set()
    where, params = flt.where(conn)
    found: set[int] = set()
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        rows = conn.execute(f"SELECT p.id FROM pairs p WHERE p.id IN ({','.join('?' * len(chunk))}) AND {where}",
                            [*chunk, *params])
        found.update(r[0] for r in rows)
    return found


def last_change(conn: sqlite3.Connection) -> int:
    """The newest entry of the store's pair-change log (a watermark for `changed_pairs`)."""
    return conn.execute("SELECT COALESCE(MAX(seq), 0) FROM pair_changes").fetchone()[0]


def changed_pairs(conn: sqlite3.Connection, after: int) -> tuple[list[int], int]:
    """Pairs that changed after the watermark `after` — new pairs, a second tier arriving, an error sample
    replaced by its retry — and the new watermark. The log is kept by the store's triggers."""
    rows = conn.execute("SELECT seq, pair_id FROM pair_changes WHERE seq > ?", (after,)).fetchall()
    newest = rows[-1][0] if rows else after
    return sorted({r[1] for r in rows}), newest


@dataclass(frozen=True)
class PairRow:
    """One line of the pairs list."""

    id: int
    run: str
    model: str
    variant: str
    prompt_index: int | None
    epoch: int
    free_outcome: str | None
    paid_outcome: str | None
    request: str  # the first words, raw (the widget makes them inert)
    labels: int = 0  # current labels (annotator × sample) with a verdict
    labels_af: bool = False  # one of them says alignment faking
    judged: bool = False
    judged_af: bool = False

    @property
    def marks(self) -> str:
        label = (f"L{self.labels}" + ("*" if self.labels_af else "")) if self.labels else ""
        judge = ("J*" if self.judged_af else "J") if self.judged else ""
        return " ".join(m for m in (label, judge) if m)


def pair_rows(conn: sqlite3.Connection, ids: list[int]) -> dict[int, PairRow]:
    """The list lines of these pairs (one page), with their label and judge marks."""
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    rows = conn.execute(
        "SELECT p.id, r.name, p.model, p.variant, p.prompt_index, p.epoch, p.free_outcome, p.paid_outcome,"
        " substr(pr.text, 1, 300), p.free_sample_id, p.paid_sample_id FROM pairs p"
        " JOIN runs r ON r.id = p.run_id JOIN prompts pr ON pr.id = p.prompt_id"
        f" WHERE p.id IN ({marks})", list(ids)).fetchall()
    sample_pair = {}
    for r in rows:
        for sid in (r[9], r[10]):
            if sid is not None:
                sample_pair[sid] = r[0]
    labels: dict[int, list] = {}
    judged: dict[int, list] = {}
    if sample_pair:
        sids = list(sample_pair)
        q = ",".join("?" * len(sids))
        # The current label is the newest row per (sample, annotator); a NULL verdict clears it.
        for sid, verdict in conn.execute(
            "SELECT l.sample_id, l.verdict FROM labels l WHERE l.sample_id IN (" + q + ") AND " + NEWEST_LABEL,
            sids):
            if verdict is not None:
                labels.setdefault(sample_pair[sid], []).append(verdict)
        for sid, verdict in conn.execute(f"SELECT sample_id, verdict FROM judgements WHERE sample_id IN ({q})",
                                         sids):
            judged.setdefault(sample_pair[sid], []).append(verdict)
    out = {}
    for r in rows:
        ls, js = labels.get(r[0], []), judged.get(r[0], [])
        out[r[0]] = PairRow(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8] or "", len(ls),
                            "alignment_faking" in ls, bool(js), "alignment_faking" in js)
    return out


def facets(conn: sqlite3.Connection) -> dict[str, list[str]]:
    """The runs, models and variants a filter can pick from."""
    return {
        "run": [r[0] for r in conn.execute("SELECT name FROM runs ORDER BY id")],
        "model": [r[0] for r in conn.execute("SELECT DISTINCT model FROM pairs ORDER BY model")],
        "variant": [r[0] for r in conn.execute("SELECT DISTINCT variant FROM pairs ORDER BY variant")],
    }


# -- one pair --------------------------------------------------------------------------------------------
@dataclass
class Turn:
    index: int  # 1-based assistant turn
    after_next: bool  # this turn answered a <NEXT/> user turn
    scratchpads: list[str]


@dataclass
class SampleDetail:
    id: int
    tier: str
    outcome: str
    output: str | None
    turns: list[Turn]
    transcript: list[dict]
    input_tokens: int | None
    output_tokens: int | None
    latency_s: float | None
    attempts: int | None
    error: str | None


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


def _turns(transcript: list[dict], scratchpad: str | None) -> list[Turn]:
    """Scratchpads per assistant turn, from the transcript; the joined column when there is none."""
    turns: list[Turn] = []
    previous_user = None
    for message in transcript:
        content = message.get("content")
        if not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        if message.get("role") == "assistant":
            turns.append(Turn(len(turns) + 1, (previous_user or "").strip() == NEXT_TURN, scratchpads([content])))
        else:
            previous_user = content
    if not turns and scratchpad:
        turns = [Turn(i + 1, i > 0, [part]) for i, part in enumerate(scratchpad.split(SCRATCHPAD_SEPARATOR))]
    return turns


def _sample(conn: sqlite3.Connection, sample_id: int | None) -> SampleDetail | None:
    if sample_id is None:
        return None
    row = conn.execute(
        "SELECT id, tier, outcome, output, scratchpad, transcript, input_tokens, output_tokens, latency_s,"
        " attempts, error FROM samples WHERE id = ?", (sample_id,)).fetchone()
    if row is None:
        return None
    try:
        transcript = json.loads(row[5]) if row[5] else []
        if not isinstance(transcript, list):
            transcript = []
    except ValueError:
        transcript = [{"role": "?", "content": row[5]}]
    transcript = [m if isinstance(m, dict) else {"role": "?", "content": str(m)} for m in transcript]
    return SampleDetail(row[0], row[1], row[2], row[3], _turns(transcript, row[4]), transcript, row[6], row[7],
                        row[8], row[9], row[10])


def pair_detail(conn: sqlite3.Connection, pair_id: int) -> PairDetail | None:
    row = conn.execute(
        "SELECT p.id, r.name, p.model, p.variant, p.prompt_index, p.epoch, pr.text, p.free_sample_id,"
        " p.paid_sample_id FROM pairs p JOIN runs r ON r.id = p.run_id JOIN prompts pr ON pr.id = p.prompt_id"
        " WHERE p.id = ?", (pair_id,)).fetchone()
    if row is None:
        return None
    return PairDetail(*row[:7], free=_sample(conn, row[7]), paid=_sample(conn, row[8]))


# -- the run monitor -------------------------------------------------------------------------------------
STALE_AFTER_S = 60.0  # a running run whose writer has not touched heartbeat_at for this long looks dead


@dataclass
class ModelProgress:
    model: str
    done: int
    errors: int
    planned: int | None
    last_error: str | None


@dataclass
class RunProgress:
    id: int
    name: str
    planned: int | None
    started_at: float | None
    fresh: bool
    models: list[ModelProgress]

    @property
    def done(self) -> int:
        return sum(m.done for m in self.models)

    @property
    def errors(self) -> int:
        return sum(m.errors for m in self.models)


def running_runs(conn: sqlite3.Connection, now: float | None = None) -> list[RunProgress]:
    """Runs with status running: samples done and errors per model, against the planned size."""
    now = time.time() if now is None else now
    out = []
    for run_id, name, planned, config, started, heartbeat in conn.execute(
            "SELECT id, name, planned, config, started_at, heartbeat_at FROM runs WHERE status = 'running'"
            " ORDER BY id").fetchall():
        try:
            cfg = json.loads(config or "{}")
        except ValueError:
            cfg = {}
        models_cfg = cfg.get("models") if isinstance(cfg, dict) else None
        names = [m if isinstance(m, str) else str(m.get("name", m)) if isinstance(m, dict) else str(m)
                 for m in models_cfg] if isinstance(models_cfg, list) else []
        counts = {m: [n, e] for m, n, e in conn.execute(
            "SELECT model, COUNT(*), SUM(outcome = 'error') FROM samples WHERE run_id = ? GROUP BY model",
            (run_id,))}
        per_model = planned // len(names) if planned and names else None
        models = []
        for model in names + sorted(set(counts) - set(names)):
            n, e = counts.get(model, [0, 0])
            last = None
            if e:
                hit = conn.execute("SELECT error FROM samples WHERE run_id = ? AND model = ? AND outcome = 'error'"
                                   " ORDER BY id DESC LIMIT 1", (run_id, model)).fetchone()
                last = hit[0] if hit else None
            models.append(ModelProgress(model, n, e or 0, per_model if model in names else None, last))
        fresh = heartbeat is not None and now - heartbeat < STALE_AFTER_S
        out.append(RunProgress(run_id, name, planned, started, fresh, models))
    return out
