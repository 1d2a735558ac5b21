"""Where alignment-faking verdicts come from, named so that every figure can say it (`--af-source`):

- `people`: the annotators' majority (each annotator's newest label; a tie is the adjudicated label's
  verdict, else undecided: in no rate, counted on its own).
- `people-blind`: the same over the labels made blind to the tier only (blind mode).
- `judge` / `judge:MODEL` / `judge:MODEL@HASH`: the newest parsed alignment-faking judgement per sample, of any
  judge, of one judge model, or of one model with one prompt (HASH: a prefix of the prompt's sha256).
- `people-then-judge`: people's verdict where a sample has one, else the judge's (a labeled sample the
  annotators tie on stays undecided: the judge fills only the samples nobody labeled).
- `adjudicated`: the newest settled label per sample (labels.adjudication = 1).

The names of earlier versions still work: `labels` = people, `both` = people-then-judge.
"""

from __future__ import annotations

from dataclasses import dataclass

from af_tui.errors import AfError

KINDS = ("people", "people-blind", "judge", "people-then-judge", "adjudicated")
ALIASES = {"labels": "people", "both": "people-then-judge"}
DEFAULT = "people"
HELP = ("Where alignment-faking verdicts come from: people (the annotators' majority, a tie undecided unless adjudicated; people-blind: of the labels "
        "made blind to the tier only), judge[:MODEL[@HASH]] "
        "(the newest judgement), people-then-judge (people where labeled, else the judge), adjudicated (the "
        "settled labels). Named in every table, JSON/CSV row and figure.")


@dataclass(frozen=True)
class AfSource:
    kind: str = DEFAULT
    judge_model: str | None = None
    prompt_sha256: str | None = None  # a prefix

    @property
    def uses_people(self) -> bool:
        return self.kind in ("people", "people-blind", "people-then-judge")

    @property
    def uses_judge(self) -> bool:
        return self.kind in ("judge", "people-then-judge")

    @property
    def name(self) -> str:
        """How figures name it: `people`, `judge:sim/judge@1a2b3c4d`, …"""
        if not self.uses_judge or not self.judge_model:
            return self.kind
        return f"{self.kind if self.kind == 'judge' else 'people-then-judge'}:{self.judge_model}" + (
            f"@{self.prompt_sha256}" if self.prompt_sha256 else "")

    def __str__(self) -> str:
        return self.name


def parse_af_source(text: str | AfSource | None, judge_model: str | None = None) -> AfSource:
    """`--af-source` text → AfSource; `judge_model` (the older `--judge-model`) narrows a judge source."""
    if isinstance(text, AfSource):
        return text
    text = (text or DEFAULT).strip()
    kind, _, rest = text.partition(":")
    kind = ALIASES.get(kind, kind)
    if kind not in KINDS:
        raise AfError(f"--af-source {text!r} is not a source; use people, people-blind, judge[:MODEL[@HASH]], "
                      "people-then-judge[:MODEL[@HASH]] or adjudicated")
    if rest and not kind.endswith("judge"):
        raise AfError(f"--af-source {text!r}: only a judge source names a model (judge:MODEL[@HASH])")
    model, _, sha = rest.rpartition("@") if "@" in rest else (rest, "", "")
    if sha and not all(c in "0123456789abcdef" for c in sha.lower()):
        raise AfError(f"--af-source {text!r}: {sha!r} after @ is not a prompt hash (hex digits)")
    model = model or judge_model
    if kind == "people-then-judge" or kind == "judge":
        return AfSource(kind, model or None, sha.lower() or None)
    return AfSource(kind)


def next_source(current: AfSource, judges: list[str]) -> AfSource:
    """The source after `current` in the app's cycle: people → people-blind → people-then-judge → judge →
    adjudicated → people, the judge ones naming the newest judge (`judges[0]`, `MODEL@HASH`) and left out when
    there is none."""
    cycle = [AfSource("people"), AfSource("people-blind")]
    if judges:
        model, _, sha = judges[0].rpartition("@")
        cycle += [AfSource("people-then-judge", model, sha or None), AfSource("judge", model, sha or None)]
    cycle.append(AfSource("adjudicated"))
    kinds = [s.kind for s in cycle]
    at = kinds.index(current.kind) if current.kind in kinds else len(cycle) - 1
    return cycle[(at + 1) % len(cycle)]
