"""The marketing site's "Request a demo" form: a web page that calls into the org.

A visitor fills in a plain HTML form (no JavaScript) and posts it to the site. The
site's server side, never the browser, authenticates to the org as the integration
user (OAuth 2.0 client credentials with the connected app's key and secret), then
creates the Lead with ``LeadSource = 'Web'`` through the REST API over HTTPS, trusting
only the sandbox CA. The visitor sees a thank-you page, or what went wrong in words
they understand, with the form filled in again; never a token, a secret or a stack
trace.

The site checks lightly that the required fields are there (``check_required``), and
leaves every other judgement to the org: email format, lengths, duplicate rules.

By default the site posts to ``/services/data/vXX.X/sobjects/Lead`` with Lead fields.
``use_apex_rest("/LeadIntake/v1")`` points it at an Apex REST service instead, which
gets the site's own JSON contract::

    {"firstName": "Ada", "lastName": "Lovelace", "company": "Analytical Engines",
     "email": "ada@example.com", "phone": "+44 20 7946 0000", "message": "..."}

and answers 2xx with the new Lead's Id (a JSON string, or an object with ``id``), or
the platform's error array ``[{"errorCode", "message", "fields"}]``.

Every submission is recorded in ``submissions`` (what was typed, where it went, the
org's status, the Lead Id or error code, and what the visitor was told).

The site is served over plain HTTP on 127.0.0.1: browsers treat loopback as a secure
context, and nothing secret crosses that hop. It has no CSRF token, acceptable only
because it listens on loopback; a real site needs one.
"""

from __future__ import annotations

import html
import logging
import re
import ssl
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

if TYPE_CHECKING:
    from sfsandbox.org.org import Org

log = logging.getLogger(__name__)

