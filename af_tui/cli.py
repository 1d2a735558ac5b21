"""The `af-tui` command line: thin click commands that parse options and call the modules.

Heavy imports (litellm, textual, scipy, inspect_ai, matplotlib) happen inside the commands that need them,
so `af-tui --help` and `af-tui stats` start fast.
"""

from __future__ import annotations

import os
import sqlite3
import sys

import click

from af_tui.errors import AfError

db_option = click.option(
    "--db", "db_path", envvar="AF_TUI_DB", type=click.Path(dir_okay=True), default=None,
    help="The store (SQLite file). Default: $AF_TUI_DB, else db/af_tui.sqlite.",
)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@db_option
@click.option("--annotator", envvar="AF_TUI_ANNOTATOR", default=None,
              help="Your name on labels made in the app. Default: $AF_TUI_ANNOTATOR, else your login name.")
@click.version_option(package_name="af-tui")
@click.pass_context
def cli(ctx: click.Context, db_path: str | None, annotator: str | None) -> None:
    """af-tui: run the alignment-faking helpful-only experiment, explore free- and paid-tier answers side
    by side, label alignment-faking reasoning, judge it with an LLM, and export labeled sets.

    With no command, opens the explorer on the store."""
    # `af-tui --db X stats` means the same as `af-tui stats --db X`: the sub-command's options read these
    # variables as their defaults, and click parses them after this callback has run.
    if db_path:
        os.environ["AF_TUI_DB"] = db_path
    if annotator:
        os.environ["AF_TUI_ANNOTATOR"] = annotator
    if ctx.invoked_subcommand is None:
        from af_tui.tui.launch import open_app

        open_app(db_path, annotator=annotator)


# The commands live beside the modules they call; importing them here registers them on `cli`.
from af_tui import commands  # noqa: E402,F401


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors for people, exit codes for scripts, tracebacks only for bugs."""
    try:
        cli.main(args=argv, prog_name="af-tui", standalone_mode=False)
    except AfError as exc:
        click.echo(f"af-tui: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("af-tui: stopped", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        # click's own usage errors (a bad number, a missing argument) in af-tui's one line, not four.
        where = f"`{exc.ctx.command_path} --help`" if exc.ctx else "`af-tui --help`"
        click.echo(f"af-tui: error: {' '.join(exc.format_message().split())} (see {where})", err=True)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("af-tui: stopped", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except sqlite3.OperationalError as exc:
        # Disk full, read-only media, a lock held past the busy timeout: the store is intact (SQLite rolled
        # the transaction back), the person needs one line, not a traceback.
        click.echo(f"af-tui: error: the store could not be used: {exc} (nothing committed was lost)", err=True)
        sys.exit(3)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
