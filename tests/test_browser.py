"""The built site, opened in headless Chromium with the network cut to loopback.

Training rooms block CDNs, so every request that leaves 127.0.0.1 is aborted and
reported. The site is served from _build/html by a local http.server on a free port.

Needs Debian's chromium (`apt-get install chromium`) and a built site (`make book`).
Without either the tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

import functools
import html
import http.server
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from conftest import unavailable

ROOT = Path(__file__).resolve().parent.parent
SITE = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"
LAB0 = "labs/lab0-meet-your-sandbox"
REMOTE_CALL_IN = "chapters/remote-call-in"
FIRE_AND_FORGET = "chapters/fire-and-forget"
BATCH = "chapters/batch-data-synchronization"
# Chapters whose sequence diagram and quiz the browser checks, with participants that
# their first diagram must show.
DIAGRAMS = {
    REMOTE_CALL_IN: ("Marketing site server", "Org token endpoint"),
    FIRE_AND_FORGET: ("Event bus", "ERP subscriber"),
    BATCH: ("Scheduler (02:00)", "Warehouse (DuckDB)", "Bulk API 2.0"),
}
REPO = "https://github.com/salesforce-integration-patterns/course"
BRANCH = "main"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def site_url() -> Iterator[str]:
    if not (SITE / "index.html").is_file():
        unavailable(f"no built site in {SITE}: run make book first")

    handler = functools.partial(_QuietHandler, directory=str(SITE))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    # Browsers run an ES module (mermaid.js) only when it is served as JavaScript;
    # Python 3.11 knows .mjs only if the system's mime.types lists it.
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
    }

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@dataclass
class Visit:
    """A page opened with the network limited to loopback, and what went wrong."""

    page: object
    external: list[str] = field(default_factory=list)  # aborted: left loopback
    broken: list[str] = field(default_factory=list)  # loopback, but failed or >= 400
    errors: list[str] = field(default_factory=list)  # uncaught JavaScript errors

    def assert_clean(self) -> None:
        assert not self.external, f"requests left loopback: {self.external}"
        assert not self.broken, f"local requests failed: {self.broken}"
        assert not self.errors, f"JavaScript errors: {self.errors}"


@pytest.fixture
def visit(browser, site_url: str) -> Iterator:
    context = browser.new_context(service_workers="block")
    visits: list[Visit] = []

    def open_page(path: str) -> Visit:
        page = context.new_page()
        record = Visit(page)
        visits.append(record)

        def route(route) -> None:
            url = route.request.url
            if urlsplit(url).hostname in LOOPBACK:
                route.continue_()
            else:
                record.external.append(url)
                route.abort()

        def on_response(response) -> None:
            if response.status >= 400:
                record.broken.append(f"{response.status} {response.url}")

        def on_failed(request) -> None:
            if urlsplit(request.url).hostname in LOOPBACK:
                record.broken.append(f"{request.failure} {request.url}")

        page.route("**/*", route)
        page.on("response", on_response)
        page.on("requestfailed", on_failed)
        page.on("pageerror", lambda error: record.errors.append(str(error)))
        page.goto(site_url + path, wait_until="load", timeout=TIMEOUT_MS)
        return record

    try:
        yield open_page
    finally:
        context.close()


def test_lab0_shows_outputs_and_a_live_widget(visit) -> None:
    lab = visit(f"{LAB0}.html")
    page = lab.page

    views = page.locator('script[type="application/vnd.jupyter.widget-view+json"]')
    assert views.count() > 0, f"{LAB0}: no widget output (was the widget state saved?)"
    try:
        page.wait_for_selector(".widget-subarea .jupyter-widgets", timeout=TIMEOUT_MS)
    except Exception as error:  # Playwright's TimeoutError
        pytest.fail(
            f"{LAB0}: no widget rendered ({type(error).__name__}). Requests that left "
            f"loopback: {lab.external}; failed local requests: {lab.broken}; "
            f"JavaScript errors: {lab.errors}"
        )
    page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)
    rendered = page.locator(".widget-subarea").count()
    assert rendered == views.count(), (
        f"{LAB0}: {views.count()} widget views saved, {rendered} rendered"
    )

    assert page.locator(".cell_output table.dataframe").count() > 0, (
        f"{LAB0}: no DataFrame table in the outputs"
    )
    text = page.locator(".cell_output .output.stream, .cell_output .output.text_plain")
    assert text.count() > 0, f"{LAB0}: no text output"
    assert text.first.inner_text().strip(), f"{LAB0}: the first text output is empty"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "lab0.png"), full_page=True)
    lab.assert_clean()


def test_lab1_shows_its_latency_plot_and_credit_check_panels(visit) -> None:
    path = "labs/lab1-request-and-reply"
    lab = visit(f"{path}.html")
    page = lab.page

    try:
        page.wait_for_selector(".widget-subarea .jupyter-widgets", timeout=TIMEOUT_MS)
    except Exception as error:  # Playwright's TimeoutError
        pytest.fail(
            f"{path}: no widget rendered ({type(error).__name__}). Requests that left "
            f"loopback: {lab.external}; JavaScript errors: {lab.errors}"
        )
    page.wait_for_load_state("networkidle", timeout=TIMEOUT_MS)

    buttons = page.locator(".widget-subarea button", has_text="Run Credit Check")
    assert buttons.count() == 2, f"{path}: expected two Run Credit Check buttons"
    panels = page.locator(".widget-subarea").all_inner_texts()
    assert any("Score" in text for text in panels), f"{path}: no score shown"
    assert any("could not run the check" in text for text in panels), (
        f"{path}: the panel with the bureau down shows no explanation"
    )

    plot = page.locator(".cell_output img")
    assert plot.count() >= 1, f"{path}: the latency plot is missing"
    width = plot.first.evaluate("img => img.naturalWidth")
    assert width > 100, f"{path}: the latency plot did not load ({width} px wide)"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "lab1.png"), full_page=True)
    lab.assert_clean()


def _plain(text: str) -> str:
    """Quiz HTML as a reader sees it: no tags, entities decoded, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", text)).split())


