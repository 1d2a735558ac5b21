"""What the explorer reads: filter and full-text search planning, and the list, detail and run-monitor queries.
Plain functions over a sqlite3 connection; the TUI calls them from its worker threads."""
