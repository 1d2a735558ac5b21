"""Writes one script's section of bench/README.md, between `<!-- section:NAME -->` markers (added at the end
the first time)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def write_section(name: str, text: str) -> None:
    begin, end = f"<!-- section:{name} -->", f"<!-- /section:{name} -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    current = README.read_text(encoding="utf-8")
    if begin in current and end in current:
        current = re.sub(re.escape(begin) + r".*?" + re.escape(end), lambda _: block, current, flags=re.DOTALL)
    else:
        current = current.rstrip() + "\n\n" + block + "\n"
    README.write_text(current, encoding="utf-8")