@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_chapter_diagram_renders_offline(visit, name: str) -> None:
    chapter = visit(f"{name}.html")
    page = chapter.page

    try:
        page.wait_for_selector(".mermaid svg", timeout=TIMEOUT_MS)
    except Exception as error:  # Playwright's TimeoutError
        pytest.fail(
            f"{name}: the sequence diagram did not render to SVG "
            f"({type(error).__name__}). Requests that left loopback: "
            f"{chapter.external}; failed local requests: {chapter.broken}; "
            f"JavaScript errors: {chapter.errors}"
        )
    diagram = page.locator(".mermaid svg").first
    # Mermaid draws a syntax error as an SVG too, with the role "error".
    assert diagram.get_attribute("aria-roledescription") == "sequence"
    text = diagram.text_content() or ""
    for participant in DIAGRAMS[name]:
        assert participant in text, f"the diagram has no '{participant}'"

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    diagram.screenshot(path=str(SCREENSHOTS / f"{Path(name).name}-diagram.png"))
    chapter.assert_clean()


@pytest.mark.parametrize("name", sorted(DIAGRAMS))
def test_chapter_quiz_shows_its_questions_and_answers_a_click(visit, name: str) -> None:
    questions = json.loads((ROOT / f"{name}-quiz.json").read_text(encoding="utf-8"))
    chapter = visit(f"{name}.html")
    page = chapter.page

    quiz = page.locator(".Quiz")
    try:
        quiz.first.wait_for(timeout=TIMEOUT_MS)
    except Exception as error:  # Playwright's TimeoutError
        pytest.fail(
            f"{name}: no quiz rendered ({type(error).__name__}). Requests "
            f"that left loopback: {chapter.external}; JavaScript errors: "
            f"{chapter.errors}"
        )
    assert quiz.count() == len(questions), (
        f"{len(questions)} questions in the JSON, {quiz.count()} on the page"
    )
    for shown, question in zip(quiz.all(), questions, strict=True):
        assert _plain(question["question"]) in " ".join(shown.inner_text().split())

    first, first_question = quiz.first, questions[0]
    wrong = next(a for a in first_question["answers"] if not a["correct"])
    right = next(a for a in first_question["answers"] if a["correct"])
    feedback = first.locator(".Feedback")

    first.locator("label.MCButton", has_text=_plain(wrong["answer"])).click()
    assert "incorrect" in feedback.get_attribute("class")
    assert _plain(feedback.inner_text()) == _plain(wrong["feedback"])

    first.locator("label.MCButton", has_text=_plain(right["answer"])).click()
    assert "correct" in feedback.get_attribute("class").split()
    assert _plain(feedback.inner_text()) == _plain(right["feedback"])

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{Path(name).name}.png"), full_page=True)
    chapter.assert_clean()


