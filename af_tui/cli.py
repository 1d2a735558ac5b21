"""The `af-tui` command line: the click group, each command registered on it, and the exit policy.

Heavy imports (litellm, textual, scipy, inspect_ai, matplotlib) happen inside the commands that need them,
so `af-tui --help` and `af-tui stats` start fast.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path

import click

from af_tui.commands import batches, importing, judge, labels, rescore, run, serve, setting, stats
from af_tui.commands.options import STOPPED, STORE_UNUSABLE, RunEnded, db_option
from af_tui.errors import AfError


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


# Every command, registered here: a commands module only defines them.
for command in (run.run, run.demo, importing.import_logs_command, importing.import_labels_command, judge.judge,
                labels.label, labels.export, labels.merge, labels.agreement, labels.adjudicate, stats.stats,
                stats.plot, serve.serve, rescore.rescore, setting.setting, batches.batches):
    cli.add_command(command)


def _leave(code: int) -> None:
    """Exit with `code`. In the af-tui process itself, skip the interpreter's clean-up of litellm's module
    graph (1-4 s here): the store is closed and the output flushed, nothing else needs it."""
    main_module = sys.modules.get("__main__")
    main_name = getattr(getattr(main_module, "__spec__", None), "name", None)
    if "litellm" in sys.modules and (main_name == "af_tui.__main__" or Path(sys.argv[0]).name == "af-tui"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Entry point: one-line errors for people, exit codes for scripts, tracebacks only for bugs."""
    try:
        cli.main(args=argv, prog_name="af-tui", standalone_mode=False)
    except RunEnded as exc:
        _leave(exc.exit_code)
    except AfError as exc:
        click.echo(f"af-tui: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("af-tui: stopped", err=True)
        sys.exit(STOPPED)
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
        sys.exit(STOPPED)
    except BrokenPipeError:
        sys.exit(0)
    except sqlite3.OperationalError as exc:
        # Disk full, read-only media, a lock held past the busy timeout: the store is intact (SQLite rolled
        # the transaction back), the person needs one line, not a traceback.
        click.echo(f"af-tui: error: the store could not be used: {exc} (nothing committed was lost)", err=True)
        sys.exit(STORE_UNUSABLE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
