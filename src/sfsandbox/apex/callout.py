"""Apex HTTP callouts: ``Http``, ``HttpRequest`` and ``HttpResponse``.

The classes keep their Apex names and methods, so that a chapter shows the Apex and the
Python side by side::

    HttpRequest req = new HttpRequest();        req = HttpRequest()
    req.setEndpoint('callout:Bureau/scores');   req.setEndpoint("callout:Bureau/scores")
    req.setMethod('GET');                       req.setMethod("GET")
    req.setTimeout(5000);                       req.setTimeout(5000)
    HttpResponse res = new Http().send(req);    res = Http().send(req)
    Integer status = res.getStatusCode();       status = res.getStatusCode()

A callout is real HTTPS over loopback, trusting only the sandbox CA, inside the running
Apex transaction (``sfsandbox.apex.transaction``). What the runtime enforces, with the
platform's exception types and messages (sources beside each message below):

- the endpoint: ``callout:<NamedCredential>/<path>`` (the named credential's URL and
  authentication; see ``sfsandbox.apex.credentials``), or a URL that a remote site
  setting allows. Callouts reach only loopback: any other host answers as an
  unreachable host does on the platform, so a lab never touches the internet;
- the timeout: 10,000 ms unless ``setTimeout`` sets 1 to 120,000 ms;
- 100 callouts and 120,000 ms of callout time per transaction; no callout once DML work
  is pending; requests and responses of at most 6,000,000 bytes (12,000,000 in
  asynchronous Apex);
- HTTP error statuses are not exceptions: Apex returns the response, 4xx and 5xx
  alike, and follows no redirects.

Simulated latency: the contract between a callout and a simulated wait
-----------------------------------------------------------------------
A simulated system (the credit bureau and the others) makes an answer slow without
sleeping. It adds to its HTTP response the header::

    X-Sfsandbox-Simulated-Latency-Ms: <n>

where ``<n>`` is a non-negative integer: the answer took ``n`` milliseconds to arrive.
The runtime does not wait. It charges the callout ``n`` simulated milliseconds:

1. The callout's *effective timeout* is its ``setTimeout`` value (default 10,000 ms),
   capped by what is left of the transaction's 120,000 ms. If ``n`` exceeds it, the
   response is discarded and the callout raises ``System.CalloutException: Read timed
   out`` (or ``Exceeded maximum time allotted for callout (120000 ms)`` when the
   transaction's remaining time was the cap). The callout is then charged the
   effective timeout, not ``n``. The service has still done its work: a timed-out
   request may have succeeded, which is the lesson of idempotent retries.
2. The charged milliseconds are added to the transaction's cumulative callout time.
3. ``org.clock`` advances by the charged milliseconds.

The header counts on every answer, 2xx, 4xx or 5xx alike. It is removed from the
``HttpResponse`` that the Apex code sees, since no real service sends it. A value that
is not a non-negative integer is ignored (and logged). The real time a loopback request
takes is never charged, so every run gives the same numbers; a server that really
stalls meets the real timeout (the effective timeout, in real time) and is charged the
effective timeout. ``Continuation`` callouts follow the same contract with the
continuation's timeout (see ``sfsandbox.apex.continuation``).
"""

from __future__ import annotations

import dataclasses
import gzip
import logging
import ssl
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from sfsandbox.apex.credentials import OAUTH, ExternalCredential
from sfsandbox.apex.exceptions import CalloutException
from sfsandbox.apex.transaction import (
    CALLOUT_TIME_LIMIT_MS,
    ApexTransaction,
    CalloutRecord,
    current_transaction,
)
from sfsandbox.org import errors

if TYPE_CHECKING:
    from sfsandbox.apex.runtime import ApexRuntime

log = logging.getLogger(__name__)

