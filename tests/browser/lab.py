"""Helpers for browser tests of live widgets: a throw-away JupyterLab and a Chromium driver.

Imported by the tests as ``from browser import lab`` (``tests/`` is on ``sys.path`` under
pytest; ``tests/browser/`` is a namespace package, no ``__init__.py``). Playwright is
imported lazily, so the server half works without it.

* :class:`LabServer` starts ``jupyter lab`` on 127.0.0.1 (a free port, a random token,
  ``--LabApp.expose_app_in_browser=True``, settings that silence the news toast and the
  update check, its own config / runtime / workspace dirs) and stops it, with its kernels.
* :func:`chromium_path`, :func:`launch` start Debian's headless Chromium through Python
  Playwright (Playwright's own browser download is not used).
* :class:`LabPage` opens a notebook in JupyterLab, runs all its cells and waits for
  the kernel, records console and page errors.

The recipe behind the waits and flags: ``/work/shared/recipes/README.md``, section 3.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from types import TracebackType

    from playwright.sync_api import BrowserContext, Page, Playwright

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)

# A rendered Altair / vega-embed chart (SVG or canvas renderer).
CHART = ".vega-embed svg.marks, .vega-embed canvas.marks"

_KERNEL_IDLE_JS = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""
_NO_BUSY_PROMPT_JS = """() => ![...document.querySelectorAll('.jp-InputArea-prompt')]
  .some(p => p.textContent.includes('*'))"""
_FINGERPRINT_JS = """(el) => [...el.querySelectorAll('svg.marks, canvas.marks')].map(e => {
  if (e.tagName === 'CANVAS') { try { return e.toDataURL(); } catch (err) { return 'canvas'; } }
  return e.outerHTML;
}).join('\\n')"""


# ---------------------------------------------------------------------------- Chromium


def chromium_path() -> str | None:
    """``$CHROMIUM``, else ``/usr/bin/chromium``, else ``chromium`` on ``PATH``; or None."""
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def launch(
    p: Playwright, chromium: str, profile: Path, viewport: tuple[int, int] = (1600, 1250)
) -> BrowserContext:
    """Headless Chromium with a fresh profile dir (no state from earlier runs)."""
    return p.chromium.launch_persistent_context(
        str(profile),
        executable_path=chromium,
        headless=True,
        args=list(CHROMIUM_ARGS),
        viewport={"width": viewport[0], "height": viewport[1]},
    )


# ---------------------------------------------------------------------------- server


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the server is started with ``port_retries=0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LabServer:
    """A JupyterLab server on 127.0.0.1 serving ``root``; a context manager.

    ``with LabServer(root, state_dir) as server:`` starts it and waits until
    ``/api/status`` answers; leaving the block always stops it: the kernels are shut
    down through the REST API, the server gets SIGTERM (which also shuts kernels down),
    then SIGKILL if it is still there after ``stop_timeout`` seconds, and any process
    still holding a connection file of this server's runtime dir is killed by its pid.
    """

    def __init__(
        self,
        root: Path,
        state_dir: Path,
        *,
        start_timeout: float = 60.0,
        stop_timeout: float = 15.0,
    ) -> None:
        self.root = Path(root).resolve()
        self.state = Path(state_dir).resolve()
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.token = secrets.token_hex(16)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.state / "server.log"
        self.runtime_dir = self.state / "runtime"
        self.leftovers: list[int] = []  # pids killed by the last sweep after stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def notebook_url(self, path: str) -> str:
        """``/lab/tree/PATH?reset&token=…``: ``reset`` starts from an empty workspace."""
        return f"{self.url}/lab/tree/{path}?reset&token={self.token}"

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    # ------------------------------------------------------------------ start

    def _environment(self) -> dict[str, str]:
        settings = self.state / "settings"
        notification = settings / "@jupyterlab" / "apputils-extension"
        notification.mkdir(parents=True, exist_ok=True)
        # No "get Jupyter news?" toast, no update check: both would go to the network.
        (notification / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        for name in ("workspaces", "runtime", "config", "ipython"):
            (self.state / name).mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            "JUPYTERLAB_SETTINGS_DIR": str(settings),
            "JUPYTERLAB_WORKSPACES_DIR": str(self.state / "workspaces"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime_dir),
            "JUPYTER_CONFIG_DIR": str(self.state / "config"),  # no user config
            "IPYTHONDIR": str(self.state / "ipython"),  # no user startup files in kernels
            "PYTHONUNBUFFERED": "1",
        }

    def _command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.token={self.token}",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            command.append("--allow-root")  # otherwise the server refuses to run as root
        return command

    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        env = self._environment()
        for _attempt in range(3):  # another process may take the free port first
            self.port = free_port()
            with self.log_path.open("wb") as log:
                self.process = subprocess.Popen(
                    self._command(),
                    cwd=self.root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, killed by its id
                )
            if self._wait_ready():
                return
            if "address already in use" not in self.log_tail().lower():
                break
        self.stop()
        raise RuntimeError(f"JupyterLab did not start; its log ends with:\n{self.log_tail()}")

    def _wait_ready(self) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.process.wait()
                return False
            try:
                self.api("GET", "/api/status", timeout=2)
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
                continue
            return True
        return False

    def api(self, method: str, path: str, *, timeout: float = 10) -> Any:
        """Call the server's REST API with the token; the decoded JSON answer (or None)."""
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else None

    # ------------------------------------------------------------------ stop

    def kernel_ids(self) -> list[str]:
        try:
            return [k["id"] for k in self.api("GET", "/api/kernels", timeout=5)]
        except (OSError, urllib.error.URLError, ValueError):
            return []

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            for kernel in self.kernel_ids():
                with contextlib.suppress(OSError, urllib.error.URLError):
                    self.api("DELETE", f"/api/kernels/{kernel}", timeout=10)
            process.send_signal(signal.SIGTERM)  # the server shuts its kernels down too
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # the group started with it
                process.wait(10)
        else:
            process.wait()
        self.leftovers = self._kill_leftovers()

    def _kill_leftovers(self) -> list[int]:
        """Kill (by pid) processes still using a connection file of our runtime dir."""
        marker = str(self.runtime_dir).encode()
        killed = []
        for entry in Path("/proc").glob("[0-9]*"):
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in cmdline and int(entry.name) != os.getpid():
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(int(entry.name), signal.SIGKILL)
                    killed.append(int(entry.name))
        return killed

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# ---------------------------------------------------------------------------- page


