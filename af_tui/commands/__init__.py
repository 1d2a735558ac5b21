"""One module per family of commands; each registers its commands on `af_tui.cli.cli` when imported."""

from af_tui.commands import (
    importing,  # noqa: F401
    judge,  # noqa: F401
    labels,  # noqa: F401
    run,  # noqa: F401
    serve,  # noqa: F401
    stats,  # noqa: F401
)
