"""The hosted models the README and docs/run.md tell a newcomer to run are ones litellm's cost map prices (a
retired model has no price there, so a --dry-run could not quote it and --max-cost would refuse it), unless the
example gives it one with --price."""

from __future__ import annotations

import re

import pytest
from helpers import REPO

from af_tui.llm.pricing import price

PAGES = [REPO / "README.md", REPO / "docs" / "run.md"]


def _hosted_run_models() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8").replace("\\\n", " ")
        for line in text.splitlines():
            if "af-tui run" not in line or "--api-base" in line:
                continue  # a local server's model has no price
            priced = re.findall(r"--price\s+([^=\s]+)=", line)  # the example gives the model its own price
            found += [(page.name, m) for m in re.findall(r"--model\s+(\S+)", line)
                      if not m.startswith("sim/") and m not in priced]
    return found


def test_the_pages_show_hosted_models():
    assert any(page == "README.md" for page, _ in _hosted_run_models())


@pytest.mark.parametrize(("page", "model"), _hosted_run_models())
def test_every_hosted_model_in_the_run_examples_has_a_price(page, model):
    assert price(model) is not None, f"{page}: litellm's cost map has no price for {model}"
