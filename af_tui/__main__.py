"""`python -m af_tui` is the `af-tui` command."""

from af_tui.cli import main

main()
