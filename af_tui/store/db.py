"""The SQLite store: the only module that knows the schema. Runs, prompts, samples, their free/paid pairs,
labels and judgements, in a file a person can open with `sqlite3` or Datasette.

Pairs and full-text search are kept in step by triggers, so every writer (runner, importer, merge) gets them
for free and a reader never sees a sample without its pair row.
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


def _import_sqlite_utils_without_pandas():
    """sqlite-utils imports pandas at import time when it is installed (statsmodels brings it), for
    DataFrame support af-tui never uses: 1–3 s on every command. Import it with pandas hidden; pandas stays
    importable afterwards for whoever needs it."""
    import sys

    if "sqlite_utils" in sys.modules or "pandas" in sys.modules:
        import sqlite_utils

        return sqlite_utils
    sys.modules["pandas"] = None  # `import pandas` raises ImportError, which sqlite-utils handles
    try:
        import sqlite_utils
    finally:
        del sys.modules["pandas"]
    return sqlite_utils


sqlite_utils = _import_sqlite_utils_without_pandas()

SCHEMA_VERSION = 4
BUSY_TIMEOUT_MS = 30_000

from af_tui.domain import CRITERIA, CRITERIA_TEXT, VERDICTS  # noqa: E402,F401  (the label fields)

# The current label: each annotator's newest row on a sample (a row with verdict NULL there clears it).
# Two forms of the one rule: a predicate on `labels l` for a few samples (uses the labels_current index), and
# the rows of the whole table for aggregates (callers add `verdict IS NOT NULL`).
NEWEST_LABEL = (
    "l.id = (SELECT l2.id FROM labels l2 WHERE l2.sample_id = l.sample_id AND l2.annotator = l.annotator "
    "ORDER BY l2.created_at DESC, l2.id DESC LIMIT 1)"
)
CURRENT_LABELS = (
    "SELECT * FROM (SELECT labels.*, ROW_NUMBER() OVER (PARTITION BY sample_id, annotator "
    "ORDER BY created_at DESC, id DESC) AS newest FROM labels) WHERE newest = 1"
)

_SCHEMA_V1 = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL DEFAULT 'af-tui',      -- af-tui | demo | inspect
    status TEXT NOT NULL DEFAULT 'running',     -- running | done | stopped | failed
    config TEXT NOT NULL DEFAULT '{}',          -- JSON: models, variants, dataset, template, sampling options
    planned INTEGER,                            -- samples the run means to have in all (NULL: unknown)
    created_at REAL NOT NULL,
    started_at REAL,
    ended_at REAL,
    heartbeat_at REAL                           -- a running run's writer touches this; stale = dead writer
);
CREATE TABLE prompts (
    id INTEGER PRIMARY KEY,
    text TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    source TEXT                                 -- the dataset it first came from
);
CREATE TABLE variants (
    name TEXT PRIMARY KEY,                      -- a system-prompt variant, named after its file
    sha256 TEXT NOT NULL,
    system_prompt TEXT NOT NULL,
    source TEXT
);
CREATE TABLE samples (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs(id),
    model TEXT NOT NULL,
    variant TEXT NOT NULL REFERENCES variants(name),
    prompt_id INTEGER NOT NULL REFERENCES prompts(id),
    prompt_index INTEGER,                       -- position of the request in the run's dataset
    tier TEXT NOT NULL CHECK (tier IN ('free', 'paid')),
    epoch INTEGER NOT NULL DEFAULT 0,
    outcome TEXT NOT NULL CHECK (outcome IN ('complied', 'refused', 'format_not_followed', 'error')),
    output TEXT,                                -- final <OUTPUT> text, NULL when there was none
    scratchpad TEXT,                            -- every scratchpad block, joined
    transcript TEXT,                            -- JSON list of chat messages (system prompt left out)
    turns INTEGER,
    input_tokens INTEGER,
    output_tokens INTEGER,
    cost REAL,
    latency_s REAL,
    attempts INTEGER,
    error TEXT,                                 -- provider failure after retries (outcome = error)
    source_answer TEXT,                         -- imported logs: the log's own score answer
    started_at REAL,
    completed_at REAL,
    UNIQUE (run_id, model, variant, prompt_id, tier, epoch)
);
CREATE INDEX samples_counts ON samples (run_id, model, variant, tier, outcome);
CREATE TABLE pairs (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL,
    model TEXT NOT NULL,
    variant TEXT NOT NULL,
    prompt_id INTEGER NOT NULL,
    prompt_index INTEGER,
    epoch INTEGER NOT NULL,
    free_sample_id INTEGER,
    paid_sample_id INTEGER,
    free_outcome TEXT,
    paid_outcome TEXT,
    UNIQUE (run_id, model, variant, prompt_id, epoch)
);
CREATE INDEX pairs_outcomes ON pairs (free_outcome, paid_outcome);
CREATE INDEX pairs_slice ON pairs (run_id, model, variant);
CREATE TRIGGER samples_pair_insert AFTER INSERT ON samples BEGIN
    INSERT OR IGNORE INTO pairs (run_id, model, variant, prompt_id, prompt_index, epoch)
        VALUES (NEW.run_id, NEW.model, NEW.variant, NEW.prompt_id, NEW.prompt_index, NEW.epoch);
    UPDATE pairs SET
        free_sample_id = CASE WHEN NEW.tier = 'free' THEN NEW.id ELSE free_sample_id END,
        free_outcome = CASE WHEN NEW.tier = 'free' THEN NEW.outcome ELSE free_outcome END,
        paid_sample_id = CASE WHEN NEW.tier = 'paid' THEN NEW.id ELSE paid_sample_id END,
        paid_outcome = CASE WHEN NEW.tier = 'paid' THEN NEW.outcome ELSE paid_outcome END
    WHERE run_id = NEW.run_id AND model = NEW.model AND variant = NEW.variant
      AND prompt_id = NEW.prompt_id AND epoch = NEW.epoch;
END;
CREATE TRIGGER samples_pair_update AFTER UPDATE OF outcome ON samples BEGIN
    UPDATE pairs SET
        free_outcome = CASE WHEN NEW.tier = 'free' THEN NEW.outcome ELSE free_outcome END,
        paid_outcome = CASE WHEN NEW.tier = 'paid' THEN NEW.outcome ELSE paid_outcome END
    WHERE run_id = NEW.run_id AND model = NEW.model AND variant = NEW.variant
      AND prompt_id = NEW.prompt_id AND epoch = NEW.epoch;
END;

CREATE VIRTUAL TABLE samples_fts USING fts5 (scratchpad, output, content='samples', content_rowid='id');
CREATE TRIGGER samples_fts_insert AFTER INSERT ON samples BEGIN
    INSERT INTO samples_fts (rowid, scratchpad, output) VALUES (NEW.id, NEW.scratchpad, NEW.output);
END;
CREATE TRIGGER samples_fts_update AFTER UPDATE ON samples BEGIN
    INSERT INTO samples_fts (samples_fts, rowid, scratchpad, output)
        VALUES ('delete', OLD.id, OLD.scratchpad, OLD.output);
    INSERT INTO samples_fts (rowid, scratchpad, output) VALUES (NEW.id, NEW.scratchpad, NEW.output);
END;
CREATE TRIGGER samples_fts_delete AFTER DELETE ON samples BEGIN
    INSERT INTO samples_fts (samples_fts, rowid, scratchpad, output)
        VALUES ('delete', OLD.id, OLD.scratchpad, OLD.output);
END;
CREATE VIRTUAL TABLE prompts_fts USING fts5 (text, content='prompts', content_rowid='id');
CREATE TRIGGER prompts_fts_insert AFTER INSERT ON prompts BEGIN
    INSERT INTO prompts_fts (rowid, text) VALUES (NEW.id, NEW.text);
END;

-- Append-only: the current label is the newest row per (sample, annotator); a row with verdict NULL clears.
CREATE TABLE labels (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,                   -- global identity, so that merge is idempotent
    sample_id INTEGER NOT NULL REFERENCES samples(id),
    annotator TEXT NOT NULL,
    knows_training INTEGER,
    sees_modification INTEGER,
    opposes_modification INTEGER,
    complies_to_avoid INTEGER,
    verdict TEXT CHECK (verdict IS NULL OR verdict IN ('alignment_faking', 'not_alignment_faking', 'unclear')),
    note TEXT,
    blind INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE INDEX labels_current ON labels (sample_id, annotator, created_at);
CREATE INDEX labels_annotator ON labels (annotator, created_at);

CREATE TABLE judgements (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    sample_id INTEGER NOT NULL REFERENCES samples(id),
    judge_model TEXT NOT NULL,
    prompt_sha256 TEXT NOT NULL,
    knows_training INTEGER,
    sees_modification INTEGER,
    opposes_modification INTEGER,
    complies_to_avoid INTEGER,
    verdict TEXT,                               -- NULL when the reply could not be parsed
    parsed INTEGER NOT NULL DEFAULT 1,
    evidence TEXT,                              -- JSON: criterion -> quote
    raw TEXT,
    k INTEGER NOT NULL DEFAULT 1,               -- how many times the judge was asked
    agreement REAL,                             -- share of the k answers that gave the stored verdict
    error TEXT,
    created_at REAL NOT NULL,
    UNIQUE (sample_id, judge_model, prompt_sha256)
);

CREATE VIEW sample_view AS
    SELECT s.id, r.name AS run, s.model, s.variant, s.prompt_index, p.text AS request, s.tier, s.epoch,
           s.outcome, s.scratchpad, s.output, s.turns, s.input_tokens, s.output_tokens, s.cost, s.latency_s,
           s.error, s.completed_at
    FROM samples s JOIN runs r ON r.id = s.run_id JOIN prompts p ON p.id = s.prompt_id;
"""

