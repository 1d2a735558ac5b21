"""The schema: the DDL of every version and the migrations that bring an older store up to this one.
Pairs, full-text search and statistics counts are kept in step by triggers, so every writer gets them for free."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator

SCHEMA_VERSION = 9

SCHEMA_V1 = """
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
# rows instead of scanning every sample and pair (bench/README.md, the statistics refresh).
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


_V5_MEASURES = """
ALTER TABLE samples ADD COLUMN reasoning TEXT;          -- the provider's reasoning channel, every turn joined
ALTER TABLE samples ADD COLUMN cache_read_tokens INTEGER;
ALTER TABLE samples ADD COLUMN cache_write_tokens INTEGER;

-- Labels under a rubric: `criteria` is JSON {criterion id: 1 | 0 | null (not set)}; a row whose rubric_sha256
-- is NULL was made before rubrics and holds the four-criterion rubric's answers in its own columns.
CREATE TABLE rubrics (
    sha256 TEXT PRIMARY KEY,                    -- of the rubric's TOML text
    id TEXT NOT NULL,
    version TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at REAL NOT NULL
);
ALTER TABLE labels ADD COLUMN rubric_sha256 TEXT;
ALTER TABLE labels ADD COLUMN criteria TEXT;
ALTER TABLE labels ADD COLUMN adjudication INTEGER NOT NULL DEFAULT 0;   -- 1: the settled label of a sample

ALTER TABLE judgements ADD COLUMN task TEXT NOT NULL DEFAULT 'alignment_faking';  -- | compliance
ALTER TABLE judgements ADD COLUMN score REAL;           -- AF: share of parsed answers saying AF; compliance: its score
ALTER TABLE judgements ADD COLUMN threshold REAL;       -- the score at or above which the verdict is AF
ALTER TABLE judgements ADD COLUMN criteria TEXT;        -- JSON: criteria under the names the reply used
ALTER TABLE judgements ADD COLUMN detail TEXT;          -- JSON: what the task adds (compliance: refused, scores...)
ALTER TABLE judgements ADD COLUMN rubric_sha256 TEXT;

-- The reasoning channel is searched like the scratchpad and the output.
DROP TRIGGER samples_fts_insert;
DROP TRIGGER samples_fts_update;
DROP TRIGGER samples_fts_delete;
DROP TABLE samples_fts;
CREATE VIRTUAL TABLE samples_fts USING fts5 (scratchpad, output, reasoning, content='samples', content_rowid='id');
CREATE TRIGGER samples_fts_insert AFTER INSERT ON samples BEGIN
    INSERT INTO samples_fts (rowid, scratchpad, output, reasoning)
        VALUES (NEW.id, NEW.scratchpad, NEW.output, NEW.reasoning);
END;
CREATE TRIGGER samples_fts_update AFTER UPDATE OF scratchpad, output, reasoning ON samples BEGIN
    INSERT INTO samples_fts (samples_fts, rowid, scratchpad, output, reasoning)
        VALUES ('delete', OLD.id, OLD.scratchpad, OLD.output, OLD.reasoning);
    INSERT INTO samples_fts (rowid, scratchpad, output, reasoning)
        VALUES (NEW.id, NEW.scratchpad, NEW.output, NEW.reasoning);
END;
CREATE TRIGGER samples_fts_delete AFTER DELETE ON samples BEGIN
    INSERT INTO samples_fts (samples_fts, rowid, scratchpad, output, reasoning)
        VALUES ('delete', OLD.id, OLD.scratchpad, OLD.output, OLD.reasoning);
END;
INSERT INTO samples_fts (samples_fts) VALUES ('rebuild');
"""

# The pairs list sorted by model or by request reads these indexes in order instead of sorting (figures:
# docs/explore.md, bench/README.md). IF NOT EXISTS: a store where someone made them by hand still migrates.
_V6_ORDER_INDEXES = """
CREATE INDEX IF NOT EXISTS pairs_model ON pairs (model);
CREATE INDEX IF NOT EXISTS pairs_prompt ON pairs (prompt_id);
"""

