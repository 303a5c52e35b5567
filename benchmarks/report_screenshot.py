"""Open a comparison's report.html in Debian's chromium, check its overview figures drew, and save a screenshot.

    .venv/bin/python benchmarks/report_screenshot.py runs/demo/falloff/report.html benchmarks/report_overview.png

Prints what each of the four overview figures drew (bars, points, filled bands, heatmap panels); the browser test in
tests/test_live_browser.py asserts on the same probe.
"""
import json, sys
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-extensions", "--no-first-run"]
# per overview figure: what plotly drew into the page
PROBE = """() => [...document.querySelectorAll('.js-plotly-plot')].slice(0, 4).map(d => ({
  bars: d.querySelectorAll('.barlayer .point').length,
  points: d.querySelectorAll('.scatterlayer .point').length,
  bands: d.querySelectorAll('.scatterlayer .js-fill').length,
  heatmaps: d.querySelectorAll('.hm image').length}))"""

def screenshot(report, out, width:int=1300)->list:
    "Draw `report` in chromium, save the page (overview and tables; per-lens parts stay folded) to `out`; the probe."
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(Path(report).resolve().as_uri())
            page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4",
                                   timeout=60_000)
            Path(out).parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(out), full_page=True)
            return page.evaluate(PROBE)
        finally: browser.close()

if __name__ == "__main__":
    print(json.dumps(screenshot(*sys.argv[1:3]), indent=1))
