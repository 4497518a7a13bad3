"""The reports as a person sees them: headless Chromium driven by Playwright.

Needs Debian's chromium (`apt-get install chromium`, done by .ci/run). Without it these tests skip
locally, but fail in CI (CI=true), where a missing browser is a broken setup, not a reason to skip.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import chromium
from autograder import classfolder, gradebook, report
from autograder.checks import CHECK_IDS

pytestmark = pytest.mark.slow  # real notebooks in real kernels

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

chromium.require()
playwright = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser():
    with chromium.launched() as browser:
        yield browser


@pytest.fixture(scope="module")
def reports(graded, tmp_path_factory):
    folder = tmp_path_factory.mktemp("reports")
    paths = {}
    for name in ("equivalent_spellings", "pooling_after_the_last_conv", "lesson_test_acc_slip", "no_softmax"):
        paths[name], _ = report.write(graded(name), folder, name)
    return paths


WIDTHS = {"desktop": 1280, "phone": 390}


def open_page(browser, path: Path, width: int = 1000):
    """A page with every console error and every network request recorded."""
    page = browser.new_page(viewport={"width": width, "height": 900})
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


# The size each piece of visible text is drawn at, in CSS pixels: an SVG's text is scaled with its chart.
TEXT_SIZES = """() => Array.from(document.querySelectorAll("body *")).filter(e =>
    !["TITLE", "STYLE", "SCRIPT", "title"].includes(e.tagName) && e.checkVisibility() &&
    Array.from(e.childNodes).some(n => n.nodeType === 3 && n.textContent.trim())).map(e => {
  let size = parseFloat(getComputedStyle(e).fontSize);
  const svg = e.ownerSVGElement;
  if (svg) size *= svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return [size, e.tagName + "." + (e.getAttribute("class") || "") + ": " + e.textContent.trim().slice(0, 40)];
})"""


def fits_the_screen(page, width: int) -> None:
    """No sideways scrolling of the page (wide tables scroll in their own box); every text at least 12 px."""
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    sizes = page.evaluate(TEXT_SIZES)
    assert sizes and [(size, what) for size, what in sizes if size < 11.95] == []
    assert any(what.startswith("text.") for _, what in sizes)  # the charts' labels are among them


def beside(page, table: str, lesson: int, yours: int, width: int) -> int:
    """Each row of a side-by-side table shows the student's value on the screen, next to the lesson's:
    the cells at the given positions are visible, inside the window's width, level with each other."""
    rows = page.locator(f"table.{table} tbody tr:not(.note)")
    for i in range(rows.count()):
        cells = rows.nth(i).locator("td")
        ref, stu = cells.nth(lesson), cells.nth(yours)
        assert stu.is_visible() and ref.is_visible()
        a, b = ref.bounding_box(), stu.bounding_box()
        assert 0 <= b["x"] and b["x"] + b["width"] <= width and 0 <= a["x"] and a["x"] + a["width"] <= width
        assert b["y"] < a["y"] + a["height"] and a["y"] < b["y"] + b["height"]  # on the same line
    return rows.count()


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
@pytest.mark.parametrize("name", ["equivalent_spellings", "pooling_after_the_last_conv", "no_softmax"])
def test_report_reads_well_in_a_browser(browser, reports, name, width):
    page = open_page(browser, reports[name], width)
    assert page.errors == []
    assert off_machine(page.requests) == []
    shown = page.eval_on_selector_all("#checks [data-check]", "els => els.map(e => e.dataset.check)")
    assert sorted(shown) == sorted(CHECK_IDS)  # every check once, passed ones in their short list
    for card in page.locator("li.check").all():
        assert card.is_visible() and card.locator(".verdict").inner_text().strip()
    fits_the_screen(page, width)
    for chart in page.locator("svg.chart").all():
        box = chart.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50
    links = set(page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))"))
    assert links and tab_through(page) >= links
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"report-{name}-{width}px.png"), full_page=True)
    page.close()


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_every_problem_is_one_click_from_the_summary_and_information_is_not_a_failure(browser, reports, width):
    page = open_page(browser, reports["no_softmax"], width)
    todo = page.locator("#fix-first li[data-problem]")
    problems = todo.evaluate_all("els => els.map(e => e.dataset.problem)")
    assert problems and "predict.digit3" not in problems
    for i, check_id in enumerate(problems):
        todo.nth(i).locator("a").click()
        card = page.locator(f'[id="check-{check_id}"]')
        assert card.is_visible() and card.get_attribute("data-status") in ("fail", "partial", "error")
        box = card.bounding_box()
        assert -2 <= box["y"] < 900  # scrolled into view (to the pixel)
    digit3 = page.locator('[data-check="predict.digit3"]')
    assert digit3.get_attribute("data-status") == "info" and "not yet" not in digit3.inner_text().lower()
    # The network-learns tip names the cause the settings check found, not the optimizer.
    learns = page.locator('[data-check="train.learns"] .hint')
    if learns.count():
        assert "softmax" in learns.inner_text() and "learning rate" not in learns.inner_text()
    # The probability bars are never cut: the guessed digit has the tallest of the student's bars.
    heights = page.eval_on_selector_all("#digit3 rect.stu", "els => els.map(e => e.getBBox().height)")
    guess = int(page.locator("#digit3 p strong").first.inner_text())
    assert heights[guess] == max(heights) and heights.count(max(heights)) == 1
    # The instructor's details are folded away for the student.
    assert not page.locator("details.teacher").evaluate("d => d.open")
    page.close()


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_every_table_shows_the_students_value_next_to_the_lessons(browser, reports, width):
    """#20 item 9: at 390 px too, nothing the student needs is off the screen in a scrolled box."""
    page = open_page(browser, reports["pooling_after_the_last_conv"], width)
    assert beside(page, "settings", 0, 1, width) == 8  # the th is the setting; then the lesson's, then yours
    assert beside(page, "layers", 1, 5, width) == 8  # #, the lesson's layer, output, weights; #, yours
    for box in page.locator("#settings .scroll, #layers .scroll").all():
        assert box.evaluate("b => b.scrollWidth <= b.clientWidth")  # nothing hidden to the right
    mark = page.locator("table.layers mark").first  # a difference is marked where the student sees it
    assert mark.is_visible() and mark.bounding_box()["x"] + mark.bounding_box()["width"] <= width
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


@pytest.fixture(scope="module")
def class_page(graded, tmp_path_factory):
    from autograder import locations, rubric

    folder = tmp_path_factory.mktemp("class")
    results, entries = {}, []
    for name in CLASS:
        entry = classfolder.Entry(student=name, path=Path(name), file=f"{name}.ipynb", stem=name)
        entries.append(entry)
        results[entry] = report.to_dict(graded(name))
        report.write_dict(results[entry], folder, name, instructor_copy=True)
    summary = gradebook.summarise(entries, results, {}, rubric.load(locations.RUBRIC))
    (folder / "index.html").write_text(report.render_class(summary))
    return folder / "index.html"


CLASS = ["equivalent_spellings", "no_softmax", "batch_32"]


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_the_class_page_fits_a_phone_and_a_desktop(browser, class_page, width):
    page = open_page(browser, class_page, width)
    assert page.errors == [] and off_machine(page.requests) == []
    fits_the_screen(page, width)
    rows = page.locator("table.checks-table tbody tr").evaluate_all("els => els.map(e => e.dataset.check)")
    assert rows[0] == "train.learns" and "predict.digit3" not in rows  # most points lost first; no 0-point check
    assert page.locator('tr[data-check="fit.batch_size"] a[href="batch_32.instructor.html"]').count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"class-summary-{width}px.png"), full_page=True)
    page.close()


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_the_instructor_picks_the_class_tables_columns_and_is_told_how_many_are_shown(browser, class_page, width):
    """#20 item 9: on a phone Student, Score and Status, and the picker says more exist and shows them."""
    page = open_page(browser, class_page, width)
    headers = page.locator("#class-table thead th")
    total = headers.count()
    shown = 3 if width < 600 else total
    picker = page.locator("#column-picker summary")
    assert picker.is_visible() and picker.inner_text() == f"Showing {shown} of {total} columns: choose which"
    assert [headers.nth(i).is_visible() for i in range(total)] == [True] * shown + [False] * (total - shown)
    table = page.locator("#students .scroll")
    if width < 600:
        assert table.evaluate("b => b.scrollWidth <= b.clientWidth")  # what is shown fits, none of it cut off
    picker.click()
    page.locator("#column-picker label", has_text="Each layer has the right settings").locator("input").set_checked(True)
    column = page.locator("#class-table thead th[title='Each layer has the right settings']")
    assert column.is_visible() and column.bounding_box()["x"] + column.bounding_box()["width"] <= width
    assert picker.inner_text().startswith(f"Showing {min(shown + 1, total)} of {total}")
    page.locator("#column-picker label", has_text="Score").locator("input").set_checked(False)
    assert page.locator("#class-table thead th", has_text="Score").is_hidden()
    fits_the_screen(page, width)
    page.close()


def test_every_column_of_the_class_table_sorts_numbers_as_numbers(browser, class_page):
    """#20 item 10: every header is a button; a click sorts its column (largest first), again reverses."""
    page = open_page(browser, class_page, 1280)
    headers = page.locator("#class-table thead th")
    assert headers.count() == 3 + len(CHECK_IDS) == page.locator("#class-table thead th button").count()
    values = "(rows, i) => rows.map(r => r.cells[i].dataset.value)"
    for i in range(headers.count()):
        button = headers.nth(i).locator("button")
        numeric = button.get_attribute("data-sort") == "num"
        key = (lambda v: float(v)) if numeric else (lambda v: v)  # noqa: E731
        for descending in (True, False):
            button.click()
            got = page.locator("#class-table tbody tr").evaluate_all(values, i)
            assert got == sorted(got, key=key, reverse=descending), (button.inner_text(), got)
    score = page.locator("#class-table tbody tr td:nth-child(2)").evaluate_all("els => els.map(e => e.dataset.value)")
    assert len(set(score)) > 1  # the class has different scores, so the order above was tested
    page.close()


def test_class_summary_sorts_and_links(browser, class_page):
    names = CLASS
    page = open_page(browser, class_page)
    assert page.errors == [] and off_machine(page.requests) == []
    first = lambda: page.locator("#class-table tbody tr").first.locator("td").first.inner_text()  # noqa: E731
    page.get_by_role("button", name="Score").click()  # highest first
    assert first().startswith("equivalent_spellings")
    page.get_by_role("button", name="Score").click()  # lowest first
    assert first().startswith("no_softmax")
    assert page.locator("svg.chart").bounding_box()["height"] > 50
    assert tab_through(page) >= {f"{n}.instructor.html" for n in names}
    page.locator("#class-table a[href='batch_32.instructor.html']").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("batch_32.instructor.html")
    assert page.locator("details.teacher").evaluate("d => d.open")  # the teacher's copy shows everything
    page.close()


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
def test_the_similar_submissions_section_renders_and_its_links_open_both_reports(browser, similarity_class, width):
    out, _ = similarity_class
    page = open_page(browser, out / "index.html", width)
    assert page.errors == [] and off_machine(page.requests) == []
    fits_the_screen(page, width)
    pairs = page.locator("#similar li.pair")
    assert pairs.count() == 2 and pairs.first.is_visible()
    assert "show_wrong_guesses" in pairs.first.locator("table.side-by-side").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#similar").screenshot(path=str(ARTIFACTS / f"class-similar-{width}px.png"))
    for link in pairs.first.locator("h3 a").all():
        href = link.get_attribute("href")
        link.click()
        page.wait_for_load_state("load")
        assert page.url.endswith(href) and page.locator("h1").inner_text().startswith("Feedback on")
        page.go_back()
        page.wait_for_load_state("load")
    page.close()
