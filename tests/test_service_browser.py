"""A student's page in a real browser (headless Chromium, Playwright): open the link, upload, watch the
status move, read the report in place; on a 390 px phone nothing scrolls sideways.

Needs Debian's chromium, like test_browser.py: skipped without it locally, a failure in CI."""

from __future__ import annotations

import pytest

import chromium
from conftest import ROOT

pytestmark = pytest.mark.slow  # a real notebook in a real kernel

chromium.require()
playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def phone():
    with chromium.launched() as browser:
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.errors = []
        page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        yield page


def fits(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_student_uploads_watches_the_status_and_reads_the_report(service, phone):
    phone.goto(f"{service.url}/s/{service.tokens['eve']}")
    assert "/s/" not in phone.url  # the secret is not left in the address bar
    assert phone.get_by_text("Eve Adeyemi").count() == 1 and fits(phone)
    phone.set_input_files("#notebook", str(ROOT / "assignment" / "examples" / "cleo_CNN.ipynb"))
    phone.wait_for_selector("#message.good")
    seen = set()
    status = phone.locator("#latest-status")
    for _ in range(1200):  # 10 minutes at most
        if status.count():
            seen.add(status.get_attribute("data-status"))
        if "graded" in seen:
            break
        phone.wait_for_timeout(500)
    assert "graded" in seen and seen & {"queued", "running"}, seen  # it moved without a reload
    report = phone.frame_locator("#report")
    report.locator(".score .big").wait_for()
    assert report.locator(".score .big").inner_text() == "80"
    assert phone.locator("#history tbody tr").count() == 1
    assert fits(phone)
    frame = phone.frame(url=lambda url: "/reports/" in url)
    assert frame.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # the report fits too
    assert phone.errors == []  # no script refused by the page's policy, no error
    if (ROOT / "test-artifacts").is_dir():  # for a person to look at, beside test_browser.py's
        phone.screenshot(path=str(ROOT / "test-artifacts" / "service-phone.png"), full_page=True)


def test_a_wrong_file_is_explained_on_the_page(service, phone):
    phone.goto(f"{service.url}/s/{service.tokens['eve']}")
    phone.set_input_files("#notebook", str(ROOT / "README.md"))
    message = phone.locator("#message.bad")
    message.wait_for()
    assert "README.md is not a Jupyter notebook" in message.inner_text()
    assert "Nothing was submitted" in message.inner_text() and fits(phone)


def test_the_instructor_sees_the_class_and_its_summary_runs_its_own_script_only(service, phone):
    phone.errors.clear()
    phone.goto(f"{service.url}/s/{service.tokens['instructor']}")
    eve = phone.locator("#class tbody tr", has_text="Eve Adeyemi")
    eve.wait_for()
    assert "80 / 100" in eve.inner_text()  # graded in the first test of this module
    assert eve.get_by_role("button", name="Re-grade").count() == 1 and fits(phone)
    phone.goto(service.url + "/class")  # batch's class page, with the service's report links
    assert phone.locator('a[href^="/reports/"]').count() >= 2
    phone.locator("#class-table th button").first.click()  # its sorting script, allowed by its hash
    assert phone.errors == [] and fits(phone)
