"""The reports as a person sees them: headless Chromium driven by Playwright.

Needs Debian's chromium (`apt-get install chromium`, done by .ci/run). Without it these tests skip
locally, but fail in CI (CI=true), where a missing browser is a broken setup, not a reason to skip.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from autograder import batch, report
from autograder.rubric import CHECK_IDS

pytestmark = pytest.mark.slow  # real notebooks in real kernels

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

if not CHROMIUM:
    if os.environ.get("CI"):
        raise RuntimeError("chromium is not installed: .ci/run must apt-get install it")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)

playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-quic"])
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def reports(graded, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    paths = {}
    for name in ("equivalent_spellings", "pooling_after_the_last_conv", "lesson_test_acc_slip"):
        paths[name], _ = report.write(graded(name), folder, name)
    return paths


def open_page(browser, path: Path):
    """A page with every console error and every network request recorded."""
    page = browser.new_page(viewport={"width": 1000, "height": 900})
    page.errors, page.requests = [], []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("request", lambda req: page.requests.append(req.url))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page


def off_machine(urls: list[str]) -> list[str]:
    return [u for u in urls if not u.startswith(("file://", "data:", "about:"))]


def tab_through(page, limit: int = 200) -> set[str]:
    """The hrefs that keyboard focus reaches by pressing Tab."""
    reached = set()
    for _ in range(limit):
        page.keyboard.press("Tab")
        href = page.evaluate("document.activeElement && document.activeElement.getAttribute('href')")
        if href:
            reached.add(href)
    return reached


@pytest.mark.parametrize("name", ["equivalent_spellings", "pooling_after_the_last_conv"])
def test_report_reads_well_in_a_browser(browser, reports, name):
    page = open_page(browser, reports[name])
    assert page.errors == []
    assert off_machine(page.requests) == []
    checks = page.locator("li.check")
    assert checks.count() == len(CHECK_IDS)
    for i in range(checks.count()):
        assert checks.nth(i).is_visible()
        assert checks.nth(i).locator(".verdict").inner_text().strip()
    for chart in page.locator("svg.chart").all():
        box = chart.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50
    links = set(page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"))
    assert links and tab_through(page) >= links
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report-{name}.png"), full_page=True)
    page.close()


def test_mistakes_are_marked_in_the_layer_table(browser, reports):
    page = open_page(browser, reports["pooling_after_the_last_conv"])
    moved = page.locator('table.layers tr[data-op="moved"]')
    assert moved.count() == 1 and "MaxPooling2D" in moved.inner_text()
    assert page.locator("table.layers mark").count() >= 3
    assert page.locator('li.check[data-status="partial"]').count() >= 1
    page.close()
    page = open_page(browser, reports["equivalent_spellings"])
    assert page.locator("table.layers mark").count() == 0  # nothing differs, nothing marked
    page.close()


def test_report_prints_to_pdf_with_the_layer_table(browser, reports):
    page = open_page(browser, reports["lesson_test_acc_slip"])
    page.emulate_media(media="print")
    assert page.locator("nav").is_hidden()  # no links in print
    assert page.locator("details pre").first.is_visible()  # tracebacks unfold on paper
    table = page.locator("table.layers").bounding_box()
    assert table["width"] <= 1000
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "report-lesson_test_acc_slip.pdf").write_bytes(pdf)
    page.close()


def test_class_summary_sorts_and_links(browser, graded, tmp_path):
    names = ["equivalent_spellings", "no_softmax", "batch_32"]
    results = {}
    entries = []
    for name in names:
        entry = batch.Entry(student=name, path=Path(name), file=f"{name}.ipynb", stem=name)
        entries.append(entry)
        results[entry] = report.to_dict(graded(name))
        report.write_dict(results[entry], tmp_path, name)
    from autograder import rubric, locations

    summary = batch.summarise(entries, results, {}, rubric.load(locations.RUBRIC))
    (tmp_path / "index.html").write_text(report.render_class(summary))
    page = open_page(browser, tmp_path / "index.html")
    assert page.errors == [] and off_machine(page.requests) == []
    first = lambda: page.locator("#class-table tbody tr").first.locator("td").first.inner_text()  # noqa: E731
    page.get_by_role("button", name="Score").click()  # highest first
    assert first().startswith("equivalent_spellings")
    page.get_by_role("button", name="Score").click()  # lowest first
    assert first().startswith("no_softmax")
    assert page.locator("svg.chart").bounding_box()["height"] > 50
    assert tab_through(page) >= {f"{n}.report.html" for n in names}
    page.locator("a[href='batch_32.report.html']").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("batch_32.report.html")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "class-summary.png"), full_page=True)
    page.close()
