"""The note modal of the labeling screen: edit the free-text note on a sample."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from textual import events
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from af_tui.tui.keys import TakesHeldKeys, run_bindings


class NoteScreen(TakesHeldKeys, ModalScreen[str | None]):
    """Edit the note: enter keeps it, escape leaves it as it was. The keys come from the app's hold
    (af_tui/tui/keys.py), in typing order, from the moment `e` pushed the screen: a burst such as
    `e why enter n enter`, or one typed while the label screen read the sample, puts "why" in the note (not a
    letter lost while the input was being mounted) and leaves `n enter` to the label screen."""

    DEFAULT_CSS = """
    NoteScreen { align: center middle; }
    NoteScreen > Vertical { width: 80%; height: auto; padding: 1 2; background: $panel; border: round $primary; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="label.note_cancel", tooltip="Leave the note as it was")]

    def __init__(self, note: str | None, on_close: Callable[[str | None], None] | None = None) -> None:
        super().__init__()
        self.note = note or ""
        self.closing = False
        self._on_close = on_close

    def compose(self):
        with Vertical():
            yield Static("Note on this sample (enter keeps it, escape cancels, empty clears it)")
            yield Input(self.note, id="label-note-input", placeholder="why this verdict…")

    def take_held_keys(self, held: deque[events.Key | events.Paste]) -> None:
        self.call_later(self._type_held, held)  # once composed: its input is there

    async def _type_held(self, held: deque[events.Key | events.Paste]) -> None:
        field = self.query_one(Input)
        self.set_focus(field)  # now, not after a refresh: the keys' bindings are the input's
        while held and not self.closing:
            event = held[0]  # still held while it is typed: a key read meanwhile waits behind it
            if isinstance(event, events.Paste):  # its first line, as Input takes a paste
                line = event.text.splitlines()[0] if event.text else ""
                if field.selection.is_empty:
                    field.insert_text_at_cursor(line)
                else:
                    field.replace(line, *field.selection)
            elif event.key == "enter":
                self.close(field.value)
            elif event.is_printable and event.character:  # as Input types it: over the selection, if any
                if field.selection.is_empty:
                    field.insert_text_at_cursor(event.character)
                else:
                    field.replace(event.character, *field.selection)
            else:  # backspace, the arrows, escape (cancel): the bindings of the input and of this screen
                await run_bindings(self.app, event)
            held.popleft()
        if self.closing and hasattr(self.app, "release_keys"):
            self.app.release_keys()  # the keys after enter are the label screen's

    def on_input_submitted(self, event: Input.Submitted) -> None:
        # enter reaching the input the ordinary way (an app without af_tui.tui.keys' hold)
        event.stop()
        self.close(event.value)

    def close(self, note: str | None) -> None:
        """Hand the note (None: cancelled) to on_close now, before any key typed after this one: a result
        callback of push_screen would come later, after the keys already queued for the screen below."""
        if not self.closing:
            self.closing = True
            if self._on_close is not None:
                self._on_close(note)
            self.dismiss(note)

    def action_cancel(self) -> None:
        self.close(None)
