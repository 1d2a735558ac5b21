"""Row and WHERE helpers shared by the store's readers: rows as dicts, `?` placeholders, and
`column = ?` (or `column IN (?, …)`) clauses for the filters that are set."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence


def marks(count: int) -> str:
    """`?, ?, ?`: `count` parameter placeholders, for an IN list or a VALUES row."""
    return ", ".join("?" * count)


def equals(*filters: tuple[str, object]) -> tuple[list[str], list]:
    """`column = ?` clauses and their parameters for the (column, value) filters that are set; a list or tuple
    value is `column IN (?, …)`. None, "" and an empty list do not filter."""
    where, params = [], []
    for column, value in filters:
        if value is None or value == "":
            continue
        if isinstance(value, list | tuple):
            if value:
                where.append(f"{column} IN ({marks(len(value))})")
                params.extend(value)
        else:
            where.append(f"{column} = ?")
            params.append(value)
    return where, params


def condition(*filters: tuple[str, object]) -> tuple[str, list]:
    """The filters that are set (as `equals`) joined with AND, or `1` when none is: ready for a WHERE."""
    where, params = equals(*filters)
    return " AND ".join(where) or "1", params


def iter_dict_rows(conn: sqlite3.Connection, sql: str, params: Sequence = ()) -> Iterator[dict]:
    """The query's rows as dicts keyed by column name, one at a time (without changing the connection's
    row_factory, which other readers share)."""
    cur = conn.execute(sql, params)
    names = [d[0] for d in cur.description]
    for row in cur:
        yield dict(zip(names, row, strict=True))


def dict_rows(conn: sqlite3.Connection, sql: str, params: Sequence = ()) -> list[dict]:
    """The query's rows as dicts keyed by column name (see iter_dict_rows)."""
    return list(iter_dict_rows(conn, sql, params))
