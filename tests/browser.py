"""Open a local HTML page in headless Chromium (Debian's ``chromium``) over the DevTools protocol.

Loopback only: Chromium listens on 127.0.0.1 on a port it picks
(``--remote-debugging-port=0``, announced in ``DevToolsActivePort``), and the
page is a ``file://`` URL, so nothing reaches the network.  :func:`open_page`
returns what a developer would look at: console errors, uncaught exceptions,
failed loads, images that did not decode, and a full-page screenshot.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


@dataclass
class PageReport:
    console_errors: list[str] = field(default_factory=list)
    failed_loads: list[str] = field(default_factory=list)
    broken_images: list[str] = field(default_factory=list)
    n_images: int = 0
    title: str = ""
    screenshot: Path | None = None

    @property
    def problems(self) -> list[str]:
        return self.console_errors + self.failed_loads + [f"image did not load: {s}" for s in self.broken_images]


class _Session:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.events: list[dict] = []

    def call(self, method: str, timeout_s: float = 30.0, **params) -> dict:
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        deadline = time.monotonic() + timeout_s
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout_s: float = 30.0) -> dict:
        for k, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(k)
        deadline = time.monotonic() + timeout_s
        while True:
            msg = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if msg.get("method") == method:
                return msg
            self.events.append(msg)


def _devtools_port(profile: Path, proc: subprocess.Popen, timeout_s: float = 30.0) -> int:
    marker = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited with {proc.returncode}: {proc.stderr.read().decode(errors='replace')[-2000:]}")
        if marker.is_file():
            lines = marker.read_text().split()
            if lines:
                return int(lines[0])
        time.sleep(0.05)
    raise TimeoutError("chromium did not open its DevTools port")


def open_page(html: Path, screenshot: Path, width: int = 1200, height: int = 900) -> PageReport:
    """Load ``html`` in headless Chromium; report errors and failed images; write a full-page PNG."""
    from urllib.request import urlopen

    from websockets.sync.client import connect

    browser = find_browser()
    if browser is None:
        raise FileNotFoundError("no chromium on PATH (Debian: apt-get install chromium)")
    with tempfile.TemporaryDirectory(prefix="realsync-chromium-") as tmp:
        profile = Path(tmp)
        proc = subprocess.Popen(
            [browser, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
             "--disable-extensions", "--disable-background-networking", "--remote-debugging-address=127.0.0.1",
             "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={width},{height}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            port = _devtools_port(profile, proc)
            with urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
                targets = json.loads(r.read())
            page = next(t for t in targets if t.get("type") == "page")
            with connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=10) as ws:
                return _inspect(_Session(ws), html, screenshot, width, height)
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _inspect(s: _Session, html: Path, screenshot: Path, width: int, height: int) -> PageReport:
    for domain in ("Page", "Runtime", "Log", "Network"):
        s.call(f"{domain}.enable")
    s.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
    s.call("Page.navigate", url=html.resolve().as_uri())
    s.wait_for("Page.loadEventFired")
    state = s.call(
        "Runtime.evaluate",
        returnByValue=True,
        expression="({title: document.title, images: Array.from(document.images).map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}))})",
    )["result"]["value"]
    rep = PageReport(title=state["title"], n_images=len(state["images"]))
    rep.broken_images = [i["src"] for i in state["images"] if not i["ok"]]
    metrics = s.call("Page.getLayoutMetrics")
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    shot = s.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                  clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})  # fmt: skip
    screenshot.write_bytes(base64.b64decode(shot["data"]))
    rep.screenshot = screenshot
    s.call("Runtime.evaluate", expression="0")  # drain the events the page produced
    for e in s.events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            rep.console_errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
        elif m == "Runtime.exceptionThrown":
            rep.console_errors.append("exception: " + p.get("exceptionDetails", {}).get("text", ""))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            rep.console_errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}".strip())
        elif m == "Network.loadingFailed":
            rep.failed_loads.append(f"failed load: {p.get('errorText')} (request {p.get('requestId')})")
    return rep
