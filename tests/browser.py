"""A real headless Chromium for the tests, driven over the DevTools protocol on 127.0.0.1.

No extra dependency: the browser is Debian's ``chromium`` package and the protocol client is a few
lines over aiohttp's websocket. One connection to the browser, one flat session per page.

What a page records, so a test can assert the page is clean:

* ``console`` — every ``console.*`` call (level and text);
* ``exceptions`` — uncaught exceptions and unhandled rejections;
* ``log`` — the browser's own log entries (CSP violations, failed loads, deprecations);
* ``dialogs`` — ``alert``/``confirm``/``prompt`` (dismissed at once, so a page can't hang the test);
* ``requests`` — the URL of every network request the page made.

``problems()`` gathers the ones that mean something went wrong.

Where Chromium is not installed the browser tests are skipped with a message saying so; in CI
(``CI`` set) its absence is an error, so the browser leg can never silently vanish — the policy of
``tests/postgres.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

#: Flags that keep headless Chromium quiet and offline on a machine without a network or a display.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",  # Chromium picks a free port and writes it to DevToolsActivePort
)
START_TIMEOUT = 30.0
COMMAND_TIMEOUT = 30.0


def find_chromium() -> str | None:
    for candidate in ("/usr/bin/chromium", "chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    return None


def require_chromium() -> str:
    """The Chromium binary; skips the test (fails it in CI) when there is none."""
    found = find_chromium()
    if found is None:
        message = "Chromium is not installed (apt-get install chromium): skipping the browser tests"
        if os.environ.get("CI"):
            pytest.fail(message.replace("skipping", "CI must run"))
        pytest.skip(message)
    return found


class BrowserError(RuntimeError):
    pass


class JavaScriptError(BrowserError):
    pass


# --- the protocol ------------------------------------------------------------------------------------


class _Connection:
    """Commands and events over one DevTools websocket (flat sessions: ``sessionId`` on each message)."""

    def __init__(self, websocket: Any) -> None:
        self._websocket = websocket
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._listeners: dict[str | None, list[Callable[[str, dict[str, Any]], None]]] = {}
        self._reader = asyncio.create_task(self._read())

    def listen(self, session_id: str | None, listener: Callable[[str, dict[str, Any]], None]) -> None:
        self._listeners.setdefault(session_id, []).append(listener)

    async def send(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session_id: str | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> dict[str, Any]:
        if self._reader.done():
            raise BrowserError(f"the DevTools connection is closed (sending {method})")
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session_id is not None:
            message["sessionId"] = session_id
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[message_id] = future
        await self._websocket.send_str(json.dumps(message))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise BrowserError(f"{method} got no answer within {timeout} s") from None
        finally:
            self._pending.pop(message_id, None)

    async def _read(self) -> None:
        import aiohttp

        try:
            async for frame in self._websocket:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    continue
                message = json.loads(frame.data)
                if "id" in message:
                    future = self._pending.get(message["id"])
                    if future is not None and not future.done():
                        if "error" in message:
                            future.set_exception(BrowserError(f"DevTools error: {message['error']}"))
                        else:
                            future.set_result(message.get("result", {}))
                    continue
                for listener in self._listeners.get(message.get("sessionId"), []):
                    listener(message["method"], message.get("params", {}))
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(BrowserError("the DevTools connection closed"))

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self._websocket.close()


# --- pages -------------------------------------------------------------------------------------------


@dataclass
class Page:
    """One tab. Methods raise :class:`BrowserError` (or :class:`JavaScriptError`) on failure."""

    connection: _Connection
    session_id: str
    target_id: str
    console: list[tuple[str, str]] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    log: list[tuple[str, str, str]] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    _loaded: asyncio.Event = field(default_factory=asyncio.Event)

    def _on_event(self, method: str, params: dict[str, Any]) -> None:
        if method == "Runtime.consoleAPICalled":
            text = " ".join(_remote_text(arg) for arg in params.get("args", []))
            self.console.append((params.get("type", ""), text))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception") or {}
            self.exceptions.append(exception.get("description") or details.get("text", "exception"))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.log.append((entry.get("level", ""), entry.get("source", ""), entry.get("text", "")))
        elif method == "Page.javascriptDialogOpening":
            self.dialogs.append(f"{params.get('type')}: {params.get('message')}")
            # Answer from a task: this callback runs inside the reader, which must keep reading.
            asyncio.get_running_loop().create_task(self._dismiss_dialog())
        elif method == "Network.requestWillBeSent":
            self.requests.append(params.get("request", {}).get("url", ""))
        elif method == "Page.loadEventFired":
            self._loaded.set()

    async def _dismiss_dialog(self) -> None:
        with contextlib.suppress(BrowserError):
            await self.send("Page.handleJavaScriptDialog", {"accept": False})

    async def send(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.connection.send(method, params, session_id=self.session_id)

    def problems(self) -> list[str]:
        """Console errors and warnings, uncaught exceptions, browser log errors/warnings, dialogs."""
        found = [f"console.{level}: {text}" for level, text in self.console if level in ("error", "warning", "assert")]
        found += [f"uncaught: {text}" for text in self.exceptions]
        found += [
            f"log {level} ({source}): {text}" for level, source, text in self.log if level in ("error", "warning")
        ]
        found += [f"dialog {text}" for text in self.dialogs]
        return found

    async def goto(self, url: str, *, timeout: float = COMMAND_TIMEOUT) -> None:
        """Open ``url`` and wait for its load event."""
        self._loaded.clear()
        result = await self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError(f"cannot open {url}: {result['errorText']}")
        try:
            await asyncio.wait_for(self._loaded.wait(), timeout)
        except TimeoutError:
            raise BrowserError(f"{url} did not finish loading within {timeout} s") from None

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (awaited if it is a promise), as JSON-able data."""
        result = await self.send(
            "Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True}
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            description = (details.get("exception") or {}).get("description") or details.get("text")
            raise JavaScriptError(f"{expression!r} threw: {description}")
        return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, *, timeout: float = 10.0) -> Any:
        """Poll until ``expression`` is truthy; return its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = await self.evaluate(expression)
            if value:
                return value
            if asyncio.get_running_loop().time() > deadline:
                raise BrowserError(f"timed out after {timeout} s waiting for {expression!r}")
            await asyncio.sleep(0.05)

    async def text(self, selector: str) -> str | None:
        """``textContent`` of the first element matching ``selector`` (None when there is none)."""
        return await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
            "return e ? e.textContent : null; })()"
        )

    async def texts(self, selector: str) -> list[str]:
        return await self.evaluate(
            f"Array.from(document.querySelectorAll({json.dumps(selector)}), (e) => e.textContent)"
        )

    async def click(self, selector: str) -> None:
        """A real mouse click (press and release) in the middle of the element, as a person would.

        Fails when the element is missing, has no size, or is covered by another element there."""
        box = await self.evaluate(
            f"""(() => {{
                const e = document.querySelector({json.dumps(selector)});
                if (!e) return null;
                e.scrollIntoView({{block: "center", inline: "center"}});
                const r = e.getBoundingClientRect();
                const x = r.left + r.width / 2, y = r.top + r.height / 2;
                const hit = document.elementFromPoint(x, y);
                return {{x: x, y: y, width: r.width, height: r.height, hit: !!hit && (hit === e || e.contains(hit))}};
            }})()"""
        )
        if box is None:
            raise BrowserError(f"no element matches {selector!r}")
        if not (box["width"] > 0 and box["height"] > 0):
            raise BrowserError(f"{selector!r} has no size: it is hidden")
        if not box["hit"]:
            raise BrowserError(f"{selector!r} is covered by another element where it would be clicked")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            event: dict[str, Any] = {"type": kind, "x": box["x"], "y": box["y"]}
            if kind != "mouseMoved":
                event.update(button="left", clickCount=1)
            await self.send("Input.dispatchMouseEvent", event)

    async def select_option(self, selector: str, value: str) -> None:
        """Choose an option of a ``<select>`` the way the browser reports a person's choice: set the
        value and fire ``input`` and ``change``. Fails if no option has that value."""
        chosen = await self.evaluate(
            f"""(() => {{
                const s = document.querySelector({json.dumps(selector)});
                if (!s) return "missing";
                const option = Array.from(s.options).find((o) => o.value === {json.dumps(value)});
                if (!option) return "no option";
                s.focus();
                s.value = option.value;
                s.dispatchEvent(new Event("input", {{bubbles: true}}));
                s.dispatchEvent(new Event("change", {{bubbles: true}}));
                return "ok";
            }})()"""
        )
        if chosen != "ok":
            raise BrowserError(f"cannot choose {value!r} in {selector!r}: {chosen}")


def _remote_text(arg: dict[str, Any]) -> str:
    if "value" in arg:
        return str(arg["value"])
    return str(arg.get("description") or arg.get("unserializableValue") or arg.get("type", ""))


# --- the browser -------------------------------------------------------------------------------------


class Browser:
    def __init__(self, process: asyncio.subprocess.Process, connection: _Connection, profile: Path, stderr: Path):
        self.process = process
        self.connection = connection
        self.profile = profile
        self.stderr = stderr

    async def new_page(self) -> Page:
        target = await self.connection.send("Target.createTarget", {"url": "about:blank"})
        attached = await self.connection.send(
            "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
        )
        page = Page(self.connection, attached["sessionId"], target["targetId"])
        self.connection.listen(page.session_id, page._on_event)
        for domain in ("Page", "Runtime", "Log", "Network"):
            await page.send(f"{domain}.enable")
        return page


@contextlib.asynccontextmanager
async def launch(binary: str | None = None) -> AsyncIterator[Browser]:
    """Start headless Chromium with a fresh profile, connect, and stop it (and only it) at the end."""
    import aiohttp

    binary = binary or require_chromium()
    profile = Path(tempfile.mkdtemp(prefix="mge-chromium-"))
    stderr_path = profile.parent / f"{profile.name}.stderr"
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            binary,
            *FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,  # its own process group: its helpers are stopped with it
        )
    session: aiohttp.ClientSession | None = None
    connection: _Connection | None = None
    try:
        endpoint = await _devtools_endpoint(process, profile, stderr_path)
        session = aiohttp.ClientSession()
        websocket = await session.ws_connect(endpoint, max_msg_size=0, autoping=True)
        connection = _Connection(websocket)
        yield Browser(process, connection, profile, stderr_path)
    finally:
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.send("Browser.close", timeout=5)
            await connection.close()
        if session is not None:
            await session.close()
        await _stop(process)
        shutil.rmtree(profile, ignore_errors=True)
        stderr_path.unlink(missing_ok=True)


async def _devtools_endpoint(process: asyncio.subprocess.Process, profile: Path, stderr: Path) -> str:
    """The browser's websocket URL, from the DevToolsActivePort file Chromium writes once it listens."""
    port_file = profile / "DevToolsActivePort"
    deadline = asyncio.get_running_loop().time() + START_TIMEOUT
    while True:
        if port_file.exists():
            lines = port_file.read_text().split("\n")
            if len(lines) >= 2 and lines[0].strip().isdigit() and lines[1].startswith("/devtools/browser/"):
                return f"ws://127.0.0.1:{int(lines[0])}{lines[1].strip()}"
        if process.returncode is not None:
            tail = stderr.read_text(errors="replace")[-2000:]
            raise BrowserError(f"Chromium exited with status {process.returncode} before listening:\n{tail}")
        if asyncio.get_running_loop().time() > deadline:
            raise BrowserError(f"Chromium did not open its DevTools port within {START_TIMEOUT} s")
        await asyncio.sleep(0.05)


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Wait for Chromium to exit after Browser.close; if it does not, end its own process group."""
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, sig)  # the group started for this browser, nothing else
        try:
            await asyncio.wait_for(process.wait(), 5)
            break
        except TimeoutError:
            continue
    # Helpers (zygote, renderers) may outlive the main process by a moment; they share its group.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
