"""The credit bureau: the system the org calls in the Request and Reply chapter.

A user runs a credit check on an Account; the org calls out to the bureau through a
named credential, waits, and shows the score. The bureau and its API are the course's
own (not a copy of a vendor's), served over HTTPS with the sandbox CA.

REST credit checks (JSON; every call needs the ``X-Api-Key`` header):

- ``POST /v1/credit-checks`` with ``{"companyName", "country", "dunsNumber"?,
  "taxId"?}`` answers 200 with a check: ``{"checkId", "companyName", "country",
  "dunsNumber", "taxId", "matchedOn", "score", "rating", "riskBand", "reportedAt"}``.
  ``score`` is a business credit score from 1 to 100 (higher is safer), ``rating`` a
  letter A–E and ``riskBand`` VERY_LOW … VERY_HIGH, both read from the score. The
  bureau matches on the D-U-N-S Number, else the tax ID, else the company name (in
  that country); the same company gets the same score for the same sandbox seed.
  An ``Idempotency-Key`` header (1–255 characters) makes a retry safe: the same key
  and body within 24 simulated hours answers the same check again, with
  ``Idempotent-Replayed: true``; the same key with another body is a 422.
- ``GET /v1/credit-checks/{checkId}`` answers the check again.
- ``GET /v1/openapi.json`` (no key): an OpenAPI 3.0 description, for External
  Services.

Errors are RFC 9457 problem details (``application/problem+json``): ``{"type",
"title", "status", "detail", "code"}`` and, for 422 validation, ``errors: [{"field",
"message"}]``. See the ``BureauError`` classes for every code.

SOAP address verification: ``POST /soap/AddressVerification``, its WSDL at
``?wsdl`` (see ``address_verification``).

Latency is simulated, never slept. Every answer of a service carries
``X-Sfsandbox-Simulated-Latency-Ms: <n>``; the Apex-like callout runtime charges ``n``
simulated milliseconds and raises a timeout when ``n`` exceeds the callout's timeout.
``real_delay = True`` makes the bureau also wait that long for real, for a demo with a
client that knows nothing of the header.

Faults on demand, in a queue, so a lab's outputs are the same on every run: each
request to a service meets the next queued fault (see ``fail_next``, ``delay_next``,
``timeout_next``, ``malformed_next``, ``rate_limit``, ``down``). The documents
(OpenAPI, WSDL) take no fault and no latency, so a client can always load them.
Every request and its answer are recorded in ``log`` (the wiretap).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import random
import re
import ssl
import string
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import requests
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sfsandbox.runtime.server import BackgroundServer
from sfsandbox.systems import address_verification

if TYPE_CHECKING:
    import pandas

    from sfsandbox.runtime.clock import SimulatedClock

# The contract with the callout runtime (sfsandbox.apex): simulated, not slept.
LATENCY_HEADER = "X-Sfsandbox-Simulated-Latency-Ms"
API_KEY_HEADER = "X-Api-Key"
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Stripe's name for the header that marks an answer given again for a retried key.
REPLAYED_HEADER = "Idempotent-Replayed"
# One millisecond past the longest timeout a callout may set (120 s, Apex Developer
# Guide, "Callout Limits and Limitations"): every callout times out.
TIMEOUT_LATENCY_MS = 120_001
# How long a key is remembered; Stripe keeps keys for 24 hours.
IDEMPOTENCY_WINDOW = timedelta(hours=24)
MAX_IDEMPOTENCY_KEY = 255
MAX_BODY_BYTES = 64 * 1024
MAX_NAME = 255

CHECKS_PATH = "/v1/credit-checks"
OPENAPI_PATH = "/v1/openapi.json"
SOAP_PATH = "/soap/AddressVerification"
PROBLEM_TYPE = "application/problem+json"
PROBLEM_BASE = "https://credit-bureau.sfsandbox.example/problems"
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
MALFORMED_KINDS = ("truncated", "html", "content_type")
DOWN_MODES = ("503", "refuse")

# Lowest score of each rating, its letter and its risk band.
RATINGS = (
    (80, "A", "VERY_LOW"),
    (60, "B", "LOW"),
    (40, "C", "MODERATE"),
    (20, "D", "HIGH"),
    (1, "E", "VERY_HIGH"),
)
HTML_ERROR_PAGE = """<!DOCTYPE html>
<html><head><title>502 Bad Gateway</title></head>
<body><h1>Bad Gateway</h1>
<p>The server could not complete your request. Please try again later.</p>
</body></html>
"""


# --- errors ------------------------------------------------------------------------


class BureauError(Exception):
    """An error answer of the REST API: an RFC 9457 problem with the bureau's code."""

    status = 500
    code = "internal_error"

    def __init__(
        self,
        detail: str,
        errors: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.status = status or self.status
        self.code = code or self.code

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": f"{PROBLEM_BASE}/{self.code}",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.errors:
            body["errors"] = self.errors
        return body

    def response(self) -> Response:
        return JSONResponse(
            self.body(), self.status, self.headers, media_type=PROBLEM_TYPE
        )


class MissingApiKey(BureauError):
    status, code = 401, "missing_api_key"


class InvalidApiKey(BureauError):
    status, code = 401, "invalid_api_key"


class InvalidJson(BureauError):
    status, code = 400, "invalid_json"


class InvalidIdempotencyKey(BureauError):
    status, code = 400, "invalid_idempotency_key"


class NotFound(BureauError):
    status, code = 404, "not_found"


class CheckNotFound(BureauError):
    status, code = 404, "check_not_found"


class MethodNotAllowed(BureauError):
    status, code = 405, "method_not_allowed"


class PayloadTooLarge(BureauError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(BureauError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(BureauError):
    status, code = 422, "validation_failed"


class IdempotencyKeyReused(BureauError):
    # 422, as the IETF draft "The Idempotency-Key HTTP Header Field" (section 2.7)
    # and Stripe answer a key reused with another payload.
    status, code = 422, "idempotency_key_reused"


class RateLimited(BureauError):
    status, code = 429, "rate_limited"


class ServiceUnavailable(BureauError):
    status, code = 503, "service_unavailable"


# The code a fault's status answers with, where it has its own.
FAULT_CODES = {
    500: "internal_error",
    502: "bad_gateway",
    503: "service_unavailable",
    504: "gateway_timeout",
}


# --- state -------------------------------------------------------------------------


@dataclass(frozen=True)
class CreditCheck:
    """One credit check the bureau ran."""

    check_id: str
    company_name: str
    country: str
    duns_number: str | None
    tax_id: str | None
    matched_on: str  # dunsNumber, taxId or companyName
    score: int
    rating: str
    risk_band: str
    reported_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "checkId": self.check_id,
            "companyName": self.company_name,
            "country": self.country,
            "dunsNumber": self.duns_number,
            "taxId": self.tax_id,
            "matchedOn": self.matched_on,
            "score": self.score,
            "rating": self.rating,
            "riskBand": self.risk_band,
            "reportedAt": self.reported_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }


@dataclass(frozen=True)
class Fault:
    """One queued fault; the next request to a service meets it."""

    kind: str  # "error", "delay" or "malformed"
    status: int = 0
    latency_ms: int = 0
    retry_after: int | None = None
    malformed: str = ""

    def __str__(self) -> str:
        if self.kind == "error":
            return "rate limited" if self.status == 429 else f"status {self.status}"
        if self.kind == "delay":
            if self.latency_ms >= TIMEOUT_LATENCY_MS:
                return "timeout"
            return f"delay {self.latency_ms} ms"
        return f"malformed ({self.malformed})"


@dataclass(frozen=True)
class Exchange:
    """One request to the bureau and its answer, as the wiretap saw them."""

    at: datetime  # simulated time when the request arrived
    method: str
    path: str
    status: int
    latency_ms: int  # simulated
    fault: str | None
    idempotency_key: str | None
    replayed: bool
    request_body: str
    response_body: str


class Wiretap:
    """The bureau's recording of its traffic, oldest first."""

    columns = ("at", "method", "path", "status", "latency_ms", "fault", "replayed")

    def __init__(self) -> None:
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self._exchanges.append(exchange)

    def clear(self) -> None:
        with self._lock:
            self._exchanges.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._exchanges)

    def __iter__(self) -> Iterator[Exchange]:
        with self._lock:
            return iter(list(self._exchanges))

    def __getitem__(self, index: int) -> Exchange:
        with self._lock:
            return self._exchanges[index]

    def to_frame(self) -> pandas.DataFrame:
        """A table of what happened, one row per request (bodies left out)."""
        import pandas

        rows = [{c: getattr(e, c) for c in self.columns} for e in self]
        for row in rows:
            row["fault"] = row["fault"] or ""  # blank, not NaN, where nothing failed
        return pandas.DataFrame(rows, columns=list(self.columns))

    def __repr__(self) -> str:
        return f"<Wiretap {len(self)} exchanges>"


# --- the bureau --------------------------------------------------------------------


class CreditBureau:
    """The credit bureau's services, its faults on demand and its wiretap."""

    def __init__(self, seed: int, clock: SimulatedClock) -> None:
        self.seed = seed
        self.clock = clock
        key_rng = random.Random(f"sfsandbox-credit-bureau-key-{seed}")
        self.api_key = "cb_sandbox_" + "".join(
            key_rng.choice("0123456789abcdef") for _ in range(32)
        )
        self.url = ""
        self.real_delay = False
        self.log = Wiretap()
        self.checks: dict[str, CreditCheck] = {}
        self._check_ids = random.Random(f"sfsandbox-credit-bureau-checks-{seed}")
        # key -> (fingerprint of the body, when first used, the check)
        self._idempotency: dict[str, tuple[str, datetime, CreditCheck]] = {}
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._latency: int | tuple[int, int] = 0
        self._latency_rng = self._new_latency_rng()
        self._rate_limited_until: datetime | None = None
        self._down: str | None = None
        self._server: BackgroundServer | None = None
        self._port = 0
        self._tls: tuple[Path, Path] | None = None
        self._ca_file = ""
        self.app = Starlette(
            routes=[Route("/{path:path}", self._handle, methods=METHODS)]
        )

    # --- addresses -----------------------------------------------------------------

    @property
    def soap_url(self) -> str:
        """The address verification service's endpoint."""
        return f"{self.url}{SOAP_PATH}"

    @property
    def wsdl_url(self) -> str:
        """Where the address verification service's WSDL is served."""
        return f"{self.url}{SOAP_PATH}?wsdl"

    @property
    def openapi_url(self) -> str:
        """The REST API's OpenAPI 3.0 description (for External Services)."""
        return f"{self.url}{OPENAPI_PATH}"

    @cached_property
    def http(self) -> httpx.Client:
        """An httpx client for the bureau that trusts the sandbox CA (no key set)."""
        return httpx.Client(
            base_url=self.url,
            verify=ssl.create_default_context(cafile=self._ca_file),
            trust_env=False,
        )

    def requests_session(self) -> requests.Session:
        """A requests session that trusts the sandbox CA, e.g. for zeep's transport."""
        session = requests.Session()
        session.trust_env = False  # else REQUESTS_CA_BUNDLE overrides verify
        session.verify = self._ca_file
        return session

    # --- faults on demand ----------------------------------------------------------

    @property
    def faults(self) -> tuple[str, ...]:
        """The queued faults, next first."""
        with self._lock:
            return tuple(str(fault) for fault in self._faults)

    def set_latency(self, ms: int | tuple[int, int] = 0) -> None:
        """Every answer takes ``ms`` simulated milliseconds, or a seeded draw.

        A pair ``(low, high)`` draws each request's latency uniformly from a
        sequence seeded by the sandbox seed, restarted by each call, so a lab sees
        the same latencies on every run.
        """
        if isinstance(ms, tuple):
            low, high = ms
            if not 0 <= low <= high:
                raise ValueError(f"Latency must be 0 <= low <= high, not {ms!r}.")
        elif ms < 0:
            raise ValueError(f"Latency cannot be negative: {ms!r}.")
        with self._lock:
            self._latency = ms
            self._latency_rng = self._new_latency_rng()

    def delay_next(self, n: int = 1, ms: int = 5_000) -> None:
        """The next ``n`` requests take ``ms`` more simulated milliseconds.

        The bureau still does the work: a client that gave up finds the check
        afterwards, and a retry with the same ``Idempotency-Key`` gets it again.
        """
        if ms < 0:
            raise ValueError(f"A delay cannot be negative: {ms!r}.")
        self._queue(n, Fault("delay", latency_ms=ms))

    def timeout_next(self, n: int = 1) -> None:
        """The next ``n`` requests take longer than any callout may wait (120 s)."""
        self.delay_next(n, TIMEOUT_LATENCY_MS)

    def fail_next(
        self, n: int = 1, status: int = 500, retry_after: int | None = None
    ) -> None:
        """The next ``n`` requests fail with ``status`` (4xx or 5xx), doing nothing."""
        if not 400 <= status <= 599:
            raise ValueError(f"A failure's status is 4xx or 5xx, not {status!r}.")
        self._queue(n, Fault("error", status=status, retry_after=retry_after))

    def rate_limit(self, retry_after: int = 2, count: int | None = 1) -> None:
        """Answer 429 with ``Retry-After: <retry_after>`` to the next ``count``
        requests.

        With ``count=None`` every request is refused until the simulated clock has
        moved ``retry_after`` seconds on, and ``Retry-After`` counts down.
        """
        if retry_after < 0:
            raise ValueError(f"Retry-After cannot be negative: {retry_after!r}.")
        if count is not None:
            self.fail_next(count, 429, retry_after)
            return
        with self._lock:
            self._rate_limited_until = self.clock.now() + timedelta(seconds=retry_after)

    def malformed_next(self, n: int = 1, kind: str = "truncated") -> None:
        """The next ``n`` answers are spoiled after the work is done.

        ``truncated``: the body cut in half; ``html``: an HTML error page instead;
        ``content_type``: the right body labelled ``text/plain``.
        """
        if kind not in MALFORMED_KINDS:
            raise ValueError(f"kind is one of {', '.join(MALFORMED_KINDS)}: {kind!r}")
        self._queue(n, Fault("malformed", malformed=kind))

    def down(self, mode: str = "503") -> None:
        """Take the bureau down: ``"503"`` answers every request 503 Service
        Unavailable; ``"refuse"`` stops listening, so connections are refused."""
        if mode not in DOWN_MODES:
            raise ValueError(f"mode is '503' or 'refuse', not {mode!r}.")
        with self._lock:
            self._down = mode
        self._listen_as_needed()

    def up(self) -> None:
        """Bring the bureau back, at the same URL."""
        with self._lock:
            self._down = None
        self._listen_as_needed()

    def reset(self) -> None:
        """Back to a healthy bureau: no faults, no latency, up. Checks and log stay."""
        with self._lock:
            self._faults.clear()
            self._latency = 0
            self._latency_rng = self._new_latency_rng()
            self._rate_limited_until = None
            self._down = None
        self._listen_as_needed()

    def _queue(self, n: int, fault: Fault) -> None:
        if n < 1:
            raise ValueError(f"n is at least 1, not {n!r}.")
        with self._lock:
            self._faults.extend([fault] * n)

    def _new_latency_rng(self) -> random.Random:
        return random.Random(f"sfsandbox-credit-bureau-latency-{self.seed}")

    # --- serving -------------------------------------------------------------------

    def serve(self, cert_file: Path, key_file: Path, ca_file: str) -> None:
        """Listen over HTTPS on a free port (called by the sandbox)."""
        self._tls = (cert_file, key_file)
        self._ca_file = ca_file
        self._listen_as_needed()
        self.url = f"https://127.0.0.1:{self._port}"

    def close(self) -> None:
        """Stop listening and close the clients (called by the sandbox)."""
        self._tls = None
        if self._server is not None:
            self._server.stop()
            self._server = None
        if "http" in self.__dict__:
            self.http.close()
            del self.__dict__["http"]

    def _listen_as_needed(self) -> None:
        """Listen unless down with refused connections; stop listening if so."""
        with self._lock:
            listen = self._tls is not None and self._down != "refuse"
        if listen and self._server is None:
            assert self._tls is not None
            server = BackgroundServer(self.app, "credit-bureau", *self._tls)
            self._port = server.start(port=self._port)
            self._server = server
        elif not listen and self._server is not None:
            self._server.stop()
            self._server = None

    async def _handle(self, request: Request) -> Response:
        at = self.clock.now()
        body, oversize = await _read_body(request)
        response, latency, fault, replayed = self._answer(request, body, oversize)
        response.headers[LATENCY_HEADER] = str(latency)
        if self.real_delay and latency:
            await asyncio.sleep(latency / 1000)

        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        self.log.record(
            Exchange(
                at, request.method, path, response.status_code, latency, fault,
                request.headers.get(IDEMPOTENCY_HEADER), replayed,
                body.decode("utf-8", "replace"),
                bytes(response.body).decode("utf-8", "replace"),
            )
        )  # fmt: skip
        return response

    def _answer(
        self, request: Request, body: bytes, oversize: bool
    ) -> tuple[Response, int, str | None, bool]:
        """The answer, its simulated latency, the fault applied, and if replayed."""
        path, method = request.url.path, request.method
        wsdl = path == SOAP_PATH and "wsdl" in {k.lower() for k in request.query_params}
        soap = path == SOAP_PATH and not wsdl
        with self._lock:
            if self._down == "503":
                return self._unavailable(soap), 0, "down", False
            if wsdl or path == OPENAPI_PATH:
                return self._document(method, wsdl), 0, None, False

            latency = self._draw_latency()
            fault = self._take_fault()
            if fault is not None and fault.kind == "error":
                return self._failure(soap, fault), latency, str(fault), False
            if fault is not None and fault.kind == "delay":
                latency += fault.latency_ms

            replayed = False
            if soap:
                response = self._soap(method, body, oversize)
            else:
                response, replayed = self._rest(request, body, oversize)
            if fault is not None and fault.kind == "malformed":
                response = _malform(response, fault.malformed)
            return response, latency, str(fault) if fault else None, replayed

    def _draw_latency(self) -> int:
        if isinstance(self._latency, tuple):
            return self._latency_rng.randint(*self._latency)
        return self._latency

    def _take_fault(self) -> Fault | None:
        """The rate-limit window's 429 while it lasts, else the next queued fault."""
        until = self._rate_limited_until
        if until is not None:
            remaining = (until - self.clock.now()).total_seconds()
            if remaining > 0:
                return Fault("error", status=429, retry_after=math.ceil(remaining))
            self._rate_limited_until = None
        return self._faults.popleft() if self._faults else None

    def _unavailable(self, soap: bool) -> Response:
        if soap:
            return address_verification.AddressFault(
                "soapenv:Server", "The service is unavailable.", status=503
            ).response()
        return ServiceUnavailable("The credit bureau is unavailable.").response()

    def _failure(self, soap: bool, fault: Fault) -> Response:
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        phrase = HTTPStatus(fault.status).phrase
        if soap:
            return address_verification.AddressFault(
                "soapenv:Server", f"{phrase}. Please try again later.",
                status=fault.status,
            ).response(headers)  # fmt: skip
        if fault.status == 429:
            return RateLimited(
                "Too many requests. Wait as Retry-After says, then try again.",
                headers=headers,
            ).response()
        detail = f"{phrase}. The check was not run; please try again later."
        code = FAULT_CODES.get(fault.status, phrase.lower().replace(" ", "_"))
        return BureauError(
            detail, headers=headers, status=fault.status, code=code
        ).response()

    def _document(self, method: str, wsdl: bool) -> Response:
        if method != "GET":
            return MethodNotAllowed(
                f"{method} is not allowed here; use GET.", headers={"Allow": "GET"}
            ).response()
        if wsdl:
            return Response(
                address_verification.wsdl(self.soap_url),
                media_type=address_verification.XML_TYPE,
            )
        return JSONResponse(openapi(self.url))

    def _soap(self, method: str, body: bytes, oversize: bool) -> Response:
        if method != "POST":
            return address_verification.AddressFault.client(
                f"HTTP method {method} is not allowed: POST a SOAP request, or GET "
                "?wsdl for the WSDL.",
                status=405,
            ).response({"Allow": "POST"})
        if oversize:
            return address_verification.AddressFault.client(
                f"The request is larger than {MAX_BODY_BYTES} bytes.", status=413
            ).response()
        return address_verification.answer(body)

    # --- the REST API --------------------------------------------------------------

    def _rest(
        self, request: Request, body: bytes, oversize: bool
    ) -> tuple[Response, bool]:
        try:
            return self._route(request, body, oversize)
        except BureauError as error:
            return error.response(), False

    def _route(
        self, request: Request, body: bytes, oversize: bool
    ) -> tuple[Response, bool]:
        path, method = request.url.path, request.method
        check_id = path.removeprefix(f"{CHECKS_PATH}/")
        if path == CHECKS_PATH:
            allowed = "POST"
        elif path.startswith(f"{CHECKS_PATH}/") and check_id and "/" not in check_id:
            allowed = "GET"
        else:
            raise NotFound(f"There is no resource at {path}.")
        if method != allowed:
            raise MethodNotAllowed(
                f"{method} is not allowed on {path}; use {allowed}.",
                headers={"Allow": allowed},
            )
        self._authenticate(request)

        if method == "GET":
            check = self.checks.get(check_id)
            if check is None:
                raise CheckNotFound(f"There is no credit check {check_id}.")
            return JSONResponse(check.to_json()), False
        return self._create_check(request, body, oversize)

    def _authenticate(self, request: Request) -> None:
        key = request.headers.get(API_KEY_HEADER)
        if not key:
            raise MissingApiKey(f"Send your API key in the {API_KEY_HEADER} header.")
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            raise InvalidApiKey("The API key is not valid.")

    def _create_check(
        self, request: Request, body: bytes, oversize: bool
    ) -> tuple[Response, bool]:
        media_type = request.headers.get("content-type", "").split(";")[0].strip()
        if media_type.lower() != "application/json":
            raise UnsupportedMediaType(
                "Send the request body as application/json "
                f"(Content-Type was {media_type or 'missing'})."
            )
        if oversize:
            raise PayloadTooLarge(f"The body is larger than {MAX_BODY_BYTES} bytes.")
        try:
            payload = json.loads(body)
        except ValueError as error:
            raise InvalidJson(f"The body is not valid JSON: {error}.") from None
        if not isinstance(payload, dict):
            raise InvalidJson("The body must be a JSON object.")

        key = request.headers.get(IDEMPOTENCY_HEADER)
        fingerprint = hashlib.sha256(
            json.dumps(payload, sort_keys=True).encode()
        ).hexdigest()
        if key is not None:
            replay = self._replay(key, fingerprint)
            if replay is not None:
                return replay, True

        check = self._run_check(read_company(payload))
        if key is not None:
            self._idempotency[key] = (fingerprint, self.clock.now(), check)
        return JSONResponse(check.to_json()), False

    def _replay(self, key: str, fingerprint: str) -> Response | None:
        """The stored answer for a retried key, or None for a new key."""
        if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
            raise InvalidIdempotencyKey(
                f"The {IDEMPOTENCY_HEADER} header must be 1 to "
                f"{MAX_IDEMPOTENCY_KEY} printable characters."
            )
        stored = self._idempotency.get(key)
        if stored is None:
            return None
        first_fingerprint, first_used, check = stored
        if self.clock.now() - first_used >= IDEMPOTENCY_WINDOW:
            del self._idempotency[key]
            return None
        if first_fingerprint != fingerprint:
            raise IdempotencyKeyReused(
                f"This {IDEMPOTENCY_HEADER} was used with a different request body."
            )
        return JSONResponse(check.to_json(), headers={REPLAYED_HEADER: "true"})

    def _run_check(self, company: Company) -> CreditCheck:
        score, matched_on = self.score(company)
        rating, risk_band = rate(score)
        check_id = "chk_" + "".join(
            self._check_ids.choice(string.ascii_lowercase + string.digits)
            for _ in range(20)
        )
        check = CreditCheck(
            check_id, company.name, company.country, company.duns_number,
            company.tax_id, matched_on, score, rating, risk_band, self.clock.now(),
        )  # fmt: skip
        self.checks[check_id] = check
        return check

    def score(self, company: Company) -> tuple[int, str]:
        """The company's score (1–100) for this seed, and what it was matched on.

        A D-U-N-S Number is global; a tax ID and a name count within their country.
        Scores lean towards the safe end, as most businesses pay their bills.
        """
        if company.duns_number:
            identity, matched_on = f"duns:{company.duns_number}", "dunsNumber"
        elif company.tax_id:
            identity, matched_on = f"tax:{company.country}:{company.tax_id}", "taxId"
        else:
            name = " ".join(re.sub(r"[\W_]+", " ", company.name.casefold()).split())
            identity, matched_on = f"name:{company.country}:{name}", "companyName"
        rng = random.Random(f"sfsandbox-credit-bureau-score-{self.seed}-{identity}")
        return 1 + round(99 * rng.betavariate(4.0, 2.0)), matched_on

    def __repr__(self) -> str:
        state = "down" if self._down else "up"
        return f"<CreditBureau {self.url or 'not started'} {state}>"


# --- reading requests --------------------------------------------------------------


@dataclass(frozen=True)
class Company:
    """Who a credit check is about, as the request named it."""

    name: str
    country: str
    duns_number: str | None = None
    tax_id: str | None = None


def read_company(payload: dict[str, Any]) -> Company:
    """The company of a ``POST /v1/credit-checks`` body; every bad field is named."""
    errors: list[dict[str, str]] = []

    def wrong(field: str, message: str) -> None:
        errors.append({"field": field, "message": message})

    name = payload.get("companyName")
    if not isinstance(name, str) or not name.strip():
        wrong("companyName", "companyName is required: the company's legal name.")
    elif len(name.strip()) > MAX_NAME:
        wrong("companyName", f"companyName is longer than {MAX_NAME} characters.")
    country = payload.get("country")
    if not isinstance(country, str) or not re.fullmatch(r"[A-Za-z]{2}", country):
        wrong("country", "country must be an ISO 3166-1 alpha-2 code, such as US.")

    duns = payload.get("dunsNumber")
    if duns is not None:
        duns = re.sub(r"[\s-]", "", duns) if isinstance(duns, str) else ""
        if not re.fullmatch(r"\d{9}", duns):
            wrong(
                "dunsNumber",
                "dunsNumber must be the 9 digits of a D-U-N-S Number, as a string "
                "(hyphens allowed): 12-345-6789.",
            )
    tax_id = payload.get("taxId")
    if tax_id is not None:
        tax_id = re.sub(r"[\s-]", "", tax_id).upper() if isinstance(tax_id, str) else ""
        if not re.fullmatch(r"[A-Z0-9]{4,20}", tax_id):
            wrong(
                "taxId",
                "taxId must be 4 to 20 letters and digits, as a string (spaces and "
                "hyphens are ignored).",
            )

    if errors:
        raise ValidationFailed(
            "The request has invalid fields; see errors.", errors=errors
        )
    assert isinstance(name, str) and isinstance(country, str)
    return Company(name.strip(), country.upper(), duns or None, tax_id or None)


def rate(score: int) -> tuple[str, str]:
    """The rating letter and risk band of a score."""
    for lowest, rating, band in RATINGS:
        if score >= lowest:
            return rating, band
    raise ValueError(f"A score is 1 to 100, not {score!r}.")


async def _read_body(request: Request) -> tuple[bytes, bool]:
    """The body, up to the limit; and whether it was larger (then it is not kept)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return b"", True
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            return b"", True
    return bytes(body), False


def _malform(response: Response, kind: str) -> Response:
    """The answer spoiled as ``kind`` says, keeping its status and other headers."""
    body = bytes(response.body)
    media_type = response.headers.get("content-type", "")
    headers = {
        name: value
        for name, value in response.headers.items()
        if name not in ("content-type", "content-length")
    }
    if kind == "truncated":
        return Response(
            body[: len(body) // 2], response.status_code, headers, media_type
        )
    if kind == "html":
        return Response(
            HTML_ERROR_PAGE, response.status_code, headers, "text/html; charset=utf-8"
        )
    return Response(body, response.status_code, headers, "text/plain; charset=utf-8")


# --- the OpenAPI description -------------------------------------------------------


def openapi(url: str) -> dict[str, Any]:
    """The REST API as OpenAPI 3.0, e.g. to register as an External Service."""
    problem = {"$ref": "#/components/schemas/Problem"}
    errors = {
        str(status): {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_TYPE: {"schema": problem}},
        }
        for status in (400, 401, 404, 415, 422, 429, 500, 503)
    }
    check = {
        "description": "The credit check",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Check"}}
        },
    }
    text = {"type": "string"}
    nullable = {"type": "string", "nullable": True}
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "sfsandbox Credit Bureau",
            "version": "1.0.0",
            "description": "Business credit scores (1-100, higher is safer).",
        },
        "servers": [{"url": url}],
        "security": [{"apiKey": []}],
        "paths": {
            CHECKS_PATH: {
                "post": {
                    "operationId": "createCreditCheck",
                    "summary": "Run a credit check on a company",
                    "parameters": [
                        {
                            "name": IDEMPOTENCY_HEADER,
                            "in": "header",
                            "required": False,
                            "schema": {"type": "string", "maxLength": 255},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/CheckRequest"}
                            }
                        },
                    },
                    "responses": {"200": check} | errors,
                }
            },
            f"{CHECKS_PATH}/{{checkId}}": {
                "get": {
                    "operationId": "getCreditCheck",
                    "summary": "Read a credit check again",
                    "parameters": [
                        {
                            "name": "checkId",
                            "in": "path",
                            "required": True,
                            "schema": text,
                        }
                    ],
                    "responses": {"200": check} | errors,
                }
            },
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}
            },
            "schemas": {
                "CheckRequest": {
                    "type": "object",
                    "required": ["companyName", "country"],
                    "properties": {
                        "companyName": {"type": "string", "maxLength": MAX_NAME},
                        "country": {"type": "string", "pattern": "^[A-Za-z]{2}$"},
                        "dunsNumber": text,
                        "taxId": text,
                    },
                },
                "Check": {
                    "type": "object",
                    "properties": {
                        "checkId": text,
                        "companyName": text,
                        "country": text,
                        "dunsNumber": nullable,
                        "taxId": nullable,
                        "matchedOn": {
                            "type": "string",
                            "enum": ["dunsNumber", "taxId", "companyName"],
                        },
                        "score": {"type": "integer", "minimum": 1, "maximum": 100},
                        "rating": {"type": "string", "enum": list("ABCDE")},
                        "riskBand": {
                            "type": "string",
                            "enum": [band for _, _, band in RATINGS],
                        },
                        "reportedAt": {"type": "string", "format": "date-time"},
                    },
                },
                "Problem": {
                    "type": "object",
                    "properties": {
                        "type": text,
                        "title": text,
                        "status": {"type": "integer"},
                        "detail": text,
                        "code": text,
                        "errors": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "properties": {"field": text, "message": text},
                            },
                        },
                    },
                },
            },
        },
    }
