"""The Apex-like runtime: transactions, callouts, credentials, limits, Continuation.

Callouts go over real HTTPS to a small service of the tests' own, served on loopback
with the sandbox CA; it answers what each path asks for (statuses, sizes, simulated or
real latency) and remembers what it received.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sfsandbox import Sandbox
from sfsandbox.apex import (
    JSON,
    SIMULATED_LATENCY_HEADER,
    CalloutException,
    Continuation,
    Database,
    ExternalCredential,
    Http,
    HttpRequest,
    JSONException,
    LimitException,
    Limits,
    NamedCredential,
    NoApexTransaction,
    RemoteSiteSetting,
)
from sfsandbox.runtime.server import BackgroundServer
from sfsandbox.runtime.tls import SandboxCA

API = "/services/data/v62.0"
SECRET = "sk-test-0123456789"
UNCOMMITTED = (
    "You have uncommitted work pending. Please commit or rollback before calling out"
)
TIME_EXCEEDED = "Exceeded maximum time allotted for callout (120000 ms)"
UNREACHABLE = (
    'Unable to tunnel through proxy. Proxy returns "HTTP/1.1 503 Service Unavailable"'
)


# --- the test service -----------------------------------------------------------------


@dataclass
class Service:
    """The tests' own HTTPS service and what it saw."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    tokens_issued: int = 0
    valid_token: str | None = None

    @property
    def last(self) -> dict[str, Any]:
        return self.received[-1]