# Version 7 (data): two views for people who read the store in sqlite3, Datasette or pandas.read_sql — one row
# per pair with both tiers side by side, and each annotator's current label with its sample's slice (the rule
# of store/labels.py CURRENT_LABELS: the newest row per sample and annotator, a NULL verdict clears).
# af_tui.open(...).pairs() reads pairs_wide and .labels() labels_current, so they stay one definition.
# The index that had the name labels_current is renamed (same columns) so that the view can have it.
_V7_VIEWS = """
DROP INDEX labels_current;
CREATE INDEX labels_newest ON labels (sample_id, annotator, created_at);
CREATE VIEW pairs_wide AS
    SELECT pr.id AS pair_id, r.name AS run, pr.model, pr.variant, pr.prompt_index, p.sha256 AS prompt_sha256,
           pr.epoch, p.text AS request,
           coalesce(json_extract(r.config, '$.rule'), 'last-scratchpad') AS rule,
           pr.free_sample_id, pr.paid_sample_id, pr.free_outcome, pr.paid_outcome,
           f.scratchpad AS free_scratchpad, pd.scratchpad AS paid_scratchpad,
           f.output AS free_output, pd.output AS paid_output,
           f.reasoning AS free_reasoning, pd.reasoning AS paid_reasoning
    FROM pairs pr JOIN runs r ON r.id = pr.run_id JOIN prompts p ON p.id = pr.prompt_id
    LEFT JOIN samples f ON f.id = pr.free_sample_id LEFT JOIN samples pd ON pd.id = pr.paid_sample_id;
CREATE VIEW labels_current AS
    SELECT l.id AS label_id, l.uid AS label_uid, l.sample_id, r.name AS run, s.model, s.variant, s.tier,
           s.outcome, l.annotator, l.verdict, coalesce(rb.id, 'af-tui-4') AS rubric,
           coalesce(l.criteria, json_object('knows_training', l.knows_training,
                                            'sees_modification', l.sees_modification,
                                            'opposes_modification', l.opposes_modification,
                                            'complies_to_avoid', l.complies_to_avoid)) AS criteria,
           l.note, l.blind, strftime('%Y-%m-%dT%H:%M:%fZ', l.created_at, 'unixepoch') AS labeled_at
    FROM (SELECT labels.*, ROW_NUMBER() OVER (PARTITION BY sample_id, annotator
                                              ORDER BY created_at DESC, id DESC) AS newest
          FROM labels WHERE adjudication = 0) l
    JOIN samples s ON s.id = l.sample_id JOIN runs r ON r.id = s.run_id
    LEFT JOIN rubrics rb ON rb.sha256 = l.rubric_sha256
    WHERE l.newest = 1 AND l.verdict IS NOT NULL;
"""

# A provider that blocks a request (content filter) gives the outcome `blocked`. SQLite cannot alter a CHECK
# constraint; widening it changes no stored row, so the documented writable_schema edit does it in place
# (https://sqlite.org/lang_altertable.html#otheralter) instead of copying a million-row table.
_OLD_OUTCOME_CHECK = "CHECK (outcome IN ('complied', 'refused', 'format_not_followed', 'error'))"
_NEW_OUTCOME_CHECK = "CHECK (outcome IN ('complied', 'refused', 'format_not_followed', 'error', 'blocked'))"


