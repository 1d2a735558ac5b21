"""The click commands, one module per family; af_tui/cli.py registers each on the `af-tui` group."""
