"""Make untrusted model text inert for a terminal, a browser or a spreadsheet: one shared helper.

Control characters, escape sequences, bidi overrides and zero-width characters become visible placeholders
(so a reader sees that they were there), and very long lines are capped with a note. Pure, no Textual.
"""

from __future__ import annotations

import re

# C0 controls (tab and newline kept) and DEL become the Unicode "control pictures" (ESC → ␛, NUL → ␀).
_C0 = {c: chr(0x2400 + c) for c in range(0x20) if c not in (0x09, 0x0A)}
_C0[0x7F] = "\u2421"  # ␡

# C1 controls, bidi embeddings/overrides/isolates and marks, zero-width and other invisible format
# characters, line/paragraph separators, interlinear annotations and tag characters: shown as ⟨U+XXXX⟩.
_INVISIBLE = re.compile(
    "[\x80-\x9f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\U000e0000-\U000e007f\U0001d173-\U0001d17a"
    "\ud800-\udfff]"
)
# More than a few combining marks on one letter ("zalgo") draw outside the cell; keep the first four.
_COMBINING_RUN = re.compile("([\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]{4})"
                            "[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+")
_C0_TABLE = str.maketrans(_C0)

MAX_LINE = 10_000  # characters of one line shown; the rest is cut with a note


def _placeholder(match: re.Match) -> str:
    ch = match.group(0)
    if "\ud800" <= ch <= "\udfff":
        return "\ufffd"
    return f"⟨U+{ord(ch):04X}⟩"


def inert(text: str | None) -> str:
    """The text with every control, escape, bidi and invisible character made visible; newlines and tabs
    kept, CR LF read as a newline."""
    if not text:
        return ""
    text = text.replace("\r\n", "\n")
    text = text.translate(_C0_TABLE)
    if not text.isascii():
        text = _INVISIBLE.sub(_placeholder, text)
        text = _COMBINING_RUN.sub(r"\1", text)
    return text


def cap_lines(text: str, max_line: int = MAX_LINE, max_lines: int | None = None) -> str:
    """Cut lines longer than max_line (and, if given, the text after max_lines lines) with a visible note."""
    if len(text) <= max_line and max_lines is None:
        return text
    lines = text.split("\n")
    out = []
    for i, line in enumerate(lines):
        if max_lines is not None and i >= max_lines:
            out.append(f"[… {len(lines) - i:,} more lines not shown here; the full text is in the transcript]")
            break
        if len(line) > max_line:
            line = line[:max_line] + f" [… {len(line) - max_line:,} more characters on this line not shown]"
        out.append(line)
    return "\n".join(out)


def one_line(text: str | None, width: int = 200) -> str:
    """A short single-line summary (list rows): inert, whitespace runs collapsed, at most width characters."""
    if not text:
        return ""
    head = " ".join(text[: width * 4].split())
    return inert(head)[:width]


def display(text: str | None, max_line: int = MAX_LINE, max_lines: int | None = None) -> str:
    """inert() then cap_lines(): what a text panel shows."""
    return cap_lines(inert(text), max_line, max_lines)


# Spreadsheets run a cell that starts with one of these as a formula; model text and notes are untrusted.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """A text cell made inert for spreadsheets: a leading = + - @ tab or CR gets a `'` in front."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell
