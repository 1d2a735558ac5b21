"""Importers: bring runs made with other tools (Inspect eval logs) into the store, so they can be explored,
labeled and exported like af-tui's own runs."""
