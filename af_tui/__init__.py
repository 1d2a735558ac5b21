"""af-tui: a terminal workbench for alignment-faking experiments.

From Python, `af_tui.open(path)` reads a store as pandas DataFrames (docs/python.md):

    store = af_tui.open("db/af_tui.sqlite")
    store.samples(model="sim/faker", tier="free")   # also .pairs(), .labels(), .judgements(), .runs()
"""

from af_tui.data import StoreFrames, open

__version__ = "0.1.0"
__all__ = ["StoreFrames", "__version__", "open"]
