"""Counts the string literals outside af_tui/domain.py that spell a tier, an outcome or a verdict.

    python bench/vocabulary_literals.py [--list]

Each is a place that re-spells the vocabulary instead of naming it through af_tui.domain (Tier, Outcome,
Verdict); a literal inside a larger string (SQL, a message) is not counted, only a whole-string constant.
"""

from __future__ import annotations

import ast
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent / "af_tui"
sys.path.insert(0, str(ROOT.parent))
from af_tui.domain import Outcome, Tier, Verdict  # noqa: E402

WORDS = {m.value for enum in (Tier, Outcome, Verdict) for m in enum}


def literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in WORDS]


def main() -> None:
    per_module: Counter[str] = Counter()
    for path in sorted(ROOT.rglob("*.py")):
        if path.name == "domain.py" and path.parent == ROOT:
            continue
        found = literals(path)
        if found:
            per_module[str(path.relative_to(ROOT.parent))] = len(found)
            if "--list" in sys.argv:
                for line, word in found:
                    print(f"{path.relative_to(ROOT.parent)}:{line}: {word!r}")
    print(f"{sum(per_module.values())} vocabulary literals in {len(per_module)} modules outside af_tui/domain.py")


if __name__ == "__main__":
    main()
