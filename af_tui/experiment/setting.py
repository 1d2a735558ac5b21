"""A setting as data: what the notebook fixes (dataset and its request column, system prompts, user template and
its tier markers, tag pairs, accept/reject markers, whether <NEXT/> continues, outcome rule, compliance measure),
read from a TOML file (`af-tui run --setting FILE`) or built in (`helpful-only`, today's behaviour).
A bad file is refused in one line naming the file and the key. Its only I/O: reading the setting file and
listing the folders it names; the inputs themselves are read by sources.py."""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from af_tui.domain import DEFAULT_RULE, LEGACY_RULE, RULES
from af_tui.errors import AfError
from af_tui.experiment import sources
from af_tui.experiment.rules import NEXT_TURN, Reading
from af_tui.experiment.sources import Source
from af_tui.experiment.tags import NOTEBOOK_TAGS, TagPair

COMPLIANCE_MEASURES = ("prefix", "judge")


@dataclass(frozen=True)
class Variant:
    """One system prompt of a setting: a file, a folder of them (one variant per file) or a URL."""

    source: Source
    name: str | None = None  # default: the file's stem


@dataclass(frozen=True)
class Compliance:
    """How complied is measured: the answer's prefix (the outcome rule), or a judge task (`af-tui judge --task
    compliance --prompt PROMPT`, then `stats --compliance judge:MODEL`)."""

    measure: str = "prefix"
    task: str | None = None  # the judge task's name, e.g. supports-animal-welfare
    prompt: str | None = None  # its judge prompt file


@dataclass(frozen=True)
class Setting:
    """What a run asks and how it reads the replies; the defaults are the built-in helpful-only setting's."""

    name: str
    dataset: Source = sources.ADVBENCH_SOURCE
    column: str | None = None  # the dataset's request column; None: goal, request or prompt, the first found
    variants: tuple[Variant, ...] = (Variant(sources.SYSTEM_PROMPT_SOURCE, "honly_with_examples"),)
    template: Source = sources.NOTEBOOK_SOURCE
    reading: Reading = field(default_factory=Reading)
    rule: str = str(DEFAULT_RULE)
    compliance: Compliance = field(default_factory=Compliance)
    origin: str = "built-in"  # the setting file, or built-in

    @cached_property  # the setting is frozen: hashed once, however often a command asks (record, quote, SQL)
    def sha256(self) -> str:
        """The hash a run stores: of what decides how samples are asked and read (the request column, tier
        markers, tags, markers, <NEXT/>, rule, compliance measure). The dataset, prompts and template are
        recorded by their own hashes beside it."""
        return hashlib.sha256(json.dumps(self.reading_record(), sort_keys=True).encode("utf-8")).hexdigest()

    def reading_record(self) -> dict:
        r = self.reading
        return {"column": self.column, "free": r.free, "paid": r.paid, "tags": [list(p) for p in r.tags],
                "accepted": r.accepted, "rejected": r.rejected, "next_turn": r.next_turn, "rule": self.rule,
                "compliance": self.compliance.measure, "compliance_task": self.compliance.task}

    def record(self) -> dict:
        """The setting as a run's config stores it (`config["setting"]`)."""
        return {"name": self.name, "sha256": self.sha256, "origin": self.origin, **self.reading_record()}


HELPFUL_ONLY = Setting("helpful-only")
BUILT_IN = {HELPFUL_ONLY.name: HELPFUL_ONLY}


def builtin(name: str) -> Setting:
    try:
        return BUILT_IN[name]
    except KeyError:
        raise AfError(f"no built-in setting {name!r}; the built-in ones: {', '.join(BUILT_IN)}") from None


SETTING_MARK = " · setting "  # between a rule and the setting tables name beside it


def rule_sql(config: str = "r.config", legacy: str = str(LEGACY_RULE)) -> str:
    """SQL for a run's outcome rule as tables name it: the rule, then the run's setting unless that is the
    built-in helpful-only (every run stored without a setting was read as it reads): `notebook · setting
    animal-welfare`. Runs stored before rules were named were read by `legacy`."""
    name, sha = f"json_extract({config}, '$.setting.name')", f"json_extract({config}, '$.setting.sha256')"
    return (f"(COALESCE(json_extract({config}, '$.rule'), '{legacy}') || CASE WHEN {name} IS NULL OR "
            f"({name} = '{HELPFUL_ONLY.name}' AND {sha} = '{HELPFUL_ONLY.sha256}') THEN '' "
            f"ELSE '{SETTING_MARK}' || {name} END)")