def _widen_outcome_check(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA writable_schema = ON")
    try:
        conn.execute("UPDATE sqlite_master SET sql = replace(sql, ?, ?) WHERE type = 'table' AND name = 'samples'",
                     (_OLD_OUTCOME_CHECK, _NEW_OUTCOME_CHECK))
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        conn.execute(f"PRAGMA schema_version = {int(version) + 1}")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")


# Version 8: an alignment-faking judgement's votes, so that either share can be recomputed from the row — yes
# over all K (`k`, the published classifier's) or yes over the votes read (af-tui's earlier rule). `score`
# holds the one `vote_rule` names; rows written before have NULL here (their score is yes over the votes read).
# Added column by column when missing (SQLite has no ADD COLUMN IF NOT EXISTS), so a store that already has
# them (a test that turned a newer store back to an older version number) migrates too.
_V8_VOTE_COLUMNS = (
    ("votes_parsed", "INTEGER"),  # of the k votes, those with a readable answer
    ("votes_yes", "INTEGER"),  # those that are yes under vote_rule
    ("vote_rule", "TEXT"),  # published (score = yes / k) | parsed (score = yes / votes_parsed)
)


def _add_vote_columns(conn: sqlite3.Connection) -> None:
    have = {row[1] for row in conn.execute("PRAGMA table_info(judgements)")}
    for name, kind in _V8_VOTE_COLUMNS:
        if name not in have:
            conn.execute(f"ALTER TABLE judgements ADD COLUMN {name} {kind}")


# Version 9 (batch): the batches af-tui sent through a provider's batch API (`af-tui run --batch`, `judge
# --batch`). A row is committed before af-tui submits the batch and again, with the provider's id, before it
# waits on it, so that a killed run finds its pending batches and collects them instead of sending their
# requests again. `items` holds what af-tui needs to use each reply, by custom id (the sample and turn it
# is for, the conversation before it); `carry`, once a batch is collected, the items that go into a later
# round (a <NEXT/> turn, a failed item to try again) until that round's batch is committed.
_V9_BATCHES = """
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY,
    batch_id TEXT,                              -- the provider's id; NULL while af-tui is submitting it
    provider TEXT NOT NULL,                     -- openai | anthropic | sim
    api_base TEXT,                              -- where it was sent (no credentials)
    model TEXT NOT NULL,
    run_id INTEGER REFERENCES runs(id),
    job TEXT NOT NULL DEFAULT 'run',            -- run | judge: what the replies are for
    round INTEGER NOT NULL DEFAULT 1,           -- 1: first turns; 2-4: <NEXT/> turns and retries
    status TEXT NOT NULL CHECK (status IN ('submitting', 'pending', 'collected', 'cancelled', 'failed')),
    provider_status TEXT,                       -- the provider's word, as last seen
    requests INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,            -- items answered, as last seen
    failed INTEGER NOT NULL DEFAULT 0,          -- items failed or expired, as last seen
    bytes INTEGER,                              -- the requests' size as sent
    items TEXT NOT NULL DEFAULT '{}',           -- JSON: custom_id -> the sample and turn it carries
    carry TEXT,                                 -- JSON: after collection, items for a later round not yet sent
    error TEXT,
    created_at REAL NOT NULL,
    checked_at REAL,                            -- last poll
    ended_at REAL
);
CREATE INDEX IF NOT EXISTS batches_open ON batches (job, run_id, status);
"""

MIGRATIONS = {1: SCHEMA_V1, 2: _V2_STATS_COUNTS, 3: _V3_REQUEST_HIST, 4: _V4_PAIR_CHANGES, 5: _V5_MEASURES,
              6: _V6_ORDER_INDEXES, 7: _V7_VIEWS, 8: "", 9: _V9_BATCHES}  # version -> SQL
# What a migration does beyond its SQL, run after it in the same transaction.
AFTER_SQL = {5: _widen_outcome_check, 8: _add_vote_columns}
OUR_TABLES = {"runs", "prompts", "variants", "samples", "pairs", "labels", "judgements", "batches"}


def upgrade(conn: sqlite3.Connection) -> None:
    """Bring the store to SCHEMA_VERSION, all in one transaction: a new, empty store gets the schema the
    migrations end with in one step (fresh_store()); an older store runs the migrations from its version."""
    # One migrator at a time: the others wait for the write lock, then find the work done.
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0 and conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0:
            statements, rows = fresh_store()
            for statement in statements:
                conn.execute(statement)
            for table, table_rows in rows.items():
                conn.executemany(f"INSERT INTO {table} VALUES ({', '.join('?' * len(table_rows[0]))})",
                                 table_rows)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        else:
            migrate(conn, version)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def migrate(conn: sqlite3.Connection, version: int) -> None:
    """The migrations after `version`, one by one, in the caller's transaction."""
    for v in range(version + 1, SCHEMA_VERSION + 1):
        for statement in _statements(MIGRATIONS[v]):
            conn.execute(statement)
        if v in AFTER_SQL:
            AFTER_SQL[v](conn)
        conn.execute(f"PRAGMA user_version = {v}")


@functools.cache
def fresh_store() -> tuple[tuple[str, ...], dict[str, list[tuple]]]:
    """What the migrations leave in a new store, read once per process from one migrated in memory: the
    CREATE statements in the order they were made (the schema's final text: columns added later are in
    their table's statement) and the rows of the tables that start with some. Running each migration in
    turn took 12-28 ms per new store, most of it ALTER TABLE; this takes under 1 ms. (Full-text tables'
    shadow tables are left to their CREATE VIRTUAL TABLE.) tests/test_store.py checks that the two agree."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(conn, 0)
        kinds = {name: kind for _, name, kind, *_ in conn.execute("PRAGMA main.table_list")}
        made = [(name, sql) for name, sql in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")]
        statements = tuple(sql for name, sql in made
                           if kinds.get(name) != "shadow" and not name.startswith("sqlite_"))
        rows = {}
        for name, _ in made:
            if kinds.get(name) == "table" and not name.startswith("sqlite_"):
                table_rows = conn.execute(f'SELECT * FROM "{name}"').fetchall()
                if table_rows:
                    rows[f'"{name}"'] = table_rows
        return statements, rows
    finally:
        conn.close()


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