def service_app(service: Service) -> Starlette:
    async def record(request: Request) -> dict[str, Any]:
        body = await request.body()
        seen = {
            "method": request.method,
            "path": request.url.path,
            "query": request.url.query,
            "headers": dict(request.headers),
            "body": body,
        }
        service.received.append(seen)
        return seen

    async def echo(request: Request) -> Response:
        seen = await record(request)
        return JSONResponse({**seen, "body": len(seen["body"])})

    async def status(request: Request) -> Response:
        await record(request)
        return Response("status", status_code=int(request.path_params["code"]))

    async def latency(request: Request) -> Response:
        await record(request)
        ms = request.path_params["ms"]
        return JSONResponse({"ok": True}, headers={SIMULATED_LATENCY_HEADER: ms})

    async def big(request: Request) -> Response:
        await record(request)
        return Response(b"x" * int(request.path_params["n"]))

    async def html(request: Request) -> Response:
        await record(request)
        return Response("<html>Bad Gateway</html>", media_type="application/json")

    async def sleep(request: Request) -> Response:
        await record(request)
        await asyncio.sleep(int(request.path_params["ms"]) / 1000)
        return Response("late")

    async def redirect(request: Request) -> Response:
        await record(request)
        return Response(status_code=302, headers={"Location": "/echo"})

    async def token(request: Request) -> Response:
        await record(request)
        form = dict(
            item.split("=", 1) for item in (await request.body()).decode().split("&")
        )
        if form.get("client_secret") != SECRET:
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        service.tokens_issued += 1
        service.valid_token = f"tok-{service.tokens_issued}"
        return JSONResponse({"access_token": service.valid_token, "expires_in": 3600})

    async def protected(request: Request) -> Response:
        await record(request)
        if request.headers.get("authorization") != f"Bearer {service.valid_token}":
            return JSONResponse({"error": "invalid_token"}, status_code=401)
        return JSONResponse({"ok": True})

    return Starlette(
        routes=[
            Route("/echo", echo, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
            Route("/status/{code:int}", status),
            Route("/latency/{ms}", latency),
            Route("/big/{n:int}", big),
            Route("/html", html),
            Route("/sleep/{ms:int}", sleep),
            Route("/redirect", redirect),
            Route("/token", token, methods=["POST"]),
            Route("/protected", protected),
        ]
    )


@pytest.fixture(scope="module")
def service(sandbox: Sandbox) -> Iterator[Service]:
    """The service, with a named credential, an OAuth one and a remote site for it."""
    state = Service()
    # The sandbox keeps its CA private; a test server borrows its certificate.
    ca = sandbox._ca
    server = BackgroundServer(
        service_app(state), "test-service", ca.cert_file, ca.key_file
    )
    state.url = f"https://127.0.0.1:{server.start()}"

    org = sandbox.org
    org.external_credentials.add(
        ExternalCredential.custom(
            "ServiceAuth",
            parameters={"ApiKey": SECRET},
            headers={"X-Api-Key": "{!$Credential.ServiceAuth.ApiKey}"},
        )
    )
    org.named_credentials.new("Service", state.url, "ServiceAuth")
    org.named_credentials.new("Open", state.url)
    org.named_credentials.new("Orphan", state.url, "NoSuchCredential")
    org.external_credentials.add(
        ExternalCredential.oauth_client_credentials(
            "ServiceOAuth",
            token_url=f"{state.url}/token",
            client_id="client-1",
            client_secret=SECRET,
        )
    )
    org.named_credentials.new("ServiceWithOAuth", state.url, "ServiceOAuth")
    org.remote_site_settings.new("TestService", state.url)
    # A host the sandbox never reaches (callouts stay on loopback).
    org.remote_site_settings.new("Elsewhere", "https://bureau.example.com")
    yield state
    server.stop()


def request(endpoint: str, method: str = "GET", **settings: Any) -> HttpRequest:
    return HttpRequest(endpoint=endpoint, method=method, **settings)


def call(sandbox: Sandbox, req: HttpRequest, **transaction: Any) -> Any:
    """One callout in a transaction of its own."""
    with sandbox.org.apex.transaction(**transaction):
        return Http().send(req)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lead_count(sandbox: Sandbox, last_name: str) -> int:
    with sandbox.org.apex.transaction() as tx:
        return tx.count_query(
            f"SELECT COUNT() FROM Lead WHERE LastName = '{last_name}'"
        )


# --- named credentials and remote sites --------------------------------------------


def test_a_named_credential_adds_its_secret_header_the_code_never_sees(
    sandbox: Sandbox, service: Service
) -> None:
    req = request("callout:Service/echo?x=1", "POST", body='{"a":1}')
    req.setHeader("Content-Type", "application/json")
    response = call(sandbox, req)

    assert response.getStatusCode() == 200
    seen = service.last
    assert seen["headers"]["x-api-key"] == SECRET
    assert (seen["path"], seen["query"], seen["body"]) == ("/echo", "x=1", b'{"a":1}')
    assert seen["headers"]["user-agent"] == "SFDC-Callout/62.0"
    assert req.getHeader("X-Api-Key") is None
    assert SECRET not in repr(sandbox.org.external_credentials.get("ServiceAuth"))


def test_the_credential_header_wins_over_one_the_code_sets(
    sandbox: Sandbox, service: Service
) -> None:
    req = request("callout:Service/echo")
    req.setHeader("X-Api-Key", "guessed")
    call(sandbox, req)
    assert service.last["headers"]["x-api-key"] == SECRET


def test_a_named_credential_without_authentication_sends_no_secret(
    sandbox: Sandbox, service: Service
) -> None:
    assert call(sandbox, request("callout:open/echo")).getStatusCode() == 200
    assert "x-api-key" not in service.last["headers"]


def test_oauth_client_credentials_get_cache_and_refresh_the_token(
    sandbox: Sandbox, service: Service
) -> None:
    issued = service.tokens_issued
    with sandbox.org.apex.transaction():
        first = Http().send(request("callout:ServiceWithOAuth/protected"))
        second = Http().send(request("callout:ServiceWithOAuth/protected"))
    assert (first.getStatusCode(), second.getStatusCode()) == (200, 200)
    assert service.tokens_issued == issued + 1
    assert service.last["headers"]["authorization"] == f"Bearer tok-{issued + 1}"

    service.valid_token = "revoked-elsewhere"  # the service no longer takes ours
    with sandbox.org.apex.transaction():
        refreshed = Http().send(request("callout:ServiceWithOAuth/protected"))
        assert Limits.getCallouts() == 1  # the retry is part of the one callout
    assert refreshed.getStatusCode() == 200
    assert service.tokens_issued == issued + 2


def test_oauth_to_the_orgs_own_api(sandbox: Sandbox) -> None:
    org = sandbox.org
    org.external_credentials.add(
        ExternalCredential.oauth_client_credentials(
            "OrgAuth",
            token_url=org.token_url,
            client_id=org.client_id,
            client_secret=org.client_secret,
        )
    )
    org.named_credentials.new("ThisOrg", org.instance_url, "OrgAuth")
    response = call(sandbox, request(f"callout:ThisOrg{API}/limits"))
    assert response.getStatusCode() == 200
    assert "DailyApiRequests" in JSON.deserializeUntyped(response.getBody())


def test_a_remote_site_allows_its_origin_only(
    sandbox: Sandbox, service: Service
) -> None:
    assert call(sandbox, request(f"{service.url}/echo")).getStatusCode() == 200

    other_port = service.url.rsplit(":", 1)[0] + f":{free_port()}"
    with pytest.raises(CalloutException, match="Unauthorized endpoint"):
        call(sandbox, request(f"{other_port}/echo"))
    plain = service.url.replace("https://", "http://")
    with pytest.raises(CalloutException, match="Unauthorized endpoint"):
        call(sandbox, request(f"{plain}/echo"))


def test_remote_site_matching_rules() -> None:
    site = RemoteSiteSetting("Api", "https://api.example.com")
    assert site.allows("https://API.example.com:443/v1/x?y=1")
    assert not site.allows("https://api.example.com:8443/v1")
    assert not site.allows("http://api.example.com/v1")
    assert not site.allows("https://evil.example.com/api.example.com")
    relaxed = RemoteSiteSetting("Api", "https://api.example.com", True, True)
    assert relaxed.allows("http://api.example.com/v1")
    assert not RemoteSiteSetting("Api", "https://api.example.com", False).allows(
        "https://api.example.com/"
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: NamedCredential("9lives", "https://x.example"),
        lambda: NamedCredential("Ok", "ftp://x.example"),
        lambda: RemoteSiteSetting("Has space", "https://x.example"),
        lambda: ExternalCredential.custom(
            "Auth", parameters={}, headers={"X-Key": "{!$Credential.Auth.Missing}"}
        ),
        lambda: ExternalCredential.custom(
            "Auth", parameters={"K": "v"}, headers={"X-Key": "{!$Credential.Other.K}"}
        ),
    ],
)
def test_setup_refuses_what_setup_would_refuse(make: Callable[[], object]) -> None:
    with pytest.raises(ValueError):
        make()


