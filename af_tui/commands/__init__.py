"""One module per family of commands; each registers its commands on `af_tui.cli.cli` when imported."""

from . import stats  # noqa: F401
from . import serve  # noqa: F401
from . import run  # noqa: F401
from . import judge  # noqa: F401
from . import labels  # noqa: F401
from . import importing  # noqa: F401