SIMULATED_LATENCY_HEADER = "X-Sfsandbox-Simulated-Latency-Ms"
CALLOUT_PREFIX = "callout:"
DEFAULT_TIMEOUT_MS = 10_000
MAX_TIMEOUT_MS = 120_000
# HttpRequest.setMethod: "DELETE, GET, HEAD, PATCH, POST, PUT, TRACE".
METHODS = frozenset({"DELETE", "GET", "HEAD", "PATCH", "POST", "PUT", "TRACE"})
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# What a callout sends unless the code sets it (observed at echo services and load
# balancers: "User-Agent: SFDC-Callout/49.0", the Java client's Accept, no-cache).
DEFAULT_HEADERS = {
    "Accept": "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2",
    "Cache-Control": "no-cache",
    "Pragma": "no-cache",
}

# --- messages ------------------------------------------------------------------------
# Observed, e.g. in public READMEs: "System.CalloutException: Unauthorized endpoint,
# please check Setup->Security->Remote site settings. endpoint = https://yesno.wtf/api".
UNAUTHORIZED_ENDPOINT = (
    "Unauthorized endpoint, please check Setup->Security->Remote site settings. "
    "endpoint = {endpoint}"
)
# Observed (troubleshooting notes of several public projects): "The callout couldn't
# access the endpoint. You might not have the required permissions, or the named
# credential "Stripe_API" might not exist."
UNKNOWN_NAMED_CREDENTIAL = (
    "The callout couldn't access the endpoint. You might not have the required "
    'permissions, or the named credential "{name}" might not exist.'
)
# Observed: "System.CalloutException: We couldn't access the credential(s). You might
# not have the required permissions, or the external credential "Google_Gemini_API"
# might not exist."
UNKNOWN_EXTERNAL_CREDENTIAL = (
    "We couldn't access the credential(s). You might not have the required "
    'permissions, or the external credential "{name}" might not exist.'
)
# Apex Developer Guide, "Callout Limits and Limitations"; the message is the one
# documented in the sandbox's reference sheet (section 6) and widely observed.
UNCOMMITTED_WORK = (
    "You have uncommitted work pending. Please commit or rollback before calling out"
)
# Observed wording for a callout from a trigger's synchronous context, the reason
# ``@future(callout=true)`` exists (Apex Developer Guide, "Invoking Callouts").
CALLOUT_FROM_TRIGGER = "Callout from triggers are currently not supported."
# Observed wording for a callout from a @future method without callout=true.
CALLOUT_NOT_ALLOWED_FROM_FUTURE = (
    "Callout not allowed from this future method. Please enable callout by "
    "annotating the future method. eg: @Future(callout=true)"
)
READ_TIMED_OUT = "Read timed out"  # observed: "System.CalloutException: Read timed out"
# Partly observed: public Apex code catches callout exceptions whose message contains
# "maximum time allotted for callout"; the "(120000 ms)" suffix is UNVERIFIED.
CALLOUT_TIME_EXCEEDED = (
    f"Exceeded maximum time allotted for callout ({CALLOUT_TIME_LIMIT_MS} ms)"
)
# Observed for a response over 6 MB: "IO Exception: Exceeded max size limit of
# 6000000" (older orgs prefix "IO Exception: "). The same words for a request over
# the limit are UNVERIFIED.
SIZE_EXCEEDED = "Exceeded max size limit of {limit}"
# UNVERIFIED wording: the documented range is 1 to 120,000 ms.
TIMEOUT_RANGE = f"Timeout value must be between 1 and {MAX_TIMEOUT_MS}"
# Callouts leave through Salesforce's proxy, which answers 503 when it cannot resolve
# or reach the host (observed in an Aura action's error; Squid answers 503 for DNS
# and connect failures). Used for unknown hosts and refused connections alike.
UNREACHABLE_HOST = (
    'Unable to tunnel through proxy. Proxy returns "HTTP/1.1 503 Service Unavailable"'
)
# Observed: "IO Exception: PKIX path building failed: unable to find valid
# certification path to requested target" (a server certificate Salesforce does not
# trust).
UNTRUSTED_CERTIFICATE = (
    "PKIX path building failed: unable to find valid certification path to "
    "requested target"
)
# The Java client's message for a connection closed without a response: UNVERIFIED
# for Apex.
NO_RESPONSE = "Unexpected end of file from server"