# Version 2 (statistics): counts kept by triggers, so that the app's statistics refresh reads a few hundred
# rows instead of scanning every sample and pair (200k samples: ~470 ms → a few ms; see bench/bench_stats.py).
# `stats_changes` counts writes to labels and judgements, so that AF rates are recomputed only after one.
_V2_STATS_COUNTS = """
CREATE TABLE outcome_counts (                   -- samples per run × model × variant × tier × outcome
    run_id INTEGER NOT NULL, model TEXT NOT NULL, variant TEXT NOT NULL, tier TEXT NOT NULL,
    outcome TEXT NOT NULL, n INTEGER NOT NULL,
    PRIMARY KEY (run_id, model, variant, tier, outcome)
) WITHOUT ROWID;
CREATE TABLE pair_counts (                      -- pairs per run × model × variant × (free, paid) outcome
    run_id INTEGER NOT NULL, model TEXT NOT NULL, variant TEXT NOT NULL,
    free_outcome TEXT NOT NULL, paid_outcome TEXT NOT NULL,   -- '' while that tier has no sample yet
    n INTEGER NOT NULL,
    PRIMARY KEY (run_id, model, variant, free_outcome, paid_outcome)
) WITHOUT ROWID;
CREATE TABLE request_pairs (                    -- per request: its pairs (one per epoch) for clustered gaps
    run_id INTEGER NOT NULL, model TEXT NOT NULL, variant TEXT NOT NULL, prompt_id INTEGER NOT NULL,
    pairs INTEGER NOT NULL,
    complete INTEGER NOT NULL,                  -- pairs with both tiers present and neither an error
    diff INTEGER NOT NULL,                      -- over the complete ones: free complied − paid complied
    PRIMARY KEY (run_id, model, variant, prompt_id)
) WITHOUT ROWID;
CREATE TABLE stats_changes (name TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO stats_changes VALUES ('labels', 0), ('judgements', 0);

INSERT INTO outcome_counts SELECT run_id, model, variant, tier, outcome, COUNT(*) FROM samples
    GROUP BY run_id, model, variant, tier, outcome;
INSERT INTO pair_counts SELECT run_id, model, variant, COALESCE(free_outcome, ''), COALESCE(paid_outcome, ''),
    COUNT(*) FROM pairs GROUP BY 1, 2, 3, 4, 5;
INSERT INTO request_pairs SELECT run_id, model, variant, prompt_id, COUNT(*),
    SUM(COALESCE(free_outcome, 'error') != 'error' AND COALESCE(paid_outcome, 'error') != 'error'),
    SUM(CASE WHEN COALESCE(free_outcome, 'error') != 'error' AND COALESCE(paid_outcome, 'error') != 'error'
        THEN (free_outcome = 'complied') - (paid_outcome = 'complied') ELSE 0 END)
    FROM pairs GROUP BY run_id, model, variant, prompt_id;

CREATE TRIGGER samples_counts_insert AFTER INSERT ON samples BEGIN
    INSERT INTO outcome_counts VALUES (NEW.run_id, NEW.model, NEW.variant, NEW.tier, NEW.outcome, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER samples_counts_update AFTER UPDATE OF outcome ON samples BEGIN
    UPDATE outcome_counts SET n = n - 1 WHERE run_id = OLD.run_id AND model = OLD.model
        AND variant = OLD.variant AND tier = OLD.tier AND outcome = OLD.outcome;
    INSERT INTO outcome_counts VALUES (NEW.run_id, NEW.model, NEW.variant, NEW.tier, NEW.outcome, 1)
        ON CONFLICT DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER samples_counts_delete AFTER DELETE ON samples BEGIN
    UPDATE outcome_counts SET n = n - 1 WHERE run_id = OLD.run_id AND model = OLD.model
        AND variant = OLD.variant AND tier = OLD.tier AND outcome = OLD.outcome;
END;
CREATE TRIGGER pairs_counts_insert AFTER INSERT ON pairs BEGIN
    INSERT INTO pair_counts VALUES (NEW.run_id, NEW.model, NEW.variant, COALESCE(NEW.free_outcome, ''),
        COALESCE(NEW.paid_outcome, ''), 1) ON CONFLICT DO UPDATE SET n = n + 1;
    INSERT INTO request_pairs VALUES (NEW.run_id, NEW.model, NEW.variant, NEW.prompt_id, 1,
        COALESCE(NEW.free_outcome, 'error') != 'error' AND COALESCE(NEW.paid_outcome, 'error') != 'error',
        CASE WHEN COALESCE(NEW.free_outcome, 'error') != 'error' AND COALESCE(NEW.paid_outcome, 'error') != 'error'
             THEN (NEW.free_outcome = 'complied') - (NEW.paid_outcome = 'complied') ELSE 0 END)
        ON CONFLICT DO UPDATE SET pairs = pairs + 1, complete = complete + excluded.complete,
                                  diff = diff + excluded.diff;
END;
CREATE TRIGGER pairs_counts_update AFTER UPDATE OF free_outcome, paid_outcome ON pairs BEGIN
    UPDATE pair_counts SET n = n - 1 WHERE run_id = OLD.run_id AND model = OLD.model AND variant = OLD.variant
        AND free_outcome = COALESCE(OLD.free_outcome, '') AND paid_outcome = COALESCE(OLD.paid_outcome, '');
    INSERT INTO pair_counts VALUES (NEW.run_id, NEW.model, NEW.variant, COALESCE(NEW.free_outcome, ''),
        COALESCE(NEW.paid_outcome, ''), 1) ON CONFLICT DO UPDATE SET n = n + 1;
    UPDATE request_pairs SET
        complete = complete
            + (COALESCE(NEW.free_outcome, 'error') != 'error' AND COALESCE(NEW.paid_outcome, 'error') != 'error')
            - (COALESCE(OLD.free_outcome, 'error') != 'error' AND COALESCE(OLD.paid_outcome, 'error') != 'error'),
        diff = diff
            + CASE WHEN COALESCE(NEW.free_outcome, 'error') != 'error' AND COALESCE(NEW.paid_outcome, 'error') != 'error'
                   THEN (NEW.free_outcome = 'complied') - (NEW.paid_outcome = 'complied') ELSE 0 END
            - CASE WHEN COALESCE(OLD.free_outcome, 'error') != 'error' AND COALESCE(OLD.paid_outcome, 'error') != 'error'
                   THEN (OLD.free_outcome = 'complied') - (OLD.paid_outcome = 'complied') ELSE 0 END
        WHERE run_id = OLD.run_id AND model = OLD.model AND variant = OLD.variant AND prompt_id = OLD.prompt_id;
END;
CREATE TRIGGER pairs_counts_delete AFTER DELETE ON pairs BEGIN
    UPDATE pair_counts SET n = n - 1 WHERE run_id = OLD.run_id AND model = OLD.model AND variant = OLD.variant
        AND free_outcome = COALESCE(OLD.free_outcome, '') AND paid_outcome = COALESCE(OLD.paid_outcome, '');
    UPDATE request_pairs SET pairs = pairs - 1,
        complete = complete
            - (COALESCE(OLD.free_outcome, 'error') != 'error' AND COALESCE(OLD.paid_outcome, 'error') != 'error'),
        diff = diff
            - CASE WHEN COALESCE(OLD.free_outcome, 'error') != 'error' AND COALESCE(OLD.paid_outcome, 'error') != 'error'
                   THEN (OLD.free_outcome = 'complied') - (OLD.paid_outcome = 'complied') ELSE 0 END
        WHERE run_id = OLD.run_id AND model = OLD.model AND variant = OLD.variant AND prompt_id = OLD.prompt_id;
END;
CREATE TRIGGER labels_changes_insert AFTER INSERT ON labels BEGIN
    UPDATE stats_changes SET n = n + 1 WHERE name = 'labels'; END;
CREATE TRIGGER labels_changes_update AFTER UPDATE ON labels BEGIN
    UPDATE stats_changes SET n = n + 1 WHERE name = 'labels'; END;
CREATE TRIGGER labels_changes_delete AFTER DELETE ON labels BEGIN
    UPDATE stats_changes SET n = n + 1 WHERE name = 'labels'; END;
CREATE TRIGGER judgements_changes_insert AFTER INSERT ON judgements BEGIN
    UPDATE stats_changes SET n = n + 1 WHERE name = 'judgements'; END;
CREATE TRIGGER judgements_changes_update AFTER UPDATE ON judgements BEGIN
    UPDATE stats_changes SET n = n + 1 WHERE name = 'judgements'; END;
CREATE TRIGGER judgements_changes_delete AFTER DELETE ON judgements BEGIN
    UPDATE stats_changes SET n = n + 1 WHERE name = 'judgements'; END;
"""

