"""The filter dialog: run, model, variant, outcome on each tier, search, label state and verdict, errors only,
format-not-followed only, judge ≠ people, and the list's order. Returns a `PairFilter` (or None when cancelled). Checkboxes
read [x] or [ ] (widgets/on_off.py), so that on and off read the same without colour."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from af_tui.domain import OUTCOMES, VERDICT_WORDS
from af_tui.explorer.filters import LABEL_STATES, ORDERS, PairFilter
from af_tui.safe_text import one_line
from af_tui.tui.screens.main import SHORT
from af_tui.tui.widgets.on_off import OnOff


class FilterScreen(ModalScreen[PairFilter | None]):
    DEFAULT_CSS = """
    FilterScreen { align: center middle; }
    FilterScreen > Vertical { width: 80; max-width: 100%; height: auto; max-height: 100%; overflow-y: auto;
                              border: thick $primary; background: $surface; padding: 1 2; }
    FilterScreen Grid { grid-size: 2; grid-columns: 14 1fr; grid-rows: 3; height: auto; }
    FilterScreen Label { padding: 1 0; }
    FilterScreen #buttons { height: auto; margin-top: 1; }  /* (not `Horizontal`: a Select's inside is one) */
    FilterScreen Button { margin-right: 2; }
    /* A short terminal: the fields one line each (compact), so that the whole dialog fits 80×24 with no scroll */
    FilterScreen.-short > Vertical { padding: 0 2; }
    FilterScreen.-short Grid { grid-rows: 1; }
    FilterScreen.-short Label { padding: 0; }
    FilterScreen.-short Label.title { padding-bottom: 1; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="filters.cancel"),
        Binding("ctrl+s", "apply", "Apply", id="filters.apply", tooltip="Apply these filters"),
    ]

    def __init__(self, current: PairFilter, facets: dict[str, list[str]]) -> None:
        super().__init__()
        self.current = current
        self.facets = facets

    def _select(self, name: str, values: list[str], value: str | None, words: dict | None = None) -> Select:
        # Text: names are never markup
        options = [(Text(one_line((words or {}).get(v, v), 60)), v) for v in values]
        return Select(options, value=value if value in values else Select.NULL, prompt="any", id=name)

    def compose(self):
        c = self.current
        with Vertical():
            yield Label("Filter pairs", classes="title")
            with Grid():
                for name in ("run", "model", "variant"):
                    yield Label(name)
                    yield self._select(name, self.facets.get(name, []), getattr(c, name))
                yield Label("free outcome")
                yield self._select("free_outcome", list(OUTCOMES), c.free_outcome)
                yield Label("paid outcome")
                yield self._select("paid_outcome", list(OUTCOMES), c.paid_outcome)
                yield Label("search")
                yield Input(c.search, placeholder="words in requests, scratchpads, outputs", id="search")
                yield Label("labels")
                yield self._select("label_state", list(LABEL_STATES), c.label_state, LABEL_STATES)
                yield Label("verdict")
                yield self._select("verdict", list(VERDICT_WORDS), c.verdict, VERDICT_WORDS)
                yield Label("order")
                yield Select([(Text(words), name) for name, (words, _) in ORDERS.items()], value=c.order,
                             allow_blank=False, id="order")
            yield OnOff("errors only", c.errors_only, id="errors_only")
            yield OnOff("format not followed only", c.format_not_followed_only, id="fnf_only")
            yield OnOff("judge and people disagree", c.judge_disagrees, id="judge_disagrees")
            with Horizontal(id="buttons"):
                yield Button("Apply", variant="primary", id="apply")
                yield Button("Clear all", id="clear")
                yield Button("Cancel", id="cancel")

    def on_resize(self, event) -> None:
        short = event.size.height < SHORT  # the main screen's: its panels shrink then too
        self.set_class(short, "-short")
        for field in self.query("Select, Input, Checkbox"):
            field.compact = short

    def _value(self, name: str) -> str | None:
        value = self.query_one(f"#{name}", Select).value
        return None if value is Select.NULL or value is None else str(value)

    def action_apply(self) -> None:
        self.dismiss(PairFilter(
            run=self._value("run"), model=self._value("model"), variant=self._value("variant"),
            free_outcome=self._value("free_outcome"), paid_outcome=self._value("paid_outcome"),
            errors_only=self.query_one("#errors_only", Checkbox).value,
            format_not_followed_only=self.query_one("#fnf_only", Checkbox).value,
            search=self.query_one("#search", Input).value.strip(),
            judge_disagrees=self.query_one("#judge_disagrees", Checkbox).value,
            label_state=self._value("label_state"), verdict=self._value("verdict"), me=self.current.me,
            order=self._value("order") or "arrival",
        ))

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_apply()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            self.action_apply()
        elif event.button.id == "clear":
            self.dismiss(PairFilter(order=self.current.order))  # clears what filters; the order stays
        else:
            self.dismiss(None)
