"""The HTML report in a real headless browser (Chromium): the table, the figures and the item
browser render, and the browser's filters work. Skipped where no Chromium is installed; CI
installs it and requires it."""

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from instructscale.report import ReportConfig, build_report
from needs import needs
from report_synth import make_run

BROWSER = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "check_report_html.sh"
pytestmark = needs("chromium", BROWSER is not None, "apt-get install chromium fonts-noto-cjk (as root: make setup-full)")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    run = make_run(tmp_path_factory.mktemp("browser") / "run")
    return build_report(ReportConfig(run_dir=run, bootstrap_samples=200))


def test_check_script_renders_table_figures_and_items(report, tmp_path):
    res = subprocess.run(["bash", str(SCRIPT), report.files["html"], str(tmp_path)], capture_output=True, text=True,
                         timeout=240)
    assert res.returncode == 0, res.stdout + res.stderr
    dom = (tmp_path / "report.dom.html").read_text()
    assert "90 of 90 items" in dom
    shot = __import__("matplotlib.image", fromlist=["imread"]).imread(tmp_path / "report.png")[..., :3]
    # Figure 1's curve colour (#1f77b4) is on screen: the embedded PNG was decoded and drawn
    blue = np.all(np.abs(shot - np.array([0x1F, 0x77, 0xB4]) / 255) < 0.04, axis=-1)
    assert blue.sum() > 200
    green = np.all(np.abs(shot - np.array([0x17, 0x80, 0x3D]) / 255) < 0.04, axis=-1)  # an "improving" verdict
    assert green.sum() > 20


def test_item_browser_filters_from_the_address(report, tmp_path):
    url = Path(report.files["html"]).resolve().as_uri() + "#category=extraction&sort=gain&min=0.4"
    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path}",
                          "--dump-dom", url], capture_output=True, text=True, timeout=120).stdout
    count = re.search(r'id="item-count">(\d+) of 90 items', dom)
    assert count, dom[-2000:]
    shown = re.findall(r'<option value="([^"]+)"[^>]*>([+-]\d\.\d\d)\s+\[(\w+)\]', dom)
    assert len(shown) == int(count.group(1)) > 0
    assert {cat for _, _, cat in shown} == {"extraction"}
    gains = [float(g) for _, g, _ in shown]
    assert gains == sorted(gains, reverse=True) and min(gains) >= 0.4
    assert re.search(r"<h3>" + re.escape(shown[0][0]) + r" \(extraction\)</h3>", dom)  # first match is displayed


def test_an_unbroken_long_answer_wraps_and_judge_replies_show_at_1400px(tmp_path):
    """A base model's "ookook..." without a space must not push the score columns off a 1400 px
    window; the shown answer's judge replies are listed under it."""
    from instructscale.datafiles import read_records, write_jsonl
    from instructscale.records import Response

    run = make_run(tmp_path / "run")
    rows = [r.model_copy(update={"response": "ook" * 1500}) if r.item_id == "extraction-00" else r
            for r in read_records(run / "responses.jsonl", Response)]
    write_jsonl(run / "responses.jsonl", rows)
    html = Path(build_report(ReportConfig(run_dir=run, bootstrap_samples=200)).files["html"])
    probe = html.with_name("probe.html")
    probe.write_text(html.read_text(encoding="utf-8").replace(
        "</body>", '<script>document.body.setAttribute("data-overflow", String(document.documentElement.scrollWidth'
        ' - window.innerWidth));</script></body>'), encoding="utf-8")
    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp_path / 'u'}",
                          "--window-size=1400,900", "--dump-dom", probe.resolve().as_uri() + "#sort=id"],
                         capture_output=True, text=True, timeout=120).stdout
    assert "<h3>extraction-00 (extraction)</h3>" in dom, dom[-2000:]
    overflow = re.search(r'data-overflow="(-?\d+)"', dom)
    assert overflow and int(overflow.group(1)) <= 0, dom[-2000:]
    assert "judge-llm: 3 replies" in dom and "repeat 2, score" in dom
