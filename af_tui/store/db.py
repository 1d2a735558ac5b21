"""An open store: the connection, the one-line errors for a path that is missing, not SQLite, another
program's database or a newer af-tui's, and the writes of runs, prompts, variants and samples.

Runs, prompts, samples, their free/paid pairs, labels and judgements live in a file a person can open with
`sqlite3` or Datasette; the schema is in store/schema.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from af_tui.errors import AfError
from af_tui.paths import DEFAULT_DB, DEMO_DB
from af_tui.store.rows import dict_rows, equals, iter_dict_rows, marks
from af_tui.store.sample import Sample
from af_tui.store.schema import OUR_TABLES, SCHEMA_VERSION, upgrade

BUSY_TIMEOUT_MS = 30_000

# What the layers above catch, so that they need not import sqlite3: any failure of the store, and a write the
# store refused (disk full, a read-only store, a lock held too long) after which it is unchanged.
StoreError = sqlite3.Error
StoreRefused = sqlite3.OperationalError


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def resolve_db_path(path: str | os.PathLike | None) -> Path:
    """--db, else AF_TUI_DB, else db/af_tui.sqlite."""
    if path:
        return Path(path)
    env = os.environ.get("AF_TUI_DB")
    return Path(env) if env else DEFAULT_DB


@dataclass(frozen=True)
class SampleKey:
    """A sample's identity within a store: what makes resume exact."""

    model: str
    variant: str
    prompt_id: int
    tier: str
    epoch: int


