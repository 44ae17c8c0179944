"""A real browser for the console tests: Debian's Chromium driven by Playwright, against the
app served over HTTP with its queue triggers running, Azurite and the Snap sandbox.

* :func:`launch_chromium`: ``/usr/bin/chromium`` (``CHROMIUM`` overrides), headless, with the
  flags that keep it offline and quiet; Playwright's own browser download is never used.
* :class:`LiveConsole`: the app on a free port (``PUBLIC_BASE_URL`` and the sandbox's redirect
  URI set to it, so "Authenticate with Snapchat" comes back), a :class:`QueuePump` thread
  delivering the run and batch messages, settings as ``make serve`` gives them
  (``LOCAL_DEV_ROLES=Admin``).
* :func:`save_failure_artifacts`: a screenshot and the page's HTML, written when a browser test
  fails (``.artifacts/console/``, or ``CONSOLE_ARTIFACTS``).
* :func:`shoot`: the screenshots the README shows, written only when ``CONSOLE_SCREENSHOTS``
  names a folder (``make screenshots``), so ``make test`` never rewrites tracked files.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright

import function_app
from devtools.local_host import QueuePump, function_handlers
from devtools.snap_sandbox import SnapSandbox
from shared.config import Settings
from shared.services import Services, set_services
from shared.storage_clients import host_queue_service
from tests.live_server import serve_asgi
from tests.support import CALLBACK, services_with

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("CONSOLE_ARTIFACTS") or ROOT / ".artifacts" / "console")


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless; a clear failure when it is not installed."""
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium, as "
            ".ci/run does) or set CHROMIUM to a Chromium executable"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@dataclass
class LiveConsole:
    """The app served over HTTP for one test, with its services and the sandbox."""

    url: str
    services: Services
    sandbox: SnapSandbox

    def page_url(self, path: str) -> str:
        return self.url + path


@contextmanager
def live_console(
    settings: Settings, sandbox: SnapSandbox, **overrides: str
) -> Iterator[LiveConsole]:
    """Serve the app (queues pumped) for one test; ``overrides`` change settings."""
    with serve_asgi(function_app.api) as url:
        values = {"PUBLIC_BASE_URL": url, "LOCAL_DEV_ROLES": "Admin", **overrides}
        services = services_with(settings, **values)
        sandbox.configure(redirect_uris=[url + CALLBACK])
        pump = QueuePump(
            host_queue_service(services.settings),
            function_handlers(services),
            retry_delay_s=0,
            lease_s=30,
        )
        thread = threading.Thread(target=pump.serve_forever, kwargs={"idle_sleep_s": 0.2})
        thread.start()
        try:
            yield LiveConsole(url, services, sandbox)
        finally:
            pump.stop()
            thread.join(timeout=30)
            set_services(None)


def save_failure_artifacts(page: Page, name: str, directory: Path = ARTIFACTS) -> list[Path]:
    """Write ``<name>.png`` (the whole page) and ``<name>.html`` (its DOM now) into
    ``directory``; returns the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:150]
    shot = directory / f"{stem}.png"
    html = directory / f"{stem}.html"
    page.screenshot(path=str(shot), full_page=True)
    html.write_text(page.content(), encoding="utf-8")
    return [shot, html]


def shoot(page: Page, name: str) -> Path | None:
    """A README screenshot ``<name>.png`` into ``CONSOLE_SCREENSHOTS``, when it is set."""
    folder = os.environ.get("CONSOLE_SCREENSHOTS")
    if not folder:
        return None
    path = Path(folder) / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=False)
    return path


#: What a page reports that the tests do not accept (script errors, failed requests).
def watch_errors(page: Page) -> list[str]:
    """Collect the page's script errors and console errors into the returned list."""
    seen: list[str] = []
    page.on("pageerror", lambda error: seen.append(f"script error: {error}"))

    def console(message: Any) -> None:
        if message.type == "error":
            seen.append(f"console: {message.text}")

    page.on("console", console)
    return seen
