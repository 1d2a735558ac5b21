"""`af-tui serve`: the app in a browser, one app process per tab on the same store, behind a token."""

from __future__ import annotations

import re

import click

from af_tui.commands.options import db_option
from af_tui.errors import AfError


@click.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Keep the loopback default and reach it over SSH port forwarding.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--token", envvar="AF_TUI_SERVE_TOKEN", default=None,
              help="Access token (default: a new random one each start). Also read from $AF_TUI_SERVE_TOKEN, "
                   "which unlike the command line other users cannot see in `ps`.")
@click.option("--label", "label_queue", is_flag=True,
              help="Each tab opens the labeling queue (`af-tui label`) instead of the explorer.")
@click.option("--blind", is_flag=True,
              help="With --label: every tab labels in blind mode (shuffled queue; tier, model and run hidden).")
def serve(db_path: str | None, host: str, port: int, token: str | None, label_queue: bool, blind: bool) -> None:
    """Serve the app to browsers: each tab asks for the annotator's name and runs its own app on the store.

    Prints the address to open, with its token; every request without the token gets 403."""
    try:
        from af_tui.tui.serve import AnnotationServer, app_command, setup_logging
    except ImportError as exc:
        raise AfError(f"af-tui serve needs the serve extra ({exc.name} is missing): pip install 'af-tui[serve]'") from None
    from af_tui.store.db import Store, resolve_db_path

    # Characters a URL carries as they are, so that the printed address is the token.
    if token is not None and not re.fullmatch(r"[A-Za-z0-9._~-]{16,}", token):
        raise AfError("--token must be at least 16 characters from A-Z a-z 0-9 . _ ~ -; "
                      "or leave it out for a random one")
    if blind and not label_queue:
        raise AfError("--blind goes with --label; for explorer tabs, start af-tui serve with AF_TUI_BLIND=1")
    path = resolve_db_path(db_path).absolute()
    # Open (and migrate) once here, so that app processes never race to migrate and a bad --db fails now.
    Store(path, create=False).close()
    setup_logging()
    AnnotationServer(path, host=host, port=port, token=token, app_argv=app_command(label_queue, blind)).serve()
