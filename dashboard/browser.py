"""Headless Chromium for tests and screenshots, driven by Playwright.

Playwright drives the system's `chromium` (Debian package) through `executable_path`, so no
browser is ever downloaded. This module only adds what the report's callers share: a page of
a fixed size, JavaScript dialogs recorded (and accepted) instead of blocking, and loading a
page afresh until the page itself says it is ready.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import TracebackType
from typing import Any

from shared.atomic import atomic_write_bytes
from shared.errors import AuditstreamError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
#: No network services, extensions or sync: the pages are local files.
FLAGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars")


class BrowserError(AuditstreamError):
    """Chromium is missing, did not start, or a page did not become ready."""


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

    def __enter__(self) -> Chromium:
        try:
            from playwright.sync_api import Error, sync_playwright
        except ImportError as exc:
            raise BrowserError("the browser driver is missing: pip install playwright "
                               "(it drives the system's chromium; no browser download)") from exc
        binary = find_chromium()
        if binary is None:
            raise BrowserError("no chromium on PATH (Debian: apt-get install chromium)")
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=binary, args=list(FLAGS),
                                                     timeout=self.timeout * 1000)
        except Error as exc:
            self._pw.stop()
            raise BrowserError(f"chromium did not start: {exc.message}") from exc
        self.page = self._browser.new_page(viewport={"width": self.width,
                                                     "height": self.height})
        self.page.set_default_timeout(self.timeout * 1000)
        self.page.on("dialog", self._on_dialog)
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self._browser.close()
        finally:
            self._pw.stop()

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.accept()

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        return self.page.evaluate(expression)

    def wait_for(self, expression: str) -> Any:
        """Wait until a JavaScript expression is truthy; return its value."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        try:
            return self.page.wait_for_function(expression).json_value()
        except PlaywrightTimeout as exc:
            raise BrowserError(f"timed out waiting for {expression}") from exc

    def open(self, url: str, ready: str = "document.body && document.body.dataset.ready") -> None:
        """Load `url` afresh (via about:blank, so a hash-only change reloads too)."""
        self.page.goto("about:blank")
        self.page.goto(url)
        self.wait_for(f"document.readyState === 'complete' && {ready}")

    def press(self, key: str, code: int = 0) -> None:
        """A real key press (down + up) sent to the focused element (`code` is unused)."""
        self.page.keyboard.press(key)

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        """The page as a PNG at `path`, replaced whole (`shared.atomic`): playwright's own
        `path=` wrote through a link there (into the user's file) or waited on a FIFO."""
        atomic_write_bytes(path, self.page.screenshot(full_page=full_page), durable=False)
        return path
