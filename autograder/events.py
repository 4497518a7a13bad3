"""The channel from the harness in the kernel to the grader.

The grader listens on a Unix socket in the sandbox's shared folder; the harness
connects once, before the student's first cell, and sends each compile, fit and
evaluate call as it happens. The grader tags every event with the cell that was
running (it drives the cells, so it knows), copies any model file an event names
into its own folder, and only then acknowledges: when the student's code goes on,
what it did is already out of its reach. Nothing the kernel sends can stop the
grader: lines and files are size-capped, files are opened without following links,
and malformed input is recorded as a problem, not raised.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

MAX_LINE = 1 << 20  # one event
MAX_EVENTS = 5000  # a fit in a loop of 1,000 is 2,000 events with its snapshots
MAX_MODEL_BYTES = 50 << 20  # the lesson's model is ~1.5 MB
SNAPSHOT_NAME = re.compile(r"^[0-9]{1,24}-(compile|fit_start|fit|finish)\.keras$")


def read_regular_file(folder: Path, name: str, max_bytes: int) -> bytes:
    """A file's bytes, refusing links (in the folder or the name), non-regular files and large files.
    Raises OSError with a plain reason."""
    folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder_fd)
    finally:
        os.close(folder_fd)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(f"{name} is not a regular file")
        if info.st_size > max_bytes:
            raise OSError(f"{name} is {info.st_size:,} bytes, more than the {max_bytes:,} allowed")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b"".join(chunks)
            total += len(chunk)
            if total > max_bytes:
                raise OSError(f"{name} grew past {max_bytes:,} bytes")
            chunks.append(chunk)
    finally:
        os.close(fd)


@dataclass
class Channel:
    """Receives the harness's events for one kernel (see the module docstring)."""

    socket_path: Path
    snapshots_host: Path  # the kernel's snapshot folder, as the host sees it
    snapshots_inside: str  # the same folder as the kernel names it
    copies: Path  # where the grader keeps its copies (the kernel cannot reach it)
    cell: int = 0  # the code cell now running (In [cell]); 0 before the first
    events: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    connected: bool = False
    on_snapshot: object = None  # called with each copied snapshot's event (the brief training starts early)

    def start(self) -> None:
        self.copies.mkdir(parents=True, exist_ok=True)
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(self.socket_path))
        os.chmod(self.socket_path, 0o777)  # the kernel's user must be able to connect
        self._server.listen(1)
        self._server.settimeout(0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="harness-events", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    def _serve(self) -> None:
        conn = None
        while conn is None and not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
        if conn is None:
            return
        self.connected = True
        conn.settimeout(0.5)
        buffer = b""
        with conn:
            while not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not chunk:
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    self._receive(line)
                    try:
                        conn.sendall(b"1")
                    except OSError:
                        return
                if len(buffer) > MAX_LINE:
                    self.problems.append("the kernel sent an event larger than the grader accepts")
                    return

    def _receive(self, line: bytes) -> None:
        if len(self.events) >= MAX_EVENTS:
            if len(self.problems) < 20:
                self.problems.append(f"more than {MAX_EVENTS:,} events; the rest were ignored")
            return
        try:
            event = json.loads(line)
            if not isinstance(event, dict) or not isinstance(event.get("event"), str):
                raise ValueError("not an event")
        except ValueError:
            self.problems.append("the kernel sent something that is not an event")
            return
        event["cell"] = self.cell
        if event["event"] == "snapshot":
            self._copy_snapshot(event)
        self.events.append(event)

    def _copy_snapshot(self, event: dict) -> None:
        """Keep the grader's own copy of a saved model before the kernel can change it."""
        path = str(event.get("path", ""))
        folder, _, name = path.rpartition("/")
        event["copy"] = None
        if folder != self.snapshots_inside or not SNAPSHOT_NAME.match(name):
            event["copy_error"] = "the snapshot is not where the grader's harness saves them"
            self.problems.append(event["copy_error"])
            return
        try:
            data = read_regular_file(self.snapshots_host, name, MAX_MODEL_BYTES)
        except OSError as exc:
            event["copy_error"] = str(exc)
            return
        copy = self.copies / f"{len(self.events)}-{name}"
        copy.write_bytes(data)
        event["copy"] = str(copy)
        if self.on_snapshot is not None:
            self.on_snapshot(event)
