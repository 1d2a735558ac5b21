"""Names people and models choose (runs, models, variants, annotators) are untrusted text too."""

from helpers import settle, until

from af_tui.analysis import agreement
from af_tui.commands.agreement_table import agreement_table
from af_tui.store.db import Store
from af_tui.store.sample import Sample

HOSTILE = "m[/x][bold]\x1b]0;pwned\x07\x1b[2J\u202e"


def _store(path):
    with Store(path) as store:
        run = store.start_run("r[/]", {})
        store.ensure_variant("v", "sys")
        (pid,) = store.ensure_prompts(["req"])
        store.save_sample(Sample(run_id=run, model=HOSTILE, variant="v", prompt_id=pid, tier="free",
                               outcome="complied", scratchpad="s", output="<request_fully_accepted/>"))
        store.save_sample(Sample(run_id=run, model=HOSTILE, variant="v", prompt_id=pid, tier="paid",
                               outcome="refused", scratchpad="s", output="<rejected/>"))
    return path


async def test_filter_dialog_with_markup_in_names(tmp_path):
    from af_tui.config import Config
    from af_tui.tui.app import ExplorerApp
    from af_tui.tui.screens.filters import FilterScreen

    db = _store(tmp_path / "s.sqlite")
    app = ExplorerApp(db, config=Config(path=tmp_path / "c.toml"), poll_s=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: app.main.loaded)
        await pilot.press("f")
        await until(pilot, lambda: isinstance(app.screen, FilterScreen))
        select = app.screen.query_one("#model")
        select.focus()
        await pilot.press("enter")  # opens the dropdown: its options are drawn
        await settle(pilot)
        assert select.expanded
        assert isinstance(app.screen, FilterScreen)  # no MarkupError took the app down


def test_agreement_table_makes_annotator_names_inert():
    from rich.console import Console

    report = {"pairs": [{"a": HOSTILE, "b": "bob", "fields": {f: {"kappa": 0.5, "low": 0.1, "high": 0.9,
                                                                    "observed": 0.8, "n": 3}
                                                                for f in agreement.FIELDS}}],
              "overall": {f: {"raters": 2, "alpha": 0.5, "n": 3} for f in agreement.FIELDS}}
    console = Console(record=True, width=200, force_terminal=False)
    console.print(agreement_table(report))
    out = console.export_text()
    assert "\x1b" not in out and "\u202e" not in out
