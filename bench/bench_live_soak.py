"""The live soak: the explorer (Pilot, the app's own polling interval) on a store that `af-tui run` (simulated
model, no delay) fills at full speed for a minute, while alice labels from the pair view and bob from a
thread. tests/test_faults_live.py runs the same scenario for 10 s; this is the long run.

    .venv/bin/python bench/bench_live_soak.py                 # 60 s of writing; writes bench/README.md
    .venv/bin/python bench/bench_live_soak.py --seconds 20 --no-readme
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
from conftest import STAND_IN_SYSTEM_PROMPT  # noqa: E402
from readme_section import write_section  # noqa: E402
from test_faults_live import live_scenario  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--no-readme", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        prompt = tmp_path / "stand_in.txt"
        prompt.write_text(STAND_IN_SYSTEM_PROMPT, encoding="utf-8")
        started = time.monotonic()
        report = asyncio.run(live_scenario(tmp_path, prompt, args.seconds))
        wall = time.monotonic() - started
    load = os.getloadavg()[0]
    fastest, slowest = report["open_pair_s"]
    line = (f"{args.seconds:.0f} s of writing: {report['samples']:,} samples stored; {report['rounds']} rounds of "
            f"the annotator in the app, the pair view opened in {fastest:.2f}–{slowest:.2f} s; labels kept: "
            f"alice {report['alice']}, bob {report['bob']}; pairs listed {report['listed'][0]:,} → "
            f"{report['listed'][1]:,}; no lock error, no crash, integrity_check ok. {wall:.0f} s in all "
            f"(load average {load:.1f} at the end).")
    print(line)
    if not args.no_readme:
        write_section("live-soak", f"""## Live soak (`bench/bench_live_soak.py`) — reading and labelling while a run writes

```bash
.venv/bin/python bench/bench_live_soak.py             # {args.seconds:.0f} s of writing
```

`af-tui run --model sim/faker` (no latency, concurrency 16, a process of its own) writes a 50,000-request run
while the explorer, at its own polling interval, opens pairs, moves between them, labels as alice and
filters, and bob labels random samples from a thread 20 times a second: the checks of
`tests/test_faults_live.py`, which runs the same scenario for 10 s.

{line}
""")


if __name__ == "__main__":
    main()
