"""The grading service as students meet it, as ratios measured in one run (loopback only).

    python benchmarks/bench_serve.py [--students 30] [--spread 60]

Measured in one run, on this machine:
- floor: a fresh kernel that only imports TensorFlow (median of 3, as bench_batch.py);
- one upload: a warm service (`autograder serve`, 2 workers, each having graded once), the reference
  uploaded over HTTP, until the API says graded (median of 3), as a ratio to the floor;
- a class: N students (bench_batch's "ordinary" class) upload at an even pace within `spread` seconds,
  in two orders: by file name (this class's slowest notebooks, the `habit_` ones trained afresh, arrive
  last: the worst case) and in a shuffled order (fixed seed: who uploads when is chance in a real class);
  then all at once. Each run starts from the same cache (the reference's facts and training only) in a
  service started afresh and warmed with one grade per worker; the batch too. Each: all graded, none lost, /api/health polled every 100 ms throughout (p50, p99,
  max), and the time from the first upload to the last grade, against `autograder batch` of the same N
  notebooks on 2 workers (a new process, the reference's facts cached, as a second batch of a term is).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]

from bench_batch import floor, make_class  # noqa: E402
from measure import CpuClock  # noqa: E402
from service_server import CELL_TIMEOUT, Service  # noqa: E402  (the tests' client of a real `serve`)

from autograder import locations  # noqa: E402


def one_upload(service: Service, token: str) -> float:
    """Seconds from the upload to the API saying graded."""
    started = time.perf_counter()
    sid = service.submit(token, locations.REFERENCE.read_bytes()).json()["id"]
    while service.get(f"/api/submissions/{sid}", token).json()["status"] not in ("graded", "error"):
        time.sleep(0.05)  # polling faster would load the 2 cores the grading needs
    return time.perf_counter() - started


class HealthProbe(threading.Thread):
    """/api/health every 100 ms: each answer's latency in seconds, and any failure."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.url, self.latencies, self.failures, self.done = url, [], 0, threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            started = time.perf_counter()
            try:
                ok = requests.get(self.url + "/api/health", timeout=5).ok
            except requests.RequestException:
                ok = False
            self.latencies.append(time.perf_counter() - started)
            self.failures += not ok
            time.sleep(0.1)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def a_class(service: Service, tokens: dict[str, str], files: list[Path], spread: float) -> tuple[float, dict]:
    """Every notebook uploaded by its own student, in this order, at an even pace over `spread` seconds;
    seconds until all are graded, and the statuses."""
    gap = spread / max(1, len(files) - 1)
    probe = HealthProbe(service.url)
    probe.start()
    started, ids = time.perf_counter(), {}
    for i, path in enumerate(files):
        time.sleep(max(0.0, started + i * gap - time.perf_counter()))
        student = f"s{i:02d}"
        answer = service.submit(tokens[student], path.read_bytes(), "CNN.ipynb")
        assert answer.status_code == 202, answer.text
        ids[answer.json()["id"]] = student
    while (health := service.health())["queued"] or health["running"]:  # one cheap request, not one per student
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    done = service.wait_done(tokens["instructor"], list(ids))
    probe.done.set()
    probe.join()
    return seconds, {"statuses": [s["status"] for s in done.values()], "health": probe}


def batch_time(source: Path) -> float:
    out = Path(tempfile.mkdtemp(prefix="bench-serve-batch-"))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "autograder", "batch", str(source), "-o", str(out), "--workers", "2",
                    "--cell-timeout", str(CELL_TIMEOUT)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--spread", type=float, default=60, help="seconds over which the class uploads")
    with contextlib.closing(CpuClock()) as clock:
        measure(parser.parse_args(), clock)


def measure(args, clock) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        tmp = Path(tmp)
        cache = tmp / "cache"
        os.environ["AUTOGRADER_CACHE"] = str(cache)  # the service and the batch share it, no one else
        source = tmp / "class"
        source.mkdir()
        make_class(source, args.students, "ordinary")
        files = sorted(source.glob("*.ipynb"))
        shuffled = random.Random(19).sample(files, len(files))
        roster = tmp / "roster.csv"
        roster.write_text("id,name\n" + "".join(f"s{i:02d},Student {i}\n" for i in range(args.students)))
        floor_wall, _ = floor(clock)
        service = Service(tmp / "service", roster).start()
        tokens = {who: row["token"] for who, row in service.links().items()}  # made once: kept hashed
        warm(service, tokens)
        try:
            uploads = [one_upload(service, tokens["s02"]) for _ in range(3)]
        finally:
            service.stop()
        # What the reference left in the cache (its facts, its network's training): every run below starts
        # from exactly this, in a service started afresh, so none finds the class's trainings of a run before.
        seed = {p.name: p.read_bytes() for p in cache.iterdir() if p.is_file()}
        runs = {}
        for name, order, spread in (("slowest last", files, args.spread), ("shuffled", shuffled, args.spread),
                                    ("at once", files, 0)):
            reset(cache, seed)
            service = Service(tmp / "service", roster).start()
            warm(service, tokens)
            try:
                runs[name] = a_class(service, tokens, order, spread)
            finally:
                service.stop()
        reset(cache, seed)
        batch = batch_time(source)
    report(args, floor_wall, uploads, runs, batch)


def warm(service: Service, tokens: dict[str, str]) -> None:
    """Both workers of the service having graded the reference once (TensorFlow imported, fork servers
    started), as a service is minutes after its start."""
    while not service.health()["grading"]:  # the reference, graded once at start
        time.sleep(0.5)
    first = [threading.Thread(target=one_upload, args=(service, tokens[f"s0{i}"])) for i in range(2)]
    [t.start() for t in first]
    [t.join() for t in first]


def reset(cache: Path, seed: dict[str, bytes]) -> None:
    for path in cache.iterdir():
        if path.is_file() and path.name not in seed:
            path.unlink()


def report(args, floor_wall: float, uploads: list[float], runs: dict, batch: float) -> None:
    one = statistics.median(uploads)
    print(f"floor (fresh kernel, import tensorflow): {floor_wall:.2f} s")
    print(f"one upload of the reference, warm service: {one:.2f} s = {one / floor_wall:.2f}x the floor "
          f"(runs: {', '.join(f'{u:.2f}' for u in uploads)})")
    for name, (total, seen) in runs.items():
        latencies = seen["health"].latencies
        when = "at once" if name == "at once" else f"within {args.spread:.0f} s, {name}"
        print(f"{args.students} students {when}, 2 workers: {seen['statuses'].count('graded')} graded, "
              f"{seen['statuses'].count('error')} errors, {args.students - len(seen['statuses'])} lost; "
              f"{total:.1f} s from the first upload to the last grade = {total / batch:.2f}x the batch; "
              f"/api/health: {len(latencies)} probes, {seen['health'].failures} failed, "
              f"p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 {percentile(latencies, 99) * 1000:.1f} ms, "
              f"max {max(latencies) * 1000:.1f} ms")
    print(f"batch of the same {args.students} on 2 workers: {batch:.1f} s (process start to exit)")

if __name__ == "__main__":
    main()
