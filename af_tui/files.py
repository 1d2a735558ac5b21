"""Writing files safely: whole or not at all (`atomic_write`), and CSV that a spreadsheet opens without running
any cell as a formula (`write_csv`). Every file af-tui writes goes through here; `read_text` reads a file a
person named, each failure as one line."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from af_tui.errors import AfError
from af_tui.safe_text import neutralise


def read_text(path: Path, *, what: str, hint: str, encoding: str = "utf-8", missing: str = "no such file") -> str:
    """The text of a file a person named (`what` says how, e.g. "--prompt p.txt"); a missing file, a folder,
    bytes that are not UTF-8 or an unreadable file is an AfError ending with `hint` where that helps."""
    try:
        return path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise AfError(f"{what}: {missing}; {hint}") from None
    except IsADirectoryError:
        raise AfError(f"{what} is a directory; {hint}") from None
    except UnicodeDecodeError as exc:
        raise AfError(f"{what}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except OSError as exc:
        raise AfError(f"cannot read {what}: {exc.strerror or exc}") from None


@contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", *, encoding: str | None = "utf-8",
                 newline: str | None = None) -> Iterator[IO]:
    """A file object whose content replaces `path` only when the block ends without an exception: written
    to a temporary file in the same folder (so the rename cannot cross file systems), synced, then renamed.
    Readers see the old file or the new one, never half of one; concurrent writers never share a temp name.

    An AfError names the folder when no temporary file can be made there; later failures raise OSError."""
    path = Path(path)
    try:
        fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    except OSError as exc:
        raise AfError(f"cannot write in {path.parent}: {exc.strerror}; choose another path") from None
    tmp = Path(tmp_name)
    try:
        os.chmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; the result is an ordinary file
        if "b" in mode:
            encoding = newline = None
        with open(fd, mode, encoding=encoding, newline=newline) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def csv_cell(value) -> str | int | float:
    """Spreadsheet-safe: text that starts like a formula gets a leading apostrophe; numbers stay numbers."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    return neutralise(str(value))


def write_csv(fh: IO[str], header: Iterable[str], rows: Iterable[Iterable], *, lineterminator: str = "\r\n",
              cells_safe: bool = False) -> int:
    """Write the header and rows as CSV (RFC 4180 quoting) and return how many rows were written. Each cell
    goes through csv_cell, unless the caller made them safe already (`cells_safe`: the export does it in SQL,
    several times faster at a million cells)."""
    writer = csv.writer(fh, dialect="excel", lineterminator=lineterminator)
    writer.writerow(header)
    counted = _Counter(rows if cells_safe else ([csv_cell(c) for c in row] for row in rows))
    writer.writerows(counted)
    return counted.n


class _Counter:
    """Counts the rows an iterator hands out (writerows does not say)."""

    def __init__(self, rows: Iterable) -> None:
        self.rows, self.n = rows, 0

    def __iter__(self):
        for row in self.rows:
            self.n += 1
            yield row


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