# --- responses -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "phrase"),
    [(404, "Not Found"), (500, "Internal Server Error"), (503, "Service Unavailable")],
)
def test_error_statuses_are_responses_not_exceptions(
    sandbox: Sandbox, service: Service, code: int, phrase: str
) -> None:
    response = call(sandbox, request(f"callout:Open/status/{code}"))
    assert (response.getStatusCode(), response.getStatus()) == (code, phrase)
    assert response.getBody() == "status"


def test_redirects_are_returned_not_followed(
    sandbox: Sandbox, service: Service
) -> None:
    hits = len(service.received)
    response = call(sandbox, request("callout:Open/redirect"))
    assert response.getStatusCode() == 302
    assert response.getHeader("LOCATION") == "/echo"
    assert len(service.received) == hits + 1


def test_json_deserialize_untyped(sandbox: Sandbox, service: Service) -> None:
    body = call(sandbox, request("callout:Open/echo")).getBody()
    assert JSON.deserializeUntyped(body)["path"] == "/echo"
    assert JSON.serialize({"a": None, "b": [1]}) == '{"a":null,"b":[1]}'
    assert JSON.serialize({"a": None}, suppressApexObjectNulls=True) == "{}"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "<html>",
            "Unexpected character ('<' (code 60)): expected a valid value (number, "
            "String, array, object, 'true', 'false' or 'null') at input location [1,2]",
        ),
        ('{"a":1,}', "was expecting double-quote to start field name"),
        ('{"a":1', "Unexpected end-of-input"),
        ("", "No content to map due to end-of-input"),
        ('{"a":1} x', "Unexpected character ('x' (code 120))"),
    ],
)
def test_json_errors_are_json_exceptions(text: str, message: str) -> None:
    with pytest.raises(JSONException) as caught:
        JSON.deserializeUntyped(text)
    assert message in caught.value.getMessage()
    assert caught.value.getTypeName() == "System.JSONException"


