"""`af-tui serve` in headless Chromium: time to the address, to each tab's first frame, Enter-to-commit latency of
a label, memory per tab, and how long Ctrl-C takes with the tabs still open.

    .venv/bin/python bench/bench_serve.py            # 4 tabs, 10 labels, on the demo store (made once in $TMPDIR)
    .venv/bin/python bench/bench_serve.py 8 20       # 8 tabs, 20 labels

Needs Debian's chromium and the playwright package (the `test` extra). Everything stays on 127.0.0.1.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-quic",
        "--no-first-run", "--disable-component-update", "--disable-sync"]
AF_TUI = [sys.executable, "-c", "from af_tui.cli import main; main()"]


def demo_store() -> Path:
    path = Path(tempfile.gettempdir()) / "af_tui_bench_serve.sqlite"
    if not path.exists():
        subprocess.run([*AF_TUI, "demo", "--db", str(path), "--no-tui", "--latency", "0"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, ppid = stat.read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        if int(ppid) == pid and state != "Z":
            out.append(int(stat.parent.name))
    return out


def serve(db: Path, *extra: str) -> tuple[subprocess.Popen, str, float]:
    started = time.perf_counter()
    proc = subprocess.Popen([*AF_TUI, "serve", "--db", str(db), "--port", "0", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = None
    for line in proc.stdout:
        if line.strip().startswith("http://"):
            url = line.strip()
            break
    threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep the pipe drained
    return proc, url, time.perf_counter() - started


def labels(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM labels").fetchone()[0]


def main(tabs: int = 4, n_labels: int = 10) -> None:
    from playwright.sync_api import sync_playwright

    db = demo_store()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        proc, url, to_address = serve(db, "--label")
        print(f"server start to printed address: {to_address:.2f} s")
        context = browser.new_context(viewport={"width": 1280, "height": 720})
        context.route(re.compile(r"^(?!(http|ws)://127\.0\.0\.1:).*"), lambda route: route.abort())
        firsts, pages = [], []
        for i in range(tabs):
            page = context.new_page()
            page.goto(url)
            page.fill("#annotator", f"bench{i}")
            t = time.perf_counter()
            page.click("button[type=submit]")
            page.wait_for_selector("body.-first-byte", state="attached", timeout=60_000)
            firsts.append(time.perf_counter() - t)
            pages.append(page)
        print(f"name submitted to the app's first frame, {tabs} tabs one after another: "
              f"median {statistics.median(firsts):.2f} s, max {max(firsts):.2f} s")
        apps = children(proc.pid)
        print(f"memory: server {rss_mb(proc.pid):.0f} MB; per tab (labeling queue) "
              f"{statistics.mean(rss_mb(p) for p in apps):.0f} MB ({len(apps)} app processes)")

        page = pages[0]
        page.bring_to_front()
        page.wait_for_timeout(1500)
        page.click("#terminal")
        latencies = []
        for _ in range(n_labels):
            before = labels(db)
            page.keyboard.press("a")
            # Enter is a priority binding: pressed too soon, it can overtake the "a" still on its way to the screen
            page.wait_for_timeout(600)
            t = time.perf_counter()
            page.keyboard.press("Enter")
            while labels(db) == before:
                if time.perf_counter() - t > 10:
                    proc.terminate()
                    raise SystemExit("a label did not reach the store in 10 s")
                time.sleep(0.005)
            latencies.append(time.perf_counter() - t)
            page.wait_for_timeout(300)  # the next sample loads
        print(f"Enter in the browser to the label committed in the store ({n_labels} labels): "
              f"median {statistics.median(latencies) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms")

        t = time.perf_counter()
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
        left = [p for p in apps if Path(f"/proc/{p}").exists()]
        print(f"Ctrl-C with {tabs} tabs open: server exited {code} in {time.perf_counter() - t:.2f} s; "
              f"app processes left: {len(left)}")
        browser.close()


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
    os._exit(0)
