"""Where stores live by default; kept apart from store.py so that the CLI can name them without importing it."""

from pathlib import Path

DEFAULT_DB = Path("db") / "af_tui.sqlite"
DEMO_DB = Path("db") / "demo.sqlite"  # `af-tui demo` keeps its simulated runs apart from real ones
