"""The shape of the code and of its documentation: import-linter's contracts hold, no import cycles, every
relative link in the README and docs/ resolves, and every package docs/architecture.md names exists."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import grimp
import pytest
from importlinter.cli import lint_imports

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_import_contracts_are_kept(monkeypatch, capsys):
    # lint-imports reads the contracts from pyproject.toml and imports af_tui from the checkout
    monkeypatch.chdir(REPO)
    monkeypatch.syspath_prepend(str(REPO))
    status = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert status == 0, report
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken", report), report


# The app and the commands ask store/, explorer/, judge/, io/ and analysis/ in the researcher's words: no SQL
# up there (pyproject.toml's contract keeps the sqlite3 and sqlite_utils imports out; this keeps the SQL out).
NO_SQL_PACKAGES = ("af_tui.commands", "af_tui.tui")
SQL_IN_A_CALL = re.compile(r"""\.(?:execute|executemany|executescript)\(\s*[rfbu]*(?:"|')|"""
                           r"""["'](?:\s*(?:SELECT|INSERT|UPDATE|DELETE|BEGIN|PRAGMA|CREATE|WITH)\b[^"']*)""")


def _sources(package: str) -> list[Path]:
    return sorted(REPO.joinpath(*package.split(".")).rglob("*.py"))


def _sql_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if SQL_IN_A_CALL.search(line)]


@pytest.mark.parametrize("package", NO_SQL_PACKAGES)
def test_no_sql_in_the_app_and_the_commands(package):
    found = [f"{path.relative_to(REPO)}: {line}" for path in _sources(package)
             for line in _sql_lines(path.read_text(encoding="utf-8"))]
    assert not found, "SQL outside store/ and explorer/ (give it a named function there):\n" + "\n".join(found)


def test_the_sql_finder_finds_sql():
    assert _sql_lines('row = conn.execute("SELECT 1 FROM pairs").fetchone()')
    assert _sql_lines("conn.execute('BEGIN')")
    assert _sql_lines('    conn.execute(f"UPDATE labels SET x = 1")')
    assert _sql_lines('query = "SELECT id FROM samples"')
    assert not _sql_lines("asyncio.run(execute(spec, store))")
    assert not _sql_lines('help="The store (SQLite file)."')


@pytest.mark.parametrize("importer, imported, contract", [
    ("af_tui.analysis.agreement", "rich", "Below the app and the commands, nothing draws"),
    ("af_tui.store.labels", "textual", "Below the app and the commands, nothing draws"),
    ("af_tui.tui.app", "sqlite3", "The app and the commands speak no SQL"),
    ("af_tui.commands.stats", "sqlite_utils", "The app and the commands speak no SQL"),
])
def test_a_forbidden_import_breaks_its_contract(monkeypatch, capsys, importer, imported, contract):
    """The contracts catch what they forbid: the real graph plus one deliberate import (`import rich` in
    af_tui/analysis, sqlite3 in the app, …) fails lint-imports, naming the broken contract."""
    from importlinter.adapters.building import GraphBuilder

    real_build = GraphBuilder.build

    def build_with_the_import(self, *args, **kwargs):
        graph = real_build(self, *args, **kwargs)
        if imported not in graph.modules:
            graph.add_module(imported, is_squashed=True)
        graph.add_import(importer=importer, imported=imported, line_number=1, line_contents=f"import {imported}")
        return graph

    monkeypatch.setattr(GraphBuilder, "build", build_with_the_import)
    monkeypatch.chdir(REPO)
    monkeypatch.syspath_prepend(str(REPO))
    status = lint_imports(config_filename=str(REPO / "pyproject.toml"), no_cache=True, no_logo=True)
    report = capsys.readouterr().out
    assert status == 1, report
    assert f"{contract}" in report and f"{importer} -> {imported}" in report, report
    assert re.search(r"Contracts: \d+ kept, 1 broken", report), report


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in graph.modules:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycles_between_modules(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO))
    graph = grimp.build_graph("af_tui", exclude_type_checking_imports=True, cache_dir=None)
    cycles = _cycles(graph)
    assert not cycles, "import cycles (TYPE_CHECKING imports aside):\n" + "\n".join(" ↔ ".join(c) for c in cycles)


def test_cycle_finder_finds_a_cycle():
    graph = grimp.ImportGraph()
    for module in ("p", "p.a", "p.b", "p.c", "p.d"):
        graph.add_module(module)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    graph.add_import(importer="p.d", imported="p.a")
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    text = "".join(c for c in text if c in "- " or unicodedata.category(c)[0] in "LN")
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    anchors, fence = set(), False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fence = not fence
        elif not fence and (m := re.match(r"#{1,6} (.+)", line)):
            anchors.add(_anchor(m.group(1)))
    return anchors


def _links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(doc: Path):
    bad = []
    for link in _links(doc):
        if re.match(r"[a-z][a-z0-9+.-]*:", link):  # http:, https:, mailto:
            continue
        target, _, anchor = link.partition("#")
        path = (doc.parent / target).resolve() if target else doc
        if not path.exists():
            bad.append(f"{link}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
            bad.append(f"{link}: no heading with that anchor")
    assert not bad, f"{doc.name}: " + "; ".join(bad)


def test_the_readme_points_at_every_page_of_docs():
    readme_links = {os.path.normpath(link.partition("#")[0]) for link in _links(REPO / "README.md")}
    pages = {str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md")}
    assert pages <= readme_links, f"pages under docs/ that the README does not link: {pages - readme_links}"


def test_every_package_named_in_the_architecture_exists():
    text = (REPO / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"\baf_tui(?:\.[a-z_]+)+", text))
    named |= {"af_tui." + folder.strip("/").replace("/", ".") for folder in re.findall(r"`((?:[a-z_]+/)+)`", text)
              if not (REPO / folder).is_dir()}  # the checkout's own tests/, docs/, bench/
    named |= {"af_tui." + path.replace("/", ".") for path in re.findall(r"`af_tui/([a-z_/]+)\.py`", text)}
    assert len(named) >= 9, named
    missing = []
    for dotted in sorted(named):
        path = REPO.joinpath(*dotted.split("."))
        if not (path / "__init__.py").exists() and not path.with_suffix(".py").exists():
            missing.append(dotted)
    assert not missing, f"docs/architecture.md names what af_tui does not have: {missing}"