# --- simulated latency -------------------------------------------------------------


def test_simulated_latency_is_charged_not_waited(
    sandbox: Sandbox, service: Service
) -> None:
    before = sandbox.clock.now()
    with sandbox.org.apex.transaction() as tx:
        response = Http().send(request("callout:Open/latency/2500"))
        assert tx.callout_time_ms == 2500
        assert tx.callout_log[-1].charged_ms == 2500
    assert sandbox.clock.now() - before == timedelta(milliseconds=2500)
    assert response.getHeader(SIMULATED_LATENCY_HEADER) is None
    assert SIMULATED_LATENCY_HEADER.lower() not in response.getHeaderKeys()


def test_latency_over_the_timeout_times_out_after_the_service_did_the_work(
    sandbox: Sandbox, service: Service
) -> None:
    before, hits = sandbox.clock.now(), len(service.received)
    with sandbox.org.apex.transaction() as tx:
        with pytest.raises(CalloutException, match="^Read timed out$"):
            Http().send(request("callout:Open/latency/5001", timeout=5000))
        assert tx.callout_time_ms == 5000
    assert sandbox.clock.now() - before == timedelta(milliseconds=5000)
    assert len(service.received) == hits + 1


def test_default_timeout_is_ten_seconds(sandbox: Sandbox, service: Service) -> None:
    assert call(sandbox, request("callout:Open/latency/10000")).getStatusCode() == 200
    with pytest.raises(CalloutException, match="Read timed out"):
        call(sandbox, request("callout:Open/latency/10001"))


def test_a_malformed_latency_header_is_ignored(
    sandbox: Sandbox, service: Service
) -> None:
    with sandbox.org.apex.transaction() as tx:
        Http().send(request("callout:Open/latency/soon"))
        assert tx.callout_time_ms == 0


def test_a_really_slow_server_meets_the_real_timeout(
    sandbox: Sandbox, service: Service
) -> None:
    with sandbox.org.apex.transaction() as tx:
        with pytest.raises(CalloutException, match="Read timed out"):
            Http().send(request("callout:Open/sleep/2000", timeout=50))
        assert tx.callout_time_ms == 50


def test_cumulative_callout_time_caps_each_callout(
    sandbox: Sandbox, service: Service
) -> None:
    with sandbox.org.apex.transaction() as tx:
        Http().send(request("callout:Open/latency/100000", timeout=120_000))
        # 20,000 ms are left: a 25,000 ms answer meets the transaction's cap.
        with pytest.raises(CalloutException) as caught:
            Http().send(request("callout:Open/latency/25000", timeout=30_000))
        assert caught.value.getMessage() == TIME_EXCEEDED
        assert tx.callout_time_ms == 120_000
        with pytest.raises(CalloutException, match=r"\(120000 ms\)"):
            Http().send(request("callout:Open/echo"))


# --- limits and the transaction ----------------------------------------------------


def test_limits_count_callouts(sandbox: Sandbox, service: Service) -> None:
    with sandbox.org.apex.transaction():
        assert (Limits.getCallouts(), Limits.getLimitCallouts()) == (0, 100)
        Http().send(request("callout:Open/echo"))
        Http().send(request("callout:Open/status/500"))
        assert Limits.getCallouts() == 2
        Database.query("SELECT Id FROM Account LIMIT 1")
        assert (Limits.getQueries(), Limits.getLimitQueries()) == (1, 100)