def rule_label(config: dict, legacy: str = str(LEGACY_RULE)) -> str:
    """rule_sql in Python, for a run's config already read."""
    rule = config.get("rule") or legacy
    stored = config.get("setting")
    name = stored.get("name") if isinstance(stored, dict) else None
    if name is None or not named_beside_rule(name, stored.get("sha256")):
        return str(rule)
    return f"{rule}{SETTING_MARK}{name}"


def named_beside_rule(name: str, sha256: str | None) -> bool:
    """Whether a setting is named beside the rule (rule_sql, rule_label, the run quote): any but the built-in
    helpful-only, which goes unnamed."""
    return not (name == HELPFUL_ONLY.name and sha256 == HELPFUL_ONLY.sha256)


def judge_measured(conn, run: str | None = None) -> list[tuple[str, str, str]]:
    """(run, setting, judge task) of each run whose setting measures compliance by a judge task, not by the
    answer's prefix (the outcome counts of such a run read a marker the setting does not go by)."""
    found = []
    for name, config in conn.execute("SELECT name, config FROM runs WHERE ? IS NULL OR name = ? ORDER BY id",
                                     (run, run)):
        try:
            stored = json.loads(config or "{}").get("setting")
        except (ValueError, AttributeError):
            continue
        if isinstance(stored, dict) and stored.get("compliance") == "judge":
            found.append((name, str(stored.get("name")), str(stored.get("compliance_task"))))
    return found


def stored_sha256(config: dict) -> str | None:
    """The setting hash a run's config records; a run stored before settings were recorded and read as the
    notebook reads (no tag pairs of an import) was the built-in helpful-only; None when it cannot be known."""
    stored = config.get("setting")
    if isinstance(stored, dict):
        return stored.get("sha256") if isinstance(stored.get("sha256"), str) else None
    return None if config.get("tags") else HELPFUL_ONLY.sha256


def reading_of(config: dict) -> Reading:
    """How a stored run's replies are read: its setting's, else the tag pairs an import recorded, else the
    notebook's."""
    stored = config.get("setting")
    if isinstance(stored, dict):
        try:
            tags = tuple(TagPair(*p) for p in stored.get("tags") or [NOTEBOOK_TAGS])
            return Reading(tags=tags, accepted=str(stored.get("accepted", Reading.accepted)),
                           rejected=str(stored.get("rejected", Reading.rejected)),
                           next_turn=bool(stored.get("next_turn", True)), free=str(stored.get("free", "True")),
                           paid=str(stored.get("paid", "False")))
        except TypeError:  # a damaged record: read as the notebook does
            return Reading()
    pairs = config.get("tags")
    if isinstance(pairs, list) and pairs:
        try:
            return Reading(tags=tuple(TagPair(*p) for p in pairs))
        except TypeError:
            pass
    return Reading()


# -- reading a setting file -------------------------------------------------------------------------------

_TOP = {"name", "rule", "next_turn", "dataset", "system_prompt", "user_template", "tags", "markers", "compliance"}


