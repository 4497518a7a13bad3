"""The grader's own peak memory and time for notebooks that aim at the grader, against the reference's, in
one run.

    python benchmarks/bench_hostile.py [--cell-timeout 10]

Each notebook is graded by `autograder.grade` in a process of its own, so that the peak memory it reports
(getrusage, RUSAGE_SELF) is the grading process's alone: the kernel (sandboxed, with its own limits) and the
models' own process (model_worker.py, with its own) are not in it. The reference's facts are cached first,
untimed. The ratios matter, not the seconds: this machine is shared and noisy. #21 asks: every one ≤ 1 GiB
and ≤ 300 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
NOTEBOOKS = [ROOT / "reference" / "CNN.ipynb"] + [FIXTURES / f"{name}.ipynb" for name in (
    "too_much_400_layer_tower", "too_much_upsampled_64_times", "too_much_floods_of_calls_and_messages",
    "trick_fills_the_disk_before_the_real_training", "memory_bomb", "prints_200000_lines")]

SCRIPT = """
import json, sys, time
from autograder import GradingContext, grade
started = time.perf_counter()
result = grade(sys.argv[1], context=GradingContext(cell_timeout=int(sys.argv[2])))
facts = result.facts or {}
reason = facts.get("model_error") or (facts.get("incomplete") or [None])[0] \\
    or (facts.get("brief_training") or {}).get("skipped")
print(json.dumps({"seconds": time.perf_counter() - started, "score": result.score,
                  # VmHWM, the process's own peak (ru_maxrss would start from its parent's, after fork and exec)
                  "peak_mib": next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024,
                  "reason": reason}))
"""


def grade_apart(path: Path, cell_timeout: int) -> dict:
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(path), str(cell_timeout)], capture_output=True,
                          text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"{path.name}: the grade did not finish\n{done.stderr[-2000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cell-timeout", type=int, default=10)
    args = parser.parse_args()
    os.environ["AUTOGRADER_CACHE"] = tempfile.mkdtemp(prefix="bench-hostile-")
    grade_apart(NOTEBOOKS[0], args.cell_timeout)  # the reference's facts, cached
    rows = [(path.stem, grade_apart(path, args.cell_timeout)) for path in NOTEBOOKS]
    base = rows[0][1]
    print(f"{'notebook':45} {'wall':>8} {'× ref':>6} {'peak MiB':>9} {'× ref':>6}  score  reason")
    for name, r in rows:
        print(f"{name:45} {r['seconds']:7.1f}s {r['seconds'] / base['seconds']:6.2f} {r['peak_mib']:9.0f} "
              f"{r['peak_mib'] / base['peak_mib']:6.2f}  {r['score']:5.1f}  {(r['reason'] or '')[:70]}")
    worst = max(rows, key=lambda row: row[1]["peak_mib"])
    slowest = max(rows, key=lambda row: row[1]["seconds"])
    print(f"\nworst peak: {worst[0]} {worst[1]['peak_mib']:.0f} MiB (limit 1024); "
          f"slowest: {slowest[0]} {slowest[1]['seconds']:.0f} s (limit 300)")


if __name__ == "__main__":
    main()
