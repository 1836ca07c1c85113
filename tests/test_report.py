"""The HTML report: content, escaping, atomic writes, and what headless Chromium renders.

The browser tests drive Chromium over the DevTools protocol on a pipe
(``--remote-debugging-pipe``: JSON messages ending in NUL on file descriptors 3 and 4), so
they need no Python package beyond the standard library, only the ``chromium`` binary.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import replens as rl
from replens.report import write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XSS_NAME = "<script>alert(1)</script>"
IMG_SRC = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _network(seed: int, widths: tuple[int, ...], names: tuple[str, ...] | None = None
             ) -> list[tuple[str, np.ndarray]]:
    inputs = np.random.default_rng(0).standard_normal((120, 8))
    rng = np.random.default_rng(seed)
    layers, h = [], inputs
    for depth, width in enumerate(widths):
        h = np.maximum(h @ rng.standard_normal((h.shape[1], width)) + 0.1, 0)
        layers.append(((names or ())[depth] if names else f"block{depth}.relu", h))
    return layers


def _matrix(names_b: tuple[str, ...] | None = None) -> rl.SimilarityMatrix:
    return rl.compare(_network(1, (6, 9, 7)), _network(2, (5, 8, 4), names_b),
                      measures=("linear_cka", "cca_mean_rho", "pwcca"), progress=False)


def _manifest() -> dict[str, Any]:
    return {"inputs": {"a.npz": {"sha256": "ab" * 32}, "b.h5": {"sha256": "cd" * 32}},
            "options": {"measures": ["linear_cka", "pwcca"], "conv": "flatten"},
            "versions": {"replens": rl.__version__, "numpy": np.__version__},
            "seed": 0}


def _report(path: Path, matrix: rl.SimilarityMatrix | None = None, **overrides: Any) -> Path:
    matrix = matrix if matrix is not None else _matrix()
    arguments: dict[str, Any] = {
        "title": "seed 1 vs seed 2",
        "summary_lines": ["3 x 3 layers", "120 examples"],
        "matrices": [(f"{m} (a vs b)", matrix, m) for m in matrix.measures],
        "tables": [("every value", matrix.to_dataframe())],
        "manifest": _manifest(),
    }
    arguments.update(overrides)
    return write_report(path, **arguments)


class _Page(HTMLParser):
    """The parts of a report the tests look at: tables (rows of cell texts), pre blocks, imgs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, list[list[str]]]] = []
        self.pres: list[str] = []
        self.imgs: list[dict[str, str | None]] = []
        self.tags: list[str] = []
        self._part = ""
        self._cell: list[str] | None = None
        self._pre: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "table":
            self.tables.append({"thead": [], "tbody": []})
        elif tag in ("thead", "tbody"):
            self._part = tag
        elif tag == "tr":
            self.tables[-1][self._part].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "pre":
            self._pre = []
        elif tag == "img":
            self.imgs.append(dict(attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][self._part][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "pre" and self._pre is not None:
            self.pres.append("".join(self._pre))
            self._pre = None

    def handle_data(self, data: str) -> None:
        for sink in (self._cell, self._pre):
            if sink is not None:
                sink.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


# ---------------------------------------------------------------------------------------
# The file

def test_one_inline_png_per_matrix(tmp_path):
    matrix = _matrix()
    path = _report(tmp_path / "report.html", matrix)
    text = path.read_text(encoding="utf-8")
    images = IMG_SRC.findall(text)
    assert len(images) == len(matrix.measures) == 3
    for data in images:
        assert base64.b64decode(data, validate=True).startswith(PNG_SIGNATURE)
    assert len(_parse(path).imgs) == 3  # no other image, and none pointing outside the file


def test_self_contained_no_scripts_no_external_resources(tmp_path):
    text = _report(tmp_path / "report.html").read_text(encoding="utf-8")
    assert re.search(r"<script", text, re.IGNORECASE) is None
    assert re.search(r"<link[^>]+stylesheet", text, re.IGNORECASE) is None
    assert re.search(r"""(src|href)="(?!data:|#)""", text) is None  # only data: URIs and anchors
    assert "http://" not in text and "https://" not in text
    assert "<style>" in text
    assert f"replens {rl.__version__}" in text  # the footer


def test_a_table_row_per_dataframe_row_and_sensible_numbers(tmp_path):
    matrix = _matrix()
    tidy = matrix.to_dataframe()
    per_layer = pd.DataFrame({"layer": ["block0.relu", "block1.relu", "block2.relu"],
                              "width": [6, 9, 7],
                              "best_cka": [0.123456789, 1.0, np.nan],
                              "hsic": [1.5e-7, 2.0e-2, 3.0]}).set_index("layer")
    path = _report(tmp_path / "report.html", matrix,
                   tables=[("every value", tidy), ("per layer", per_layer)])
    tables = _parse(path).tables
    assert [len(t["tbody"]) for t in tables] == [len(tidy), len(per_layer)]
    assert tables[0]["thead"] == [["measure", "layer_a", "layer_b", "value"]]
    assert tables[0]["tbody"][0] == ["linear_cka", "block0.relu", "block0.relu", f"{tidy.value[0]:.4f}"]
    assert tables[1]["thead"] == [["layer", "width", "best_cka", "hsic"]]  # a named index is shown
    assert tables[1]["tbody"] == [["block0.relu", "6", "0.1235", "1.500e-07"],
                                  ["block1.relu", "9", "1.0000", "2.000e-02"],
                                  ["block2.relu", "7", "NaN", "3.000e+00"]]


def test_manifest_shown_entry_by_entry_and_as_json(tmp_path):
    manifest = _manifest()
    path = _report(tmp_path / "report.html", manifest=manifest)
    text = path.read_text(encoding="utf-8")
    for key in manifest:
        assert f"<dt>{key}</dt>" in text
    assert "ab" * 32 in text
    assert json.loads(_parse(path).pres[-1]) == manifest  # the whole manifest, last pre block


def test_every_user_string_is_escaped(tmp_path):
    matrix = _matrix(names_b=("block0", XSS_NAME, "block2"))
    hostile = '" onerror="alert(2)'
    frame = matrix.to_dataframe()
    frame.columns = ["measure", XSS_NAME, "layer_b", "value"]
    path = _report(tmp_path / "report.html", matrix,
                   title=f"title {XSS_NAME}", summary_lines=[f"line {XSS_NAME}"],
                   matrices=[(f"caption {XSS_NAME} {hostile}", matrix, "linear_cka")],
                   tables=[(f"table {XSS_NAME}", frame)],
                   manifest={XSS_NAME: XSS_NAME, "nested": {XSS_NAME: [XSS_NAME]}})
    text = path.read_text(encoding="utf-8")
    assert re.search(r"<script", text, re.IGNORECASE) is None
    escaped = html.escape(XSS_NAME)
    assert escaped == "&lt;script&gt;alert(1)&lt;/script&gt;"
    for where in (f"<title>title {escaped}</title>", f"<h1>title {escaped}</h1>", f"<li>line {escaped}</li>",
                  f"table {escaped}</figcaption>", f"<dt>{escaped}</dt><dd>{escaped}</dd>",
                  f"<td>{escaped}</td>", f'<th scope="col">{escaped}</th>'):
        assert where in text, where
    assert 'onerror="alert' not in text
    assert "&quot; onerror=&quot;alert(2)" in text  # inside the alt attribute, and the caption
    assert len(_parse(path).imgs) == 1


def test_written_atomically_old_file_kept_when_the_move_fails(tmp_path, monkeypatch):
    path = tmp_path / "report.html"
    path.write_text("old report")

    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        _report(path)
    assert path.read_text() == "old report"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html"]  # no temporary left


def test_nothing_written_when_drawing_fails(tmp_path, monkeypatch):
    def failing_plot(self, *args, **kwargs):
        raise RuntimeError("matplotlib failed")

    monkeypatch.setattr(rl.SimilarityMatrix, "plot", failing_plot)
    with pytest.raises(RuntimeError, match="matplotlib failed"):
        _report(tmp_path / "report.html")
    assert list(tmp_path.iterdir()) == []


def test_creates_folders_returns_path_and_leaves_no_pyplot_figure(tmp_path):
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    path = _report(tmp_path / "deep" / "er" / "report.html")
    assert path == tmp_path / "deep" / "er" / "report.html" and path.is_file()
    assert plt.get_fignums() == before


def test_minimal_report(tmp_path):
    path = write_report(tmp_path / "r.htm", title="nothing yet", summary_lines=[], matrices=[], tables=[],
                        manifest={})
    text = path.read_text(encoding="utf-8")
    assert "<h1>nothing yet</h1>" in text and "The manifest is empty." in text
    assert IMG_SRC.search(text) is None


def test_cli_outputs_include_the_report(tmp_path):
    from replens.report import write_outputs

    matrix = _matrix()
    written = write_outputs(matrix, tmp_path, _manifest(), report=True)
    report = tmp_path / "report.html"
    assert report in written
    assert len(IMG_SRC.findall(report.read_text(encoding="utf-8"))) == len(matrix.measures)


def test_cli_outputs_leave_pyplot_and_its_backend_alone(tmp_path):
    import matplotlib
    import matplotlib.pyplot as plt

    from replens.report import write_outputs

    before = (plt.get_fignums(), matplotlib.get_backend())
    written = write_outputs(_matrix(), tmp_path, _manifest(), report=False)
    assert (plt.get_fignums(), matplotlib.get_backend()) == before
    assert all(path.read_bytes()[:4] == b"\x89PNG" for path in written if path.suffix == ".png")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written)  # no temporaries


def test_heatmap_file_names_are_safe_and_distinct():
    from replens.report.bundle import heatmap_file_name

    used: set[str] = set()
    assert heatmap_file_name("linear_cka", used) == "heatmap_linear_cka.png"
    assert heatmap_file_name("rbf_cka(bandwidth=0.5)", used) == "heatmap_rbf_cka_bandwidth=0.5.png"
    assert heatmap_file_name("pkg.mod:f", used) == "heatmap_pkg.mod_f.png"
    assert heatmap_file_name("pkg.mod/f", used) == "heatmap_pkg.mod_f_2.png"
    assert used == {"heatmap_linear_cka.png", "heatmap_rbf_cka_bandwidth=0.5.png", "heatmap_pkg.mod_f.png",
                    "heatmap_pkg.mod_f_2.png"}


@pytest.mark.parametrize("overrides, error, message", [
    ({"path": "report.txt"}, rl.UnknownOptionError, r"writes \.html files; got path='.*report\.txt'"),
    ({"title": None}, rl.ReplensError, r"title must be a str; got NoneType"),
    ({"summary_lines": "one line"}, rl.ReplensError, r"summary_lines must be a sequence of str.*got str.*summary_lines=\[\.\.\.\]"),
    ({"summary_lines": ["ok", 3]}, rl.ReplensError, r"summary_lines\[1\] must be a str; got int"),
    ({"matrices": [("caption", "matrix")]}, rl.ReplensError, r"matrices\[0\] must be a \(caption, SimilarityMatrix, measure name\) triple"),
    ({"matrices": [("caption", np.eye(3), "linear_cka")]}, rl.ReplensError, r"matrices\[0\]\[1\] must be a SimilarityMatrix.*got ndarray"),
    ({"matrices": [(1, "MATRIX", "linear_cka")]}, rl.ReplensError, r"matrices\[0\]\[0\] \(the caption\) must be a str"),
    ({"matrices": [("c", "MATRIX", "rbf_cka")]}, rl.UnknownOptionError, r"matrices\[0\]\[2\]: measure 'rbf_cka' is not in this matrix; it holds linear_cka, cca_mean_rho, pwcca"),
    ({"tables": [("caption", pd.Series([1.0]))]}, rl.ReplensError, r"tables\[0\]\[1\] must be a pandas\.DataFrame; got Series\. Convert a Series with \.to_frame\(\)"),
    ({"tables": [pd.DataFrame()]}, rl.ReplensError, r"tables\[0\] must be a \(caption, pandas\.DataFrame\) pair"),
    ({"tables": [(None, pd.DataFrame())]}, rl.ReplensError, r"tables\[0\]\[0\] \(the caption\) must be a str"),
    ({"manifest": [("seed", 0)]}, rl.ReplensError, r"manifest must be a dict \(or None\); got list"),
])
def test_bad_arguments_raise_before_anything_is_written(tmp_path, overrides, error, message):
    matrix, overrides = _matrix(), dict(overrides)
    path = tmp_path / overrides.pop("path", "report.html")
    if "matrices" in overrides:  # "MATRIX" stands for a real SimilarityMatrix
        overrides["matrices"] = [tuple(matrix if isinstance(part, str) and part == "MATRIX" else part
                                       for part in entry) for entry in overrides["matrices"]]
    with pytest.raises(error, match=message):
        _report(path, matrix, **overrides)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------
# Headless Chromium

CHROMIUM = Path("/usr/bin/chromium")
needs_chromium = pytest.mark.skipif(not CHROMIUM.exists(), reason="chromium not installed (.ci/run installs it)")
WINDOW = (1200, 2000)
# Chromium's --remote-debugging-pipe reads commands on fd 3 and writes replies on fd 4. This
# trampoline moves the pipe ends there and execs Chromium (same pid): unlike preexec_fn it
# is safe when the test process has threads. Both ends go above 9 first, so neither
# overwrites the other when one of them already is 3 or 4.
_ON_FDS_3_AND_4 = """
import fcntl, os, sys
ends = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]
for target, end in zip((3, 4), ends):
    os.dup2(end, target)
for fd in set(ends + [int(fd) for fd in sys.argv[1:3]]) - {3, 4}:
    os.close(fd)
os.execv(sys.argv[3], sys.argv[3:])
"""


class Chromium:
    """Headless Chromium driven over the DevTools protocol on a pipe; standard library only.

    Every event is kept in `events`; a JavaScript dialog (alert, confirm) is dismissed at
    once so the page cannot hang, and stays recorded as a ``Page.javascriptDialogOpening``
    event for the tests to find.
    """

    def __init__(self, profile: Path, log: Path) -> None:
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()
        with open(log, "wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _ON_FDS_3_AND_4, str(to_browser_read), str(from_browser_write),
                 str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
                 f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--user-data-dir={profile}",
                 "--remote-debugging-pipe", "about:blank"],
                stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr,
                pass_fds=(to_browser_read, from_browser_write), start_new_session=True)
        os.close(to_browser_read)
        os.close(from_browser_write)
        self.events: list[dict[str, Any]] = []
        self._buffer = b""
        self._next_id = 0

    def send(self, method: str, params: dict[str, Any] | None = None, session: str | None = None) -> int:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def call(self, method: str, params: dict[str, Any] | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict[str, Any]:
        """Send a command and return its result; events that arrive meanwhile are kept."""
        wanted = self.send(method, params, session)
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline, method)
            if message.get("id") == wanted:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def wait_for(self, event: str, session: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            message = self._receive(deadline, event)
            if message.get("method") == event and message.get("sessionId") == session:
                return message

    def _receive(self, deadline: float, waiting_for: str) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([self._from_browser], [], [], max(remaining, 0))
            if not ready:
                raise TimeoutError(f"Chromium sent nothing for {waiting_for} in time")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise EOFError(f"Chromium closed the pipe while we waited for {waiting_for}")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\0")
        message = json.loads(raw)
        if "method" in message:
            self.events.append(message)
            if message["method"] == "Page.javascriptDialogOpening":
                self.send("Page.handleJavaScriptDialog", {"accept": False}, message.get("sessionId"))
        return message

    def open(self, url: str) -> str:
        """A new tab showing `url`, loaded (load event fired); returns its session id."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable", session=session)
        self.call("Emulation.setDeviceMetricsOverride", {"width": WINDOW[0], "height": WINDOW[1],
                                                         "deviceScaleFactor": 1, "mobile": False}, session)
        self.call("Page.navigate", {"url": url}, session)
        self.wait_for("Page.loadEventFired", session)
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True}, session)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def problems(self, session: str) -> list[str]:
        """Console errors, uncaught exceptions, error log entries and dialogs of one tab."""
        found = []
        for event in self.events:
            if event.get("sessionId") != session:
                continue
            method, params = event["method"], event["params"]
            if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
                found.append(f"console.{params['type']}: {params['args']}")
            elif method == "Runtime.exceptionThrown":
                found.append(f"exception: {params['exceptionDetails']}")
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(f"log: {params['entry']['text']}")
            elif method == "Page.javascriptDialogOpening":
                found.append(f"dialog {params['type']}: {params['message']}")
        return found

    def screenshot(self, session: str, path: Path) -> Path:
        """The whole page, not only the window, as a PNG."""
        height = self.evaluate(session, "document.documentElement.scrollHeight")
        shot = self.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": WINDOW[0], "height": height, "scale": 1}}, session)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.process.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)  # the session we started, nothing else
            self.process.wait()
        finally:
            os.close(self._to_browser)
            os.close(self._from_browser)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("chromium not installed (.ci/run installs it)")
    folder = tmp_path_factory.mktemp("chromium")
    browser = Chromium(folder / "profile", folder / "chromium.log")
    yield browser
    browser.close()


IMAGES_DECODED = """Promise.all(Array.from(document.images, img => img.decode().then(
    () => ({ok: true, width: img.naturalWidth, height: img.naturalHeight}),
    error => ({ok: false, error: String(error)}))))"""


@needs_chromium
def test_browser_decodes_every_image_without_console_errors(chromium, tmp_path):
    matrix = _matrix()
    per_layer = pd.DataFrame({"layer": list(matrix.layers_a), "best_cka": matrix["linear_cka"].max(axis=1)})
    path = _report(tmp_path / "report.html", matrix,
                   tables=[("per layer", per_layer), ("every value", matrix.to_dataframe())])
    session = chromium.open(path.as_uri())

    images = chromium.evaluate(session, IMAGES_DECODED)
    assert len(images) == len(matrix.measures)
    assert all(image["ok"] and image["width"] > 0 and image["height"] > 0 for image in images), images
    assert chromium.problems(session) == []
    assert chromium.evaluate(session, "document.scripts.length") == 0
    headings = chromium.evaluate(session, "Array.from(document.querySelectorAll('h2'), h => h.textContent)")
    assert headings == ["Summary", "Similarity matrices", "Tables", "Manifest"]
    tops = chromium.evaluate(session, "Array.from(document.querySelectorAll('figure.heatmap'), "
                                      "f => Math.round(f.getBoundingClientRect().top))")
    assert tops[0] == tops[1], "two small heatmaps fit side by side in a 1200 px window"
    assert chromium.evaluate(session, "document.documentElement.scrollWidth") <= WINDOW[0]

    shot = chromium.screenshot(session, tmp_path / "report.png")
    assert shot.read_bytes().startswith(PNG_SIGNATURE)
    print(f"screenshot: {shot}")


@needs_chromium
def test_browser_shows_a_script_layer_name_as_text(chromium, tmp_path):
    matrix = _matrix(names_b=("block0", XSS_NAME, "block2"))
    path = _report(tmp_path / "report.html", matrix, title=f"report {XSS_NAME}",
                   manifest={"layer": XSS_NAME})
    session = chromium.open(path.as_uri())

    visible = chromium.evaluate(session, "document.body.innerText")
    # the heading, one tidy-table cell per (measure, layer of A), the manifest entry
    assert visible.count(XSS_NAME) == 1 + len(matrix.measures) * len(matrix.layers_a) + 1
    assert chromium.evaluate(session, "document.querySelector('h1').textContent") == f"report {XSS_NAME}"
    assert chromium.evaluate(session, "document.title") == f"report {XSS_NAME}"
    assert chromium.evaluate(session, "document.scripts.length") == 0
    assert chromium.problems(session) == []  # no alert dialog, no refused inline script
    chromium.screenshot(session, tmp_path / "report.png")


@needs_chromium
def test_browser_harness_sees_a_script_an_alert_and_a_broken_image(chromium, tmp_path):
    # The two tests above pass when nothing is reported; this shows the harness would report.
    page = tmp_path / "bad.html"
    page.write_text("<!DOCTYPE html><title>bad</title><img src='data:image/png;base64,AAAA'>"
                    "<script>console.error('boom'); alert(1)</script>")
    session = chromium.open(page.as_uri())
    problems = chromium.problems(session)
    assert any(p.startswith("console.error") and "boom" in p for p in problems), problems
    assert any(p.startswith("dialog alert: 1") for p in problems), problems
    images = chromium.evaluate(session, IMAGES_DECODED)
    assert images and not images[0]["ok"]


# ---------------------------------------------------------------------------------------
# Values tables beside the heatmaps (issue 10, item 13)

def _uninformative_matrix() -> rl.SimilarityMatrix:
    """3 x 3 layers of 40 examples, widths 5, 30, 36: PWCCA is forced where the widths sum past 39."""
    rng = np.random.default_rng(11)
    layers = [("narrow", rng.standard_normal((40, 5))), (XSS_NAME, rng.standard_normal((40, 30))),
              ("wide.2", rng.standard_normal((40, 36)))]
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rl.UninformativeWarning)
        return rl.compare(layers, measures=("linear_cka", "pwcca"), progress=False)


def test_value_tables_one_per_heatmap_in_the_matrix_order(tmp_path):
    matrix = _uninformative_matrix()
    path = write_report(tmp_path / "r.html", title="t", matrices=[(m, matrix, m) for m in matrix.measures],
                        value_tables=True)
    page = _parse(path)
    assert len(page.tables) == len(page.imgs) == 2
    escaped_names = list(matrix.layers_b)
    for table, measure in zip(page.tables, matrix.measures):
        assert table["thead"] == [["A \\ B", *escaped_names]]
        assert [row[0] for row in table["tbody"]] == list(matrix.layers_a)  # names back as text
        numbers = [[float(cell.rstrip("\N{DAGGER}")) for cell in row[1:]] for row in table["tbody"]]
        assert np.allclose(numbers, matrix[measure], atol=5e-5, rtol=0)
        marked = np.array([[cell.endswith("\N{DAGGER}") for cell in row[1:]] for row in table["tbody"]])
        assert np.array_equal(marked, matrix.uninformative_mask(measure))
    assert matrix.uninformative_mask("pwcca").tolist() == [[False, False, True], [False, True, True],
                                                           [True, True, True]]  # 5 + 30 = 35 <= 39
    assert "Kornblith et al. 2019, Theorem 1" in path.read_text(encoding="utf-8")


def test_value_tables_say_nothing_of_uninformative_entries_when_there_are_none(tmp_path):
    matrix = _matrix()
    path = write_report(tmp_path / "r.html", title="t", matrices=[(m, matrix, m) for m in matrix.measures],
                        value_tables=True)
    text = path.read_text(encoding="utf-8")
    assert len(_parse(path).tables) == len(matrix.measures)
    assert "uninformative" not in text.split("</style>", 1)[1]


def test_compare_outputs_put_the_values_beside_each_heatmap(tmp_path):
    from replens.report import write_outputs

    matrix = _uninformative_matrix()
    write_outputs(matrix, tmp_path, _manifest(), report=True)
    text = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert text.count('<div class="matrix-entry"><figure class="heatmap">') == 2
    assert text.count('<p class="note uninformative-note">') == 1
    assert html.escape(XSS_NAME) in text and XSS_NAME not in text


@needs_chromium
def test_browser_shows_values_beside_the_heatmap_and_greys_flagged_cells(chromium, tmp_path):
    from replens.report import write_outputs

    write_outputs(_uninformative_matrix(), tmp_path, _manifest(), report=True)
    session = chromium.open((tmp_path / "report.html").as_uri())
    boxes = chromium.evaluate(session, """Array.from(document.querySelectorAll('.matrix-entry'), entry => {
        const image = entry.querySelector('figure.heatmap').getBoundingClientRect();
        const table = entry.querySelector('figure.values').getBoundingClientRect();
        return {imageRight: image.right, tableLeft: table.left, imageTop: image.top, tableTop: table.top};
    })""")
    assert len(boxes) == 2
    for box in boxes:  # the table beside its image, not below it
        assert box["tableLeft"] >= box["imageRight"] and abs(box["tableTop"] - box["imageTop"]) < 2, box
    greys = chromium.evaluate(session, "Array.from(document.querySelectorAll('td.uninformative'), "
                                       "td => getComputedStyle(td).backgroundColor)")
    assert greys and set(greys) == {"rgb(214, 214, 214)"}
    visible = chromium.evaluate(session, "document.body.innerText")
    assert XSS_NAME in visible and chromium.evaluate(session, "document.scripts.length") == 0
    assert chromium.problems(session) == []
    assert chromium.evaluate(session, "document.documentElement.scrollWidth") <= WINDOW[0]
    chromium.screenshot(session, tmp_path / "values.png")
