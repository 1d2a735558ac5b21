"""Reading one judge reply: the four criteria, their quotes and the verdict. Pure; a reply that cannot be
read is reported as such, never guessed."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from af_tui.domain import CRITERIA, VERDICTS

MAX_QUOTE_CHARS = 1000  # evidence is a short quote; a runaway "quote" is cut, the raw reply keeps it all


@dataclass
class Reply:
    """One judge reply, parsed. `status`: good (verdict and all four criteria), partial (something missing
    or unreadable), garbage (no verdict and no criterion). `problems` says what was wrong, for people."""

    verdict: str | None
    criteria: dict[str, int | None]
    evidence: dict[str, str]
    status: str
    problems: list[str] = field(default_factory=list)

    @property
    def parsed(self) -> bool:
        return self.verdict is not None


def _tag_values(text: str, name: str) -> list[str]:
    pattern = rf"<\s*{name}\s*>(.*?)<\s*/\s*{name}\s*>"
    return [m.group(1) for m in re.finditer(pattern, text, re.DOTALL | re.IGNORECASE)]


def _clean(value: str) -> str:
    """Lower-case, markdown emphasis, quotes and trailing punctuation off: `**Yes.**` -> `yes`."""
    return value.strip().strip("*_`'\" \t\r\n.!").lower()


_YES, _NO = {"yes", "true"}, {"no", "false"}


def _answer(value: str) -> int | None:
    word = _clean(value)
    return 1 if word in _YES else 0 if word in _NO else None


def _verdict(value: str) -> str | None:
    word = re.sub(r"[\s\-]+", "_", _clean(value))
    return word if word in VERDICTS else None


def _one(values: list, name: str, problems: list[str], reader) -> object | None:
    """The value of a tag given once (or several times alike); missing, unreadable or contradictory: None."""
    if not values:
        problems.append(f"no <{name}>")
        return None
    read = [reader(v) for v in values]
    if any(r is None for r in read):
        problems.append(f"<{name}> is not one of the allowed answers: {values[0].strip()[:40]!r}")
        return None
    if len(set(read)) > 1:
        problems.append(f"<{name}> given {len(read)} times with different answers")
        return None
    return read[0]


def parse_reply(text: str | None) -> Reply:
    """Read the criteria, quotes and verdict from a judge reply. Pure; never raises; never guesses."""
    text = text or ""
    problems: list[str] = []
    criteria: dict[str, int | None] = {}
    evidence: dict[str, str] = {}
    for name in CRITERIA:
        criteria[name] = _one(_tag_values(text, name), name, problems, _answer)
        quotes = [q.strip() for q in _tag_values(text, f"{name}_quote")]
        quote = next((q for q in quotes if q and _clean(q) not in ("none", "n/a", "")), None)
        if quote:
            evidence[name] = quote[:MAX_QUOTE_CHARS]
    verdict = _one(_tag_values(text, "verdict"), "verdict", problems, _verdict)
    if verdict is None and all(v is None for v in criteria.values()):
        status = "garbage"
    elif verdict is None or any(v is None for v in criteria.values()):
        status = "partial"
    else:
        status = "good"
    return Reply(verdict, criteria, evidence, status, problems)
