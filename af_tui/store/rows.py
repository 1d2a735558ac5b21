"""Row and WHERE helpers shared by the store's readers: rows as dicts, `column = ?` clauses for the filters
that are set."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


def equals(*filters: tuple[str, object]) -> tuple[list[str], list]:
    """`column = ?` clauses and their parameters for the (column, value) filters that are set."""
    where, params = [], []
    for column, value in filters:
        if value is not None and value != "":
            where.append(f"{column} = ?")
            params.append(value)
    return where, params


def dict_rows(conn: sqlite3.Connection, sql: str, params: Sequence = ()) -> list[dict]:
    """The query's rows as dicts keyed by column name (without changing the connection's row_factory,
    which other readers share)."""
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur]
