"""The report opened in a real browser (headless Chromium over the DevTools protocol): it renders
with no console error or exception, makes no request outside the file, shows the summary card,
the molecule drawings and the interactive Plotly figures (a hover shows the molecule), and a
screenshot is saved. Skips with a message when Chromium (Debian package ``chromium``; ``.ci/run``
installs it) or ``websocket-client`` is absent."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from scifm.evaluation.report import write_report
from tests.unit.evaluation.report_fixtures import EVIL_SMILES, molecule_report

websocket = pytest.importorskip("websocket", reason="websocket-client not installed (dev extra)")

_BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
_LOCAL = ("file:", "data:", "about:", "blob:", "chrome-error:")


def _chromium() -> str:
    exe = next((p for b in _BROWSERS if (p := shutil.which(b))), None)
    if exe is None:
        pytest.skip("Chromium not found (Debian: apt-get install chromium; .ci/run installs it)")
    return exe


class Browser:
    """One headless Chromium and one page, driven over the DevTools protocol."""

    def __init__(self, exe: str, profile: Path) -> None:
        args = [exe, "--headless=new", "--remote-debugging-port=0", f"--user-data-dir={profile}",
                "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port = self._port(profile / "DevToolsActivePort")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            pages = [t for t in json.load(r) if t.get("type") == "page"]
        self.ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=20,
                                              suppress_origin=True)
        self.events: list[dict[str, Any]] = []
        self._id = 0
        for domain in ("Runtime", "Log", "Network", "Page"):
            self.call(f"{domain}.enable")
        # a script injected by a hostile input would call alert(): record it, never block on it
        self.call("Page.addScriptToEvaluateOnNewDocument",
                  source="window.__alerts=[];window.alert=function(m){window.__alerts.push(m)};")
        self.call("Emulation.setDeviceMetricsOverride", width=1200, height=2400,
                  deviceScaleFactor=1, mobile=False)

    def _port(self, path: Path, timeout: float = 20.0) -> int:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if path.exists() and path.read_text().strip():
                return int(path.read_text().split()[0])
            if self.proc.poll() is not None:
                pytest.fail(f"chromium exited with {self.proc.returncode}")
            time.sleep(0.05)
        pytest.fail("chromium did not open its DevTools port")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._id:
                assert "error" not in msg, (method, msg["error"])
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, method: str, timeout: float = 20.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(e.get("method") == method for e in self.events):
                return
            self.ws.settimeout(max(0.1, end - time.monotonic()))
            self.events.append(json.loads(self.ws.recv()))
        pytest.fail(f"no {method} within {timeout} s")

    def js(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in res, res["exceptionDetails"]
        return res["result"].get("value")

    def open(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")
        end = time.monotonic() + 15
        while not self.js("document.querySelectorAll('.js-plotly-plot .main-svg').length"):
            assert time.monotonic() < end, "Plotly drew nothing"
            time.sleep(0.1)

    def problems(self) -> tuple[list[str], list[str]]:
        """(console errors / exceptions / error log entries, requests leaving the file)."""
        errors, requests = [], []
        for e in self.events:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                errors.append(json.dumps(p.get("args"))[:300])
            elif m == "Runtime.exceptionThrown":
                errors.append(json.dumps(p.get("exceptionDetails"))[:300])
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                errors.append(p["entry"].get("text", "")[:300])
            elif m == "Network.requestWillBeSent":
                url = p.get("request", {}).get("url", "")
                if not url.startswith(_LOCAL):
                    requests.append(url)
        return errors, requests

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except Exception:  # noqa: BLE001 - the browser may already be gone
            pass
        self.ws.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def browser(tmp_path: Path):
    b = Browser(_chromium(), tmp_path / "profile")
    yield b
    b.close()


_PAGE_FACTS = """(() => {
  const toc = [...document.querySelectorAll('nav.toc a')];
  return {
    first: document.querySelector('section').id,
    tiles: document.querySelectorAll('#summary .tile').length,
    best: (document.querySelector('#summary .tile.best') || {}).textContent || '',
    mols: document.querySelectorAll('#examples svg.mol').length,
    cards: document.querySelectorAll('#examples .mol-card').length,
    plots: document.querySelectorAll('.js-plotly-plot').length,
    tocOk: toc.length > 5 && toc.every(a => document.getElementById(a.hash.slice(1))),
    alerts: window.__alerts.length,
    height: document.body.scrollHeight,
  };
})()"""


def _hover_text(b: Browser) -> str:
    """Hover the first point of the first trace of the first figure; the hover label's text."""
    b.js("(() => { const g = document.querySelector('.js-plotly-plot');"
         " Plotly.Fx.hover(g, [{curveNumber: 0, pointNumber: 0}], 'xy'); })()")
    time.sleep(0.3)
    return b.js("(document.querySelector('.hoverlayer') || {}).textContent || ''")


@pytest.mark.integration
@pytest.mark.parametrize("task_type", ["regression", "binary"])
def test_report_renders_in_chromium(browser: Browser, tmp_path: Path, task_type: str) -> None:
    data = molecule_report(task_type, n=80, evil=True)  # 12 test molecules
    page = tmp_path / f"report_{task_type}.html"
    write_report(page, data)
    browser.open(page.as_uri())
    errors, requests = browser.problems()
    assert errors == [], errors
    assert requests == [], requests
    facts = browser.js(_PAGE_FACTS)
    assert facts["first"] == "summary" and facts["tiles"] >= 5 and facts["tocOk"]
    assert "lightgbm" in facts["best"] and "95% CI" in facts["best"]
    assert facts["cards"] == 6 + 6 + 6 * 3  # best, worst and 3 neighbours of each worst
    assert facts["mols"] >= facts["cards"] - 1  # all drawn (but the hostile input, if shown)
    assert facts["plots"] >= 1 and facts["alerts"] == 0
    test_inputs = data.split_inputs["test"]
    hover = _hover_text(browser)
    if task_type == "regression":  # a parity point shows its molecule
        assert test_inputs[0][:40] in hover
    else:  # an ROC point shows its threshold and a molecule
        assert "score ≥" in hover and "true:" in hover
    if EVIL_SMILES in test_inputs:  # shown as text, never run
        assert browser.js("document.body.innerHTML.includes('alert(1)')")
    shot = tmp_path / f"report_{task_type}.png"
    browser.screenshot(shot)
    assert shot.stat().st_size > 50_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