def test_the_101st_callout_is_an_uncatchable_limit_exception(
    sandbox: Sandbox, service: Service
) -> None:
    limit = pytest.raises(LimitException, match="^Too many callouts: 101$")
    with limit, sandbox.org.apex.transaction():
        for _ in range(101):
            with contextlib.suppress(Exception):  # Apex: catch (Exception e) {}
                Http().send(request("callout:Open/echo"))
        Database.insert("Lead", {"LastName": "AfterLimit", "Company": "L"})
    assert lead_count(sandbox, "AfterLimit") == 0


def test_a_callout_after_dml_is_refused_and_before_it_is_fine(
    sandbox: Sandbox, service: Service
) -> None:
    with sandbox.org.apex.transaction() as tx:
        assert Http().send(request("callout:Open/echo")).getStatusCode() == 200
        tx.insert("Lead", {"LastName": "Pending", "Company": "P"})
        assert tx.has_pending_work
        with pytest.raises(CalloutException) as caught:
            Http().send(request("callout:Open/echo"))
        assert caught.value.getMessage() == UNCOMMITTED
    assert lead_count(sandbox, "Pending") == 1  # the code caught it: work commits


def test_an_uncaught_exception_rolls_the_transaction_back(sandbox: Sandbox) -> None:
    with pytest.raises(ZeroDivisionError), sandbox.org.apex.transaction() as tx:
        tx.insert("Lead", {"LastName": "RolledBack", "Company": "R"})
        assert lead_count_inside(tx, "RolledBack") == 1
        _ = 1 / 0
    assert lead_count(sandbox, "RolledBack") == 0


def lead_count_inside(tx: Any, last_name: str) -> int:
    return tx.count_query(f"SELECT COUNT() FROM Lead WHERE LastName = '{last_name}'")


def test_execute_runs_a_function_in_its_own_transaction(sandbox: Sandbox) -> None:
    def create(last_name: str) -> str:
        return Database.insert("Lead", {"LastName": last_name, "Company": "E"})

    lead_id = sandbox.org.apex.execute(create, "Executed")
    assert lead_id.startswith("00Q")
    assert lead_count(sandbox, "Executed") == 1


def test_apex_code_outside_a_transaction_is_a_python_error(service: Service) -> None:
    with pytest.raises(NoApexTransaction, match="org.apex.transaction"):
        Http().send(request("callout:Open/echo"))
    with pytest.raises(NoApexTransaction):
        Limits.getCallouts()


def test_transactions_do_not_nest(sandbox: Sandbox) -> None:
    nested = pytest.raises(RuntimeError, match="no nested")
    with sandbox.org.apex.transaction(), nested, sandbox.org.apex.transaction():
        pass


def test_asynchronous_apex_may_receive_12_mb(
    sandbox: Sandbox, service: Service
) -> None:
    with pytest.raises(CalloutException, match="Exceeded max size limit of 6000000"):
        call(sandbox, request("callout:Open/big/6000001"))
    response = call(sandbox, request("callout:Open/big/6000001"), asynchronous=True)
    assert len(response.getBodyAsBlob()) == 6_000_001


def test_a_compressed_request_is_sent_gzipped(
    sandbox: Sandbox, service: Service
) -> None:
    req = request("callout:Open/echo", "POST", body="z" * 1000)
    req.setCompressed(True)
    call(sandbox, req)
    assert service.last["headers"]["content-encoding"] == "gzip"
    assert len(service.last["body"]) < 1000


