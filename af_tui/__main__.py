"""`python -m af_tui` is the `af-tui` command."""

from .cli import main

main()
