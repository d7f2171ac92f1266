"""A real browser: JupyterLab served on 127.0.0.1, headless Debian Chromium driven by Playwright, runs the magics
tutorial (plus a cell that shows a TrainingPanel and a ResultsPanel) and checks that the panels rendered as widgets,
with no "Error displaying widget". The screenshot goes to the test's temporary folder (a test run leaves the clone as
it was); `python bench/browser_panel.py` runs this test to keep one in bench/results/browser_panel.png.

Chromium comes from apt (`apt-get install -y chromium`); Playwright's own browser download does not work here, so the
`playwright` package is pointed at /usr/bin/chromium.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIAL = ROOT / "nbs" / "tutorials" / "magics.ipynb"
SCREENSHOT_COPY = "MLTRAIN_BROWSER_SCREENSHOT"   # set (by bench/browser_panel.py): also copy the screenshot there
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SENTINEL = "PANELS-" + "RENDERED"        # built at run time, so the cell's source does not contain it

PANEL_CELLS = [
    "import warnings\nwarnings.simplefilter('ignore')\n"
    "from sklearn.datasets import load_iris\n"
    "from mltrain_nb.engine import MLTrainingEngine\n"
    "from mltrain_nb.panels import TrainingPanel, show_results\n"
    "panel_iris = load_iris(as_frame=True).frame.rename(columns={'target': 'species'})",
    "panel = TrainingPanel()\n"
    "panel_engine = MLTrainingEngine({'cv': 3, 'tracking': {'enabled': False},\n"
    "                                 'early_stopping': {'enabled': True, 'patience': 5}}, callbacks=[panel])\n"
    "panel_result = panel_engine.compare(panel_iris, 'species', models=['logistic_regression', 'lightgbm', 'random_forest'])\n"
    "panel.finish(panel_result);",
    "show_results(panel_result)",
    "print('PANELS-' + 'RENDERED')",
]


def _chromium() -> str:
    "The path of Debian's Chromium, installing it with apt when it is missing; skip only when that cannot be done."
    if Path(CHROMIUM).exists(): return CHROMIUM
    apt = shutil.which("apt-get")
    if apt and os.geteuid() == 0:
        subprocess.run([apt, "update"], capture_output=True, timeout=600)
        subprocess.run([apt, "install", "-y", "chromium"], capture_output=True, timeout=900)
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing and could not be installed with apt-get (install it: apt-get install -y chromium)")
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(root: Path) -> tuple[str, str]:
    "Write the notebook to run into `root`: the magics tutorial when there is one, then the panel cells. Returns (name, source)."
    if TUTORIAL.exists():
        nb, source = nbformat.read(TUTORIAL, as_version=4), "the magics tutorial"
    else:
        nb, source = nbformat.v4.new_notebook(), "a TrainingPanel notebook (the magics tutorial does not exist yet)"
        nb.cells.append(nbformat.v4.new_markdown_cell("# Live panels\nA training shown by `TrainingPanel`."))
    for c in nb.cells:
        if c.cell_type == "code": c.outputs, c.execution_count = [], None
    nb.cells += [nbformat.v4.new_code_cell(c) for c in PANEL_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata.setdefault("language_info", {"name": "python"})
    nb.metadata.pop("widgets", None)
    nbformat.write(nb, root / "panels_browser.ipynb")
    return "panels_browser.ipynb", source


@pytest.fixture
def lab(tmp_path):
    "A JupyterLab server on 127.0.0.1 with `tmp_path/root` as its root; shut down after the test."
    root = tmp_path / "root"
    root.mkdir()
    port = _free_port()
    settings = tmp_path / "user-settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(json.dumps({"fetchNews": "false"}))   # no news toast
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "MPLBACKEND": "Agg"}
    env.pop("MLFLOW_TRACKING_URI", None)
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--IdentityProvider.token=", "--ServerApp.password=", "--LabApp.expose_app_in_browser=True",
         f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0", "--LabApp.news_url=None",
         f"--LabApp.user_settings_dir={tmp_path / 'user-settings'}",
         "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
        + (["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []),
        cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
                    if r.status == 200: break
            except OSError: pass
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield url, root, tmp_path / "lab.log"
    finally:
        try:   # ask the server to stop (it shuts its kernels down), then make sure
            req = urllib.request.Request(f"{url}/api/shutdown", method="POST")
            urllib.request.urlopen(req, timeout=10)
            proc.wait(timeout=20)
        except Exception:
            proc.terminate()
            try: proc.wait(timeout=10)
            except subprocess.TimeoutExpired: proc.kill()
        log.close()


KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle' && w.content && w.content.widgets && w.content.widgets.length > 0;
}"""

STILL_RUNNING = """() => {
  const w = window.jupyterapp.shell.currentWidget;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  const pending = w.content.widgets.some(c => c.model.type === 'code' && c.promptNode && c.promptNode.textContent.includes('*'));
  return (k && k.status !== 'idle') || pending;
}"""


def test_panels_render_in_jupyterlab(lab, tmp_path):
    chromium = _chromium()
    screenshot = tmp_path / "browser_panel.png"
    from playwright.sync_api import sync_playwright
    url, root, lab_log = lab
    name, source = _notebook(root)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(f"{url}/lab/tree/{name}", wait_until="domcontentloaded", timeout=120_000)
            page.wait_for_function(KERNEL_IDLE, timeout=120_000, polling=500)
            page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
            deadline, idle_since = time.time() + 540, None
            while time.time() < deadline:
                if SENTINEL in page.inner_text(".jp-NotebookPanel"): break
                if page.evaluate(STILL_RUNNING): idle_since = None
                else:
                    idle_since = idle_since or time.time()
                    if time.time() - idle_since > 15: break      # stopped (an error) without reaching the end
                time.sleep(1)
            page.wait_for_timeout(1500)                           # let the last widget views settle
            text = page.inner_text(".jp-NotebookPanel")
            panel = page.locator(".mltrain-training-panel").first
            if panel.count(): panel.scroll_into_view_if_needed()
            page.screenshot(path=str(screenshot))
            counts = {sel: page.locator(sel).count() for sel in
                      (".jupyter-widgets", ".widget-image", ".widget-html", ".widget-tab",
                       ".mltrain-training-panel", ".mltrain-results-panel", ".mltrain-summary")}
        finally:
            browser.close()
    assert SENTINEL in text, (f"running {source} did not reach its end; last output:\n{text[-2500:]}\n"
                              f"server log:\n{lab_log.read_text()[-2000:]}")
    assert "Error displaying widget" not in text
    assert "Traceback" not in text, text[-3000:]
    assert counts[".jupyter-widgets"] > 0 and counts[".widget-image"] > 0, counts
    assert counts[".mltrain-training-panel"] >= 1 and counts[".mltrain-results-panel"] >= 1, counts
    assert counts[".mltrain-summary"] >= 1, counts                    # the static record renders too
    assert screenshot.stat().st_size > 10_000
    if os.environ.get(SCREENSHOT_COPY): shutil.copyfile(screenshot, os.environ[SCREENSHOT_COPY])
