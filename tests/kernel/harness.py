"""A real IPython kernel (ipykernel over ZeroMQ, started by jupyter_client) for the notebook tests.

It plays the frontend's part: executes cells, collects their output, keeps every widget state update
(``comm_msg``) with its arrival time, and sends what a browser sends when a button is clicked or a
text box edited.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jupyter_client.manager import KernelManager

ROOT = Path(__file__).resolve().parents[2]


def kernel_env(home: Path) -> dict[str, str]:
    """The environment of a test kernel: its own data folder, the repository importable."""
    env = {**os.environ, "WORKBENCH_HOME": str(home), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    return env


@dataclass
class CellResult:
    """What one cell produced."""

    stdout: str = ""
    stderr: str = ""
    outputs: list[dict[str, Any]] = field(default_factory=list)
    error: dict[str, Any] | None = None

    def data(self, mime: str) -> list[Any]:
        """The ``mime`` parts of the cell's display and result outputs."""
        return [o["data"][mime] for o in self.outputs if mime in o.get("data", {})]


class Kernel:
    """One running kernel; ``execute`` runs a cell and waits for it."""

    def __init__(self, home: Path) -> None:
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=kernel_env(home), cwd=str(ROOT))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.comm_updates: list[tuple[float, str, dict[str, Any]]] = []
        """(arrival time, comm id, state) of every widget state update seen."""
        self._cells: dict[str, CellResult] = {}
        self._idle: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        self._stop = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            except Exception:
                return
            arrived = time.time()
            kind, content = msg["msg_type"], msg["content"]
            if kind == "comm_msg" and content.get("data", {}).get("method") == "update":
                with self._lock:
                    self.comm_updates.append((arrived, content["comm_id"], content["data"]["state"]))
            parent = msg.get("parent_header", {}).get("msg_id")
            if not parent:
                continue
            with self._lock:
                cell = self._cell(parent)
                if kind == "stream" and content.get("name") == "stdout":
                    cell.stdout += content["text"]
                elif kind == "stream":
                    cell.stderr += content["text"]
                elif kind in ("display_data", "execute_result"):
                    cell.outputs.append(content)
                elif kind == "error":
                    cell.error = content
                elif kind == "status" and content["execution_state"] == "idle":
                    self._idle_event(parent).set()

    def _cell(self, msg_id: str) -> CellResult:
        """The output collected for a request (messages may arrive before ``execute`` returns)."""
        return self._cells.setdefault(msg_id, CellResult())

    def _idle_event(self, msg_id: str) -> threading.Event:
        self._cell(msg_id)
        return self._idle.setdefault(msg_id, threading.Event())

    def execute(self, code: str, timeout: float = 60.0, *, allow_error: bool = False) -> CellResult:
        """Run a cell and wait until the kernel is idle again; a cell error fails unless allowed."""
        msg_id = self.kc.execute(code)
        with self._lock:
            idle = self._idle_event(msg_id)
        if not idle.wait(timeout):
            raise TimeoutError(f"cell did not finish within {timeout}s:\n{code}")
        with self._lock:
            cell = self._cells.pop(msg_id)
            self._idle.pop(msg_id)
        if (cell.error is not None or "UsageError" in cell.stderr) and not allow_error:
            detail = cell.stderr if cell.error is None else "\n".join(cell.error["traceback"])
            raise AssertionError(f"cell failed:\n{code}\n{detail}")
        return cell

    def json(self, expression: str, timeout: float = 60.0) -> Any:
        """Evaluate a Python expression in the kernel and return its value (via JSON)."""
        cell = self.execute(f"import json as _json; print(_json.dumps({expression}, default=str))", timeout)
        return json.loads(cell.stdout.strip().splitlines()[-1])

    def frontend_send(self, comm_id: str, data: dict[str, Any]) -> None:
        """Send a comm message to a widget as the browser does."""
        msg = self.kc.session.msg("comm_msg", {"comm_id": comm_id, "data": data})
        self.kc.shell_channel.send(msg)

    def click(self, comm_id: str) -> None:
        """Click a button widget, as the browser does."""
        self.frontend_send(comm_id, {"method": "custom", "content": {"event": "click"}})

    def type_text(self, comm_id: str, text: str) -> None:
        """Set a text widget's value, as the browser does when the user types."""
        self.frontend_send(comm_id, {"method": "update", "state": {"value": text}, "buffer_paths": []})

    def updates_of(self, comm_id: str) -> list[tuple[float, dict[str, Any]]]:
        """The state updates a widget sent, with arrival times."""
        with self._lock:
            return [(t, s) for t, c, s in self.comm_updates if c == comm_id]

    def close(self) -> None:
        """Shut the kernel down."""
        self._stop = True
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)


def connected_kernel_with_llm(home: Path, llm_base_url: str) -> Kernel:
    """A kernel connected to its local platform (``%wb connect``) whose LLM blocks talk to the local
    OpenAI-compatible test server at ``llm_base_url`` (on loopback, allowed explicitly)."""
    env = {
        "WORKBENCH_LLM_BASE_URL": llm_base_url,
        "WORKBENCH_LLM_API_KEY": "test-key",
        "WORKBENCH_HTTP_ALLOW": "127.0.0.0/8",
    }
    before = {key: os.environ.get(key) for key in env}
    os.environ.update(env)  # the kernel's environment is taken from this process's
    try:
        kernel = Kernel(home)
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    try:
        kernel.execute("%load_ext kernel_ext\nwb = %wb connect", timeout=120)
    except BaseException:
        kernel.close()
        raise
    return kernel
