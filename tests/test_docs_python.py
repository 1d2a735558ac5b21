"""docs/python.md stays true: its session runs on a fresh demo store (offline: the simulated models and
judge) and prints what the page shows (doctest, whitespace-normalised)."""

import doctest
import re
from pathlib import Path

import pytest
from helpers import af_main

DOC = Path(__file__).resolve().parents[1] / "docs" / "python.md"


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_the_session_in_docs_python_md(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert af_main("demo", "--db", "db/demo.sqlite", "--no-tui", "--latency", "0") == 0
    assert af_main("judge", "--db", "db/demo.sqlite", "--model", "sim/judge") == 0
    capsys.readouterr()
    text = DOC.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    setup = [b for b in blocks if ">>>" not in b]
    assert len(setup) == 2  # the opening example (not run: it names db/af_tui.sqlite) and the stand-in annotator
    exec(compile(setup[1], "docs/python.md (stand-in annotator)", "exec"), {})  # noqa: S102
    import pandas as pd

    pd.set_option("display.width", 110)
    session = "\n".join(b for b in blocks if ">>>" in b)
    test = doctest.DocTestParser().get_doctest(session, {"pd": pd}, "docs/python.md", str(DOC), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    report: list[str] = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)
