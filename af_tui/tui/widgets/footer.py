"""The footer of every screen: Textual's compact footer, with the command palette's key drawn to the last column.

Textual's compact footer gives every key a right margin, the palette's key too, which is docked right: the
last column was left to the keys scrolled under it, and a letter of one showed after it (`^p paletteE`)."""

from __future__ import annotations

from textual.widgets import Footer


class KeysFooter(Footer):
    DEFAULT_CSS = """
    KeysFooter.-compact FooterKey.-command-palette { margin-right: 0; }
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(compact=True, **kwargs)
