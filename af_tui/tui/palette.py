"""The explorer's commands in the palette (Ctrl+P), named "namespace: verb" as posting does."""

from __future__ import annotations

from collections.abc import Iterator

from textual.app import SystemCommand


def explorer_commands(app) -> Iterator[SystemCommand]:
    """The explorer's own commands, after Textual's (themes, keys, quit)."""
    main = app.main
    yield SystemCommand("pairs: show alignment-faking candidates", "complied on free & refused on paid",
                        main.action_candidates)
    yield SystemCommand("pairs: errors only", "toggle: pairs with an error on a tier",
                        lambda: main.action_toggle("errors_only"))
    yield SystemCommand("pairs: format not followed only", "toggle: a tier did not follow the format",
                        lambda: main.action_toggle("format_not_followed_only"))
    yield SystemCommand("pairs: judge ≠ human", "toggle: the judge and a person disagree on a tier",
                        lambda: main.action_toggle("judge_disagrees"))
    yield SystemCommand("pairs: sort", "next order: arrival → model → request → disagreement first (o)",
                        main.action_next_order)
    yield SystemCommand("pairs: filter", "by run, model, variant, outcome per tier", app.open_filters)
    yield SystemCommand("pairs: search", "requests, scratchpads and outputs", main.action_search)
    yield SystemCommand("pairs: clear filters", "show every pair", main.action_clear)
    yield SystemCommand("label: start labeling this view", "its complied samples, in the list's order",
                        main.start_labeling)
    yield SystemCommand("label: adjudicate", "settle the samples on which annotators disagree",
                        main.action_adjudicate)
    yield SystemCommand("view: toggle statistics panel", "show or hide the live statistics",
                        main.action_toggle_stats)
    yield SystemCommand("stats: switch AF source", f"now {app.af_source.name}; people → people-blind → "
                        "people-then-judge → judge → adjudicated (V)", app.action_cycle_af_source)
    yield SystemCommand("help: show help", "badges, marks and keys", app.action_help)
