"""Reading one judge reply: its criteria, their quotes and the verdict, in af-tui's form (`<verdict>`) or in the
published classifiers' form (criteria tags, then `<final_answer>Yes|No</final_answer>`). Pure; a reply that
cannot be read is reported as such, never guessed. The tag readers (`tag_values`, `read_tag`, `plain_word`,
`yes_or_no`) are shared with the compliance classifier's reader (judge/compliance.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from af_tui.domain import VERDICTS, Verdict

MAX_QUOTE_CHARS = 1000  # evidence is a short quote; a runaway "quote" is cut, the raw reply keeps it all
ANSWER_FORMATS = ("auto", "verdict", "final_answer")
_ANSWER_TAGS = {"verdict", "final_answer"}
_TAG = re.compile(r"<\s*([A-Za-z][\w\-]{0,63})\s*>(.*?)<\s*/\s*\1\s*>", re.DOTALL | re.IGNORECASE)


@dataclass
class Reply:
    """One judge reply, parsed. `status`: good (verdict and every criterion asked for), partial (something
    missing or unreadable), garbage (no verdict and no criterion). `problems` says what was wrong, for people.
    `criteria` are under the names the reply used (those the prompt asked for first)."""

    verdict: str | None
    criteria: dict[str, int | None]
    evidence: dict[str, str]
    status: str
    problems: list[str] = field(default_factory=list)
    form: str | None = None  # "verdict" or "final_answer": the form the verdict was read from

    @property
    def parsed(self) -> bool:
        return self.verdict is not None


def tag_values(text: str, name: str) -> list[str]:
    """The text inside every `<name>…</name>` of the reply (case and spaces inside the brackets ignored)."""
    pattern = rf"<\s*{re.escape(name)}\s*>(.*?)<\s*/\s*{re.escape(name)}\s*>"
    return [m.group(1) for m in re.finditer(pattern, text, re.DOTALL | re.IGNORECASE)]


def plain_word(value: str) -> str:
    """Lower-case, markdown emphasis, brackets, quotes and trailing punctuation off: `**[Yes].**` -> `yes`."""
    return value.strip().strip("*_`'\"[]() \t\r\n.!").lower()


_YES, _NO = {"yes", "true"}, {"no", "false"}


def yes_or_no(value: str) -> int | None:
    """1 for yes/true, 0 for no/false (as `plain_word` reads them), None for anything else."""
    word = plain_word(value)
    return 1 if word in _YES else 0 if word in _NO else None


def _verdict(value: str) -> str | None:
    word = re.sub(r"[\s\-]+", "_", plain_word(value))
    return word if word in VERDICTS else None


def _final_answer(value: str) -> str | None:
    answer = yes_or_no(value)
    return None if answer is None else Verdict.AF.value if answer else Verdict.NOT_AF.value


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


def read_tag(text: str, name: str, problems: list[str], reader) -> object | None:
    """The value of `<name>` in the reply as `reader` reads it (given once, or several times alike); missing,
    unreadable or contradictory: None, with what was wrong added to `problems`."""
    return _one(tag_values(text, name), name, problems, reader)


# The published classifiers number their criteria: such a tag is a criterion whatever it holds (a garbled one
# is read as unreadable, not skipped, so a vote cannot count as yes past it).
_NUMBERED = re.compile(r"criteri(?:a|on)_?\d+")


def _other_criteria(text: str, asked: tuple[str, ...]) -> list[str]:
    """Names of the tags, beyond those asked for, whose every value is a bare yes or no, and numbered criteria
    tags whatever they hold: the criteria a reply in a form of its own gives (`<criteria_1>Yes</criteria_1>`,
    `<deceptive_alignment>no</...>`)."""
    seen: dict[str, bool] = {}
    for m in _TAG.finditer(text):
        name = m.group(1).lower()
        if name in _ANSWER_TAGS or name.endswith("_quote") or name in asked:
            continue
        seen[name] = _NUMBERED.fullmatch(name) is not None or (
            seen.get(name, True) and yes_or_no(m.group(2)) is not None)
    return [n for n, ok in seen.items() if ok]


def _read_verdict(text: str, answer_format: str, problems: list[str]) -> tuple[str | None, str | None]:
    """(verdict, form). auto: whichever form the reply uses; both, disagreeing: unreadable."""
    found = {}
    if answer_format in ("auto", "verdict"):
        values = tag_values(text, "verdict")
        if values or answer_format == "verdict":
            found["verdict"] = _one(values, "verdict", problems, _verdict)
    if answer_format in ("auto", "final_answer"):
        values = tag_values(text, "final_answer")
        if values or answer_format == "final_answer":
            found["final_answer"] = _one(values, "final_answer", problems, _final_answer)
    if not found:
        problems.append("no <verdict> and no <final_answer>")
        return None, None
    read = {form: v for form, v in found.items() if v is not None}
    if len(found) > 1:
        if len(read) == 2 and len(set(read.values())) == 1:
            return next(iter(read.values())), "verdict"
        problems.append("<verdict> and <final_answer> do not agree")
        return None, None
    form, verdict = next(iter(found.items()))
    return verdict, form if verdict is not None else None


def parse_reply(text: str | None, criteria: tuple[str, ...] = (), answer_format: str = "auto") -> Reply:
    """Read the criteria, quotes and verdict from a judge reply. `criteria`: the names the prompt asked for (a
    missing one makes the reply partial, unless the reply names none of them); any other yes/no tags are kept
    too, under their own names.
    Pure; never raises; never guesses."""
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}")
    text = text or ""
    problems: list[str] = []
    read: dict[str, int | None] = {}
    evidence: dict[str, str] = {}
    asked = tuple(c.lower() for c in criteria)
    if not any(tag_values(text, c) for c in asked):
        asked = ()  # a reply in a shape of its own (criteria_1, ...): its criteria are the ones it names
    for name in (*asked, *_other_criteria(text, asked)):
        read[name] = read_tag(text, name, problems, yes_or_no)
        quotes = [q.strip() for q in tag_values(text, f"{name}_quote")]
        quote = next((q for q in quotes if q and q.strip("*_`'\" \t\r\n.!").lower() not in ("none", "n/a", "")),
                     None)
        if quote:
            evidence[name] = quote[:MAX_QUOTE_CHARS]
    verdict, form = _read_verdict(text, answer_format, problems)
    if verdict is None and all(v is None for v in read.values()):
        status = "garbage"
    elif verdict is None or any(read[c] is None for c in asked):
        status = "partial"
    else:
        status = "good"
    return Reply(verdict, read, evidence, status, problems, form)