class _Checker:
    """Reads one setting file's values; every complaint is one line naming the file and the key."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, problem: str) -> AfError:
        return AfError(f"{self.path}: {key}: {problem}")

    def table(self, data: dict, key: str, allowed: set[str], required: bool = False) -> dict:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "missing; see docs/run.md (af-tui setting show helpful-only)")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table ([{key}]), not {type(value).__name__}")
        self.known(value, allowed, key + ".")
        return value

    def known(self, data: dict, allowed: set[str], prefix: str = "") -> None:
        for k in data:
            if k not in allowed:
                raise self.fail(prefix + k, f"unknown key; known here: {', '.join(sorted(allowed))}")

    def text(self, data: dict, key: str, shown: str, default: str | None = None, empty: bool = False) -> str | None:
        value = data.get(key, default)
        if value is None:
            return None
        if not isinstance(value, str) or (not empty and not value.strip()):
            raise self.fail(shown, f"must be a non-empty string, not {value!r}"[:200])
        return value

    def source(self, data: dict, shown: str) -> Source:
        location = self.text(data, "source", shown + ".source")
        if location is None:
            raise self.fail(shown + ".source", "missing: a file path (relative to the setting file) or a URL")
        sha = self.text(data, "sha256", shown + ".sha256")
        if sha is not None and not (len(sha) == 64 and all(c in "0123456789abcdef" for c in sha.lower())):
            raise self.fail(shown + ".sha256", "must be 64 hex digits")
        src = Source(location, sha.lower() if sha else None)
        if src.is_url:
            return src
        path = Path(location).expanduser()
        path = path if path.is_absolute() else self.path.parent / path
        if not path.exists():
            raise self.fail(shown + ".source", f"{path}: no such file")
        return Source(str(path), src.sha256)


def load(path: str | Path, given_to: str = "--setting") -> Setting:
    """The setting of a TOML file; AfError (one line: file, key, what is wrong) if it cannot be used. given_to
    names where the path was given, for the line that says it cannot be read."""
    path = Path(path)
    check = _Checker(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise AfError(f"{path}: no such setting file (given to {given_to})") from None
    except OSError as exc:
        raise AfError(f"cannot read {path} (given to {given_to}): {exc.strerror}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise AfError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise AfError(f"{path}: not TOML ({exc})") from None
    check.known(data, _TOP)
    name = check.text(data, "name", "name", default=path.stem)

    rule = check.text(data, "rule", "rule", default=str(DEFAULT_RULE))
    if rule not in RULES:
        raise check.fail("rule", f"{rule!r} is not an outcome rule; use one of {', '.join(RULES)}")
    next_turn = data.get("next_turn", True)
    if not isinstance(next_turn, bool):
        raise check.fail("next_turn", f"must be true or false (whether {NEXT_TURN} continues a reply)")

    ds = check.table(data, "dataset", {"source", "sha256", "column"})
    dataset = check.source(ds, "dataset") if ds else sources.ADVBENCH_SOURCE
    column = check.text(ds, "column", "dataset.column")

    prompts = data.get("system_prompt")
    variants: list[Variant] = []
    if prompts is not None:
        if not isinstance(prompts, list) or not prompts:
            raise check.fail("system_prompt", "must be one or more [[system_prompt]] tables with a source")
        for i, entry in enumerate(prompts):
            shown = f"system_prompt[{i}]"
            if not isinstance(entry, dict):
                raise check.fail(shown, "must be a table with a source (a file, a folder or a URL)")
            check.known(entry, {"source", "sha256", "name"}, shown + ".")
            src = check.source(entry, shown)
            given = check.text(entry, "name", shown + ".name")
            if not src.is_url and Path(src.location).is_dir():
                if given or src.sha256:
                    raise check.fail(shown + ".source", "a folder's variants are named after its files; "
                                                        "drop name and sha256")
                variants += [Variant(Source(str(f))) for f in sources.system_prompt_files(src.location)]
            else:
                variants.append(Variant(src, given))
    names = [v.name or Path(v.source.location.rsplit("/", 1)[-1]).stem for v in variants]
    if len(set(names)) < len(names):
        raise check.fail("system_prompt", "two system prompts share a name; give one a name = \"...\"")

    tpl = check.table(data, "user_template", {"source", "sha256", "free", "paid"})
    template = check.source(tpl, "user_template") if "source" in tpl else sources.NOTEBOOK_SOURCE
    free = check.text(tpl, "free", "user_template.free", default="True")
    paid = check.text(tpl, "paid", "user_template.paid", default="False")
    if free == paid:
        raise check.fail("user_template.paid", f"the same marker as free ({free!r}); the tiers must differ")

    tags = data.get("tags")
    pairs: tuple[TagPair, ...] = (NOTEBOOK_TAGS,)
    if tags is not None:
        if not isinstance(tags, list) or not tags:
            raise check.fail("tags", "must be one or more [[tags]] tables with scratchpad and output")
        found = []
        for i, entry in enumerate(tags):
            shown = f"tags[{i}]"
            if not isinstance(entry, dict):
                raise check.fail(shown, "must be a table with scratchpad and output")
            check.known(entry, {"scratchpad", "output"}, shown + ".")
            pair = []
            for part in ("scratchpad", "output"):
                value = check.text(entry, part, f"{shown}.{part}")
                if value is None:
                    raise check.fail(f"{shown}.{part}", "missing: the tag's name, e.g. HIDDEN_SCRATCHPAD")
                if not value.replace("_", "").replace("-", "").isalnum():
                    raise check.fail(f"{shown}.{part}", f"{value!r} is not a tag name (letters, digits, _ or -; "
                                                        "no angle brackets)")
                pair.append(value)
            if pair[0].lower() == pair[1].lower():
                raise check.fail(shown, "the scratchpad and output tags must differ")
            found.append(TagPair(*pair))
        pairs = tuple(found)

    marks = check.table(data, "markers", {"accepted", "rejected"})
    accepted = check.text(marks, "accepted", "markers.accepted", default=Reading.accepted)
    rejected = check.text(marks, "rejected", "markers.rejected", default=Reading.rejected)
    if accepted.startswith(rejected) or rejected.startswith(accepted):
        raise check.fail("markers.rejected", "accepted and rejected must not start alike")

    comp = check.table(data, "compliance", {"measure", "task", "prompt"})
    measure = check.text(comp, "measure", "compliance.measure", default="prefix")
    if measure not in COMPLIANCE_MEASURES:
        raise check.fail("compliance.measure", f"{measure!r}; use prefix (the answer's accepted marker) or "
                                               "judge (a judge task)")
    task = check.text(comp, "task", "compliance.task")
    prompt = None
    if "prompt" in comp:
        prompt = check.source({"source": comp["prompt"]}, "compliance.prompt").location
    if measure == "judge" and not task:
        raise check.fail("compliance.task", "missing: name the judge task (e.g. supports-animal-welfare)")
    if measure == "prefix" and (task or prompt):
        raise check.fail("compliance.measure", "prefix takes no task or prompt; use measure = \"judge\"")

    return Setting(name=name, dataset=dataset, column=column,
                   variants=tuple(variants) or HELPFUL_ONLY.variants, template=template,
                   reading=Reading(tags=pairs, accepted=accepted, rejected=rejected, next_turn=next_turn,
                                   free=free, paid=paid),
                   rule=rule, compliance=Compliance(measure, task, prompt), origin=str(path))


# -- writing one out --------------------------------------------------------------------------------------

def _q(value: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, except that TOML also wants DEL escaped."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def to_toml(setting: Setting) -> str:
    """The setting as a file `load` reads back to the same setting (`af-tui setting show NAME`)."""
    r = setting.reading
    lines = [f"# The {_q(setting.name)[1:-1]} setting ({_q(setting.origin)[1:-1]}). Copy it, edit it, run it with",
             "#   af-tui run --setting FILE   (with the models and other options, as any run)",
             "# Paths are relative to this file; a URL is downloaded once, checked against its sha256 and cached.",
             f"name = {_q(setting.name)}",
             f"rule = {_q(setting.rule)}    # the outcome rule: notebook or last-scratchpad (docs/run.md)",
             f"next_turn = {str(r.next_turn).lower()}    # a reply that closes its scratchpad without an output "
             "is continued with <NEXT/>",
             "", "[dataset]", f"source = {_q(setting.dataset.location)}"]
    if setting.dataset.sha256:
        lines.append(f"sha256 = {_q(setting.dataset.sha256)}")
    lines.append(f"column = {_q(setting.column)}" if setting.column else
                 '# column = "goal"    # the request column (default: goal, request or prompt, the first found)')
    for v in setting.variants:
        lines += ["", "[[system_prompt]]    # one variant each; a folder gives one variant per file",
                  f"source = {_q(v.source.location)}"]
        if v.name:
            lines.append(f"name = {_q(v.name)}")
        if v.source.sha256:
            lines.append(f"sha256 = {_q(v.source.sha256)}")
    lines += ["", "[user_template]    # a str.format template with {is_free_tier_user} and {user_input} "
              "(a .ipynb: its prompt_template)", f"source = {_q(setting.template.location)}"]
    if setting.template.sha256:
        lines.append(f"sha256 = {_q(setting.template.sha256)}")
    lines += [f"free = {_q(r.free)}    # what {{is_free_tier_user}} says for each tier", f"paid = {_q(r.paid)}"]
    for pair in r.tags:
        lines += ["", "[[tags]]    # a scratchpad/output tag pair a reply may use (more: HIDDEN_SCRATCHPAD/OUTPUT, "
                  "think/output)", f"scratchpad = {_q(pair.scratchpad)}", f"output = {_q(pair.output)}"]
    lines += ["", "[markers]    # how the answer in the output tag starts", f"accepted = {_q(r.accepted)}",
              f"rejected = {_q(r.rejected)}", "", "[compliance]", f"measure = {_q(setting.compliance.measure)}"
              "    # prefix (the accepted marker) or judge (a judge task)"]
    if setting.compliance.task:
        lines.append(f"task = {_q(setting.compliance.task)}")
    if setting.compliance.prompt:
        lines.append(f"prompt = {_q(setting.compliance.prompt)}")
    return "\n".join(lines) + "\n"