def test_an_untrusted_certificate_fails_the_handshake(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    other = SandboxCA(tmp_path)  # a CA the org does not trust
    server = BackgroundServer(
        service_app(Service()), "stranger", other.cert_file, other.key_file
    )
    url = f"https://127.0.0.1:{server.start()}"
    try:
        sandbox.org.remote_site_settings.new("Stranger", url)
        with pytest.raises(CalloutException, match="PKIX path building failed"):
            call(sandbox, request(f"{url}/echo"))
    finally:
        server.stop()
        sandbox.org.remote_site_settings.remove("Stranger")


def test_timeouts_at_the_edges_of_the_range() -> None:
    req = HttpRequest()
    req.setTimeout(1)
    req.setTimeout(120_000)
    assert req.timeout_ms == 120_000
    for bad in (0, -1, 120_001):
        with pytest.raises(CalloutException, match="between 1 and 120000"):
            req.setTimeout(bad)
    assert req.timeout_ms == 120_000


def test_an_apex_rest_handler_calls_out_in_the_requests_transaction(
    sandbox: Sandbox, service: Service, api: httpx.Client
) -> None:
    class Relay:
        @staticmethod
        def http_get(context):
            return Http().send(request("callout:Service/status/201")).getStatusCode()

        @staticmethod
        def http_post(context):
            context.insert("Lead", {"LastName": "RelayLead", "Company": "R"})
            return Http().send(request("callout:Service/echo")).getStatusCode()

    sandbox.org.rest_resource("/Relay")(Relay)
    try:
        assert api.get("/services/apexrest/Relay").json() == 201
        answer = api.post("/services/apexrest/Relay")
        assert answer.status_code == 500
        message = answer.json()[0]["message"]
        assert message.startswith(f"System.CalloutException: {UNCOMMITTED}\n\n")
        assert lead_count(sandbox, "RelayLead") == 0
    finally:
        sandbox.org.unregister_rest_resource(Relay)


# --- bad input, one row each ----------------------------------------------------------


@dataclass
class Bad:
    name: str
    run: Callable[[Sandbox, Service], Any]
    error: type[Exception]
    message: str  # the whole message, or its start when it ends with "..."


def send_in_transaction(req: HttpRequest, before: Callable[[Any], Any] | None = None):
    def run(sandbox: Sandbox, service: Service) -> Any:
        with sandbox.org.apex.transaction() as tx:
            if before is not None:
                before(tx)
            return Http().send(req)

    return run


def many_callouts(sandbox: Sandbox, service: Service) -> None:
    with sandbox.org.apex.transaction():
        for _ in range(101):
            Http().send(request("callout:Open/echo"))


def over_two_minutes(sandbox: Sandbox, service: Service) -> None:
    with sandbox.org.apex.transaction():
        for _ in range(3):
            Http().send(request("callout:Open/latency/50000", timeout=60_000))


def refused(sandbox: Sandbox, service: Service) -> None:
    url = f"https://127.0.0.1:{free_port()}"
    sandbox.org.named_credentials.new("Refused", url)
    send_in_transaction(request("callout:Refused/x"))(sandbox, service)


def malformed_body(sandbox: Sandbox, service: Service) -> None:
    response = call(sandbox, request("callout:Open/html"))
    assert response.getStatusCode() == 200  # the runtime returns what came
    JSON.deserializeUntyped(response.getBody())


def timeout_of(ms: int) -> Callable[[Sandbox, Service], None]:
    def run(sandbox: Sandbox, service: Service) -> None:
        HttpRequest().setTimeout(ms)

    return run


BAD = [
    Bad(
        "unknown host",
        send_in_transaction(request("https://bureau.example.com/scores")),
        CalloutException,
        UNREACHABLE,
    ),
    Bad("connection refused", refused, CalloutException, UNREACHABLE),
    Bad(
        "unknown named credential",
        send_in_transaction(request("callout:NoSuchService/scores")),
        CalloutException,
        "The callout couldn't access the endpoint. You might not have the required "
        'permissions, or the named credential "NoSuchService" might not exist.',
    ),
    Bad(
        "unknown external credential",
        send_in_transaction(request("callout:Orphan/echo")),
        CalloutException,
        "We couldn't access the credential(s). You might not have the required "
        'permissions, or the external credential "NoSuchCredential" might not exist.',
    ),
    Bad(
        "endpoint not in remote site settings",
        send_in_transaction(request("https://127.0.0.1:9/scores?id=1")),
        CalloutException,
        "Unauthorized endpoint, please check Setup->Security->Remote site settings. "
        "endpoint = https://127.0.0.1:9/scores?id=1",
    ),
    Bad(
        "no scheme",
        send_in_transaction(request("bureau/scores")),
        CalloutException,
        "no protocol: bureau/scores",
    ),
    Bad(
        "no method",
        send_in_transaction(HttpRequest(endpoint="callout:Open/echo")),
        CalloutException,
        "Invalid HTTP method: null",
    ),
    Bad("timeout 0", timeout_of(0), CalloutException, "Timeout value must be ..."),
    Bad("timeout 120001", timeout_of(120_001), CalloutException, "Timeout value ..."),
    Bad(
        "request body over the limit",
        send_in_transaction(request("callout:Open/echo", "POST", body="x" * 6_000_001)),
        CalloutException,
        "Exceeded max size limit of 6000000",
    ),
    Bad(
        "response body over the limit",
        send_in_transaction(request("callout:Open/big/6000001")),
        CalloutException,
        "Exceeded max size limit of 6000000",
    ),
    Bad(
        "malformed response body",
        malformed_body,
        JSONException,
        "Unexpected character ('<' (code 60)): expected a valid value ...",
    ),
    Bad(
        "callout after DML",
        send_in_transaction(
            request("callout:Open/echo"),
            before=lambda tx: tx.insert("Lead", {"LastName": "Bad", "Company": "B"}),
        ),
        CalloutException,
        UNCOMMITTED,
    ),
    Bad("101st callout", many_callouts, LimitException, "Too many callouts: 101"),
    Bad(
        "cumulative time over 120 s",
        over_two_minutes,
        CalloutException,
        TIME_EXCEEDED,
    ),
]


@pytest.mark.parametrize("case", BAD, ids=[case.name for case in BAD])
def test_bad_input(sandbox: Sandbox, service: Service, case: Bad) -> None:
    leads = lead_count(sandbox, "Bad")
    with pytest.raises(case.error) as caught:
        case.run(sandbox, service)
    message = caught.value.getMessage()
    if case.message.endswith("..."):
        assert message.startswith(case.message[:-3])
    else:
        assert message == case.message
    assert lead_count(sandbox, "Bad") == leads  # nothing left half-done


# --- Continuation ---------------------------------------------------------------------


def test_a_continuation_calls_out_in_parallel_then_calls_back(
    sandbox: Sandbox, service: Service
) -> None:
    def start(account: str) -> Continuation:
        con = Continuation(40)
        con.continuationMethod = process
        con.state = account
        slow = request("callout:Service/latency/30000", timeout=1)  # timeout ignored
        con.addHttpRequest(slow)
        con.addHttpRequest(request("callout:Open/latency/1000"))
        con.addHttpRequest(request("callout:Open/status/404"))
        return con

    def process(labels: list[str], state: str) -> dict[str, Any]:
        codes = [Continuation.getResponse(label).getStatusCode() for label in labels]
        Database.insert("Lead", {"LastName": "Continued", "Company": state})
        return {"labels": labels, "codes": codes, "callouts": Limits.getCallouts()}

    before = sandbox.clock.now()
    result = sandbox.org.apex.invoke_continuation(start, "Acme")
    assert result == {
        "labels": ["Continuation-1", "Continuation-2", "Continuation-3"],
        "codes": [200, 200, 404],
        "callouts": 0,
    }
    assert sandbox.clock.now() - before == timedelta(milliseconds=30_000)
    assert lead_count(sandbox, "Continued") == 1


def test_continuation_failures_are_status_codes(
    sandbox: Sandbox, service: Service
) -> None:
    url = f"https://127.0.0.1:{free_port()}"
    sandbox.org.named_credentials.new("Gone", url)

    def start() -> Continuation:
        con = Continuation(5)
        con.continuationMethod = lambda labels, state: [
            Continuation.getResponse(label).getStatusCode() for label in labels
        ]
        con.addHttpRequest(request("callout:Open/latency/5001"))
        con.addHttpRequest(request("callout:Gone/x"))
        con.addHttpRequest(request("callout:Open/big/1000001"))
        return con

    before = sandbox.clock.now()
    assert sandbox.org.apex.invoke_continuation(start) == [2000, 2001, 2004]
    assert sandbox.clock.now() - before == timedelta(seconds=5)


def test_continuation_limits(sandbox: Sandbox, service: Service) -> None:
    con = Continuation(120)
    for _ in range(3):
        con.addHttpRequest(request("callout:Open/echo"))
    with pytest.raises(CalloutException, match="at most 3 requests"):
        con.addHttpRequest(request("callout:Open/echo"))
    for seconds in (0, 121):
        with pytest.raises(CalloutException, match="between 1 and 120 seconds"):
            Continuation(seconds)


def test_a_method_returning_a_continuation_may_not_do_dml(
    sandbox: Sandbox, service: Service
) -> None:
    def start() -> Continuation:
        Database.insert("Lead", {"LastName": "NoDmlHere", "Company": "C"})
        con = Continuation(10)
        con.continuationMethod = lambda labels, state: "called back"
        con.addHttpRequest(request("callout:Open/echo"))
        return con

    hits = len(service.received)
    with pytest.raises(CalloutException, match="cannot perform DML"):
        sandbox.org.apex.invoke_continuation(start)
    assert lead_count(sandbox, "NoDmlHere") == 0
    assert len(service.received) == hits


def test_continuations_chain_three_times_at_most(
    sandbox: Sandbox, service: Service
) -> None:
    def step(labels: list[str], depth: int) -> Any:
        if depth == 0:
            return "done"
        con = Continuation(10)
        con.continuationMethod = step
        con.state = depth - 1
        con.addHttpRequest(request("callout:Open/echo"))
        return con

    assert sandbox.org.apex.invoke_continuation(step, [], 3) == "done"
    with pytest.raises(CalloutException, match="at most 3 continuations"):
        sandbox.org.apex.invoke_continuation(step, [], 4)


# --- after commit -------------------------------------------------------------------


def test_after_commit_callbacks_run_in_order_once_the_transaction_commits(
    sandbox: Sandbox,
) -> None:
    ran: list[tuple[str, int]] = []

    def seen(name: str) -> Callable[[], None]:
        # Outside the transaction: the committed lead is visible to a new one.
        return lambda: ran.append((name, lead_count(sandbox, "AfterCommit")))

    with sandbox.org.apex.transaction() as tx:
        tx.insert("Lead", {"LastName": "AfterCommit", "Company": "A"})
        tx.after_commit(seen("first"))
        tx.after_commit(seen("second"))
        assert ran == []
    assert ran == [("first", 1), ("second", 1)]
    assert tx.state == "Committed"
    with pytest.raises(RuntimeError, match="already ended"):
        tx.after_commit(seen("late"))


def test_after_commit_callbacks_are_discarded_on_rollback(sandbox: Sandbox) -> None:
    ran: list[str] = []
    with pytest.raises(ZeroDivisionError), sandbox.org.apex.transaction() as tx:
        tx.insert("Lead", {"LastName": "NeverCommitted", "Company": "N"})
        tx.after_commit(lambda: ran.append("ran"))
        _ = 1 / 0
    assert ran == [] and tx.state == "RolledBack"
    limit = pytest.raises(LimitException)
    with limit, sandbox.org.apex.transaction() as tx:
        tx.after_commit(lambda: ran.append("ran"))
        with contextlib.suppress(LimitException):
            for _ in range(101):
                Database.query("SELECT Id FROM Lead LIMIT 1")
    assert ran == []


def test_a_failing_after_commit_callback_neither_undoes_nor_stops_the_rest(
    sandbox: Sandbox,
) -> None:
    ran: list[str] = []
    with sandbox.org.apex.transaction() as tx:
        tx.insert("Lead", {"LastName": "KeptAfterError", "Company": "K"})
        tx.after_commit(lambda: 1 / 0)
        tx.after_commit(lambda: ran.append("next"))
    assert ran == ["next"]
    assert [type(e) for e in tx.after_commit_errors] == [ZeroDivisionError]
    assert lead_count(sandbox, "KeptAfterError") == 1
