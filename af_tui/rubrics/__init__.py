"""Built-in rubrics (TOML data read by af_tui.rubric)."""
