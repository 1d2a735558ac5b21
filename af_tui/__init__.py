"""af-tui: a terminal workbench for alignment-faking experiments.

From Python, `af_tui.open(path)` reads a store as pandas DataFrames (docs/python.md):

    store = af_tui.open("db/af_tui.sqlite")
    store.samples(model="sim/faker", tier="free")   # also .pairs(), .labels(), .judgements(), .runs()
"""

import importlib

__version__ = "0.1.0"
__all__ = ["StoreFrames", "__version__", "open"]
# The public API lives in af_tui/data.py and is loaded on first use (PEP 562): `af-tui --help` and every module
# that imports af_tui (for __version__) stay clear of it, and import-linter's layers see no import of it here.
_LAZY = {"open": "af_tui.data", "StoreFrames": "af_tui.data"}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'af_tui' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
