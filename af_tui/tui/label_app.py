"""`af-tui label` and `af-tui adjudicate`: the labeling screen and the review screen each as an app of its own
(also the apps the labeling tests drive)."""

from __future__ import annotations

from pathlib import Path

from textual.app import App

from af_tui.tui.keys import KeysInOrder
from af_tui.tui.screens.adjudicate import AdjudicateScreen
from af_tui.tui.screens.label import LabelScreen


class _OneScreenApp(KeysInOrder, App):
    """One screen on its own, with the keymap of the config file; leaving the screen leaves the app."""

    TITLE = "af-tui"
    SCREEN: type = LabelScreen

    def __init__(self, db_path: str | Path, annotator: str, *, keymap: dict | None = None,
                 **screen_options) -> None:
        super().__init__()
        self.db_path, self.annotator, self.screen_options = Path(db_path), annotator, screen_options
        self.keymap = keymap or {}

    def on_mount(self) -> None:
        if self.keymap:
            self.set_keymap(self.keymap)
        self.push_screen(self.SCREEN(self.db_path, self.annotator, **self.screen_options), lambda _: self.exit())


class LabelApp(_OneScreenApp):
    """`af-tui label`: the labeling screen on its own."""

    SCREEN = LabelScreen


class AdjudicateApp(_OneScreenApp):
    """`af-tui adjudicate`: the review screen on its own."""

    SCREEN = AdjudicateScreen
