"""A checkbox drawn `[x] words` / `[ ] words`: on and off read without colour, in any theme (Textual's own box
`▐X▌` draws its off state in the panel's colour, near invisible, and the filter dialog drew both: `▐X▌ [ ]`)."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Checkbox


class OnOff(Checkbox):
    """The mark in the text's own colour: the x says on (a green x on a light theme fell below 4.5:1)."""

    DEFAULT_CSS = """
    OnOff > .toggle--button, OnOff.-on > .toggle--button { color: $foreground; background: transparent;
                                                           text-style: bold; }
    OnOff:ansi > .toggle--button, OnOff:ansi.-on > .toggle--button { color: ansi_default;
                                                                      background: ansi_default; }
    """

    @property
    def _button(self) -> Content:
        # ToggleButton's box, which its render and its width both use: 3 cells, as the `▐X▌` it replaces
        return Content.styled("[x]" if self.value else "[ ]", self.get_visual_style("toggle--button"))
