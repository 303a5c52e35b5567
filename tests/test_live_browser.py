"""The live widget in a real JupyterLab, driven through Debian's chromium by playwright.

Starts a JupyterLab server on 127.0.0.1 with a token over a temporary copy of tests/browser_live.ipynb,
runs all its cells (a lens trains on synthetic activations with LiveTrainingPlot attached), and checks
from the page that the plot rendered and that its points grew while training ran. Screenshots go to
tests/artifacts/. Every wait is bounded; the server is stopped by its PID whatever happens.
"""
import json, os, secrets, shutil, signal, socket, subprocess, time, urllib.request
from pathlib import Path
import pytest
from conftest import ROOT, VENV_BIN

CHROMIUM = Path("/usr/bin/chromium")
NOTEBOOK = ROOT / "tests" / "browser_live.ipynb"
ARTIFACTS = ROOT / "tests" / "artifacts"
DONE = "LIVE-DEMO-DONE"  # printed by the notebook's last cell
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-extensions", "--disable-sync", "--no-first-run", "--mute-audio"]
# what the page is asked, every sample: plotted points, finished?, any error output
PAGE_PROBE = """() => {
  const outs = [...document.querySelectorAll('.jp-OutputArea-output')];
  return {points: document.querySelectorAll('.js-plotly-plot .scatterlayer .point').length,
          done: outs.some(o => o.textContent.includes('%s')),
          // JupyterLab renders a cell's exception as stderr text holding IPython's traceback
          error: outs.filter(o => o.dataset.mimeType === 'application/vnd.jupyter.stderr'
                                  && o.textContent.includes('Traceback (most recent call last)'))
                     .map(o => o.textContent).join('\\n').slice(0, 3000)};
}""" % DONE
KERNEL_IDLE = """() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return !!(w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel
            && w.sessionContext.session.kernel.status === 'idle'); }"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(folder, port, token):
    "Start JupyterLab over `folder`: kernels import this checkout's hatcat_stier; nothing is written outside `folder`."
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"),
                     ("JUPYTERLAB_SETTINGS_DIR", "settings"), ("JUPYTERLAB_WORKSPACES_DIR", "workspaces")):
        env[var] = str(folder / ".jupyter" / sub)
    # no news toast over the screenshot, and no request to the web
    notification = folder / ".jupyter/settings/@jupyterlab/apputils-extension/notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    cmd = [str(VENV_BIN / "jupyter"), "lab", "--no-browser", "--allow-root", "--ip", "127.0.0.1", "--port", str(port),
           f"--ServerApp.token={token}", "--ServerApp.port_retries=0", f"--ServerApp.root_dir={folder}",
           "--LabApp.expose_app_in_browser=True"]
    with open(folder / "jupyter.log", "w") as log:
        return subprocess.Popen(cmd, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(proc, port, token, log, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=5) as r:
                if r.status == 200: return
        except OSError: time.sleep(0.5)
    pytest.fail(f"jupyter lab did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


def stop(proc):
    "Stop the server by its PID: SIGTERM lets it shut its kernels down; SIGKILL if it hangs."
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGTERM)
        try: proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def watch_training(page, timeout=150):
    "Sample the page until the notebook prints DONE; returns the [(seconds, points)] seen while training ran."
    samples, start = [], time.monotonic()
    while time.monotonic() - start < timeout:
        state = page.evaluate(PAGE_PROBE)
        if state["error"]: pytest.fail(f"the notebook reported an error:\n{state['error']}")
        if state["done"]: return samples
        samples.append((round(time.monotonic() - start, 1), state["points"]))
        page.wait_for_timeout(400)
    pytest.fail(f"training did not finish within {timeout}s; points seen: {samples[-20:]}")


def test_notebook_is_committed_clean():
    nb = json.loads(NOTEBOOK.read_text())
    assert "widgets" not in nb["metadata"], "saved widget state in tests/browser_live.ipynb"
    assert not any(c.get("outputs") for c in nb["cells"]), "tests/browser_live.ipynb has outputs"


def test_live_plot_grows_in_jupyterlab(tmp_path):
    if not CHROMIUM.exists(): pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    port, token = free_port(), secrets.token_hex(16)
    ARTIFACTS.mkdir(exist_ok=True)
    t0 = time.monotonic()
    proc = start_lab(tmp_path, port, token)
    try:
        wait_until_up(proc, port, token, tmp_path / "jupyter.log")
        t_server = time.monotonic() - t0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page(viewport={"width": 1500, "height": 1100})
                page.set_default_timeout(60_000)
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}")
                page.wait_for_function(KERNEL_IDLE, timeout=120_000, polling=500)
                t_kernel = time.monotonic() - t0
                # not awaited: the command's promise resolves only when every cell has run
                page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
                try: samples = watch_training(page)
                except BaseException:
                    page.screenshot(path=str(ARTIFACTS / "live_browser_failure.png"))
                    raise
                page.wait_for_timeout(1000)  # let the last update render
                final = page.evaluate(PAGE_PROBE)["points"]
                widget = page.locator(".widget-vbox").first
                widget.scroll_into_view_if_needed()
                page.screenshot(path=str(ARTIFACTS / "live_browser_page.png"))
                widget.screenshot(path=str(ARTIFACTS / "live_browser_widget.png"))
                title = page.locator(".js-plotly-plot .gtitle").first.text_content()
                table = page.locator(".widget-html table").first.text_content()
                options = page.locator(".widget-dropdown select option").all_text_contents()
                # the static report of the same runs renders offline, one figure per lens
                page.goto((tmp_path / "report.html").as_uri())
                page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length == 2", timeout=60_000)
                report_points = page.evaluate(
                    "() => document.querySelectorAll('.js-plotly-plot .scatterlayer .point').length")
                page.screenshot(path=str(ARTIFACTS / "live_browser_report.png"), full_page=True)
            finally:
                browser.close()
        print(f"server up {t_server:.1f}s, kernel idle {t_kernel:.1f}s, "
              f"training watched {samples[-1][0] if samples else 0}s, "
              f"total {time.monotonic() - t0:.1f}s; points over time {samples}; final {final}")
    finally:
        stop(proc)
    counts = [n for _, n in samples if n]
    assert counts, f"the plot never rendered a point while training ran: {samples}"
    rises = sum(b > a for a, b in zip(counts, counts[1:]))
    assert rises >= 5, f"points did not grow while training ran: {samples}"
    assert final >= max(counts[-3:]), (final, samples)
    assert "tier in force" in title, title
    assert "holdout F1" in table and "exponential" in table and "baseline" in table, table
    assert len(options) == 2, options
    assert report_points > final, (report_points, final)  # the report also draws the other lens


def test_report_overview_draws_in_chromium(tmp_path):
    "A comparison's report.html, opened from disk in chromium: the four overview figures draw what they should."
    if not CHROMIUM.exists(): pytest.fail(f"{CHROMIUM} is missing: run `make browser` (apt-get install chromium)")
    import sys
    from hatcat_stier.compare import compare_strategies
    from hatcat_stier.options import RunOptions
    from hatcat_stier.testing import HashedWords
    from hatcat_stier.simplexes import load_simplexes
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from report_screenshot import screenshot
    words = HashedWords()
    compare_strategies(load_simplexes()[:2], options=RunOptions(layer=0, max_samples=160, holdout_size=64),
                       run_dir=tmp_path, seeds=(0, 1), source=words, read=lambda prompts, meta: words(prompts),
                       progress=False)
    ARTIFACTS.mkdir(exist_ok=True)
    distributions, gap, curves, heatmap = screenshot(tmp_path / "report.html", ARTIFACTS / "report_overview.png")
    lenses = 2 * 3 * 3 * 2  # simplexes x poles x strategies x seeds
    assert distributions["bars"] > 0 and gap["points"] == lenses, (distributions, gap)
    assert curves["points"] > 0 and curves["bands"] >= 3, curves  # one band per strategy at least
    assert heatmap["heatmaps"] == 3, heatmap  # one panel per strategy