@pytest.mark.parametrize("path", ["index.html", "chapters/how-to-use.html"])
def test_pages_without_widgets_load_cleanly(visit, path: str) -> None:
    visit(path).assert_clean()


def _toc_pages() -> list[str]:
    """Every page of the book, as its HTML path, in the order of _toc.yml."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [f"{toc['root']}.html"]
    for part in toc["parts"]:
        pages += [f"{entry['file']}.html" for entry in part["chapters"]]
    return pages


@pytest.mark.parametrize("path", _toc_pages())
def test_pages_fit_a_phone_screen(browser, site_url: str, path: str) -> None:
    # Code blocks and wide tables scroll inside themselves; nothing else may push the
    # page wider than the screen (a long inline literal did, before course.css).
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        page.goto(site_url + path, wait_until="load", timeout=TIMEOUT_MS)
        width = page.evaluate("document.documentElement.scrollWidth")
    finally:
        context.close()
    assert width <= 390, f"{path} is {width} px wide on a 390 px screen"


def _href(page, selector: str, what: str) -> str:
    links = page.locator(selector)
    assert links.count() == 1, f"{LAB0}: expected one {what} link ({selector})"
    return links.first.get_attribute("href")


def test_launch_and_download_links_point_at_the_notebook(visit, site_url) -> None:
    page = visit(f"{LAB0}.html").page
    notebook = f"{LAB0}.ipynb"

    binder = _href(page, 'a[href^="https://mybinder.org/"]', "Binder")
    assert binder == (
        f"https://mybinder.org/v2/gh/salesforce-integration-patterns/course/{BRANCH}"
        f"?urlpath=lab/tree/{notebook}"
    )

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    hub = config["launch_buttons"]["jupyterhub_url"].rstrip("/")
    jupyterhub = urlsplit(_href(page, f'a[href^="{hub}/"]', "JupyterHub"))
    assert jupyterhub.path == "/hub/user-redirect/git-pull"
    query = {key: values[0] for key, values in parse_qs(jupyterhub.query).items()}
    assert query == {
        "repo": REPO,
        "branch": BRANCH,
        "urlpath": f"lab/tree/course/{notebook}",
    }

    source = _href(page, f'a[href^="{REPO}/blob/"]', "source")
    assert source.split("?")[0] == f"{REPO}/blob/{BRANCH}/{notebook}"

    download = _href(page, 'a[href$=".ipynb"]:has-text(".ipynb")', ".ipynb download")
    assert download.endswith(f"_sources/{notebook}"), download
    response = page.request.get(site_url + download.replace("../", ""))
    assert response.ok, f"the .ipynb download {download} answers {response.status}"
    assert response.body() == (ROOT / notebook).read_bytes(), (
        f"the .ipynb download differs from {notebook}: run make book"
    )


def test_search_finds_lab0(visit) -> None:
    title = (ROOT / f"{LAB0}.ipynb").read_text(encoding="utf-8")
    words = re.findall(r"#\s+([^\\\n\"]+)", title)[0]
    word = max(re.findall(r"[A-Za-z]{5,}", words), key=len)

    search = visit(f"search.html?q={word}")
    hit = search.page.locator(f'#search-results a[href*="{LAB0}.html"]')
    hit.first.wait_for(timeout=TIMEOUT_MS)
    assert hit.count() > 0, f"searching for {word!r} does not find {LAB0}"
    search.assert_clean()
