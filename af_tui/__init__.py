"""af-tui: a terminal workbench for alignment-faking experiments."""

__version__ = "0.1.0"