class HttpRequest:
    """``System.HttpRequest``: what a callout sends.

    Keyword arguments are a Python shortcut for the setters:
    ``HttpRequest(endpoint=..., method="POST", headers={...}, body="...")``.
    """

    def __init__(
        self,
        *,
        endpoint: str | None = None,
        method: str | None = None,
        headers: Mapping[str, str] | None = None,
        body: str | bytes | None = None,
        timeout: int | None = None,
    ) -> None:
        self._endpoint: str | None = endpoint
        self._method: str | None = method
        self._headers: dict[str, str] = {}
        self._body = b""
        self._compressed = False
        self.timeout_ms = DEFAULT_TIMEOUT_MS
        for name, value in (headers or {}).items():
            self.setHeader(name, value)
        if isinstance(body, bytes):
            self.setBodyAsBlob(body)
        elif body is not None:
            self.setBody(body)
        if timeout is not None:
            self.setTimeout(timeout)

    def setEndpoint(self, endpoint: str) -> None:  # noqa: N802 - Apex names
        self._endpoint = endpoint

    def getEndpoint(self) -> str | None:  # noqa: N802
        return self._endpoint

    def setMethod(self, method: str) -> None:  # noqa: N802
        self._method = method

    def getMethod(self) -> str | None:  # noqa: N802
        return self._method

    def setHeader(self, key: str, value: str) -> None:  # noqa: N802
        for existing in list(self._headers):
            if existing.lower() == key.lower():
                del self._headers[existing]
        self._headers[key] = value

    def getHeader(self, key: str) -> str | None:  # noqa: N802
        """The header the code set (never one a named credential adds)."""
        for name, value in self._headers.items():
            if name.lower() == key.lower():
                return value
        return None

    def setBody(self, body: str) -> None:  # noqa: N802
        self._body = body.encode("utf-8")

    def getBody(self) -> str:  # noqa: N802
        return self._body.decode("utf-8", errors="replace")

    def setBodyAsBlob(self, body: bytes) -> None:  # noqa: N802
        self._body = bytes(body)

    def getBodyAsBlob(self) -> bytes:  # noqa: N802
        return self._body

    def setTimeout(self, timeout: int) -> None:  # noqa: N802
        """The timeout in milliseconds, 1 to 120,000 (Apex default: 10,000)."""
        if isinstance(timeout, bool) or not isinstance(timeout, int):
            raise TypeError("setTimeout takes an Integer of milliseconds")
        if not 1 <= timeout <= MAX_TIMEOUT_MS:
            raise CalloutException(TIMEOUT_RANGE)
        self.timeout_ms = timeout

    def setCompressed(self, flag: bool) -> None:  # noqa: N802
        """Send the body gzip-compressed, with ``Content-Encoding: gzip``."""
        self._compressed = bool(flag)

    def getCompressed(self) -> bool:  # noqa: N802
        return self._compressed

    def setClientCertificateName(self, name: str) -> None:  # noqa: N802
        raise errors.NotEmulated("Client certificates on callouts")

    def setBodyDocument(self, document: object) -> None:  # noqa: N802
        raise errors.NotEmulated("HttpRequest.setBodyDocument (Dom.Document)")

    @property
    def headers(self) -> dict[str, str]:
        """The headers the code set, as a copy."""
        return dict(self._headers)

    def wire_body(self) -> bytes:
        return gzip.compress(self._body, mtime=0) if self._compressed else self._body

    def toString(self) -> str:  # noqa: N802
        return f"System.HttpRequest[Endpoint={self._endpoint}, Method={self._method}]"

    __str__ = toString

    def __repr__(self) -> str:
        return f"<{self.toString()}>"


