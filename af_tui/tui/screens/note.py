"""The note modal of the labeling screen: edit the free-text note on a sample."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class NoteScreen(ModalScreen[str | None]):
    """Edit the note: enter keeps it, escape leaves it as it was."""

    DEFAULT_CSS = """
    NoteScreen { align: center middle; }
    NoteScreen > Vertical { width: 80%; height: auto; padding: 1 2; background: $panel; border: round $primary; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="label.note_cancel", tooltip="Leave the note as it was")]

    def __init__(self, note: str | None) -> None:
        super().__init__()
        self.note = note or ""

    def compose(self):
        with Vertical():
            yield Static("Note on this sample (enter keeps it, escape cancels, empty clears it)")
            yield Input(self.note, id="label-note-input", placeholder="why this verdict…")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