class LabPage:
    """A JupyterLab tab in Playwright: open a notebook, run it, watch errors.

    ``console_errors`` and ``page_errors`` collect every ``console.error`` message and
    uncaught exception of the page from the moment the driver is made.
    """

    def __init__(self, page: Page, timeout: float = 60.0) -> None:
        self.page = page
        self.timeout_ms = timeout * 1000
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        page.set_default_timeout(self.timeout_ms)
        page.on(
            "console",
            lambda m: m.type == "error" and self.console_errors.append(m.text[:500]),
        )
        page.on("pageerror", lambda e: self.page_errors.append(str(e)[:500]))

    def open_notebook(self, url: str) -> None:
        """Go to the notebook, accept a kernel dialog if one shows, wait for an idle kernel."""
        page = self.page
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_function("() => !!window.jupyterapp", polling=250)
        page.wait_for_selector(".jp-Notebook .jp-Cell")
        page.wait_for_timeout(300)
        for dialog in page.locator(".jp-Dialog").all():
            dialog.locator(".jp-Dialog-button.jp-mod-accept").first.click()
        page.wait_for_function(_KERNEL_IDLE_JS, polling=250)

    def run_all(self) -> bool:
        """Run all cells; False if one raised. Returns once the kernel is idle again."""
        ok = self.page.evaluate(
            "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
        )
        self.page.wait_for_function(_NO_BUSY_PROMPT_JS, polling=250)
        self.page.wait_for_function(_KERNEL_IDLE_JS, polling=250)
        return bool(ok)

    def output_errors(self) -> list[str]:
        """Texts of the error and stderr outputs of the notebook."""
        return [
            text[:1000]
            for text in self.page.locator(
                ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
                " .jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']"
            ).all_inner_texts()
        ]

    def fingerprint(self, selector: str) -> str:
        """Hash of the charts drawn inside the first element matching ``selector``."""
        drawn = self.page.locator(selector).first.evaluate(_FINGERPRINT_JS)
        return hashlib.sha256(drawn.encode()).hexdigest()[:16] + f" ({len(drawn)} chars)"

    def errors_except(self, harmless: tuple[str, ...]) -> list[str]:
        """Console and page errors not containing one of the ``harmless`` substrings."""
        return [
            e
            for e in [*self.console_errors, *self.page_errors]
            if not any(known in e for known in harmless)
        ]
