"""A kernel's whole life, in one place: `Kernel`, a context manager.

    with Kernel(options) as kernel:                  # its confinement (sandbox.py): scratch, root, cgroups
        kernel.save(notebook)                        # the file as submitted, in the kernel's working folder
        execution = kernel.run(copy, config)         # started, forked (forking.py) or afresh (kernel.py); the
                                                     # harness's channel (events.py); every cell; stopped
        kernel.isolation                             # its layers and how it started, for the report
    # on leaving: whatever it left is killed, its cgroups removed, its scratch unmounted and deleted

The student's cells run one by one with nbclient. An error in a cell is
recorded from the kernel's own reply (not from what the cell printed) and the
next cell runs anyway; a cell that runs too long is interrupted; a kernel that
dies or stops answering ends the run, and grading goes on with what the
harness sent before that (events.py): its events and the models it saved.
Cells are numbered as Jupyter numbers them after Run All (In [n]).
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import re
import signal
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import nbformat  # type: ignore[import-not-found, import-untyped, unused-ignore]
import psutil
from jupyter_client.asynchronous.client import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient  # type: ignore[import-not-found, import-untyped, unused-ignore]
from nbclient.exceptions import DeadKernelError  # type: ignore[import-not-found, import-untyped, unused-ignore]

from . import events, kernel
from .facts import Isolation
from .sandbox import Sandbox

Notebook = Any  # nbformat.NotebookNode: nbformat ships no types
OnEvent = Callable[[dict[str, Any]], None]

HARNESS_SOURCE = Path(__file__).with_name("harness") / "kernel_side.py"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TIMEOUT_ENAME = "CellTimeout"
PING_TIMEOUT_S = 15  # how long an interrupted kernel has to answer again


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


CELL_LINE = re.compile(r"Cell In\[(\d+)\], line (\d+)")


@dataclass
class CellError:
    """One cell that did not finish cleanly."""

    cell: int  # the code cell's number as Jupyter shows it after Run All: In [cell]
    kind: str  # "error", "timeout" or "kernel_died"
    ename: str
    evalue: str
    traceback: str
    source: str  # the cell's code, to show where it happened
    line: int | None = None  # the line of that cell the traceback points at, when it says
    code: str = ""  # that line of the student's code


def cell_error(cell: int, kind: str, ename: str, evalue: str, traceback: str, source: str) -> CellError:
    """A CellError whose line is the one the traceback names in this cell (its last mention)."""
    line = None
    for found in CELL_LINE.finditer(traceback):
        if int(found.group(1)) == cell:
            line = int(found.group(2))
    lines = source.splitlines()
    code = lines[line - 1].strip() if line and 0 < line <= len(lines) else ""
    return CellError(cell, kind, ename, evalue, traceback, source, line, code)


@dataclass
class Execution:
    """What happened when the notebook ran."""

    code_cells: int = 0
    cells_run: int = 0
    errors: list[CellError] = field(default_factory=list)
    kernel_died: bool = False
    kernel_stuck: bool = False
    notebook_timed_out: bool = False
    harness_error: str | None = None
    seconds: float = 0.0
    cell_seconds: dict[int, float] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)  # from the harness, each tagged with its cell
    channel_problems: list[str] = field(default_factory=list)
    records_lost: list[str] = field(default_factory=list)  # what the grader could not record (events.Channel.lost)
    sources: list[tuple[int, str]] = field(default_factory=list)  # (In [n], code) of the code cells
    last_cell: int = 0  # the last code cell that ran
    outputs_cut: dict[int, int] = field(default_factory=dict)  # cell -> characters of output, when cut
    processes_left: dict[int, int] = field(default_factory=dict)  # cell -> processes it left running


def _install_code(config: dict[str, Any]) -> str:
    # The harness lives in its own module object, out of the student's namespace.
    return (
        "import sys as _s, types as _t\n"
        "_m = _t.ModuleType('_autograder_harness')\n"
        f"exec(compile({HARNESS_SOURCE.read_text(encoding='utf-8')!r}, 'autograder-harness', 'exec'), _m.__dict__)\n"
        "_s.modules['_autograder_harness'] = _m\n"
        f"_m.install(__import__('json').loads({json.dumps(config)!r}))\n"
        "del _s, _t, _m\n"
    )


FINISH_CODE = "__import__('sys').modules['_autograder_harness'].finish(get_ipython().user_ns)"

MAX_OUTPUT_CHARS = 100_000  # per cell, every kind of output together: a flood must not fill the grader


def _output_size(msg: dict[str, Any]) -> int:
    content = msg.get("content", {})
    if msg.get("msg_type") == "stream":
        return len(content.get("text", ""))
    if msg.get("msg_type") == "error":
        return sum(len(line) for line in content.get("traceback", []))
    return sum(len(v) if isinstance(v, str) else len(json.dumps(v)) for v in (content.get("data") or {}).values())


class _CappedClient(NotebookClient):
    """Keeps at most MAX_OUTPUT_CHARS of each cell's outputs, dropping the rest as it arrives."""

    def __init__(self, *args: Any, cut: dict[int, int], numbers: dict[int, int], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen: dict[int, int] = {}
        self._cut, self._numbers = cut, numbers

    def output(self, outs: list[Any], msg: dict[str, Any], display_id: str | None, cell_index: int) -> Any:
        size = _output_size(msg)
        seen = self._seen.get(cell_index, 0)
        self._seen[cell_index] = seen + size
        if seen + size > MAX_OUTPUT_CHARS:
            self._cut[self._numbers.get(cell_index, cell_index + 1)] = seen + size
            room = MAX_OUTPUT_CHARS - seen
            if msg.get("msg_type") != "stream" or room <= 0:
                return None
            msg = {**msg, "content": {**msg["content"], "text": msg["content"]["text"][:room]}}
        return super().output(outs, msg, display_id, cell_index)


async def _run_harness(client: NotebookClient, code: str, timeout: float) -> str | None:
    """Run grader code in the kernel; return the error text, if any."""
    reply = await cast(AsyncKernelClient, client.kc).execute_interactive(code, store_history=False, timeout=timeout,
                                                output_hook=lambda msg: None)
    content = reply["content"]
    if content.get("status") == "error":
        return strip_ansi("\n".join(content.get("traceback") or [f"{content['ename']}: {content['evalue']}"]))
    return None


def _numbers(nb: Notebook) -> dict[int, int]:
    """Notebook position -> the number Jupyter shows (In [n]) after Run All: empty cells get none."""
    numbers: dict[int, int] = {}
    n = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source.strip():
            n += 1
            numbers[index] = n
    return numbers


def _launcher(client: NotebookClient) -> Any:
    """The process the kernel's launch started (a Popen, or forking.ForkedKernel), if it was started."""
    return getattr(getattr(client.km, "provisioner", None), "process", None)


def _kernel_tree(client: NotebookClient) -> set[int]:
    """Every process the kernel's launch started (the kernel included), by host pid."""
    try:
        launcher = psutil.Process(_launcher(client).pid)
        return {p.pid for p in launcher.children(recursive=True)} | {launcher.pid}
    except (AttributeError, psutil.Error):
        return set()


def _stop_leftovers(client: NotebookClient, baseline: set[int]) -> int:
    """Kill what a cell left running beside the kernel (forks, background jobs); how many there were."""
    stopped: set[int] = set()
    for _ in range(20):  # a fork bomb keeps forking while its members are killed
        extra = _kernel_tree(client) - baseline - stopped
        if not extra:
            break
        for pid in extra:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        stopped |= extra
        time.sleep(0.05)
    return len(stopped)


async def _run_cells(client: NotebookClient, nb: Notebook, numbers: dict[int, int], result: Execution,
                     channel: events.Channel, config: dict[str, Any], cell_timeout: float, deadline: float, finish_timeout: float) -> None:
    result.harness_error = await _run_harness(client, _install_code(config), timeout=cell_timeout)
    baseline = _kernel_tree(client)
    for index, cell in enumerate(nb.cells):
        if index not in numbers:
            continue
        number = numbers[index]
        result.code_cells += 1
        result.sources.append((number, cell.source))
        if result.kernel_died or result.kernel_stuck:
            continue
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            result.notebook_timed_out = True
            continue
        client.timeout = max(1, int(min(cell_timeout, remaining)))
        client.error_on_timeout["evalue"] = f"this cell was stopped after {client.timeout} seconds"
        errors_before = len(result.errors)
        channel.cell = number
        t0 = time.perf_counter()
        try:
            await client.async_execute_cell(cell, index)
        except DeadKernelError:
            result.kernel_died = True
            result.errors.append(CellError(cell=number, kind="kernel_died", ename="DeadKernelError",
                                           evalue="the Python kernel stopped while running this cell",
                                           traceback="", source=cell.source))
        result.cell_seconds[number] = round(time.perf_counter() - t0, 3)
        left = _stop_leftovers(client, baseline) if not result.kernel_died else 0
        if left:
            result.processes_left[number] = left
        result.last_cell = number
        result.cells_run += 1
        new = result.errors[errors_before:]
        if any(e.kind == "timeout" for e in new) and not await _answers(client):
            result.kernel_stuck = True
    channel.cell = 0
    if not (result.kernel_died or result.kernel_stuck):
        try:
            result.harness_error = result.harness_error or await _run_harness(client, FINISH_CODE, finish_timeout)
        except (TimeoutError, asyncio.TimeoutError):
            result.harness_error = f"the grader's own steps did not finish within {finish_timeout:.0f} s"
        except DeadKernelError:
            result.kernel_died = True


async def _stop(client: NotebookClient) -> None:
    # nbclient leaves its exit hook registered when the kernel never started; the kernel is stopped here.
    atexit.unregister(client._cleanup_kernel)
    launcher = _launcher(client)
    km = cast(AsyncKernelManager | None, client.km)
    try:
        if client.kc is not None:
            client.kc.stop_channels()
        if km is not None and km.has_kernel:
            await km.shutdown_kernel(now=True)
    except Exception:  # already gone
        pass
    if launcher is not None:  # a kernel that died mid-cell is never waited for: reap it, no zombie left
        try:
            launcher.kill()
            launcher.wait(timeout=10)
        except Exception:
            pass


async def _answers(client: NotebookClient) -> bool:
    """After an interrupt: is the kernel responsive again?"""
    try:
        await _run_harness(client, "pass", timeout=PING_TIMEOUT_S)
        return True
    except Exception:
        return False


@dataclass(frozen=True)
class KernelOptions:
    """Everything a kernel's life depends on, in one place (each from settings.Settings)."""

    cpu_seconds: int  # the kernel's CPU time limit
    cell_timeout: float
    notebook_timeout: float
    finish_timeout: float  # the harness's own steps after the last cell
    startup_timeout: int
    readable: tuple[Path, ...] = ()  # files it must read (the data), shown to it under /data
    hide: tuple[Path, ...] = ()  # grader files inside what it must read, hidden from it
    sandboxed: bool = True  # False: --no-sandbox
    fork: bool = True  # False: --no-fork-server, every kernel started afresh


class Kernel:
    """One kernel's life, in order (see the module's docstring). Entering makes its confinement; leaving
    removes it. Given a `sandbox` already made (and entered) by the caller, it neither makes nor leaves it."""

    def __init__(self, options: KernelOptions, sandbox: Sandbox | None = None) -> None:
        self.options = options
        self._sandbox = sandbox
        self._owns = False

    def __enter__(self) -> Kernel:
        if self._sandbox is None:
            o = self.options
            self._sandbox = Sandbox.new(readable=list(o.readable), hide=list(o.hide), cpu_seconds=o.cpu_seconds,
                                        enabled=o.sandboxed).__enter__()
            self._owns = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owns and self._sandbox is not None:
            self._sandbox.__exit__(None, None, None)
            self._sandbox, self._owns = None, False

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            raise RuntimeError("a Kernel's confinement exists only inside its `with`")
        return self._sandbox

    @property
    def home(self) -> Path:
        """The kernel's home and working folder, as the grader sees it."""
        return self.sandbox.home

    def readable_inside(self, path: Path) -> str:
        """Where the kernel finds one of options.readable."""
        return self.sandbox.readable_inside(path)

    def save(self, notebook: Notebook, name: str = "CNN.ipynb") -> None:
        """The notebook as submitted, in the kernel's working folder (the copy that runs may be repaired)."""
        nbformat.write(notebook, self.home / name)  # type: ignore[no-untyped-call, unused-ignore]

    @property
    def forked(self) -> bool:
        return kernel.forks(self.sandbox, self.options.fork)

    @property
    def isolation(self) -> Isolation:
        """Its active and missing layers, and how it was started: the report's "isolation"."""
        start = ("forked from a process that had imported TensorFlow and Keras (and run nothing else)"
                 if self.forked else "a new Python process")
        isolation = self.sandbox.summary()
        isolation["kernel_start"] = start
        return isolation

    def run(self, nb: Notebook, config: dict[str, Any], on_event: OnEvent | None = None) -> Execution:
        """Execute `nb` (a copy; it is changed) in a fresh kernel with the harness configured by `config`;
        on_event(event) is called with each event of the harness once the grader has kept it."""
        return _run_to_end(self._life(nb, config, on_event))

    async def _life(self, nb: Notebook, config: dict[str, Any], on_event: OnEvent | None) -> Execution:
        box, o = self.sandbox, self.options
        result, numbers = Execution(), _numbers(nb)
        started = time.perf_counter()
        channel = events.Channel(socket_path=box.ipc_dir / "events", copies=box.records, on_event=on_event)
        config = {**config, "events": str(channel.socket_path)}
        client = _CappedClient(
            nb, km=kernel.kernel_manager(box, o.fork), timeout=int(o.cell_timeout), allow_errors=True,
            interrupt_on_timeout=True, startup_timeout=o.startup_timeout, shutdown_kernel="immediate",
            error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "", "traceback": []},
            resources={"metadata": {"path": str(box.home)}}, on_cell_executed=_error_recorder(result, numbers),
            cut=result.outputs_cut, numbers=numbers)
        log = open(box.grader_dir / "kernel.log", "wb")  # TensorFlow's chatter goes here, not to the terminal
        channel.start()
        try:
            async with client.async_setup_kernel(env=kernel.kernel_env(box), stdout=log, stderr=log):
                await _run_cells(client, nb, numbers, result, channel, config, o.cell_timeout,
                                 started + o.notebook_timeout, o.finish_timeout)
        except (RuntimeError, TimeoutError, asyncio.TimeoutError) as exc:  # the kernel never started
            result.kernel_died = True
            log.flush()
            result.harness_error = _could_not_start(exc, box)
        finally:
            await _stop(client)  # the client does not own a kernel manager passed in: stop it ourselves
            log.close()
            channel.close()
            box.cleanup()
        result.seconds = time.perf_counter() - started
        result.events, result.channel_problems, result.records_lost = channel.events, channel.problems, channel.lost
        return result


def _error_recorder(result: Execution, numbers: dict[int, int]) -> Callable[..., None]:
    """nbclient's on_cell_executed hook: a cell's error, from the kernel's own reply."""

    def on_cell_executed(cell: Any, cell_index: int, execute_reply: dict[str, Any]) -> None:
        content = execute_reply.get("content", {})
        if content.get("status") != "error":
            return
        timed_out = content.get("ename") == TIMEOUT_ENAME
        result.errors.append(cell_error(
            numbers[cell_index], "timeout" if timed_out else "error", content.get("ename", ""),
            content.get("evalue", ""), strip_ansi("\n".join(content.get("traceback") or [])), cell.source))

    return on_cell_executed


def _could_not_start(exc: BaseException, box: Sandbox) -> str:
    tail = (box.grader_dir / "kernel.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
    return f"the Python kernel could not start ({exc}). " + " ".join(tail)


def _run_to_end(run: Coroutine[Any, Any, Execution]) -> Execution:
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no event loop here
        return asyncio.run(run)
    # Called from inside Jupyter (self_check), where a loop is already running: use a thread of our own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run).result()
