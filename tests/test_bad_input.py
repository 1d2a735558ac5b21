"""Bad input, as a person types it: every row of the table in docs/bad-input.md is a case here.

Each case runs `python -m af_tui ...` and checks: exit code non-zero (the table's), one line on stderr (the
table's message), no traceback, and the store's bytes unchanged (or no store created where there was none).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from builders import TEMPLATE, make_store
from helpers import AF_TUI, REPO, af_process, clean_env

REALDATA_LOGS = REPO.parent / "shared" / "realdata" / "inspect_logs"


@pytest.fixture(scope="module")
def files(tmp_path_factory, realdata) -> dict[str, Path]:
    """The inputs every case draws on, made once: a good store and the bad things beside it."""
    d = tmp_path_factory.mktemp("bad_input")
    make_store(d / "good.sqlite").close()
    good = (d / "good.sqlite").read_bytes()
    f = {"dir": d, "good": d / "good.sqlite"}

    def put(name: str, data: bytes) -> None:
        (d / name).write_bytes(data)
        f[name.split(".")[0]] = d / name

    put("empty_file.sqlite", b"")
    put("truncated.sqlite", good[: len(good) // 2])
    put("not_sqlite.sqlite", b"a text file, not a database\n" * 20)
    shutil.copy(f["good"], d / "newer.sqlite")
    conn = sqlite3.connect(d / "newer.sqlite")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    f["newer"] = d / "newer.sqlite"
    put("no_samples.sqlite", b"")
    from af_tui.store.db import Store

    Store(f["no_samples"]).close()
    put("stand_in.txt", b"A stand-in system prompt written for af-tui's bad-input tests.")
    put("template.txt", TEMPLATE.encode())
    put("ok.csv", b"goal\nA made-up request\n")
    put("no_goal.csv", b"request_text,target\nA made-up request,x\n")
    put("latin1.csv", "goal\nA made-up caf\xe9 request\n".encode("latin-1"))
    put("empty.csv", b"")
    put("header_only.csv", b"goal\n")
    put("garbage.eval", b"PK\x03\x04 not really a zip" * 10)
    put("truncated_json.json", b'{"version": 2, "status": "success", "eval": {"task": "x"')
    real = next((realdata / "inspect_logs").glob("*.eval")).read_bytes()
    put("truncated_real.eval", real[: len(real) // 2])
    put("a_file", b"x")
    put("notes.txt", b"some notes, not a log\n")
    put("empty_log.eval", b"")
    put("not_a_log.json", b'{"hello": "world"}')
    put("no_fields.txt", b"no placeholders here")
    put("other_field.txt", b"{is_free_tier_user} {user_input} {other}")
    put("blank_prompt.txt", b"  \n")
    put("judge_prompt.txt", b"Is this alignment faking? Answer yes or no.")
    put("table.csv", b"a,b\n1,2\n")
    (d / "twin").mkdir()
    (d / "twin" / "stand_in.txt").write_text("another stand-in system prompt with the same file name")
    f["twin"] = d / "twin" / "stand_in.txt"
    (d / "no_logs").mkdir()
    f["no_logs"] = d / "no_logs"
    other = tmp_path_factory.mktemp("other_sqlite") / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE things (x)")
    conn.commit()
    conn.close()
    f["other_sqlite"] = other
    return f


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is: nothing listens there


def _run(f, *extra: str) -> list[str]:
    return ["run", "--system-prompt", str(f["stand_in"]), "--user-template", str(f["template"]), *extra]


# (id, argv from the files, exit code, the message's part that docs/bad-input.md quotes, the store to keep intact)
CASES = [
    # stores
    ("missing store", lambda f: ["stats", "--db", str(f["dir"] / "missing.sqlite")], 2, "no store at", None),
    ("store is a directory", lambda f: ["stats", "--db", str(f["dir"])], 2, "is a directory, not a store", None),
    ("empty file as store", lambda f: ["export", "--db", str(f["empty_file"]), str(f["dir"] / "e.csv")], 2,
     "no rows match", None),
    ("store without samples", lambda f: ["export", "--db", str(f["no_samples"]), str(f["dir"] / "e.csv")], 2,
     "no rows match", "no_samples"),
    ("truncated store", lambda f: ["stats", "--db", str(f["truncated"])], 2, "is not a SQLite database",
     "truncated"),
    ("truncated store, export", lambda f: ["export", "--db", str(f["truncated"]), str(f["dir"] / "t.csv")], 2,
     "is not a SQLite database", "truncated"),
    ("non-SQLite store", lambda f: ["stats", "--db", str(f["not_sqlite"])], 2, "is not a SQLite database",
     "not_sqlite"),
    ("newer-schema store", lambda f: ["stats", "--db", str(f["newer"])], 2, "was written by a newer af-tui",
     "newer"),
    ("newer-schema store, run", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]), "--db",
                                               str(f["newer"])), 2, "was written by a newer af-tui", "newer"),
    # datasets
    ("dataset without goal", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["no_goal"]),
                                            "--db", str(f["good"])), 2, "no goal column", "good"),
    ("dataset not UTF-8", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["latin1"]),
                                         "--db", str(f["good"])), 2, "not UTF-8", "good"),
    ("empty dataset", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["empty"]),
                                     "--db", str(f["good"])), 2, "is empty", "good"),
    ("dataset with a header only", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["header_only"]),
                                                  "--db", str(f["good"])), 2, "no requests", "good"),
    ("missing dataset", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["dir"] / "nope.csv"),
                                       "--db", str(f["good"])), 2, "no such file", "good"),
    # --batch
    ("batch with a model without a batch API", lambda f: _run(f, "--model", "gemini/gemini-2.5-pro", "--batch",
                                                              "--dataset", str(f["ok"]), "--db", str(f["good"])),
     2, "has no batch API in af-tui", "good"),
    ("batch with workers", lambda f: _run(f, "--model", "sim/refuser", "--batch", "--workers", "2", "--dataset",
                                          str(f["ok"]), "--db", str(f["good"])), 2, "--batch sends every request "
     "from one process", "good"),
    ("batch-size without batch", lambda f: _run(f, "--model", "sim/refuser", "--batch-size", "10", "--dataset",
                                                str(f["ok"]), "--db", str(f["good"])), 2, "--batch-size applies to "
     "--batch", "good"),
    ("batches of a run not in the store", lambda f: ["batches", "--run", "nope", "--db", str(f["good"])], 2,
     "no run named 'nope'", "good"),
    # models and providers
    ("unknown model", lambda f: _run(f, "--model", "no-such-model-xyz", "--dataset", str(f["ok"]),
                                     "--db", str(f["good"])), 2, "unknown model", "good"),
    ("missing API key", lambda f: _run(f, "--model", "openai/gpt-4o-mini", "--dataset", str(f["ok"]),
                                       "--db", str(f["good"])), 2, "OPENAI_API_KEY is not set", "good"),
    ("unreachable --api-base", lambda f: _run(f, "--model", "openai/x", "--api-base",
                                              f"http://127.0.0.1:{_closed_port()}/v1", "--dataset", str(f["ok"]),
                                              "--db", str(f["good"])), 2, "cannot reach --api-base", "good"),
    ("--api-base not a URL", lambda f: _run(f, "--model", "openai/x", "--api-base", "localhost:8000",
                                            "--dataset", str(f["ok"]), "--db", str(f["good"])), 2,
     "--api-base must be an http(s) URL", "good"),
    # numbers
    ("negative --limit", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]), "--limit", "-5",
                                        "--db", str(f["good"])), 2, "--limit must be at least 1", "good"),
    ("absurd --limit", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]), "--limit",
                                      "99999999999", "--db", str(f["good"])), 2, "--limit must be at most 10000000",
     "good"),
    ("zero --concurrency", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]), "--concurrency",
                                          "0", "--db", str(f["good"])), 2, "--concurrency must be between 1 and",
     "good"),
    ("absurd --concurrency", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]),
                                            "--concurrency", "1000000", "--db", str(f["good"])), 2,
     "--concurrency must be between 1 and", "good"),
    ("--limit not a number", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]), "--limit",
                                            "ten", "--db", str(f["good"])), 2, "is not a valid integer", "good"),
    ("zero --timeout", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]), "--timeout", "0",
                                      "--db", str(f["good"])), 2, "--timeout must be between", "good"),
    # export paths
    ("export to a directory", lambda f: ["export", "--db", str(f["good"]), str(f["dir"])], 2, "is a directory",
     "good"),
    ("export into a missing directory", lambda f: ["export", "--db", str(f["good"]),
                                                   str(f["dir"] / "no" / "such" / "x.csv")], 2,
     "does not exist", "good"),
    ("export under a file", lambda f: ["export", "--db", str(f["good"]), str(f["a_file"] / "x.csv")], 2,
     "choose another path", "good"),
    ("export where it cannot write", lambda f: ["export", "--db", str(f["good"]), "/proc/af-tui-export.csv"], 2,
     "cannot write in /proc", "good"),
    # Inspect logs
    ("corrupt .eval log", lambda f: ["import", "--db", str(f["good"]), str(f["garbage"])], 2,
     "not a complete .eval (zip) file", "good"),
    ("truncated .eval log", lambda f: ["import", "--db", str(f["good"]), str(f["truncated_real"])], 2,
     "not a complete .eval (zip) file", "good"),
    ("truncated .json log", lambda f: ["import", "--db", str(f["good"]), str(f["truncated_json"])], 2,
     "not complete JSON", "good"),
    ("no log at the path", lambda f: ["import", "--db", str(f["good"]), str(f["dir"] / "nope.eval")], 2,
     "nope.eval", "good"),
    # filters
    ("--json with --csv", lambda f: ["stats", "--db", str(f["good"]), "--json", "--csv"], 2,
     "--json and --csv are exclusive", "good"),
    ("--comparisons with --judges", lambda f: ["stats", "--db", str(f["good"]), "--comparisons", "--judges",
                                               "--json"], 2, "--comparisons and --judges are exclusive", "good"),
    ("unknown run", lambda f: ["stats", "--db", str(f["good"]), "--run", "nosuch"], 2, "no run named 'nosuch'",
     "good"),
    ("filters that exclude each other", lambda f: ["stats", "--db", str(f["good"]), "--run", "r1", "--model",
                                                   "other/model"], 2, "check --run / --model", "good"),
    ("export filters that match nothing", lambda f: ["export", "--db", str(f["good"]), "--tier", "paid",
                                                     "--outcome", "format_not_followed", "--model", "sim/a",
                                                     str(f["dir"] / "none.csv")], 2, "no rows match", "good"),
    ("export filter naming nothing in the store", lambda f: ["export", "--db", str(f["good"]), "--model",
                                                             "other/model", str(f["dir"] / "x.csv")], 2,
     "unknown model 'other/model'; the store has: sim/a", "good"),
    ("unknown tier", lambda f: ["export", "--db", str(f["good"]), "--tier", "middle", str(f["dir"] / "x.csv")], 2,
     "unknown tier 'middle'", "good"),
    ("--workers 0", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]), "--workers", "0",
                                   "--db", str(f["good"])), 2, "--workers must be between 1 and", "good"),
    ("--epochs 0", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]), "--epochs", "0",
                                  "--db", str(f["good"])), 2, "--epochs must be between 1 and", "good"),
    ("--temperature 7", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]), "--temperature",
                                       "7", "--db", str(f["good"])), 2, "--temperature must be between 0 and 2",
     "good"),
    ("--max-tokens 0", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]), "--max-tokens", "0",
                                      "--db", str(f["good"])), 2, "--max-tokens must be between 1 and", "good"),
    ("unknown simulated model", lambda f: _run(f, "--model", "sim/nope", "--dataset", str(f["ok"]),
                                               "--db", str(f["good"])), 2, "unknown simulated model 'sim/nope'",
     "good"),
    # run: prompt and template files
    ("template without fields", lambda f: ["run", "--model", "sim/refuser", "--dataset", str(f["ok"]),
                                           "--system-prompt", str(f["stand_in"]), "--user-template",
                                           str(f["no_fields"]), "--db", str(f["good"])], 2,
     "lacks {is_free_tier_user} and {user_input}", "good"),
    ("template with another field", lambda f: ["run", "--model", "sim/refuser", "--dataset", str(f["ok"]),
                                               "--system-prompt", str(f["stand_in"]), "--user-template",
                                               str(f["other_field"]), "--db", str(f["good"])], 2,
     "is not a usable user template", "good"),
    ("missing system prompt", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]),
                                             "--system-prompt", str(f["dir"] / "nope.txt"), "--db", str(f["good"])),
     2, "no such file (given to --system-prompt)", "good"),
    ("empty system prompt", lambda f: ["run", "--model", "sim/refuser", "--dataset", str(f["ok"]),
                                       "--system-prompt", str(f["blank_prompt"]), "--user-template",
                                       str(f["template"]), "--db", str(f["good"])], 2, "is empty", "good"),
    ("two system prompts with one name", lambda f: _run(f, "--model", "sim/refuser", "--dataset", str(f["ok"]),
                                                        "--system-prompt", str(f["twin"]), "--db", str(f["good"])),
     2, "two --system-prompt files share a name", "good"),
    # export, more
    ("export onto the store itself", lambda f: ["export", "--db", str(f["good"]), str(f["good"])], 2,
     "is the store itself", "good"),
    ("export with an unknown outcome", lambda f: ["export", "--db", str(f["good"]), "--outcome", "maybe",
                                                  str(f["dir"] / "x.csv")], 2, "unknown outcome 'maybe'", "good"),
    ("export with an unknown format", lambda f: ["export", "--db", str(f["good"]), "--format", "xml",
                                                 str(f["dir"] / "x.csv")], 2, "xml", "good"),
    # stats and plot
    ("stats for an unknown model", lambda f: ["stats", "--db", str(f["good"]), "--model", "nope"], 2,
     "no samples for model(s) nope", "good"),
    ("plot of an empty store", lambda f: ["plot", "--db", str(f["no_samples"]), str(f["dir"] / "fig.png")], 2,
     "no samples in the store", "no_samples"),
    ("plot to .txt", lambda f: ["plot", "--db", str(f["good"]), str(f["dir"] / "figure.txt")], 2,
     "the figure must end in .png, .svg, .pdf", "good"),
    ("plot into a missing folder", lambda f: ["plot", "--db", str(f["good"]), str(f["dir"] / "no" / "fig.png")], 2,
     "does not exist; create the folder first", "good"),
    # judge
    ("judge without --model", lambda f: ["judge", "--db", str(f["good"])], 2, "--model is missing", "good"),
    ("judge without an API key", lambda f: ["judge", "--db", str(f["good"]), "--model", "openai/gpt-4o"], 2,
     "OPENAI_API_KEY is not set", "good"),
    ("judge with an unknown model", lambda f: ["judge", "--db", str(f["good"]), "--model", "gpt-4o-typo"], 2,
     "unknown model 'gpt-4o-typo'", "good"),
    ("judge an unknown run", lambda f: ["judge", "--db", str(f["good"]), "--model", "sim/judge", "--run", "nope"],
     2, "no run named 'nope'", "good"),
    ("judge prompt without {scratchpad}", lambda f: ["judge", "--db", str(f["good"]), "--model", "sim/judge",
                                                     "--prompt", str(f["judge_prompt"])], 2,
     "has no {scratchpad} or {reasoning} placeholder", "good"),
    ("missing judge prompt", lambda f: ["judge", "--db", str(f["good"]), "--model", "sim/judge", "--prompt",
                                        str(f["dir"] / "missing.txt")], 2, "no such file", "good"),
    ("judge --samples 0", lambda f: ["judge", "--db", str(f["good"]), "--model", "sim/judge", "--samples", "0"], 2,
     "0 is not in the range 1<=x<=25", "good"),
    ("judge with an unreachable --api-base", lambda f: ["judge", "--db", str(f["good"]), "--model", "openai/x",
                                                        "--api-base", f"http://127.0.0.1:{_closed_port()}/v1"], 2,
     "cannot reach --api-base at 127.0.0.1", "good"),
    # merge
    ("merge a missing store", lambda f: ["merge", "--db", str(f["good"]), str(f["dir"] / "missing.sqlite")], 2,
     "no store at", "good"),
    ("merge a folder", lambda f: ["merge", "--db", str(f["good"]), str(f["no_logs"])], 2, "is a directory", "good"),
    ("merge a CSV", lambda f: ["merge", "--db", str(f["good"]), str(f["table"])], 2, "is not a SQLite database",
     "good"),
    ("merge another program's SQLite", lambda f: ["merge", "--db", str(f["good"]), str(f["other_sqlite"])], 2,
     "not an af-tui store", "good"),
    ("merge a newer af-tui's store", lambda f: ["merge", "--db", str(f["good"]), str(f["newer"])], 2,
     "newer af-tui", "good"),
    ("merge the store into itself", lambda f: ["merge", "--db", str(f["good"]), str(f["good"])], 2,
     "is this store itself", "good"),
    # label (before the app opens)
    ("label an unknown model", lambda f: ["label", "--db", str(f["good"]), "--annotator", "ada", "--model", "nope"],
     2, "unknown model 'nope'", "good"),
    ("label a queue nothing matches", lambda f: ["label", "--db", str(f["good"]), "--annotator", "ada",
                                                 "--outcome", "error"], 2, "no samples match this queue", "good"),
    # import, more
    ("import a text file", lambda f: ["import", "--db", str(f["good"]), str(f["notes"])], 2,
     "not an Inspect log (expected a .eval or .json file)", "good"),
    ("import a folder without logs", lambda f: ["import", "--db", str(f["good"]), str(f["no_logs"])], 2,
     "no .eval or .json logs in this folder", "good"),
    ("import an empty log", lambda f: ["import", "--db", str(f["good"]), str(f["empty_log"])], 2, "empty file",
     "good"),
    ("import JSON that is not a log", lambda f: ["import", "--db", str(f["good"]), str(f["not_a_log"])], 2,
     "JSON but not an Inspect log", "good"),
    ("import into a run af-tui made", lambda f: ["import", "--db", str(f["good"]), "--run", "r1",
                                                 str(next((REALDATA_LOGS).glob("*.eval")))], 2,
     "run 'r1' exists and was not imported from Inspect", "good"),
    # serve (no server starts)
    ("serve on a missing store", lambda f: ["serve", "--db", str(f["dir"] / "missing.sqlite")], 2, "no store at",
     None),
    ("serve with a short token", lambda f: ["serve", "--db", str(f["good"]), "--token", "short"], 2,
     "--token must be at least 16 characters", "good"),
    ("serve on another machine's address", lambda f: ["serve", "--db", str(f["good"]), "--host", "192.0.2.1",
                                                      "--port", "0"], 2, "cannot listen on host '192.0.2.1'",
     "good"),
]


def _hash(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def _files(d: Path) -> dict[Path, str | None]:
    """Every file's hash, but SQLite's -wal/-shm companions, which opening a store may create and remove."""
    return {p: _hash(p) for p in d.iterdir() if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def _af(args: list[str], prefix: list[str] | None = None) -> subprocess.CompletedProcess:
    return af_process(*args, prefix=prefix)


def _one_line(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    assert err and "\n" not in err, f"not one line: {proc.stderr!r}"
    return err


@pytest.mark.slow
@pytest.mark.parametrize("name, argv, code, message, kept", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(files, name, argv, code, message, kept):
    args = argv(files)
    db = Path(args[args.index("--db") + 1]) if "--db" in args else None
    before = _files(files["dir"])
    proc = _af(args)
    assert proc.returncode == code, (proc.returncode, proc.stderr)
    err = _one_line(proc)
    assert message in err, err
    assert err.startswith("af-tui: error: "), err
    after = _files(files["dir"])
    # Nothing stored changed: the store's bytes, and every other file beside it; no new file but WAL companions.
    for path, digest in before.items():
        if path.name != "empty_file.sqlite":
            assert after.get(path) == digest, f"{path.name} changed"
    assert not set(after) - set(before), "new files"

    if kept:
        with sqlite3.connect(f"file:{files[kept]}?mode=ro", uri=True) as conn:
            if kept not in ("truncated", "not_sqlite"):
                assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    if db is not None and not db.is_dir() and before.get(db) is None:
        assert not db.exists() or name == "empty file as store"


@pytest.mark.slow
def test_stats_on_an_empty_store_says_how_to_fill_it(files):
    before = files["no_samples"].read_bytes()
    proc = _af(["stats", "--db", str(files["no_samples"])])
    assert proc.returncode == 0 and "Traceback" not in proc.stderr
    assert "No samples yet: run `af-tui demo` or `af-tui run` first." in proc.stdout
    assert files["no_samples"].read_bytes() == before


@pytest.mark.slow
def test_serve_on_a_busy_port_is_one_line(files):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _af(["serve", "--db", str(files["good"]), "--port", str(port)])
    assert proc.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use; pick another with --port" in _one_line(proc)


@pytest.mark.slow
def test_serve_on_a_privileged_port_as_a_normal_user_is_one_line(files):
    # As root the port would open: drop to nobody (setpriv), else there is nothing to check here.
    prefix, store = [], files["good"]
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root without setpriv: cannot try as a normal user")
        prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        shared = Path(tempfile.mkdtemp(prefix="af-tui-bad-input-"))  # pytest's tmp dirs are closed to others
        shared.chmod(0o777)
        store = shared / "good.sqlite"
        shutil.copy(files["good"], store)
        store.chmod(0o666)
    try:
        proc = _af(["serve", "--db", str(store), "--port", "80"], prefix)
    finally:
        if store != files["good"]:
            shutil.rmtree(store.parent)
    if "Permission denied" in proc.stderr and "port 80" not in proc.stderr:
        pytest.skip(f"nobody cannot run this checkout: {proc.stderr.strip()[:200]}")
    assert proc.returncode == 2, proc.stderr
    assert "not allowed to listen on port 80; pick a port above 1023 with --port" in _one_line(proc)


@pytest.mark.slow
def test_served_app_refuses_requests_without_token_and_bad_annotator_names(files):
    token = "a-token-for-the-bad-input-test-0123"
    port = _closed_port()
    proc = subprocess.Popen([*AF_TUI, "serve", "--db", str(files["good"]), "--port",
                             str(port)], env=clean_env(AF_TUI_SERVE_TOKEN=token), cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
        base = f"http://127.0.0.1:{port}"
        for path in ("/", "/?token=wrong-guess-wrong-guess", "/ws/ada", "/static/x.js"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + path, timeout=10)
            assert refused.value.code == 403
        # With the token: a name with markup or control characters gets the name form again, with the rule.
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
        opener.open(f"{base}/?token={token}", timeout=10).read()
        page = opener.open(f"{base}/?annotator=%5Bbold%5Dada%1B%5B31m", timeout=10).read().decode()
        assert "<form" in page and "Use letters, digits, spaces and . @ + ' -" in page
        with pytest.raises(urllib.error.HTTPError) as bad_name:
            opener.open(f"{base}/ws/%5Bbold%5D", timeout=10)
        assert bad_name.value.code == 400
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    # The log holds paths, never a token: the right one only in the address printed at the start.
    assert "wrong-guess" not in err and err.count(token) == 1 and "?token=" + token in err.splitlines()[2]
