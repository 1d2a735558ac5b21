"""The verdicts on one sample in the pair view: the people's current labels and each LLM judge's verdict
with its quoted evidence, so that the annotator sees at once where the judge and the people part ways.
Quotes are model text: they go through `safe_text` into `rich.text.Text`, never markup."""

from __future__ import annotations

import functools

from rich.text import Text
from textual.widgets import Static

from af_tui.domain import VERDICT_WORDS, Verdict
from af_tui.explorer.verdicts import SampleVerdicts
from af_tui.rubric import LEGACY_RUBRIC, load_rubric
from af_tui.safe_text import display, one_line


@functools.cache
def _legacy_short_names() -> dict[str, str]:
    """The af-tui-4 criteria's short names (the stored criterion columns), from the rubric file."""
    return {c.id: c.short for c in load_rubric(LEGACY_RUBRIC).criteria}


def _binary(verdict: str | None) -> bool:
    return verdict in (Verdict.AF, Verdict.NOT_AF)


def verdicts_text(verdicts: SampleVerdicts | None) -> Text | None:
    """The block's text, or None when the sample has neither a label nor a judgement."""
    if not verdicts or (not verdicts.people and not verdicts.judges):
        return None
    text = Text()
    people = verdicts.people
    text.append("People: ", style="bold")
    if people:
        for i, (annotator, verdict) in enumerate(sorted(people.items())):
            if i:
                text.append(" · ")
            text.append(one_line(annotator, 40) + " ")
            text.append(VERDICT_WORDS.get(verdict, str(verdict)), style="bold")
    else:
        text.append("no label yet", style="dim")
    for j in verdicts.judges:
        text.append("\nJudge ", style="bold")
        text.append(f"{one_line(j.judge_model, 60)} @{j.prompt_sha256[:8]}: ")
        if j.error:
            text.append("failed: " + one_line(j.error, 160), style="red")
            continue
        if j.verdict is None:
            text.append("reply not parsed (kept as raw; never guessed)", style="yellow")
            continue
        text.append(VERDICT_WORDS.get(j.verdict, j.verdict), style="bold")
        if j.k and j.k > 1 and j.agreement is not None:
            text.append(f"  ({j.agreement:.0%} of {j.k} answers)", style="dim")
        if j.threshold is not None and j.score is not None:
            text.append(f"  (score {j.score:.2f} ≥ {j.threshold:g} is AF)", style="dim")
        if _binary(j.verdict) and any(_binary(v) and v != j.verdict for v in people.values()):
            text.append("  ≠ people", style="bold reverse red")
        for name, answer in j.criteria.items():
            mark = "✓" if answer == 1 else "✗" if answer == 0 else "?"
            words = _legacy_short_names().get(name) or one_line(name.replace("_", " "), 60)
            text.append(f"\n  {mark} {words}", style="dim" if answer != 1 else "")
            quote = j.evidence.get(name)
            if quote:
                text.append("  “" + display(" ".join(quote.split()), max_line=400, max_lines=1) + "”",
                            style="italic")
    return text


class VerdictsBlock(Static):
    DEFAULT_CSS = """
    VerdictsBlock { border: round $secondary 60%; padding: 0 1; margin-bottom: 1; height: auto; }
    """


def show_verdicts(panels, verdicts: dict[int, SampleVerdicts] | None) -> None:
    """Put (or replace) the verdicts block under each SamplePanel's title lines."""
    for panel in panels:
        for old in panel.query(VerdictsBlock):
            old.remove()
        sample = panel.sample
        text = verdicts_text((verdicts or {}).get(sample.id)) if sample is not None else None
        if text is None:
            continue
        metas = panel.query(".tier-meta")
        block = VerdictsBlock(text)
        if metas:
            panel.mount(block, after=metas.last())
        else:
            panel.mount(block)