# Version 3 (statistics): how many requests of a slice have each (complete pairs, difference) — integer
# counts from which the clustered gap's sums follow exactly, without scanning request_pairs on a refresh.
_V3_REQUEST_HIST = """
CREATE TABLE request_hist (
    run_id INTEGER NOT NULL, model TEXT NOT NULL, variant TEXT NOT NULL,
    complete INTEGER NOT NULL, diff INTEGER NOT NULL, requests INTEGER NOT NULL,
    PRIMARY KEY (run_id, model, variant, complete, diff)
) WITHOUT ROWID;
INSERT INTO request_hist SELECT run_id, model, variant, complete, diff, COUNT(*) FROM request_pairs
    GROUP BY run_id, model, variant, complete, diff;
CREATE TRIGGER request_pairs_hist_insert AFTER INSERT ON request_pairs BEGIN
    INSERT INTO request_hist VALUES (NEW.run_id, NEW.model, NEW.variant, NEW.complete, NEW.diff, 1)
        ON CONFLICT DO UPDATE SET requests = requests + 1;
END;
CREATE TRIGGER request_pairs_hist_update AFTER UPDATE OF complete, diff ON request_pairs BEGIN
    UPDATE request_hist SET requests = requests - 1 WHERE run_id = OLD.run_id AND model = OLD.model
        AND variant = OLD.variant AND complete = OLD.complete AND diff = OLD.diff;
    INSERT INTO request_hist VALUES (NEW.run_id, NEW.model, NEW.variant, NEW.complete, NEW.diff, 1)
        ON CONFLICT DO UPDATE SET requests = requests + 1;
END;
"""

