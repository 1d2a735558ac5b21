"""The batches table: every batch af-tui sends through a provider's batch API, recorded so that nothing is sent
twice and nothing is lost (`af-tui run --batch`, `af-tui batches`; `judge --batch` uses it with job='judge').

The order that makes a kill harmless:
1. `record_batches` commits the new rows as 'submitting' with their items (and, in the same transaction, takes
   the carried items they send out of the batches that carried them);
2. the caller submits each to the provider, then `mark_submitted` commits the provider's id ('pending'; a row
   cancelled meanwhile by `af-tui batches --cancel` stays cancelled, and the caller cancels the provider's batch);
3. when the provider says the batch ended, `collect_batch` commits its finished samples, the items for a later
   round (`carry`) and 'collected' in one transaction.
A run started again reads `open_batches`: 'pending' rows are polled and collected (never sent again), the
carried items go into the next round, and a 'submitting' row (killed between 1 and 2: the provider may or may
not have it) is sent again in a new row (`dropped`), the one window where a request can be sent twice.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from af_tui.store.db import Store
from af_tui.store.rows import condition, dict_rows
from af_tui.store.sample import Sample

OPEN = ("submitting", "pending")  # batch rows that still have work at the provider (or on its way there)


@dataclass
class NewBatch:
    """A batch about to be submitted: what its row records before anything is sent."""

    provider: str
    model: str
    items: dict[str, dict]  # custom_id -> what the job needs to use the reply (JSON-able)
    round: int = 1
    run_id: int | None = None
    job: str = "run"
    api_base: str | None = None
    bytes: int | None = None

    def pending(self, row_id: int, batch_id: str, provider_status: str | None) -> BatchRow:
        """Its row once `mark_submitted` made it 'pending' (what a session polls, without reading it back)."""
        return BatchRow(row_id, batch_id, self.provider, self.api_base, self.model, self.run_id, self.job,
                        self.round, "pending", provider_status, len(self.items), 0, 0, self.bytes, time.time(),
                        None, None, items=self.items)


@dataclass
class BatchRow:
    """One row of the batches table, its JSON decoded."""

    id: int
    batch_id: str | None
    provider: str
    api_base: str | None
    model: str
    run_id: int | None
    job: str
    round: int
    status: str
    provider_status: str | None
    requests: int
    done: int
    failed: int
    bytes: int | None
    created_at: float
    checked_at: float | None
    ended_at: float | None
    error: str | None = None
    items: dict[str, dict] = field(default_factory=dict)
    carry: dict[str, dict] | None = None
    run: str | None = None  # the run's name, when read with it

    @classmethod
    def of(cls, row: dict) -> BatchRow:
        row = dict(row)
        row["items"] = json.loads(row.get("items") or "{}")
        row["carry"] = json.loads(row["carry"]) if row.get("carry") else None
        return cls(**{k: v for k, v in row.items() if k in cls.__dataclass_fields__})


_COLUMNS = ("b.id, b.batch_id, b.provider, b.api_base, b.model, b.run_id, b.job, b.round, b.status, "
            "b.provider_status, b.requests, b.done, b.failed, b.bytes, b.created_at, b.checked_at, b.ended_at, "
            "b.error, r.name AS run")


def record_batches(store: Store, new: list[NewBatch], *, consumed: list[int] = (),
                   dropped: list[int] = ()) -> list[int]:
    """Commit `new` as 'submitting' rows (their ids, in order), in one transaction that also clears the carry
    of the `consumed` rows (their carried items are in `new` now) and deletes the `dropped` rows (unsent
    'submitting' rows whose items `new` sends again)."""
    now = time.time()
    ids = []
    with store.conn:
        for b in new:
            cur = store.conn.execute(
                "INSERT INTO batches (provider, api_base, model, run_id, job, round, status, requests, bytes, items,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, 'submitting', ?, ?, ?, ?)",
                (b.provider, b.api_base, b.model, b.run_id, b.job, b.round, len(b.items), b.bytes,
                 json.dumps(b.items, ensure_ascii=False, separators=(",", ":")), now))
            ids.append(cur.lastrowid)
        for row_id in consumed:
            store.conn.execute("UPDATE batches SET carry = NULL WHERE id = ?", (row_id,))
        for row_id in dropped:
            store.conn.execute("DELETE FROM batches WHERE id = ? AND status = 'submitting'", (row_id,))
    return ids


def mark_submitted(store: Store, row_id: int, batch_id: str, provider_status: str | None = None) -> bool:
    """The provider has the batch: its id is on disk before af-tui waits on it. Only a row still 'submitting'
    becomes 'pending': False when `af-tui batches --cancel` cancelled it meanwhile (its provider id is recorded
    on it all the same; the caller cancels that batch at the provider)."""
    with store.conn:
        cur = store.conn.execute("UPDATE batches SET batch_id = ?, status = 'pending', provider_status = ?, "
                                 "created_at = ? WHERE id = ? AND status = 'submitting'",
                                 (batch_id, provider_status, time.time(), row_id))
        if cur.rowcount == 0:
            store.conn.execute("UPDATE batches SET batch_id = COALESCE(batch_id, ?) WHERE id = ?", (batch_id, row_id))
    return cur.rowcount == 1


def record_poll(store: Store, row_id: int, provider_status: str, done: int, failed: int) -> None:
    """What the provider said of a pending batch (the run monitor and `af-tui batches` show it)."""
    with store.conn:
        store.conn.execute("UPDATE batches SET provider_status = ?, done = ?, failed = ?, checked_at = ? "
                           "WHERE id = ?", (provider_status, done, failed, time.time(), row_id))


def collect_batch(store: Store, row_id: int, samples: list[Sample], carry: dict[str, dict], *,
                  provider_status: str, done: int, failed: int, status: str = "collected",
                  error: str | None = None) -> list[int | None]:
    """One transaction: the batch's finished samples saved (store.insert_samples), its items for a later
    round kept in `carry`, and the row marked collected (or cancelled/failed). Returns the samples' row ids."""
    now = time.time()
    with store.conn:
        ids = store.insert_samples(samples)
        store.conn.execute(
            "UPDATE batches SET status = ?, provider_status = ?, done = ?, failed = ?, carry = ?, error = ?, "
            "checked_at = ?, ended_at = ? WHERE id = ?",
            (status, provider_status, done, failed,
             json.dumps(carry, ensure_ascii=False, separators=(",", ":")) if carry else None, error, now, now,
             row_id))
    return ids


