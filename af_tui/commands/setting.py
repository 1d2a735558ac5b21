"""`af-tui setting show NAME|FILE`: a setting written out as TOML, to copy and edit (`af-tui run --setting FILE`)."""

from __future__ import annotations

import click


@click.group()
def setting() -> None:
    """Settings as data: what a run asks and how it reads the replies (docs/run.md)."""


@setting.command("show")
@click.argument("name", default="helpful-only", metavar="NAME|FILE")
def show(name: str) -> None:
    """Print a setting as TOML: a built-in one (helpful-only) or a file, checked as `run --setting` reads it.

    af-tui setting show helpful-only > my-setting.toml   # then edit it and run it with --setting"""
    from pathlib import Path

    from af_tui.experiment import setting as settings_data

    if name in settings_data.BUILT_IN and not Path(name).exists():
        found = settings_data.builtin(name)
    elif Path(name).exists() or name.endswith(".toml"):
        found = settings_data.load(name, given_to="af-tui setting show")
    else:
        found = settings_data.builtin(name)
    click.echo(settings_data.to_toml(found), nl=False)