class Store:
    """An open af-tui store. Writes commit before they return: a saved sample or label is on disk."""

    def __init__(self, path: str | os.PathLike | None = None, *, create: bool = True,
                 check_same_thread: bool = True):
        self.path = resolve_db_path(path)
        self.conn = _connect(self.path, create=create, check_same_thread=check_same_thread)
        try:
            self._migrate()
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise AfError(f"{self.path}: not a readable SQLite database ({exc})") from None

    # -- lifecycle -------------------------------------------------------------------------------------
    def _migrate(self) -> None:
        version = self.conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise AfError(
                f"{self.path} was written by a newer af-tui (schema {version}, this one reads up to "
                f"{SCHEMA_VERSION}); upgrade af-tui to open it"
            )
        if version == 0:
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and not tables & OUR_TABLES:
                raise AfError(f"{self.path} is a SQLite database but not an af-tui store; pass another --db")
        if version < SCHEMA_VERSION:
            upgrade(self.conn)
        if self.conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            try:
                self.conn.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError:
                pass  # read-only media: the store stays readable in its own mode

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def data_version(self) -> int:
        """Changes after another connection commits: a cheap (about 5 µs) way to notice new samples."""
        return self.conn.execute("PRAGMA data_version").fetchone()[0]

    # -- runs ------------------------------------------------------------------------------------------
    def start_run(self, name: str, config: dict, *, source: str = "af-tui", planned: int | None = None) -> int:
        """Create the run, or reopen it for resuming (its config is replaced by the new one, which plan() keeps
        true to the samples already stored)."""
        now = time.time()
        with self.conn:
            row = self.conn.execute("SELECT id FROM runs WHERE name = ?", (name,)).fetchone()
            if row:
                self.conn.execute(
                    "UPDATE runs SET status='running', config=?, planned=?, started_at=?, ended_at=NULL, "
                    "heartbeat_at=? WHERE id=?",
                    (json.dumps(config), planned, now, now, row[0]),
                )
                return row[0]
            cur = self.conn.execute(
                "INSERT INTO runs (name, source, status, config, planned, created_at, started_at, heartbeat_at)"
                " VALUES (?, ?, 'running', ?, ?, ?, ?, ?)",
                (name, source, json.dumps(config), planned, now, now, now),
            )
            return cur.lastrowid

    def request_indexes(self, run_id: int, prompt_ids: Iterable[int]) -> dict[int, int]:
        """Each request's position in a run (prompt id -> prompt_index): the positions its samples already have,
        then the next free ones for requests new to the run, in the order given (an import adds to a run)."""
        index = {prompt_id: first for prompt_id, first in self.conn.execute(
            "SELECT prompt_id, MIN(prompt_index) FROM samples WHERE run_id = ? GROUP BY prompt_id", (run_id,))}
        next_index = max((i for i in index.values() if i is not None), default=-1) + 1
        for prompt_id in prompt_ids:
            if prompt_id not in index:
                index[prompt_id] = next_index
                next_index += 1
        return index

    def finish_run(self, run_id: int, status: str = "done") -> None:
        with self.conn:
            self.conn.execute("UPDATE runs SET status=?, ended_at=? WHERE id=?", (status, time.time(), run_id))

    def heartbeat(self, run_id: int, live: dict | None = None) -> None:
        """The writer is alive; `live` (the runner's throttling, for the run monitor) goes to config.live."""
        with self.conn:
            if live is None:
                self.conn.execute("UPDATE runs SET heartbeat_at=? WHERE id=?", (time.time(), run_id))
            else:
                self.conn.execute("UPDATE runs SET heartbeat_at=?, config=json_set(config, '$.live', json(?)) "
                                  "WHERE id=?", (time.time(), json.dumps(live), run_id))

    def run_id(self, name: str) -> int | None:
        row = self.conn.execute("SELECT id FROM runs WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def runs(self) -> list[dict]:
        return dict_rows(self.conn, "SELECT * FROM runs ORDER BY id")

    # -- prompts and variants --------------------------------------------------------------------------
    def ensure_prompts(self, texts: Iterable[str], source: str | None = None) -> list[int]:
        """Ids of these request texts, adding the new ones; identical texts share one prompt row."""
        texts = list(texts)
        ids: list[int] = []
        with self.conn:
            for text in texts:
                digest = sha256_text(text)
                self.conn.execute(
                    "INSERT OR IGNORE INTO prompts (text, sha256, source) VALUES (?, ?, ?)", (text, digest, source)
                )
                ids.append(self.conn.execute("SELECT id FROM prompts WHERE sha256 = ?", (digest,)).fetchone()[0])
        return ids

    def ensure_variant(self, name: str, system_prompt: str, source: str | None = None) -> str:
        """The variant's name in this store; a different text under a taken name gets its hash appended."""
        digest = sha256_text(system_prompt)
        with self.conn:
            for candidate in (name, f"{name}@{digest[:8]}"):
                row = self.conn.execute("SELECT sha256 FROM variants WHERE name = ?", (candidate,)).fetchone()
                if row is None:
                    self.conn.execute(
                        "INSERT INTO variants (name, sha256, system_prompt, source) VALUES (?, ?, ?, ?)",
                        (candidate, digest, system_prompt, source),
                    )
                    return candidate
                if row[0] == digest:
                    return candidate
        raise AfError(f"variant name {name!r} is taken twice with other texts; rename the system-prompt file")

    # -- samples ---------------------------------------------------------------------------------------
    def done_keys(self, run_id: int) -> set[SampleKey]:
        """Samples of the run that need no new call: everything but errors."""
        rows = self.conn.execute(
            "SELECT model, variant, prompt_id, tier, epoch FROM samples WHERE run_id = ? AND outcome != 'error'",
            (run_id,),
        )
        return {SampleKey(*r) for r in rows}

    _SAMPLE_COLUMNS = (
        "run_id", "model", "variant", "prompt_id", "prompt_index", "tier", "epoch", "outcome", "output",
        "scratchpad", "transcript", "turns", "input_tokens", "output_tokens", "cost", "latency_s", "attempts",
        "error", "source_answer", "started_at", "completed_at", "cache_read_tokens", "cache_write_tokens",
        "reasoning",
    )

    def save_sample(self, sample: Sample) -> int | None:
        """Insert one sample and commit. An existing error row with the same identity is replaced; an
        existing completed sample is kept (never duplicated, never overwritten). Returns the row id, or
        None when a completed sample was already there."""
        return self.save_samples([sample])[0]

    def save_samples(self, samples: Iterable[Sample]) -> list[int | None]:
        """save_sample for several, in one transaction (the runner's and the importer's batches)."""
        with self.conn:
            return self.insert_samples(samples)

    def insert_samples(self, samples: Iterable[Sample]) -> list[int | None]:
        """save_samples within the caller's transaction (no commit): a batch's samples are committed together
        with the batch's collection (store/batches.py)."""
        cols = self._SAMPLE_COLUMNS
        sql = (
            f"INSERT INTO samples ({', '.join(cols)}) VALUES ({marks(len(cols))}) "
            "ON CONFLICT (run_id, model, variant, prompt_id, tier, epoch) DO UPDATE SET "
            + ", ".join(_replace_error(c) for c in cols if c not in _IDENTITY)
            + " WHERE samples.outcome = 'error' RETURNING id"
        )
        ids: list[int | None] = []
        for sample in samples:
            if not isinstance(sample, Sample):
                raise TypeError(f"save_samples takes af_tui.store.sample.Sample records, not {type(sample).__name__}")
            values = {c: getattr(sample, c) for c in cols}
            if sample.transcript is not None and not isinstance(sample.transcript, str):
                values["transcript"] = json.dumps(sample.transcript, ensure_ascii=False)
            if sample.completed_at is None:
                values["completed_at"] = time.time()
            if sample.epoch is None:
                values["epoch"] = 0
            row = self.conn.execute(sql, [values[c] for c in cols]).fetchone()
            ids.append(row[0] if row else None)
        return ids

    def sample(self, sample_id: int) -> dict | None:
        rows = dict_rows(
            self.conn, "SELECT s.*, r.name AS run, p.text AS request FROM samples s JOIN runs r ON r.id = s.run_id "
            "JOIN prompts p ON p.id = s.prompt_id WHERE s.id = ?", [sample_id])
        if not rows:
            return None
        row = rows[0]
        row["transcript"] = json.loads(row["transcript"]) if row["transcript"] else []
        return row

    def counts(self, run: str | None = None, model: str | None = None) -> list[dict]:
        """Outcome counts per run, model, variant and tier (the keys of `stats --json`)."""
        where, params = equals(("r.name", run), ("s.model", model))
        sql = (
            "SELECT r.name AS run, s.model, s.variant, s.tier, COUNT(*) AS n, "
            "SUM(s.outcome = 'complied') AS complied, SUM(s.outcome = 'refused') AS refused, "
            "SUM(s.outcome = 'format_not_followed') AS format_not_followed, SUM(s.outcome = 'error') AS error, "
            "SUM(s.outcome = 'blocked') AS blocked "
            "FROM samples s JOIN runs r ON r.id = s.run_id "
            + ("WHERE " + " AND ".join(where) + " " if where else "")
            + "GROUP BY s.run_id, s.model, s.variant, s.tier ORDER BY r.id, s.model, s.variant, s.tier DESC"
        )
        return dict_rows(self.conn, sql, params)

    def iter_query(self, sql: str, params: Iterable = ()) -> Iterator[dict]:
        """The query's rows as dicts, one at a time."""
        return iter_dict_rows(self.conn, sql, list(params))


_IDENTITY = ("run_id", "model", "variant", "prompt_id", "tier", "epoch")
_SUMMED = ("attempts", "cost")  # what the failed tries already spent still counts after the retry


def _replace_error(column: str) -> str:
    if column in _SUMMED:
        return f"{column} = CASE WHEN samples.{column} IS NULL AND excluded.{column} IS NULL THEN NULL " \
               f"ELSE COALESCE(samples.{column}, 0) + COALESCE(excluded.{column}, 0) END"
    return f"{column} = excluded.{column}"


def _connect(path: Path, *, create: bool, check_same_thread: bool) -> sqlite3.Connection:
    if path.is_dir():
        raise AfError(f"{path} is a directory, not a store; pass a file path with --db")
    if not path.exists():
        if not create:
            if path == DEFAULT_DB and DEMO_DB.exists():
                # a newcomer who just ran `af-tui demo`: its store is elsewhere on purpose
                raise AfError(f"no store at {path}; the demo's store is {DEMO_DB}: add --db {DEMO_DB}")
            raise AfError(f"no store at {path}; run `af-tui demo` or `af-tui run` first, or pass --db")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise AfError(f"cannot create {path.parent}: {exc.strerror}") from None
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=check_same_thread)
        # SQLite reads the header itself. Never open() and close() the file from Python: closing any descriptor
        # on it drops all of this process's POSIX locks, those of its open connections too, and another
        # process then deletes the WAL under them ("disk I/O error", committed labels lost).
        try:
            conn.execute("PRAGMA schema_version").fetchone()
        except sqlite3.DatabaseError as exc:
            conn.close()
            if isinstance(exc, sqlite3.OperationalError):  # locked, unreadable: not a verdict on the file
                raise
            raise AfError(f"{path} is not a SQLite database; pass another --db") from None
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # with WAL: durable at commit against app crashes
        # As every store connection has had since sqlite-utils set it: a trigger's writes fire triggers again
        # (none of today's triggers writes its own table, and nothing uses REPLACE, so it changes nothing).
        conn.execute("PRAGMA recursive_triggers = ON")
        return conn
    except sqlite3.Error as exc:
        if "readonly" in str(exc):  # SQLite writes beside a WAL store even to read it
            raise AfError(f"{path} is read-only here (SQLite needs to write in {path.parent} even to read it); "
                          "ask for write access or copy the store to a folder you can write") from None
        raise AfError(f"cannot open {path}: {exc}") from None
