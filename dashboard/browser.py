"""A minimal headless Chromium driver over the DevTools protocol (tests and screenshots).

Starts the system's `chromium` (Debian package; no browser is downloaded) with a fresh
profile, no network services and `--remote-debugging-port=0`, then speaks CDP over one
websocket (`websocket-client`). Only what the report needs: open a page, run JavaScript,
press keys, capture a PNG.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from shared.errors import AuditstreamError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--remote-debugging-port=0")


class BrowserError(AuditstreamError):
    """Chromium is missing, did not start, or a DevTools call failed."""


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class Chromium:
    """`with Chromium() as page: page.open(url); page.evaluate("1 + 1")`."""

    def __init__(self, width: int = 1280, height: int = 900, timeout: float = 30.0) -> None:
        self.width, self.height, self.timeout = width, height, timeout
        self.dialogs: list[str] = []
        self._id = 0

    def __enter__(self) -> Chromium:
        import websocket

        binary = find_chromium()
        if binary is None:
            raise BrowserError("no chromium on PATH (Debian: apt-get install chromium)")
        self._profile = Path(tempfile.mkdtemp(prefix="auditstream-chromium-"))
        self._proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile}",
             f"--window-size={self.width},{self.height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = self._wait_port()
        targets = json.loads(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/json/list", timeout=self.timeout).read())
        url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        self._ws = websocket.create_connection(url, timeout=self.timeout, suppress_origin=True)
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=self.width, height=self.height,
                  deviceScaleFactor=1, mobile=False)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self._ws.close()
        finally:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            shutil.rmtree(self._profile, ignore_errors=True)

    def _wait_port(self) -> int:
        marker = self._profile / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if marker.exists() and marker.read_text().strip():
                return int(marker.read_text().splitlines()[0])
            if self._proc.poll() is not None:
                raise BrowserError(f"chromium exited with {self._proc.returncode}")
            time.sleep(0.05)
        raise BrowserError("chromium did not open its DevTools port")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one CDP command and return its result (events seen meanwhile are noted)."""
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("method") == "Page.javascriptDialogOpening":
                self.dialogs.append(str(message["params"].get("message")))
                self._ws.send(json.dumps({"id": 0, "method": "Page.handleJavaScriptDialog",
                                          "params": {"accept": True}}))
            if message.get("id") == self._id:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                          awaitPromise=True)
        if "exceptionDetails" in reply:
            raise BrowserError(f"script error: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait_for(self, expression: str) -> Any:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.05)
        raise BrowserError(f"timed out waiting for {expression}")

    def open(self, url: str, ready: str = "document.body && document.body.dataset.ready") -> None:
        """Load `url` afresh (via about:blank, so a hash-only change reloads too)."""
        self.call("Page.navigate", url="about:blank")
        self.wait_for("location.href === 'about:blank' && document.readyState === 'complete'")
        self.call("Page.navigate", url=url)
        self.wait_for(f"document.readyState === 'complete' && {ready}")

    def press(self, key: str, code: int) -> None:
        """A real key press (down + up) sent to the focused element."""
        for kind in ("rawKeyDown", "keyUp"):
            self.call("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                      windowsVirtualKeyCode=code, nativeVirtualKeyCode=code)

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        data = self.call("Page.captureScreenshot", format="png",
                         captureBeyondViewport=full_page)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        return path