def set_status(store: Store, row_id: int, status: str, provider_status: str | None = None,
               error: str | None = None) -> None:
    """A batch cancelled or failed outside collection (`af-tui batches --cancel`)."""
    with store.conn:
        store.conn.execute("UPDATE batches SET status = ?, provider_status = COALESCE(?, provider_status), "
                           "error = COALESCE(?, error), ended_at = COALESCE(ended_at, ?) WHERE id = ?",
                           (status, provider_status, error, time.time(), row_id))


def status_of(store: Store, row_id: int) -> str | None:
    """A batch row's status as committed now (another process may have cancelled it)."""
    row = store.conn.execute("SELECT status FROM batches WHERE id = ?", (row_id,)).fetchone()
    return row[0] if row else None


def open_batches(store: Store, run_id: int | None, job: str = "run") -> list[BatchRow]:
    """A job's unfinished work, oldest first: 'submitting' and 'pending' rows, and collected rows still
    carrying items for a later round (with their items and carry)."""
    rows = dict_rows(store.conn, f"SELECT {_COLUMNS}, b.items, b.carry FROM batches b "
                     "LEFT JOIN runs r ON r.id = b.run_id WHERE b.job = ? AND b.run_id IS ? "
                     "AND (b.status IN ('submitting', 'pending') OR b.carry IS NOT NULL) ORDER BY b.id",
                     [job, run_id])
    return [BatchRow.of(r) for r in rows]


def list_batches(store: Store, *, run: str | None = None, open_only: bool = False,
                 job: str | None = None) -> list[BatchRow]:
    """Batches for `af-tui batches` and the run monitor (without their items), oldest first."""
    where, params = condition(("r.name", run), ("b.job", job))
    if open_only:
        where += " AND b.status IN ('submitting', 'pending')"
    rows = dict_rows(store.conn, f"SELECT {_COLUMNS} FROM batches b LEFT JOIN runs r ON r.id = b.run_id "
                     f"WHERE {where} ORDER BY b.id", params)
    return [BatchRow.of(r) for r in rows]


def open_count(store: Store, run: str, job: str = "run") -> int:
    """How many of the run's batches are still at the provider or on their way there."""
    return store.conn.execute(
        "SELECT COUNT(*) FROM batches b JOIN runs r ON r.id = b.run_id WHERE r.name = ? AND b.job = ? "
        "AND b.status IN ('submitting', 'pending')", (run, job)).fetchone()[0]
