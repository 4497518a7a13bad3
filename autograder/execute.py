"""Run a notebook copy in a fresh kernel with the harness around it.

The student's cells run one by one with nbclient. An error in a cell is
recorded from the kernel's own reply (not from what the cell printed) and the
next cell runs anyway; a cell that runs too long is interrupted; a kernel that
dies or stops answering ends the run, and grading goes on with what the
harness recorded before that.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

from . import kernel

HARNESS_SOURCE = Path(__file__).with_name("harness") / "kernel_side.py"
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
TIMEOUT_ENAME = "CellTimeout"
PING_TIMEOUT_S = 15  # how long an interrupted kernel has to answer again


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


@dataclass
class CellError:
    """One cell that did not finish cleanly."""

    cell: int  # 1-based position among all the notebook's cells, as a student counts them
    kind: str  # "error", "timeout" or "kernel_died"
    ename: str
    evalue: str
    traceback: str
    source: str  # the cell's code, to show where it happened


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
    record: dict = field(default_factory=dict)
    sources: list[tuple[int, str]] = field(default_factory=list)  # (cell number, code) of the code cells
    last_cell: int = 0  # the last cell that ran
    outputs_cut: dict[int, int] = field(default_factory=dict)  # cell -> characters it printed, when cut


async def _run_harness(client: NotebookClient, code: str, timeout: float) -> str | None:
    """Run grader code in the kernel; return the error text, if any."""
    reply = await client.kc.execute_interactive(code, store_history=False, timeout=timeout,
                                                output_hook=lambda msg: None)
    content = reply["content"]
    if content.get("status") == "error":
        return strip_ansi("\n".join(content.get("traceback") or [f"{content['ename']}: {content['evalue']}"]))
    return None


def _install_code(config: dict) -> str:
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
TRAIN_CODE = "__import__('sys').modules['_autograder_harness'].train_copy()"


MAX_OUTPUT_CHARS = 100_000  # per cell: 200,000 printed lines must not fill the grader's memory


def _cap_outputs(cell, number: int, result: Execution) -> None:
    """Keep the first MAX_OUTPUT_CHARS of what a cell printed, and note that the rest was cut."""
    total = sum(len(o.get("text", "")) for o in cell.outputs if o.get("output_type") == "stream")
    if total <= MAX_OUTPUT_CHARS:
        return
    kept = 0
    for output in cell.outputs:
        if output.get("output_type") == "stream":
            output["text"] = output["text"][:max(0, MAX_OUTPUT_CHARS - kept)]
            kept += len(output["text"])
    result.outputs_cut[number] = total


def _read_record(scratch: Path) -> dict:
    path = scratch / "record.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


async def _run(nb, scratch: Path, config: dict, cell_timeout: float, notebook_timeout: float,
               finish_timeout: float, on_model_saved, sandbox) -> Execution:
    result = Execution()
    started = time.perf_counter()
    deadline = started + notebook_timeout

    def on_cell_executed(cell, cell_index, execute_reply):
        _cap_outputs(cell, cell_index + 1, result)
        content = execute_reply.get("content", {})
        if content.get("status") != "error":
            return
        timed_out = content.get("ename") == TIMEOUT_ENAME
        result.errors.append(CellError(
            cell=cell_index + 1, kind="timeout" if timed_out else "error",
            ename=content.get("ename", ""), evalue=content.get("evalue", ""),
            traceback=strip_ansi("\n".join(content.get("traceback") or [])), source=cell.source))

    client = NotebookClient(
        nb, km=kernel.kernel_manager(scratch, sandbox), timeout=cell_timeout, allow_errors=True,
        interrupt_on_timeout=True, startup_timeout=120, shutdown_kernel="immediate",
        error_on_timeout={"ename": TIMEOUT_ENAME, "evalue": "", "traceback": []},
        resources={"metadata": {"path": str(scratch)}}, on_cell_executed=on_cell_executed)
    log = open(scratch / "kernel.log", "wb")  # TensorFlow's chatter goes here, not to the terminal
    try:
        async with client.async_setup_kernel(env=kernel.kernel_env(scratch), stdout=log, stderr=log):
            await _run_cells(client, nb, result, config, cell_timeout, deadline, finish_timeout,
                             lambda: on_model_saved(_read_record(scratch).get("model")) if on_model_saved else None)
    except (RuntimeError, TimeoutError, asyncio.TimeoutError) as exc:  # the kernel never started
        result.kernel_died = True
        log.flush()
        tail = (scratch / "kernel.log").read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        result.harness_error = f"the Python kernel could not start ({exc}). " + " ".join(tail)
    finally:
        await _stop(client)  # the client does not own a kernel manager passed in: stop it ourselves
        log.close()
        if sandbox is not None:
            sandbox.cleanup()
    result.seconds = time.perf_counter() - started
    result.record = _read_record(scratch)
    return result


async def _run_cells(client: NotebookClient, nb, result: Execution, config: dict, cell_timeout: float,
                     deadline: float, finish_timeout: float, model_saved) -> None:
    result.harness_error = await _run_harness(client, _install_code(config), timeout=cell_timeout)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        result.code_cells += 1
        result.sources.append((index + 1, cell.source))
        if result.kernel_died or result.kernel_stuck:
            continue
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            result.notebook_timed_out = True
            continue
        client.timeout = max(1, int(min(cell_timeout, remaining)))
        client.error_on_timeout["evalue"] = f"this cell was stopped after {client.timeout} seconds"
        errors_before = len(result.errors)
        t0 = time.perf_counter()
        try:
            await client.async_execute_cell(cell, index)
        except DeadKernelError:
            result.kernel_died = True
            result.errors.append(CellError(cell=index + 1, kind="kernel_died", ename="DeadKernelError",
                                           evalue="the Python kernel stopped while running this cell",
                                           traceback="", source=cell.source))
        result.cell_seconds[index + 1] = round(time.perf_counter() - t0, 3)
        result.last_cell = index + 1
        result.cells_run += 1
        new = result.errors[errors_before:]
        if any(e.kind == "timeout" for e in new) and not await _answers(client):
            result.kernel_stuck = True
    if not (result.kernel_died or result.kernel_stuck):
        try:
            result.harness_error = result.harness_error or await _run_harness(client, FINISH_CODE, finish_timeout)
            model_saved()  # the grader loads the model while the kernel trains a copy
            result.harness_error = result.harness_error or await _run_harness(client, TRAIN_CODE, finish_timeout)
        except (TimeoutError, asyncio.TimeoutError):
            result.harness_error = f"the grader's own steps did not finish within {finish_timeout:.0f} s"
        except DeadKernelError:
            result.kernel_died = True


async def _stop(client: NotebookClient) -> None:
    try:
        if client.kc is not None:
            client.kc.stop_channels()
        if client.km is not None and client.km.has_kernel:
            await client.km.shutdown_kernel(now=True)
    except Exception:  # already gone
        pass


async def _answers(client: NotebookClient) -> bool:
    """After an interrupt: is the kernel responsive again?"""
    try:
        await _run_harness(client, "pass", timeout=PING_TIMEOUT_S)
        return True
    except Exception:
        return False


def run_notebook(nb: nbformat.NotebookNode, scratch: Path, config: dict, *, cell_timeout: float,
                 notebook_timeout: float, finish_timeout: float = 120, on_model_saved=None,
                 sandbox=None) -> Execution:
    """Execute `nb` (a copy; it is changed) in a fresh kernel working in `scratch`.

    on_model_saved(entry) is called with the harness's record of the found model
    (or None) as soon as it is saved, before the brief training starts."""
    run = _run(nb, scratch, config, cell_timeout, notebook_timeout, finish_timeout, on_model_saved, sandbox)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no event loop here
        return asyncio.run(run)
    # Called from inside Jupyter (self_check), where a loop is already running: use a thread of our own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, run).result()