class HttpResponse:
    """``System.HttpResponse``: what came back, whatever its status."""

    def __init__(
        self,
        status_code: int = 0,
        status: str = "",
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> None:
        self._status_code = status_code
        self._status = status
        self._headers = dict(headers or {})
        self._body = body

    def getStatusCode(self) -> int:  # noqa: N802
        return self._status_code

    def getStatus(self) -> str:  # noqa: N802
        """The reason phrase of the status line (``"OK"``, ``"Not Found"``)."""
        return self._status

    def getBody(self) -> str:  # noqa: N802
        return self._body.decode("utf-8", errors="replace")

    def getBodyAsBlob(self) -> bytes:  # noqa: N802
        return self._body

    def getHeader(self, key: str) -> str | None:  # noqa: N802
        for name, value in self._headers.items():
            if name.lower() == key.lower():
                return value
        return None

    def getHeaderKeys(self) -> list[str]:  # noqa: N802
        return list(self._headers)

    # Apex has the setters too, for HttpCalloutMock responses.
    def setStatusCode(self, status_code: int) -> None:  # noqa: N802
        self._status_code = status_code

    def setStatus(self, status: str) -> None:  # noqa: N802
        self._status = status

    def setHeader(self, key: str, value: str) -> None:  # noqa: N802
        self._headers[key] = value

    def setBody(self, body: str) -> None:  # noqa: N802
        self._body = body.encode("utf-8")

    def toString(self) -> str:  # noqa: N802
        return (
            f"System.HttpResponse[Status={self._status}, "
            f"StatusCode={self._status_code}]"
        )

    __str__ = toString

    def __repr__(self) -> str:
        return f"<{self.toString()}>"


class Http:
    """``System.Http``: sends a request in the running Apex transaction."""

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` and return the response, or raise ``CalloutException``."""
        transaction = current_transaction("Http().send()")
        return send(transaction, request)


# --- the callout, step by step -------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    """Where a request goes: the URL, and what a named credential adds to it."""

    url: str
    credential: ExternalCredential | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)
    bearer: bool = False


@dataclasses.dataclass(frozen=True)
class Exchange:
    """The outcome of one HTTP exchange: a response, or why there was none."""

    response: HttpResponse | None
    latency_ms: int = 0
    failure: str = ""  # "timeout", "unreachable", "untrusted", "no_response", "size"


def send(transaction: ApexTransaction, request: HttpRequest) -> HttpResponse:
    """One synchronous Apex callout in ``transaction``."""
    if transaction.trigger_depth:
        raise CalloutException(CALLOUT_FROM_TRIGGER)
    if not transaction.callouts_allowed:
        raise CalloutException(CALLOUT_NOT_ALLOWED_FROM_FUTURE)
    if transaction.has_pending_work:
        raise CalloutException(UNCOMMITTED_WORK)
    runtime = transaction.org.apex
    method = check_method(request)
    target = resolve(runtime, request)

    transaction.count_callout()
    remaining = CALLOUT_TIME_LIMIT_MS - transaction.callout_time_ms
    if remaining <= 0:
        raise CalloutException(CALLOUT_TIME_EXCEEDED)
    limit = transaction.callout_size_limit
    if len(request.wire_body()) > limit:
        raise CalloutException(SIZE_EXCEEDED.format(limit=limit))

    effective = min(request.timeout_ms, remaining)
    exchange = runtime.exchange(method, target, request, effective, limit)
    charged = min(exchange.latency_ms, effective)
    failure = exchange.failure
    if exchange.response is not None and exchange.latency_ms > effective:
        failure = "timeout"
    if failure == "timeout":
        charged = effective
    _charge(transaction, charged)

    message = ""
    if failure == "timeout":
        budget_was_cap = effective < request.timeout_ms
        message = CALLOUT_TIME_EXCEEDED if budget_was_cap else READ_TIMED_OUT
    elif failure:
        message = {
            "unreachable": UNREACHABLE_HOST,
            "untrusted": UNTRUSTED_CERTIFICATE,
            "no_response": NO_RESPONSE,
            "size": SIZE_EXCEEDED.format(limit=limit),
        }[failure]
    response = None if message else exchange.response
    transaction.callout_log.append(
        CalloutRecord(
            method=method,
            endpoint=request.getEndpoint() or "",
            url=target.url,
            status_code=response.getStatusCode() if response else None,
            charged_ms=charged,
            error=message,
        )
    )
    if response is None:
        raise CalloutException(message)
    return response


def _charge(transaction: ApexTransaction, milliseconds: int) -> None:
    transaction.charge_callout_time(milliseconds)
    if milliseconds:
        transaction.org.clock.advance(timedelta(milliseconds=milliseconds))


def check_method(request: HttpRequest) -> str:
    method = request.getMethod()
    if not isinstance(method, str) or method.upper() not in METHODS:
        # UNVERIFIED wording.
        shown = "null" if method is None else method
        raise CalloutException(f"Invalid HTTP method: {shown}")
    return method.upper()


def resolve(runtime: ApexRuntime, request: HttpRequest) -> Target:
    """The URL and credential of a request's endpoint, or ``CalloutException``."""
    endpoint = request.getEndpoint()
    if not isinstance(endpoint, str):
        endpoint = ""
    if endpoint[: len(CALLOUT_PREFIX)].lower() == CALLOUT_PREFIX:
        return _through_named_credential(runtime, endpoint[len(CALLOUT_PREFIX) :])

    scheme = urlsplit(endpoint).scheme.lower() if "://" in endpoint else ""
    if not scheme:
        # java.net.URL's message for a URL without a scheme (UNVERIFIED for Apex).
        raise CalloutException(f"no protocol: {endpoint}")
    if scheme not in ("http", "https"):
        raise CalloutException(f"unknown protocol: {scheme}")
    if not urlsplit(endpoint).hostname or not runtime.remote_site_settings.allows(
        endpoint
    ):
        raise CalloutException(UNAUTHORIZED_ENDPOINT.format(endpoint=endpoint))
    return Target(endpoint)


def _through_named_credential(runtime: ApexRuntime, rest: str) -> Target:
    cut = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=-1)
    name, path = (rest, "") if cut < 0 else (rest[:cut], rest[cut:])
    named = runtime.named_credentials.get(name)
    if named is None:
        raise CalloutException(UNKNOWN_NAMED_CREDENTIAL.format(name=name))
    url = named.url.rstrip("/") + path if path.startswith("/") else named.url + path

    if named.external_credential is None:
        return Target(url)
    credential = runtime.external_credentials.get(named.external_credential)
    if credential is None:
        raise CalloutException(
            UNKNOWN_EXTERNAL_CREDENTIAL.format(name=named.external_credential)
        )
    if credential.protocol == OAUTH:
        return Target(url, credential, bearer=named.generate_authorization_header)
    return Target(url, credential, credential.resolved_headers())


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "").lower() in LOOPBACK_HOSTS


def latency_of(response: httpx.Response) -> int:
    """The simulated latency a service declared, in ms (0 if none or malformed)."""
    value = response.headers.get(SIMULATED_LATENCY_HEADER)
    if value is None:
        return 0
    if value.strip().isdigit():
        return int(value.strip())
    log.warning(
        "Ignoring %s: %r is not a whole number of ms", SIMULATED_LATENCY_HEADER, value
    )
    return 0


def failure_of(error: httpx.HTTPError) -> str:
    """What kind of failure an httpx error is, in the runtime's terms."""
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.ConnectError):
        if isinstance(error.__cause__, ssl.SSLCertVerificationError) or (
            "CERTIFICATE_VERIFY_FAILED" in str(error)
        ):
            return "untrusted"
        return "unreachable"
    return "no_response"
