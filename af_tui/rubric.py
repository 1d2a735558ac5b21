"""Rubrics as data: what a person or a judge checks in a scratchpad, read from a TOML file and known by the
sha256 of its text (stored with every label and judgement that used it).

A rubric has an id, a version, a description, its criteria (id, short name, description, key) — some of them
flags that describe the answer rather than the reasoning (e.g. partial compliance) — and named ways of proposing
a verdict from the criteria (`[verdicts]`: name -> the criteria that must all be yes). Built-in rubrics live in
af_tui/rubrics/: `paper` (the default) and `af-tui-4` (the four criteria af-tui used before rubrics).
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from af_tui.domain import Verdict
from af_tui.errors import AfError

DEFAULT_RUBRIC = "paper"
LEGACY_RUBRIC = "af-tui-4"  # labels made before rubrics (labels.rubric_sha256 NULL) are under this one
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class RubricCriterion:
    """One thing checked: its stored id, a few words, the sentence a person or a judge reads, the key that
    toggles it on the label screen, and whether it is a flag (about the answer, not part of any verdict)."""

    id: str
    short: str
    description: str
    key: str
    flag: bool = False


@dataclass(frozen=True)
class Rubric:
    id: str
    version: str
    description: str
    criteria: tuple[RubricCriterion, ...]
    verdicts: dict  # name -> tuple of criterion ids that must all be yes for alignment faking
    default_verdict: str
    text: str  # the TOML text as read: what sha256 is of and what the store keeps
    sha256: str

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(c.id for c in self.criteria)

    @property
    def name(self) -> str:
        """id@version, for titles and table headers."""
        return f"{self.id}@{self.version}"

    def criterion(self, cid: str) -> RubricCriterion:
        for c in self.criteria:
            if c.id == cid:
                return c
        raise KeyError(cid)

    def empty(self) -> dict:
        """Every criterion not set: where a new label starts."""
        return dict.fromkeys(self.ids)

    def normalise(self, criteria: dict | None) -> dict:
        """{id: 1 | 0 | None} over this rubric's criteria from any of True/False/1/0/None; an id the rubric
        does not have is a mistake worth one clear line."""
        criteria = criteria or {}
        unknown = sorted(set(criteria) - set(self.ids))
        if unknown:
            raise AfError(f"rubric {self.name} has no criterion {unknown[0]!r}; it has: {', '.join(self.ids)}")
        return {c: (None if criteria.get(c) is None else int(bool(criteria.get(c)))) for c in self.ids}


def propose_verdict(rubric: Rubric, criteria: dict, variant: str | None = None) -> str | None:
    """Alignment faking when every criterion the verdict variant names (default: the rubric's default
    variant) is yes; otherwise None: the annotator decides."""
    name = variant or rubric.default_verdict
    if name not in rubric.verdicts:
        raise AfError(f"rubric {rubric.name} has no verdict {name!r}; it has: {', '.join(rubric.verdicts)}")
    return Verdict.AF if all(criteria.get(c) for c in rubric.verdicts[name]) else None


def builtin_rubrics() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("af_tui.rubrics").iterdir() if p.name.endswith(".toml"))


def load_rubric(name_or_path: str | Path | None = None) -> Rubric:
    """A built-in rubric by name (default `paper`), or a TOML file by path."""
    name = str(name_or_path) if name_or_path is not None else DEFAULT_RUBRIC
    builtin = resources.files("af_tui.rubrics") / f"{name}.toml"
    if "/" not in name and "\\" not in name and builtin.is_file():
        return parse_rubric(builtin.read_text(encoding="utf-8"), f"built-in rubric {name}")
    path = Path(name).expanduser()
    if not path.is_file():
        raise AfError(f"no rubric {name!r}: not a file, nor a built-in one ({', '.join(builtin_rubrics())})")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise AfError(f"cannot read rubric {path}: {exc}") from None
    return parse_rubric(text, str(path))


def parse_rubric(text: str, where: str = "rubric") -> Rubric:
    """Read and check a rubric's TOML text; any problem is one line naming `where` and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise AfError(f"{where}: not valid TOML ({exc})") from None

    def need(table: dict, key: str, what: str) -> str:
        value = table.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise AfError(f"{where}: {what} needs a non-empty `{key}`")
        return value.strip()

    rid, version = need(data, "id", "the rubric"), need(data, "version", "the rubric")
    raw = data.get("criteria")
    if not isinstance(raw, list) or not raw:
        raise AfError(f"{where}: a rubric needs at least one [[criteria]] table")
    criteria: list[RubricCriterion] = []
    for i, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise AfError(f"{where}: criterion {i} is not a table")
        cid = need(item, "id", f"criterion {i}")
        if not _ID.match(cid):
            raise AfError(f"{where}: criterion id {cid!r} must be lower-case letters, digits and _")
        key = need(item, "key", f"criterion {cid}")
        if len(key) != 1:
            raise AfError(f"{where}: criterion {cid}'s key {key!r} must be one character")
        criteria.append(RubricCriterion(cid, need(item, "short", f"criterion {cid}"),
                                        need(item, "description", f"criterion {cid}"), key,
                                        bool(item.get("flag", False))))
    for attr in ("id", "key"):
        seen = [getattr(c, attr) for c in criteria]
        dup = next((v for v in seen if seen.count(v) > 1), None)
        if dup is not None:
            raise AfError(f"{where}: two criteria share the {attr} {dup!r}")
    ids = {c.id for c in criteria if not c.flag}
    verdicts_raw = data.get("verdicts") or {"all": sorted(ids, key=[c.id for c in criteria].index)}
    if not isinstance(verdicts_raw, dict):
        raise AfError(f"{where}: [verdicts] must be a table of name = [criterion ids]")
    default = verdicts_raw.pop("default", None) if "default" in verdicts_raw else None
    verdicts: dict[str, tuple[str, ...]] = {}
    for vname, needed in verdicts_raw.items():
        if not isinstance(needed, list) or not needed or not all(isinstance(c, str) for c in needed):
            raise AfError(f"{where}: verdict {vname!r} must list criterion ids")
        missing = [c for c in needed if c not in ids]
        if missing:
            raise AfError(f"{where}: verdict {vname!r} names {missing[0]!r}, not a (non-flag) criterion")
        verdicts[vname] = tuple(needed)
    default = default or next(iter(verdicts))
    if default not in verdicts:
        raise AfError(f"{where}: the default verdict {default!r} is not one of {', '.join(verdicts)}")
    return Rubric(rid, version, str(data.get("description", "")).strip(), tuple(criteria), verdicts, default, text,
                  hashlib.sha256(text.encode("utf-8")).hexdigest())
