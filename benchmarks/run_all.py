"""Run every ``benchmarks/bench_*.py`` in turn with this Python, passing the flags through.

    python benchmarks/run_all.py [--quick] [any flag the scripts take]

Each script runs in its own interpreter (so one script's memory peak or
compiled state does not colour the next); a failing script is reported and
the others still run. The exit status is 1 if any failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    flags = list(sys.argv[1:] if argv is None else argv)
    here = Path(__file__).resolve().parent
    scripts = sorted(here.glob("bench_*.py"))
    failed = []
    for script in scripts:
        print(f"\n##### {script.name} {' '.join(flags)}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, str(script), *flags])
        print(f"##### {script.name}: exit {code} in {time.perf_counter() - t0:.0f}s", flush=True)
        if code != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
