"""Runs by name: the one check that a run a person named is in the store, worded the same for every command."""

from __future__ import annotations

import sqlite3

from af_tui.errors import AfError


def listed(names: list[str], most: int = 10) -> str:
    """`a, b, c …` for an error that says what the store does have; `none yet` when it has nothing."""
    if not names:
        return "none yet"
    return ", ".join(names[:most]) + (" …" if len(names) > most else "")


def require_run(conn: sqlite3.Connection, name: str) -> int:
    """The id of the run called `name`; an AfError naming the store's runs when there is no such run."""
    row = conn.execute("SELECT id FROM runs WHERE name = ?", (name,)).fetchone()
    if row is None:
        names = [r[0] for r in conn.execute("SELECT name FROM runs ORDER BY id")]
        raise AfError(f"no run named {name!r}; the store has: {listed(names)}")
    return row[0]
