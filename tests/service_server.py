"""The real service for the tests: `python -m autograder serve` on a free loopback port, a real database,
real kernels; the tests speak HTTP to it like any client would."""

from __future__ import annotations

import csv
import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import requests

from conftest import CELL_TIMEOUT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def notebook(*cells: str) -> bytes:
    """A small notebook of these code cells: quick to grade, each distinct by its text."""
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])).encode()


class Service:
    """One `autograder serve FOLDER` process (its own process group, so kill() is kill -9 on all of it)."""

    def __init__(self, folder: Path, roster: Path | None, database: str | None = None, workers: int = 2):
        self.folder, self.roster, self.database, self.workers = Path(folder), roster, database, workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None
        self.log = self.folder.parent / f"{self.folder.name}-serve-{self.port}.log"
        self.stages: dict[int, list[str]] = {}  # what wait_done saw each submission say, in order

    def start(self, roster: Path | None = None, timeout: float = 60) -> "Service":
        command = [sys.executable, "-m", "autograder", "serve", str(self.folder), "--port", str(self.port),
                   "--workers", str(self.workers), "--cell-timeout", str(CELL_TIMEOUT)]
        if roster or self.roster:
            command += ["--roster", str(roster or self.roster)]
        if self.database:
            command += ["--database", self.database]
        self.proc = subprocess.Popen(command, stdout=open(self.log, "ab"), stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if requests.get(self.url + "/api/health", timeout=2).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the service did not answer within {timeout} s:\n{self.log.read_text()}")

    def kill(self) -> None:
        """kill -9 of the service and everything it started (workers, kernels)."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.kill()

    def links(self, *renew: str) -> dict[str, dict]:
        command = [sys.executable, "-m", "autograder", "links", str(self.folder)]
        for who in renew:
            command += ["--renew", who]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        return {row["student"]: row for row in csv.DictReader(io.StringIO(done.stdout))}

    def health(self) -> dict:
        return requests.get(self.url + "/api/health", timeout=5).json()

    def get(self, path: str, token: str | None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.get(self.url + path, headers=headers, timeout=30, **kwargs)

    def post(self, path: str, token: str | None, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(self.url + path, headers=headers, timeout=60, **kwargs)

    def submit(self, token: str, raw: bytes, name: str = "CNN.ipynb") -> requests.Response:
        return self.post("/api/submissions", token, files={"notebook": (name, raw)})

    def wait_done(self, token: str, ids: list[int], timeout: float = 600) -> dict[int, dict]:
        """Poll the API until these submissions are graded or in error; their JSON."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now = {i: self.get(f"/api/submissions/{i}", token).json() for i in ids}
            for i, s in now.items():  # every stage a student would have read, in order
                seen = self.stages.setdefault(i, [])
                if not seen or seen[-1] != s["stage"]:
                    seen.append(s["stage"])
            if all(s["status"] in ("graded", "error") for s in now.values()):
                return now
            time.sleep(0.5)
        raise AssertionError(f"not graded within {timeout} s: {now}\n{self.log.read_text()[-3000:]}")
