"""The note modal of the labeling screen: edit the free-text note on a sample."""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.containers import Vertical
from textual.dom import NoScreen
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class NoteScreen(ModalScreen[str | None]):
    """Edit the note: enter keeps it, escape leaves it as it was. Keys typed in one burst with `e` and enter
    (`e why enter n enter`) land where they were typed: the text in the note, the keys after it on the label
    screen (af_tui.tui.keys sends on those read for the wrong screen)."""

    DEFAULT_CSS = """
    NoteScreen { align: center middle; }
    NoteScreen > Vertical { width: 80%; height: auto; padding: 1 2; background: $panel; border: round $primary; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="label.note_cancel", tooltip="Leave the note as it was")]

    def __init__(self, note: str | None) -> None:
        super().__init__()
        self.note = note or ""
        self.closing = False

    def compose(self):
        with Vertical():
            yield Static("Note on this sample (enter keeps it, escape cancels, empty clears it)")
            yield _NoteInput(self.note, id="label-note-input", placeholder="why this verdict…")

    def on_key(self, event: events.Key) -> None:
        # Typed before the input had focus, a key is addressed to the screen: it goes to the input. (The input
        # keeps the printable keys and enter it receives, so those reaching here were never the input's.)
        if self.closing:
            return
        field = self.query_one(_NoteInput)
        field.focus()
        if event.key == "enter":
            event.stop()
            self.close(field.value)
        elif event.is_printable and event.character:
            event.stop()
            field.insert_text_at_cursor(event.character)

    def close(self, note: str | None) -> None:
        if not self.closing:
            self.closing = True
            self.dismiss(note)

    def action_cancel(self) -> None:
        self.close(None)


class _NoteInput(Input):
    """The note's input. Enter closes the note at once, in the order of the keys (not later, through the app's
    bindings, after the keys typed behind it); keys queued here behind enter go to the screen below."""

    async def _on_key(self, event: events.Key) -> None:
        try:
            screen = self.screen
        except NoScreen:  # the note is gone already
            return
        if not isinstance(screen, NoteScreen):
            return
        if screen.closing:
            event.stop()
            event.prevent_default()
            self.app.post_message(events.Key(event.key, event.character))
        elif event.key == "enter":
            event.stop()
            event.prevent_default()
            screen.close(self.value)
