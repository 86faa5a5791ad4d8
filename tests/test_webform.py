"""The marketing web form in headless Chromium: a visitor's demo request becomes a Lead.

The browser's network is cut to loopback; every response it receives is kept and
scanned for tokens, secrets and stack traces, which must never reach a visitor.

Needs Debian's chromium (`apt-get install chromium`) and Playwright's Python package;
without them the browser tests skip, except under CI=true, where they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from sfsandbox import Sandbox
from sfsandbox.systems.webform import FRIENDLY, UNAVAILABLE

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "_build" / "screenshots"
API = "/services/data/v62.0"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
TIMEOUT_MS = 30_000
VISITOR = {
    "first_name": "Ada",
    "last_name": "Lovelace",
    "company": "Analytical Engines Ltd",
    "email": "ada@engines.example",
    "phone": "+44 20 7946 0000",
    "message": "A demo for our data team, please.",
}


@dataclass
class Visit:
    """A browser tab limited to loopback, with every response it received."""

    page: object
    external: list[str] = field(default_factory=list)
    seen: list[object] = field(default_factory=list)
    received: list[str] = field(default_factory=list)

    def collect(self) -> None:
        """Keep the headers and body of each response seen since the last call."""
        while self.seen:
            response = self.seen.pop(0)
            headers = "\n".join(f"{k}: {v}" for k, v in response.headers.items())
            try:
                body = response.body().decode("utf-8", "replace")
            except Exception:  # a redirect or a body the browser dropped
                body = ""
            self.received.append(f"{response.url}\n{headers}\n\n{body}")

    def submit(self, values: dict[str, str], validate: bool = True) -> None:
        """Fill in the form and send it; ``validate=False`` skips the browser's check
        of required fields, as an old browser or a script would."""
        page = self.page
        for name, value in values.items():
            page.fill(f"#{name}", value)
        if not validate:
            page.eval_on_selector("form", "form => { form.noValidate = true; }")
        with page.expect_navigation(timeout=TIMEOUT_MS):
            page.click("button[type=submit]")
        page.wait_for_load_state("load")
        self.collect()

    def alert(self) -> str:
        return self.page.locator('[role="alert"]').inner_text()


@pytest.fixture
def visit(browser, sandbox: Sandbox) -> Iterator:
    context = browser.new_context(service_workers="block")
    visits: list[Visit] = []

    def open_form() -> Visit:
        page = context.new_page()
        record = Visit(page)
        visits.append(record)

        def route(route) -> None:
            if urlsplit(route.request.url).hostname in LOOPBACK:
                route.continue_()
            else:
                record.external.append(route.request.url)
                route.abort()

        page.route("**/*", route)
        page.on("response", lambda response: record.seen.append(response))
        page.goto(sandbox.webform.url + "/", wait_until="load", timeout=TIMEOUT_MS)
        record.collect()
        return record

    try:
        yield open_form
    finally:
        for record in visits:
            assert not record.external, f"requests left loopback: {record.external}"
            _assert_nothing_secret(sandbox, record.received)
        context.close()


def _assert_nothing_secret(sandbox: Sandbox, received: list[str]) -> None:
    org = sandbox.org
    secrets = {
        "an access token": org.org_id[:15] + "!",
        "the client secret": org.client_secret,
        "the consumer key": org.client_id,
        "a bearer header": "Bearer",
        "a Python traceback": "Traceback",
        "an Apex stack trace": "Class.",
        "an Apex error": "APEX_ERROR",
    }
    assert received, "the browser received nothing"
    for text in received:
        for what, needle in secrets.items():
            assert needle not in text, f"the browser received {what}: {text[:200]}"


def _lead(api: httpx.Client, email: str) -> list[dict]:
    q = (
        "SELECT Id, FirstName, LastName, Company, Email, Phone, LeadSource, Status "
        f"FROM Lead WHERE Email = '{email}'"
    )
    response = api.get(f"{API}/query", params={"q": q})
    assert response.status_code == 200, response.text
    return response.json()["records"]


def test_a_demo_request_becomes_a_web_lead(
    visit, sandbox: Sandbox, api: httpx.Client
) -> None:
    before = len(sandbox.webform.submissions)
    tab = visit()
    page = tab.page
    assert page.title() == "Request a demo · Lumen Analytics"
    for name in VISITOR:  # every input has a label
        assert page.locator(f'label[for="{name}"]').count() == 1

    for name, value in VISITOR.items():
        page.fill(f"#{name}", value)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "webform.png"), full_page=True)
    tab.submit({})

    assert page.locator("h1").inner_text() == "Thank you, Ada!"
    assert "ada@engines.example" in page.locator('[role="status"]').inner_text()

    [lead] = _lead(api, VISITOR["email"])
    assert lead["LeadSource"] == "Web"
    assert (lead["FirstName"], lead["LastName"]) == ("Ada", "Lovelace")
    assert lead["Company"] == "Analytical Engines Ltd"
    assert lead["Phone"] == "+44 20 7946 0000"

    [submission] = sandbox.webform.submissions[before:]
    assert submission.status == 201
    assert submission.lead_id == lead["Id"]
    assert submission.target == f"{API}/sobjects/Lead"


def test_a_missing_last_name_gets_a_friendly_error(
    visit, sandbox: Sandbox, api: httpx.Client
) -> None:
    webform = sandbox.webform
    values = {**VISITOR, "last_name": "", "email": "nolast@engines.example"}
    for site_checks in (True, False):  # the site's own check, then the org's
        webform.check_required = site_checks
        before = len(webform.submissions)
        tab = visit()
        try:
            tab.submit(values, validate=False)
        finally:
            webform.check_required = True

        assert tab.alert().endswith(
            FRIENDLY["REQUIRED_FIELD_MISSING"].format(fields="last name")
        )
        page = tab.page
        assert page.input_value("#company") == VISITOR["company"]  # refilled
        assert page.input_value("#message") == VISITOR["message"]
        assert page.get_attribute("#last_name", "aria-invalid") == "true"

        [submission] = webform.submissions[before:]
        assert submission.error_code == "REQUIRED_FIELD_MISSING"
        assert submission.status == (None if site_checks else 400)
        assert submission.target == ("" if site_checks else f"{API}/sobjects/Lead")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    tab.page.screenshot(path=str(SCREENSHOTS / "webform-error.png"), full_page=True)
    assert _lead(api, values["email"]) == []


def test_the_org_judges_the_email_and_duplicates(
    visit, sandbox: Sandbox, api: httpx.Client
) -> None:
    tab = visit()
    tab.submit({**VISITOR, "email": "ada@engines"})  # valid for the browser only
    assert tab.alert().endswith(FRIENDLY["INVALID_EMAIL_ADDRESS"])
    assert sandbox.webform.submissions[-1].error_code == "INVALID_EMAIL_ADDRESS"

    if not getattr(sandbox.org.store, "duplicate_rules", None):
        pytest.skip("the org has no duplicate rule for Leads yet")
    email = "twice@engines.example"
    visit().submit({**VISITOR, "email": email})
    again = visit()
    again.submit({**VISITOR, "email": email})
    assert again.alert().endswith(FRIENDLY["DUPLICATES_DETECTED"])
    assert again.page.input_value("#email") == email
    assert sandbox.webform.submissions[-1].error_code == "DUPLICATES_DETECTED"
    assert len(_lead(api, email)) == 1


def test_the_form_can_post_to_an_apex_rest_service(
    visit, sandbox: Sandbox, api: httpx.Client
) -> None:
    org, webform = sandbox.org, sandbox.webform

    @org.rest_resource("/LeadIntake/*")
    class LeadIntake:
        @staticmethod
        def http_post(context, firstName, lastName, company, email, phone, message):
            if company == "Explode Inc":
                raise ValueError("this service has a bug")
            context.response.statusCode = 201
            return context.insert(
                "Lead",
                {
                    "FirstName": firstName,
                    "LastName": lastName,
                    "Company": company,
                    "Email": email,
                    "Phone": phone,
                    "LeadSource": "Web",
                },
            )

    webform.use_apex_rest("/LeadIntake/v1")
    try:
        tab = visit()
        tab.submit({**VISITOR, "email": "apex@engines.example"})
        assert tab.page.locator("h1").inner_text() == "Thank you, Ada!"
        [lead] = _lead(api, "apex@engines.example")
        assert lead["LeadSource"] == "Web"
        assert webform.submissions[-1].target == "/services/apexrest/LeadIntake/v1"
        assert webform.submissions[-1].lead_id == lead["Id"]

        # The service's own bug: the visitor gets words, never the stack trace.
        broken = visit()
        broken.submit({**VISITOR, "company": "Explode Inc", "email": "x@e.example"})
        assert broken.alert().endswith(UNAVAILABLE)
        assert webform.submissions[-1].error_code == "APEX_ERROR"
        assert webform.submissions[-1].status == 500

        # An uncaught DmlException inside the service still reads as the field.
        webform.check_required = False
        missing = visit()
        missing.submit({**VISITOR, "last_name": "", "email": "y@e.example"}, False)
        assert missing.alert().endswith(
            FRIENDLY["REQUIRED_FIELD_MISSING"].format(fields="last name")
        )
    finally:
        webform.check_required = True
        webform.use_sobject_api()
        org.unregister_rest_resource(LeadIntake)


# --- the site's server side, without a browser ------------------------------------


@pytest.fixture
def site(sandbox: Sandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.webform.url, trust_env=False) as client:
        yield client


def test_the_site_renews_a_rejected_token(sandbox: Sandbox, site) -> None:
    sandbox.webform._token = sandbox.org.org_id[:15] + "!expired"
    response = site.post("/", data={**VISITOR, "email": "renew@engines.example"})
    assert response.status_code == 200
    assert sandbox.webform.submissions[-1].lead_id is not None


@pytest.mark.parametrize(
    ("headers", "content", "status"),
    [
        ({"Content-Type": "application/json"}, b"{}", 415),
        (
            {"Content-Type": "application/x-www-form-urlencoded"},
            b"message=" + b"x" * 70_000,
            413,
        ),
    ],
)
def test_the_site_refuses_odd_posts_politely(
    site, headers: dict[str, str], content: bytes, status: int
) -> None:
    response = site.post("/", content=content, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert "<form" in response.text and "Traceback" not in response.text


def test_the_site_sets_protective_headers(site) -> None:
    response = site.get("/")
    assert response.status_code == 200
    assert "form-action 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "<script" not in response.text
