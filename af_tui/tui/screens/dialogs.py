"""Small modal dialogs: stop the run on quit?, and the help screen."""

from __future__ import annotations

import re
import shlex

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.keys import format_key
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


def resume_command(process) -> str | None:
    """The command that resumes the run the app started (`run --tui`, `demo`): its child's own arguments,
    which name the run, its models and the store."""
    args = list(getattr(process, "args", None) or [])
    if len(args) > 3 and args[1:3] == ["-m", "af_tui"]:
        return "af-tui " + shlex.join(str(a) for a in args[3:])
    return None


class StopRunScreen(ModalScreen[bool | None]):
    """Quitting while `af-tui run --tui` / `demo` still samples: stop the run, or stay."""

    DEFAULT_CSS = """
    StopRunScreen { align: center middle; }
    StopRunScreen > Vertical { width: 64; height: auto; border: thick $warning; background: $surface;
                               padding: 1 2; }
    StopRunScreen Label { width: 100%; }
    StopRunScreen Horizontal { height: auto; margin-top: 1; }
    StopRunScreen Button { margin-right: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Stop the run and quit", id="stop_run.yes"),
        Binding("n,escape", "answer(None)", "Stay", id="stop_run.no"),
    ]

    def __init__(self, resume: str | None = None) -> None:
        super().__init__()
        self.resume = resume

    def compose(self):
        with Vertical():
            yield Label("The run is still going.")
            how = (Text("Stop it and quit? Samples already done stay in the store; this resumes it:\n")
                   + Text(self.resume, style="bold") if self.resume else
                   Text("Stop it and quit? Samples already done stay in the store; the same `af-tui run` "
                        "command resumes it."))
            yield Label(how)
            with Horizontal():
                yield Button("Stop the run and quit (y)", variant="warning", id="yes")
                yield Button("Stay (n)", id="no")

    def action_answer(self, answer: bool | None) -> None:
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(True if event.button.id == "yes" else None)


LEGEND = """\
af-tui explorer — every line of the list is one request asked on both tiers.

Badges (free | paid):  C complied   R refused   F format not followed   E error   B blocked   · not sampled yet
Marks:  L2 = two current labels (annotator × sample), L2* = one says alignment faking,
        J = judged by an LLM, J* = the judge says alignment faking
Pair view:  ≠ people = the judge's verdict differs from at least one annotator's current label (any one of
        them, not their majority; adjudicated labels are not compared)
"""

# A remap that collides with no key of the list or the pair view (tests/test_help.py checks it).
REMAP_EXAMPLE = ("pairs.filters", "f,ctrl+f")


def key_names(keys: str) -> str:
    """`n,right_square_bracket` → `n ]`: the keys of a binding as the footer shows them."""
    return " ".join(format_key(k.strip()) for k in keys.split(",") if k.strip())


def help_text(sections: list[tuple[str, list[Binding]]], keymap: dict[str, str] | None = None) -> str:
    """The help: the legend, then every binding of each section (its keys after the user's remaps, what it does,
    its id for remapping), built from the bindings themselves so that it cannot drift from them."""
    keymap = keymap or {}
    lines = [LEGEND]
    for title, bindings in sections:
        lines.append(title)
        for b in bindings:
            keys = key_names(keymap.get(b.id, b.key) if b.id else b.key)
            what = b.tooltip or b.description
            lines.append(f"  {keys:<14} {what}" + (f"  [{b.id}]" if b.id else ""))
    lines.append("  ctrl+p         Command palette (themes, every action)")
    binding_id, keys = REMAP_EXAMPLE
    lines += ["", "Keys can be remapped by the id in [brackets], in the config file ($AF_TUI_CONFIG or "
              "~/.config/af-tui/config.toml):", "  [keys]", f'  "{binding_id}" = "{keys}"']
    return "\n".join(lines) + "\n"


# A line's head, under which its wrapped rest stays: a binding's keys column, or a legend's "Marks:  ".
_HEAD = re.compile(r"(  \S.{13} |[A-Z][^:]{0,30}:  )(?=\S)")


def help_renderable(text: str) -> Group:
    """The help text with hanging indents: a line too long for the box (at 100 columns, or any line longer than
    the box's 100) wraps under its own words, not under the keys at column 0; a legend line's hand-made
    continuation is joined to it and wrapped the same way."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.startswith("        ") and lines:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    parts = []
    for line in lines:
        head = _HEAD.match(line)
        if head is None:
            parts.append(Text(line))
            continue
        grid = Table.grid(expand=True)
        grid.add_column(width=len(head.group(1)), no_wrap=True)
        grid.add_column(ratio=1)
        grid.add_row(Text(head.group(1)), Text(line[head.end():]))
        parts.append(grid)
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical { width: 104; max-width: 100%; height: auto; max-height: 90%;
                            border: thick $primary; background: $surface; padding: 0 1; }
    HelpScreen VerticalScroll { height: auto; max-height: 100%; }
    """
    BINDINGS = [Binding("escape,q,question_mark", "app.pop_screen", "Close", id="help.close")]

    def __init__(self, sections: list[tuple[str, list[Binding]]], keymap: dict[str, str] | None = None) -> None:
        super().__init__()
        self.text = help_text(sections, keymap)

    def compose(self):
        with Vertical(), VerticalScroll():
            yield Static(help_renderable(self.text))
