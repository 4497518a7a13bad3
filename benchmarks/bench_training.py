"""What the brief training costs, as ratios measured in one run: this tree against git revision REV.

    python benchmarks/bench_training.py [--before REV] [--repeat 5]

The brief training is the grader's own training of a fresh copy of a network (training.py). It runs once per
different network: the reference's training serves every student who built the lesson's network, so the
reference's own grade time (bench_grade.py) does not change with it, but a class of varied networks pays it
once per variant. Each run is a fresh process (arithmetic.py pins a process's TensorFlow once, at import)
that saves a network, imports the grader of one version, and times training.brief_training on the embedded
data: wall and CPU seconds, and the held-out accuracy it reached (which must not depend on the machine now).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import checkout, drop_checkout  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

DRIVER = r"""
import json, resource, sys, tempfile, time
from pathlib import Path
import numpy as np
from autograder import locations, quiet, rubric, training
keras = quiet.import_keras_quietly()
L = keras.layers
networks = {
    "the lesson's": [L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(), L.Conv2D(64, 3, activation="relu"),
                     L.Dropout(0.2), L.Conv2D(64, 3, activation="relu"), L.Flatten(), L.Dense(32, activation="relu"),
                     L.Dense(10, activation="softmax")],
    "dense only": [L.Flatten(), L.Dense(128, activation="relu"), L.Dense(10, activation="softmax")],
}
model = keras.Sequential([keras.Input((28, 28, 1)), *networks[sys.argv[1]]])
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
path = Path(tempfile.mkdtemp()) / "model.keras"
model.save(path)
with np.load(locations.EMBEDDED_MNIST) as f:
    arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
budget = rubric.load(locations.RUBRIC).training
cpu, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
facts, _ = training.brief_training(path, arrays, budget, locations.HANDWRITTEN_3)
after = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - wall, "accuracy": facts["heldout_accuracy"],
                  "cpu": after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime}))
"""


def one(code: Path, network: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(code)}
    done = subprocess.run([sys.executable, "-c", DRIVER, network], env=env, cwd=code, check=True,
                          capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", metavar="REV", default="HEAD", help="the version to compare with (default: the last commit)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    before = checkout(args.before)
    try:
        versions = {"this tree": ROOT, args.before: before}
        runs = {(v, n): [] for v in versions for n in ("the lesson's", "dense only")}
        for i in range(args.repeat):  # interleaved, so that drift on a shared machine hits all alike
            for (version, network), seen in runs.items():
                seen.append(one(versions[version], network))
            print(f"  run {i + 1} done", flush=True)
    finally:
        drop_checkout(before)
    print(f"\nmedians of {args.repeat}                       wall       CPU     held-out accuracy (all runs)")
    for (version, network), seen in runs.items():
        wall, cpu = (statistics.median(r[k] for r in seen) for k in ("wall", "cpu"))
        accuracies = sorted({r["accuracy"] for r in seen})
        print(f"{network:14s} {version:20s} {wall:6.2f} s  {cpu:6.2f} s  {accuracies}")
    for network in ("the lesson's", "dense only"):
        now, then = (statistics.median(r["wall"] for r in runs[(v, network)]) for v in versions)
        print(f"{network}: this tree takes {now / then:.2f}x the wall time of {args.before}")


if __name__ == "__main__":
    main()
