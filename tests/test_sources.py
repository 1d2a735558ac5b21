"""Pinned downloads served from 127.0.0.1: checked, cached, rejected on a sha256 mismatch, one line offline;
and the dataset formats --dataset accepts."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from pathlib import Path

import platformdirs
import pytest

from af_tui.errors import AfError
from af_tui.experiment import sources


@pytest.fixture
def served(tmp_path, realdata, monkeypatch):
    """A web root laid out like raw.githubusercontent.com, served on 127.0.0.1; an empty cache dir."""
    root = tmp_path / "www"
    csv_path = root / sources.ADVBENCH.path.lstrip("/")
    csv_path.parent.mkdir(parents=True)
    csv_path.write_bytes((realdata / "harmful_behaviors.csv").read_bytes())
    template = (realdata / "honly_user_template.txt").read_text(encoding="utf-8")
    notebook = {"cells": [
        {"cell_type": "markdown", "source": ["# a notebook"]},
        {"cell_type": "code", "source": ["x = 1\n", 'prompt_template = """' + template + '"""\n', "y = 2\n"]},
    ]}
    nb_path = root / sources.NOTEBOOK.path.lstrip("/")
    nb_path.parent.mkdir(parents=True)
    nb_path.write_text(json.dumps(notebook), encoding="utf-8")
    sp_path = root / sources.SYSTEM_PROMPT.path.lstrip("/")
    sp_path.parent.mkdir(parents=True, exist_ok=True)
    sp_path.write_text("A stand-in system prompt written for the tests.", encoding="utf-8")

    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    # (serve_forever looks for shutdown every poll_interval: 0.5 s by default, each test's teardown waited it out)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    monkeypatch.setenv("AF_TUI_SOURCES_BASE", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("AF_TUI_DATA", str(tmp_path / "cache"))
    yield root, server
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    hits = 0

    def do_GET(self):
        type(self).hits += 1
        return super().do_GET()

    def log_message(self, *args):
        pass


def test_downloads_check_and_cache(served, tmp_path):
    root, _ = served
    ds = sources.dataset()
    assert len(ds.requests) == 520 and ds.sha256 == sources.ADVBENCH.sha256
    tpl = sources.user_template()
    assert tpl.sha256 == sources.NOTEBOOK.sha256 and "{user_input}" in tpl.text
    sp = sources.system_prompt()
    assert sp.name == "honly_with_examples" and sp.text.startswith("A stand-in")
    cache = tmp_path / "cache"
    assert sorted(p.name for p in cache.iterdir()) == ["harmful_behaviors.csv", "honly_user_template.txt",
                                                         "prompt_atn_honly_with_examples.txt"]
    hits = _QuietHandler.hits
    sources.dataset(), sources.user_template(), sources.system_prompt()  # from the cache now
    assert _QuietHandler.hits == hits


def test_sha_mismatch_is_rejected_and_not_cached(served, tmp_path):
    root, _ = served
    path = root / sources.ADVBENCH.path.lstrip("/")
    path.write_bytes(path.read_bytes().replace(b"Write a script", b"Write a poem", 1))
    with pytest.raises(AfError, match="not the pinned") as info:
        sources.dataset()
    assert "--dataset" in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "cache" / "harmful_behaviors.csv").exists()


def test_a_damaged_cache_file_is_fetched_again(served, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "harmful_behaviors.csv").write_text("goal\ntampered\n")
    assert len(sources.dataset().requests) == 520


def test_notebook_without_template_is_one_line(served):
    root, _ = served
    (root / sources.NOTEBOOK.path.lstrip("/")).write_text(json.dumps({"cells": []}))
    with pytest.raises(AfError, match="no prompt_template.*--user-template"):
        sources.user_template()


@pytest.mark.parametrize("which, call, option, name", [
    ("dataset", sources.dataset, "--dataset", "harmful_behaviors.csv"),
    ("template", sources.user_template, "--user-template", "honly_user_template.txt"),
    ("system", sources.system_prompt, "--system-prompt", "prompt_atn_honly_with_examples.txt"),
])
def test_offline_without_cache_is_one_line(tmp_path, monkeypatch, which, call, option, name):
    monkeypatch.setenv("AF_TUI_SOURCES_BASE", "http://127.0.0.1:9")  # nothing listens on port 9
    monkeypatch.setenv("AF_TUI_DATA", str(tmp_path / "cache"))
    with pytest.raises(AfError) as info:
        call()
    text = str(info.value)
    assert name in text and option in text and "\n" not in text


def test_data_dir_choice(monkeypatch, tmp_path):
    monkeypatch.setenv("AF_TUI_DATA", str(tmp_path))
    assert sources.data_dir() == tmp_path
    monkeypatch.delenv("AF_TUI_DATA")
    assert sources.data_dir().name == "data" and (sources.data_dir().parent / "pyproject.toml").is_file()
    # installed (no checkout around the package): the user cache folder
    monkeypatch.setattr(sources, "__file__", str(tmp_path / "site-packages" / "af_tui" / "experiment" / "sources.py"))
    assert sources.data_dir() == Path(platformdirs.user_cache_dir("af-tui", appauthor=False))


def test_dataset_formats():
    assert sources.parse_dataset(b"goal,target\nA,x\n\"B, with comma\",y\n", "d.csv") == ["A", "B, with comma"]
    assert sources.parse_dataset("\ufeffGoal\nA\n".encode(), "d.csv") == ["A"]  # BOM and header case
    assert sources.parse_dataset(b"request\nA\n", "d.csv") == ["A"]
    jsonl = b'{"goal": "A"}\n\n{"request": "B"}\n{"prompt": "C", "goal": 5}\n'
    assert sources.parse_dataset(jsonl, "d.jsonl") == ["A", "B", "C"]
    for data, message in [(b"", "is empty"), (b"goal\n\n", "no requests"), (b"x,y\n1,2\n", "no goal column"),
                          (b"\xff\xfe\x00", "not UTF-8"), (b"[1, 2]\n", "not a JSON object")]:
        with pytest.raises(AfError, match=message):
            sources.parse_dataset(data, "d.csv")


def test_user_files(tmp_path):
    sp = tmp_path / "my_variant.txt"
    sp.write_text("hello", encoding="utf-8")
    text = sources.system_prompt(sp)
    assert text.name == "my_variant" and text.text == "hello"
    with pytest.raises(AfError, match="is a directory"):
        sources.dataset(tmp_path)


def test_a_settings_url_is_downloaded_checked_and_cached(served, tmp_path):
    """A setting's own URL (not under the pinned base): downloaded once, checked against its sha256, cached under
    a name of its own; a wrong sha256 is refused in one line naming the option to use instead."""
    import hashlib

    root, server = served
    data = b"question\nIs a cage fine?\nShould hens roam?\n"
    (root / "mine").mkdir()
    (root / "mine" / "aw.csv").write_bytes(data)
    url = f"http://127.0.0.1:{server.server_address[1]}/mine/aw.csv"
    sha = hashlib.sha256(data).hexdigest()
    ds = sources.dataset(source=sources.Source(url, sha), column="question")
    assert ds.requests == ["Is a cage fine?", "Should hens roam?"] and ds.name == "aw.csv" and ds.sha256 == sha
    hits = _QuietHandler.hits
    assert sources.dataset(source=sources.Source(url, sha), column="question").requests == ds.requests
    assert _QuietHandler.hits == hits  # cached
    with pytest.raises(AfError, match=r"downloaded from http://127.0.0.1:\d+/mine/aw.csv\?x has sha256 .*not the pinned 000000000000…; refusing it \(pass --dataset"):
        sources.dataset(source=sources.Source(url.replace("aw.csv", "aw.csv?x"), "0" * 64), column="question")