# Version 4 (explorer): a log of pair changes, so that a reader follows every change — including an error
# sample replaced by its retry, which keeps its row id — by one increasing number.
_V4_PAIR_CHANGES = """
CREATE TABLE pair_changes (seq INTEGER PRIMARY KEY, pair_id INTEGER NOT NULL);
CREATE TRIGGER pairs_changes_insert AFTER INSERT ON pairs BEGIN
    INSERT INTO pair_changes (pair_id) VALUES (NEW.id);
END;
CREATE TRIGGER pairs_changes_update AFTER UPDATE ON pairs BEGIN
    INSERT INTO pair_changes (pair_id) VALUES (NEW.id);
END;
"""

_MIGRATIONS = {1: _SCHEMA_V1, 2: _V2_STATS_COUNTS, 3: _V3_REQUEST_HIST, 4: _V4_PAIR_CHANGES}  # version -> SQL
_OUR_TABLES = {"runs", "prompts", "variants", "samples", "pairs", "labels", "judgements"}


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
        self.db = sqlite_utils.Database(self.conn)
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
            if tables and not tables & _OUR_TABLES:
                raise AfError(f"{self.path} is a SQLite database but not an af-tui store; pass another --db")
        if version < SCHEMA_VERSION:
            # One migrator at a time: the others wait for the write lock, then find the work done.
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                version = self.conn.execute("PRAGMA user_version").fetchone()[0]
                for v in range(version + 1, SCHEMA_VERSION + 1):
                    for statement in _statements(_MIGRATIONS[v]):
                        self.conn.execute(statement)
                    self.conn.execute(f"PRAGMA user_version = {v}")
                self.conn.commit()
            except BaseException:
                self.conn.rollback()
                raise
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
        """Create the run, or reopen it for resuming (its config is replaced by the new one)."""
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

    def finish_run(self, run_id: int, status: str = "done") -> None:
        with self.conn:
            self.conn.execute("UPDATE runs SET status=?, ended_at=? WHERE id=?", (status, time.time(), run_id))

    def heartbeat(self, run_id: int) -> None:
        with self.conn:
            self.conn.execute("UPDATE runs SET heartbeat_at=? WHERE id=?", (time.time(), run_id))

    def run_id(self, name: str) -> int | None:
        row = self.conn.execute("SELECT id FROM runs WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def runs(self) -> list[dict]:
        return list(self.db.query("SELECT * FROM runs ORDER BY id"))

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
        "error", "source_answer", "started_at", "completed_at",
    )

    def save_sample(self, sample: dict) -> int | None:
        """Insert one sample and commit. An existing error row with the same identity is replaced; an
        existing completed sample is kept (never duplicated, never overwritten). Returns the row id, or
        None when a completed sample was already there."""
        return self.save_samples([sample])[0]

    def save_samples(self, samples: list[dict]) -> list[int | None]:
        """save_sample for several, in one transaction (the importer's batches)."""
        cols = self._SAMPLE_COLUMNS
        sql = (
            f"INSERT INTO samples ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
            "ON CONFLICT (run_id, model, variant, prompt_id, tier, epoch) DO UPDATE SET "
            + ", ".join(_replace_error(c) for c in cols if c not in _IDENTITY)
            + " WHERE samples.outcome = 'error' RETURNING id"
        )
        ids: list[int | None] = []
        with self.conn:
            for sample in samples:
                values = [sample.get(c) for c in cols]
                t = cols.index("transcript")
                if values[t] is not None and not isinstance(values[t], str):
                    values[t] = json.dumps(values[t], ensure_ascii=False)
                if values[cols.index("completed_at")] is None:
                    values[cols.index("completed_at")] = time.time()
                if values[cols.index("epoch")] is None:
                    values[cols.index("epoch")] = 0
                row = self.conn.execute(sql, values).fetchone()
                ids.append(row[0] if row else None)
        return ids

    def sample(self, sample_id: int) -> dict | None:
        rows = list(self.db.query(
            "SELECT s.*, r.name AS run, p.text AS request FROM samples s JOIN runs r ON r.id = s.run_id "
            "JOIN prompts p ON p.id = s.prompt_id WHERE s.id = ?", [sample_id]))
        if not rows:
            return None
        row = rows[0]
        row["transcript"] = json.loads(row["transcript"]) if row["transcript"] else []
        return row

    def counts(self, run: str | None = None, model: str | None = None) -> list[dict]:
        """Outcome counts per run, model, variant and tier (the keys of `stats --json`)."""
        where, params = [], []
        if run:
            where.append("r.name = ?")
            params.append(run)
        if model:
            where.append("s.model = ?")
            params.append(model)
        sql = (
            "SELECT r.name AS run, s.model, s.variant, s.tier, COUNT(*) AS n, "
            "SUM(s.outcome = 'complied') AS complied, SUM(s.outcome = 'refused') AS refused, "
            "SUM(s.outcome = 'format_not_followed') AS format_not_followed, SUM(s.outcome = 'error') AS error "
            "FROM samples s JOIN runs r ON r.id = s.run_id "
            + ("WHERE " + " AND ".join(where) + " " if where else "")
            + "GROUP BY s.run_id, s.model, s.variant, s.tier ORDER BY r.id, s.model, s.variant, s.tier DESC"
        )
        return list(self.db.query(sql, params))

    def iter_query(self, sql: str, params: Iterable = ()) -> Iterator[dict]:
        return self.db.query(sql, list(params))


_IDENTITY = ("run_id", "model", "variant", "prompt_id", "tier", "epoch")
_SUMMED = ("attempts", "cost")  # what the failed tries already spent still counts after the retry


def _replace_error(column: str) -> str:
    if column in _SUMMED:
        return f"{column} = CASE WHEN samples.{column} IS NULL AND excluded.{column} IS NULL THEN NULL " \
               f"ELSE COALESCE(samples.{column}, 0) + COALESCE(excluded.{column}, 0) END"
    return f"{column} = excluded.{column}"


def _statements(script: str) -> Iterator[str]:
    """The statements of a migration script one by one (triggers included), so that they run inside the
    migrator's own transaction; `executescript` would commit it first."""
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            yield buf
            buf = ""
    if buf.strip():
        yield buf


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
        return conn
    except sqlite3.Error as exc:
        if "readonly" in str(exc):  # SQLite writes beside a WAL store even to read it
            raise AfError(f"{path} is read-only here (SQLite needs to write in {path.parent} even to read it); "
                          "ask for write access or copy the store to a folder you can write") from None
        raise AfError(f"cannot open {path}: {exc}") from None
