"""The reports opened in a real headless Chromium: the timeline and the charts are there and rendered, with
no script error, failed resource or console error/warning on the page.

A copy of each page gets a probe script that, once the page has loaded, writes what the browser laid out
(image natural sizes, table sizes) into the DOM, which --dump-dom then prints. The report itself carries no
script. Network is cut (every host name fails to resolve), so a page that needed it would show it.
Skipped only when no Chromium binary is found (.ci/run installs Debian's `chromium`).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_report_bundles import batch_bundle, task_bundle
from tritonwright.report import write_batch_report, write_task_report

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM = next((path for name in BROWSERS if (path := shutil.which(name))), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=f"no Chromium binary on PATH (looked for {', '.join(BROWSERS)})")

BROWSER_TIMEOUT_S = 90  # a cold headless start takes a few seconds; this bounds a hung browser
VIRTUAL_TIME_MS = 5000  # lets load-time work (image decode, the probe) finish before the dump
SUMMARY_MAX_PX = 60  # a folded <details> shows its summary: one or two 14 px lines, far below its 6-row table
WINDOW = (1280, 2000)  # desktop width, tall enough to hold the header, the chart and the timeline

# In <head>, before anything loads: every script error, failed resource (capture phase) and console.error or
# console.warn call is collected, so the load probe can report that the page rendered without any.
WATCH = """<script>
window.__errors = [];
window.addEventListener("error", (e) => window.__errors.push(e.message || ("failed to load " + ((e.target && (e.target.src || e.target.href)) || "?"))), true);
for (const level of ["error", "warn"]) { const orig = console[level]; console[level] = (...a) => { window.__errors.push(level + ": " + a.join(" ")); orig(...a); }; }
</script>
"""

PROBE = """<script>
window.addEventListener("load", () => {
  const box = (el) => { const r = el.getBoundingClientRect(); return {w: r.width, h: r.height}; };
  const facts = {
    images: [...document.images].map((i) => ({id: i.id, complete: i.complete, natural: [i.naturalWidth, i.naturalHeight], box: box(i)})),
    errors: window.__errors,
    tables: Object.fromEntries([...document.querySelectorAll("table[id]")].map((t) => [t.id, {rows: t.tBodies.length ? t.tBodies[0].rows.length : 0, box: box(t)}])),
    details: Object.fromEntries([...document.querySelectorAll("details[id]")].map((d) => [d.id, {open: d.open, box: box(d)}])),
  };
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(facts);
  document.body.appendChild(out);
});
</script>
"""


def _chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={tmp / 'profile'}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}", *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT_S, check=True)


def _probe(page: Path, tmp: Path) -> tuple[str, dict]:
    """The DOM Chromium built from a copy of `page` with the probe, and the probe's facts."""
    probed = page.with_name(page.stem + "-probe.html")
    text = page.read_text(encoding="utf-8")
    assert "<head>" in text and "</body>" in text
    probed.write_text(text.replace("<head>", "<head>" + WATCH, 1).replace("</body>", PROBE + "</body>"),
                      encoding="utf-8")
    dom = _chromium(tmp, f"--virtual-time-budget={VIRTUAL_TIME_MS}", "--dump-dom", probed.as_uri()).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, flags=re.S)
    assert found, "the probe did not run: the page did not load"
    facts = json.loads(html.unescape(found.group(1)))
    assert facts["errors"] == [], f"console or load errors in {page.name}: {facts['errors']}"
    return dom, facts


def _rendered(image: dict) -> bool:
    return image["complete"] and image["natural"][0] > 0 and image["natural"][1] > 0 and image["box"]["w"] > 0


def test_task_report_renders_timeline_and_chart(tmp_path: Path) -> None:
    page = write_task_report(task_bundle(), "23_Softmax", tmp_path / "out")[0]
    dom, facts = _probe(page, tmp_path)
    assert len(re.findall(r'<tr class="attempt"', dom)) == 8
    assert facts["tables"]["timeline"]["rows"] == 8 and facts["tables"]["timeline"]["box"]["h"] > 8 * 20
    assert facts["tables"]["configs-7"]["rows"] == 6  # the tuner step's configs: all there...
    folded = facts["details"]["configs-7-details"]  # ...folded away until opened: only the summary line shows
    assert not folded["open"] and 0 < folded["box"]["h"] < SUMMARY_MAX_PX, folded
    chart = next(i for i in facts["images"] if i["id"] == "speedup-chart")
    assert _rendered(chart), chart
    assert chart["natural"][0] >= 600  # the PNG decoded at its real size, not a broken-image icon


def test_task_report_screenshot_is_a_drawn_page(tmp_path: Path) -> None:
    import matplotlib.image

    page = write_task_report(task_bundle(), "23_Softmax", tmp_path / "out")[0]
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", page.as_uri())
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    colours = {tuple(p) for p in (pixels[::7, ::7, :3] * 255).astype(int).reshape(-1, 3)}
    assert len(colours) > 50, "a blank or unstyled page has only a few colours"


def test_batch_report_renders_tables_and_both_charts(tmp_path: Path) -> None:
    page = write_batch_report(batch_bundle(), tmp_path / "out", with_tasks=False)[0]
    _dom, facts = _probe(page, tmp_path)
    assert facts["tables"]["fast-p"]["rows"] == 4 and facts["tables"]["tasks"]["rows"] == 7
    images = {i["id"]: i for i in facts["images"]}
    assert set(images) == {"distribution-chart", "stages-chart"}
    assert all(_rendered(i) for i in images.values()), images
