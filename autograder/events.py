"""The channel from the harness in the kernel to the grader.

The grader listens on a Unix socket in the sandbox's shared folder; the harness
connects once, before the student's first cell, and sends each compile, fit and
evaluate call as it happens. A model snapshot travels on the same socket, its bytes
right after the event that announces them: nothing of the record passes through a
disk the notebook can fill. The grader tags every event with the cell that was
running (it drives the cells, so it knows), keeps the snapshot in its own folder
outside the sandbox, and only then acknowledges: when the student's code goes on,
what it did is already out of its reach.

Nothing the kernel sends can stop or exhaust the grader: each line, each snapshot, and
the whole record are size-capped and counted. What could not be kept is not silently
dropped: each loss is written in `lost`, and a grade with lost records gives no credit
for what the grader could not see (capture.collect, checks._incomplete).
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import TOO_MUCH

MAX_LINE = 1 << 20  # one event
MAX_EVENTS = 5000  # a fit in a loop of 1,000 is 2,000 events
MAX_EVENT_BYTES = 32 << 20  # all events together, as sent (their Python objects take a few times more)
MAX_MODEL_BYTES = 50 << 20  # one snapshot; the lesson's model is ~1.5 MB
MAX_SNAPSHOTS = 200  # the lesson's notebook makes 2; a snapshot is taken only when a model changed
MAX_SNAPSHOT_BYTES = 256 << 20  # all snapshots together, in the grader's folder
ABOUT_A_MODEL = ("compile", "fit", "evaluate", "predict", "snapshot", "snapshot_failed")
WHYS = ("compile", "fit_start", "fit", "finish")  # when the harness saves a model


class _Closed(Exception):
    """The kernel closed the connection, or the grader was asked to stop."""


@dataclass
class Channel:
    """Receives the harness's events for one kernel (see the module docstring)."""

    socket_path: Path
    copies: Path  # where the grader keeps the snapshots (outside the sandbox's scratch: the kernel cannot fill it)
    cell: int = 0  # the code cell now running (In [cell]); 0 before the first
    events: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # malformed input, said in the report
    lost: list[str] = field(default_factory=list)  # records that could not be kept: the record is incomplete
    connected: bool = False
    on_event: Callable[[dict[str, Any]], None] | None = None  # called with each event once kept (the brief training starts early on a fit)
    _received: int = 0  # bytes of events so far
    _kept: int = 0  # bytes of snapshots kept so far
    _snapshots: int = 0  # snapshots received so far

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

    def _lose(self, reason: str) -> None:
        if reason not in self.lost and len(self.lost) < 20:
            self.lost.append(reason)

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
        self._buffer = b""
        with conn:
            try:
                while True:
                    self._receive(conn, self._line(conn))
                    conn.sendall(b"1")
            except _Closed:
                return
            except OSError:
                return
            except Exception as exc:  # never silently: whatever the kernel sends next is not recorded
                self._lose(f"the grader stopped recording ({type(exc).__name__}: {exc})"[:300])

    def _recv(self, conn: socket.socket) -> bytes:
        while not self._stop.is_set():
            try:
                chunk = conn.recv(1 << 20)
            except socket.timeout:
                continue
            if not chunk:
                raise _Closed
            return chunk
        raise _Closed

    def _line(self, conn: socket.socket) -> bytes:
        while b"\n" not in self._buffer:
            if len(self._buffer) > MAX_LINE:
                self._lose(f"the kernel sent an event larger than the grader accepts ({MAX_LINE:,} bytes); "
                           "nothing after it was recorded")
                raise _Closed
            self._buffer += self._recv(conn)
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line

    def _exactly(self, conn: socket.socket, size: int) -> bytes:
        while len(self._buffer) < size:
            self._buffer += self._recv(conn)
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    def _receive(self, conn: socket.socket, line: bytes) -> None:
        self._received += len(line)
        if len(self.events) >= MAX_EVENTS or self._received > MAX_EVENT_BYTES:
            self._lose(f"{TOO_MUCH}: more than {MAX_EVENTS:,} calls or {MAX_EVENT_BYTES >> 20} MB of "
                       "records; the rest were not recorded")
            raise _Closed
        try:
            event = json.loads(line)
            if not isinstance(event, dict) or not isinstance(event.get("event"), str):
                raise ValueError("not an event")
            if event["event"] in ABOUT_A_MODEL and not (isinstance(event.get("model"), dict)
                                                        and isinstance(event["model"].get("id"), int)):
                raise ValueError("an event about no model")
        except ValueError:
            self.problems.append("the kernel sent something that is not an event")
            return
        event["cell"] = self.cell
        if event["event"] == "snapshot":
            self._keep_snapshot(conn, event)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _keep_snapshot(self, conn: socket.socket, event: dict[str, Any]) -> None:
        """The snapshot's bytes follow its event: keep the grader's own copy, outside the kernel's reach."""
        size = event.get("size")
        event["copy"] = None
        if not isinstance(size, int) or size < 0 or size > MAX_MODEL_BYTES:
            self._lose(f"a saved model of {size!r} bytes, more than the {MAX_MODEL_BYTES >> 20} MB the grader "
                       "keeps; nothing after it was recorded")
            raise _Closed  # its bytes are on the way: the stream cannot be read further
        data = self._exactly(conn, size)
        self._snapshots += 1
        if self._snapshots > MAX_SNAPSHOTS or self._kept + size > MAX_SNAPSHOT_BYTES:
            event["copy_error"] = (f"{TOO_MUCH}: more than {MAX_SNAPSHOTS} saved models or "
                                   f"{MAX_SNAPSHOT_BYTES >> 20} MB of them")
            self._lose(event["copy_error"])
            return
        why = event.get("why") if event.get("why") in WHYS else "model"  # never a name the kernel chose
        copy = self.copies / f"{len(self.events)}-{why}.keras"
        try:
            copy.write_bytes(data)
        except OSError as exc:
            event["copy_error"] = f"the grader could not keep the saved model ({exc.strerror or exc})"
            self._lose(event["copy_error"])
            return
        self._kept += size
        event["copy"] = str(copy)