SITE_NAME = "Lumen Analytics"
LEAD_SOURCE = "Web"
MAX_FORM_BYTES = 64 * 1024
ORG_TIMEOUT_SECONDS = 10.0
SECURITY_HEADERS = {
    # No script, no frames, forms post only to this site.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@dataclass(frozen=True)
class FormField:
    """One input of the form, and the Lead field (and Apex REST key) it fills."""

    name: str
    label: str
    lead_field: str
    apex_key: str
    max_length: int
    required: bool = False
    input_type: str = "text"
    autocomplete: str = ""


FIELDS = (
    FormField(
        "first_name", "First name", "FirstName", "firstName", 40,
        autocomplete="given-name",
    ),
    FormField(
        "last_name", "Last name", "LastName", "lastName", 80, required=True,
        autocomplete="family-name",
    ),
    FormField(
        "company", "Company", "Company", "company", 255, required=True,
        autocomplete="organization",
    ),
    FormField(
        "email", "Work email", "Email", "email", 80, required=True,
        input_type="email", autocomplete="email",
    ),
    FormField(
        "phone", "Phone", "Phone", "phone", 40, input_type="tel",
        autocomplete="tel",
    ),
    FormField(
        "message", "What would you like to see?", "Description", "message", 32000,
        input_type="textarea",
    ),
)  # fmt: skip
BY_ORG_NAME = {f.lead_field: f for f in FIELDS} | {f.apex_key: f for f in FIELDS}

# Status codes the org returns, in the visitor's words. A field list, where the org
# gives one, names the inputs to correct.
FRIENDLY = {
    "REQUIRED_FIELD_MISSING": "Please fill in {fields}.",
    "INVALID_EMAIL_ADDRESS": (
        "Please check your email address: it should look like name@example.com."
    ),
    "STRING_TOO_LONG": "Please shorten the {fields}: it is longer than we can store.",
    "DUPLICATES_DETECTED": (
        "We already have a request from this email address, so there is no need to "
        "send another: our team will be in touch soon."
    ),
    "DUPLICATE_VALUE": (
        "We already have a request with these details: our team will be in touch soon."
    ),
}
UNAVAILABLE = (
    "Sorry, we can't take your request right now. Please try again in a few minutes."
)
NOT_ACCEPTED = (
    "Sorry, we couldn't accept your request as it is. Please check the form and try "
    "again."
)
FIRST_ERROR = re.compile(r"first error: ([A-Z_]+), (.*?)(?:: \[([^\]]*)\])?(?:\n|$)")


@dataclass(frozen=True)
class Submission:
    """One post of the form, as the site handled it."""

    at: datetime
    values: dict[str, str]
    target: str  # the org path posted to; "" when the site did not call the org
    status: int | None  # the org's HTTP status
    lead_id: str | None
    error_code: str | None
    shown: str  # what the visitor was told

    @property
    def accepted(self) -> bool:
        return self.lead_id is not None


@dataclass
class Outcome:
    """What the org said, reduced to what the page needs."""

    status: int | None = None
    lead_id: str | None = None
    error_code: str | None = None
    message: str = ""
    fields: list[str] = field(default_factory=list)


class WebForm:
    """The "Request a demo" site, and what it did."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self.url = ""
        self.check_required = True
        self.submissions: list[Submission] = []
        lead = org.schema.get("Lead")
        # The org's Lead has no Description field in some seeds; then the message
        # stays in the submission record only.
        self.message_field = (
            "Description" if lead is not None and lead.field("Description") else None
        )
        self._target = f"{org.data_url}/sobjects/Lead"
        self._apex = False
        self._client: httpx.Client | None = None
        self._token = ""
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/", self._page, methods=["GET", "POST"]),
                Route("/static/site.css", self._stylesheet, methods=["GET"]),
            ]
        )

    # --- configuration -------------------------------------------------------------

    @property
    def target(self) -> str:
        """The org path the site posts new Leads to."""
        return self._target

    def use_apex_rest(self, path: str) -> None:
        """Post to ``/services/apexrest<path>`` with the site's JSON contract."""
        if not path.startswith("/"):
            raise ValueError(f"An Apex REST path begins with '/': {path!r}")
        self._target, self._apex = f"/services/apexrest{path}", True

    def use_sobject_api(self) -> None:
        """Post to the REST API's ``/sobjects/Lead`` (the default)."""
        self._target, self._apex = f"{self.org.data_url}/sobjects/Lead", False

    def bind(self, url: str, ca_file: str) -> None:
        """Called by the sandbox once the site listens and the org is up."""
        self.url = url
        self._client = httpx.Client(
            base_url=self.org.instance_url,
            verify=ssl.create_default_context(cafile=ca_file),
            trust_env=False,
            timeout=ORG_TIMEOUT_SECONDS,
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # --- HTTP ----------------------------------------------------------------------

    async def _page(self, request: Request) -> Response:
        if request.method != "POST":
            return _html(render_form({}, "", []))
        media_type = request.headers.get("content-type", "").split(";")[0].strip()
        if media_type != "application/x-www-form-urlencoded":
            return _html(render_form({}, NOT_ACCEPTED, []), 415)
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_FORM_BYTES:
            return _html(
                render_form({}, "That is more text than we can take.", []), 413
            )
        body = await request.body()
        values = read_form(body[:MAX_FORM_BYTES])
        try:
            return await run_in_threadpool(self._submit, values)
        except Exception:
            log.exception("The web form failed to handle a submission")
            self._record(values, "", None, None, None, UNAVAILABLE)
            return _html(render_form(values, UNAVAILABLE, []), 503)

    async def _stylesheet(self, request: Request) -> Response:
        return Response(STYLESHEET, media_type="text/css", headers=SECURITY_HEADERS)

    def _submit(self, values: dict[str, str]) -> Response:
        """Check, send to the org, and answer the visitor."""
        missing = [f for f in FIELDS if f.required and not values.get(f.name)]
        if self.check_required and missing:
            shown = FRIENDLY["REQUIRED_FIELD_MISSING"].format(
                fields=_labels([f.label for f in missing])
            )
            self._record(values, "", None, None, "REQUIRED_FIELD_MISSING", shown)
            return _html(render_form(values, shown, [f.name for f in missing]), 422)

        outcome = self._send(values)
        if outcome.lead_id is not None:
            first = values.get("first_name") or values.get("last_name", "")
            self._record(
                values, self._target, outcome.status, outcome.lead_id, None, ""
            )
            return _html(render_thanks(first, values.get("email", "")))

        shown, wrong = explain(outcome)
        self._record(
            values, self._target, outcome.status, None, outcome.error_code, shown
        )
        return _html(
            render_form(values, shown, wrong), 503 if shown == UNAVAILABLE else 422
        )

    def _record(
        self,
        values: dict[str, str],
        target: str,
        status: int | None,
        lead_id: str | None,
        error_code: str | None,
        shown: str,
    ) -> None:
        submission = Submission(
            self.org.clock.now(), dict(values), target, status, lead_id, error_code,
            shown,
        )  # fmt: skip
        with self._lock:
            self.submissions.append(submission)

    # --- the org -------------------------------------------------------------------

    def _send(self, values: dict[str, str]) -> Outcome:
        """Create the Lead; a rejected or expired token is renewed once."""
        if self._client is None:
            return Outcome()
        if self._apex:
            payload = {f.apex_key: values.get(f.name) or None for f in FIELDS}
        else:
            payload = {
                f.lead_field: values[f.name]
                for f in FIELDS
                if values.get(f.name) and f.lead_field != "Description"
            }
            if self.message_field and values.get("message"):
                payload[self.message_field] = values["message"]
            payload["LeadSource"] = LEAD_SOURCE
        try:
            for attempt in range(2):
                token = self._access_token(renew=attempt > 0)
                if not token:
                    return Outcome()
                response = self._client.post(
                    self._target,
                    json=payload,
                    headers={"Authorization": f"Bearer {token}"},
                )
                if response.status_code != 401:
                    break
        except httpx.HTTPError as error:
            log.warning("The org could not be reached: %s", error)
            return Outcome()
        return read_outcome(response)

    def _access_token(self, renew: bool) -> str:
        """The integration user's token (client credentials), cached until rejected."""
        assert self._client is not None
        with self._lock:
            if self._token and not renew:
                return self._token
        response = self._client.post(
            "/services/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.org.client_id,
                "client_secret": self.org.client_secret,
            },
        )
        if response.status_code != 200:
            log.warning("The org refused the site's credentials: %s", response.text)
            return ""
        token = response.json().get("access_token", "")
        with self._lock:
            self._token = token
        return token


# --- reading and explaining --------------------------------------------------------


def read_form(body: bytes) -> dict[str, str]:
    """The known inputs of an urlencoded form, trimmed."""
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    values = {}
    for f in FIELDS:
        values[f.name] = parsed.get(f.name, [""])[-1].replace("\r\n", "\n").strip()
    return values


def read_outcome(response: httpx.Response) -> Outcome:
    """The Lead Id from a 2xx answer, or the org's first error."""
    outcome = Outcome(status=response.status_code)
    try:
        body = response.json() if response.content else None
    except ValueError:
        body = None
    if response.is_success:
        if isinstance(body, str) and body:
            outcome.lead_id = body
        elif isinstance(body, dict):
            found = body.get("id") or body.get("Id") or body.get("leadId")
            outcome.lead_id = str(found) if found else None
        if outcome.lead_id is None:
            outcome.error_code = "NO_LEAD_ID"
        return outcome
    if isinstance(body, list) and body and isinstance(body[0], dict):
        first = body[0]
        outcome.error_code = str(first.get("errorCode") or "")
        outcome.message = str(first.get("message") or "")
        fields = first.get("fields")
        outcome.fields = [str(f) for f in fields] if isinstance(fields, list) else []
    return outcome


def explain(outcome: Outcome) -> tuple[str, list[str]]:
    """What to tell the visitor, and which inputs to mark, for the org's error."""
    code, message, fields = outcome.error_code or "", outcome.message, outcome.fields
    if code == "APEX_ERROR":
        # An Apex service's uncaught DmlException: read the status code inside it,
        # never show the message itself (it carries the class's stack trace).
        found = FIRST_ERROR.search(message)
        if found is None:
            return UNAVAILABLE, []
        code, message = found.group(1), found.group(2)
        fields = [f.strip() for f in (found.group(3) or "").split(",") if f.strip()]
    inputs = [BY_ORG_NAME[f] for f in fields if f in BY_ORG_NAME]
    names = _labels([f.label for f in inputs])
    if code in FRIENDLY and (names or "{fields}" not in FRIENDLY[code]):
        return FRIENDLY[code].format(fields=names), [f.name for f in inputs]
    if code == "FIELD_CUSTOM_VALIDATION_EXCEPTION" and message:
        # A validation rule's message is written for the people who enter data.
        return message.split(": [")[0], [f.name for f in inputs]
    if (
        outcome.status is None
        or outcome.status >= 500
        or code
        in {
            "INVALID_SESSION_ID",
            "NO_LEAD_ID",
            "REQUEST_LIMIT_EXCEEDED",
        }
    ):
        return UNAVAILABLE, []
    return NOT_ACCEPTED, [f.name for f in inputs]


def _labels(labels: list[str]) -> str:
    lowered = [label.lower() for label in labels]
    if len(lowered) <= 1:
        return "".join(lowered)
    return ", ".join(lowered[:-1]) + " and " + lowered[-1]


# --- pages -------------------------------------------------------------------------


def _html(page: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(page, status_code=status, headers=SECURITY_HEADERS)


def _layout(title: str, main: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} · {SITE_NAME}</title>
<link rel="stylesheet" href="/static/site.css">
</head>
<body>
<header><p class="brand">{SITE_NAME}</p></header>
<main>
{main}
</main>
</body>
</html>
"""


def render_form(values: dict[str, str], error: str, wrong: list[str]) -> str:
    """The form, filled with ``values``; ``error`` on top, ``wrong`` inputs marked."""
    summary = ""
    if error:
        summary = (
            '<div class="error" role="alert" id="form-error">'
            f"<h2>We couldn't send your request</h2><p>{html.escape(error)}</p></div>"
        )
    rows = []
    for f in FIELDS:
        value = html.escape(values.get(f.name, ""))
        attributes = [
            f'id="{f.name}"',
            f'name="{f.name}"',
            f'maxlength="{f.max_length}"',
        ]
        if f.autocomplete:
            attributes.append(f'autocomplete="{f.autocomplete}"')
        if f.required:
            attributes.append('required aria-required="true"')
        if f.name in wrong:
            attributes.append('aria-invalid="true" aria-describedby="form-error"')
        marker = ' <span class="required">(required)</span>' if f.required else ""
        label = f'<label for="{f.name}">{html.escape(f.label)}{marker}</label>'
        if f.input_type == "textarea":
            control = f'<textarea {" ".join(attributes)} rows="5">{value}</textarea>'
        else:
            control = (
                f'<input type="{f.input_type}" {" ".join(attributes)} value="{value}">'
            )
        rows.append(f'<div class="field">{label}{control}</div>')
    main = f"""<h1>Request a demo</h1>
<p>Tell us a little about you and your team, and we will be in touch within one
business day.</p>
{summary}
<form method="post" action="/">
{"".join(rows)}
<button type="submit">Request a demo</button>
</form>"""
    return _layout("Request a demo", main)


def render_thanks(name: str, email: str) -> str:
    """The page after the org accepted the Lead."""
    main = f"""<h1>Thank you, {html.escape(name)}!</h1>
<p role="status">We have your request. Someone from our team will write to
<strong>{html.escape(email)}</strong> within one business day.</p>
<p><a href="/">Back to the form</a></p>"""
    return _layout("Thank you", main)


STYLESHEET = """\
body { font-family: system-ui, sans-serif; margin: 0; color: #1b1f24;
       background: #f6f7f9; line-height: 1.5; }
header { background: #0b3d91; color: #fff; padding: 0.75rem 1.5rem; }
.brand { margin: 0; font-weight: 700; letter-spacing: 0.02em; }
main { max-width: 36rem; margin: 2rem auto; background: #fff; padding: 2rem;
       border-radius: 8px; box-shadow: 0 1px 3px rgba(0, 0, 0, 0.12); }
.field { margin-bottom: 1rem; }
label { display: block; font-weight: 600; margin-bottom: 0.25rem; }
.required { font-weight: 400; color: #555; }
input, textarea { width: 100%; box-sizing: border-box; padding: 0.5rem;
                  font: inherit; border: 1px solid #767676; border-radius: 4px; }
input:focus, textarea:focus { outline: 3px solid #ffbf47; outline-offset: 0; }
[aria-invalid="true"] { border: 2px solid #b00020; }
button { background: #0b3d91; color: #fff; border: 0; padding: 0.65rem 1.25rem;
         font: inherit; font-weight: 600; border-radius: 4px; cursor: pointer; }
.error { border-left: 5px solid #b00020; background: #fdecee; padding: 0.5rem 1rem;
         margin-bottom: 1.5rem; }
.error h2 { font-size: 1.05rem; margin: 0.25rem 0; }
"""
