"""The credit bureau: REST credit checks, faults on demand, the wiretap, and the SOAP
address verification service called by zeep from its WSDL."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest
import requests
import zeep
from defusedxml.ElementTree import fromstring

from sfsandbox import Sandbox
from sfsandbox.runtime.clock import SimulatedClock
from sfsandbox.systems.credit_bureau import (
    LATENCY_HEADER,
    TIMEOUT_LATENCY_MS,
    Company,
    CreditBureau,
    rate,
)

CHECKS = "/v1/credit-checks"
SOAP = "/soap/AddressVerification"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
NS = "http://credit-bureau.sfsandbox.example/AddressVerification/v1"
FLORES = {"companyName": "Flores PLC", "country": "US"}
COMPANIES = [
    FLORES,
    {"companyName": "Sharp Inc", "country": "US", "taxId": "12-3456789"},
    {"companyName": "Meyers Ltd", "country": "GB", "dunsNumber": "21-436-5870"},
]
CHECK_KEYS = {
    "checkId", "companyName", "country", "dunsNumber", "taxId", "matchedOn", "score",
    "rating", "riskBand", "reportedAt",
}  # fmt: skip


@pytest.fixture(scope="module")
def bureau(sandbox: Sandbox) -> CreditBureau:
    return sandbox.credit_bureau


@pytest.fixture(autouse=True)
def healthy(bureau: CreditBureau) -> Iterator[None]:
    """Each test starts with a healthy bureau and an empty wiretap."""
    bureau.reset()
    bureau.real_delay = False
    bureau.log.clear()
    yield
    bureau.reset()


def _client(sandbox: Sandbox, **headers: str) -> httpx.Client:
    return httpx.Client(
        base_url=sandbox.credit_bureau.url,
        verify=ssl.create_default_context(cafile=sandbox.ca_file),
        trust_env=False,
        headers=headers,
    )


@pytest.fixture(scope="module")
def client(sandbox: Sandbox) -> Iterator[httpx.Client]:
    """A client of the bureau with the API key, as a named credential would send it."""
    with _client(sandbox, **{"X-Api-Key": sandbox.credit_bureau.api_key}) as http:
        yield http


@pytest.fixture(scope="module")
def soap_client(sandbox: Sandbox) -> zeep.Client:
    """zeep, built from the served WSDL, trusting only the sandbox CA."""
    session = requests.Session()
    session.trust_env = False
    session.verify = sandbox.ca_file
    wsdl = f"{sandbox.credit_bureau.url}{SOAP}?wsdl"
    return zeep.Client(wsdl, transport=zeep.Transport(session=session))


def _problem(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code
    assert body["type"].endswith(f"/problems/{code}")
    assert body["title"] and body["detail"]
    return body


# --- credit checks -----------------------------------------------------------------


def test_a_check_has_a_score_rating_and_risk_band(
    bureau: CreditBureau, client: httpx.Client
) -> None:
    response = client.post(CHECKS, json=FLORES)

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    check = response.json()
    assert set(check) == CHECK_KEYS
    assert check["checkId"].startswith("chk_") and len(check["checkId"]) == 24
    assert check["companyName"] == "Flores PLC"
    assert check["matchedOn"] == "companyName"
    assert 1 <= check["score"] <= 100
    assert (check["rating"], check["riskBand"]) == rate(check["score"])
    assert check["reportedAt"] == bureau.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    again = client.get(f"{CHECKS}/{check['checkId']}")
    assert again.status_code == 200
    assert again.json() == check


def test_same_seed_gives_the_same_checks_and_another_seed_other_scores() -> None:
    def run(seed: int) -> list[dict]:
        with Sandbox.start(seed=seed) as sandbox:
            key = sandbox.credit_bureau.api_key
            with _client(sandbox, **{"X-Api-Key": key}) as http:
                return [http.post(CHECKS, json=body).json() for body in COMPANIES]

    first, second, other = run(0), run(0), run(1)

    assert first == second
    assert [c["score"] for c in other] != [c["score"] for c in first]
    assert {c["checkId"] for c in other}.isdisjoint(c["checkId"] for c in first)


def test_the_score_follows_the_company_not_its_spelling(client: httpx.Client) -> None:
    def score(**body: str) -> tuple[int, str]:
        check = client.post(CHECKS, json=body).json()
        return check["score"], check["matchedOn"]

    by_name = score(companyName="Flores PLC", country="US")
    assert score(companyName="  flores plc. ", country="us") == by_name

    by_duns = score(companyName="Meyers Ltd", country="GB", dunsNumber="214365870")
    assert by_duns[1] == "dunsNumber"
    # A D-U-N-S Number is global, and wins over a tax ID and the name.
    assert score(
        companyName="Meyers Limited", country="IE", dunsNumber="21-436-5870",
        taxId="IE1234567T",
    ) == by_duns  # fmt: skip

    by_tax = score(companyName="Sharp Inc", country="US", taxId="12-3456789")
    assert by_tax[1] == "taxId"
    assert score(companyName="Sharp", country="US", taxId="123456789") == by_tax


def test_scores_spread_over_every_rating() -> None:
    bureau = CreditBureau(0, SimulatedClock())
    scores = [bureau.score(Company(f"Company {n}", "US"))[0] for n in range(400)]

    assert min(scores) >= 1 and max(scores) <= 100
    assert {rate(score)[0] for score in scores} == set("ABCDE")
    # Most businesses pay their bills: the middle of the scale leans safe.
    assert sorted(scores)[200] > 55


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"X-Api-Key": ""}, "missing_api_key"),
        ({"X-Api-Key": "cb_sandbox_0000"}, "invalid_api_key"),
        ({"Authorization": "Bearer something"}, "missing_api_key"),
    ],
)
def test_a_missing_or_wrong_api_key_is_401(
    sandbox: Sandbox, bureau: CreditBureau, headers: dict[str, str], code: str
) -> None:
    checks = len(bureau.checks)
    with _client(sandbox, **headers) as http:
        _problem(http.post(CHECKS, json=FLORES), 401, code)
        _problem(http.get(f"{CHECKS}/chk_anything"), 401, code)
    assert len(bureau.checks) == checks


TOO_LONG = "x" * 256


@pytest.mark.parametrize(
    ("content", "content_type", "status", "code", "fields"),
    [
        (b"companyName=Flores", "application/x-www-form-urlencoded", 415,
         "unsupported_media_type", []),
        (json.dumps(FLORES).encode(), None, 415, "unsupported_media_type", []),
        (b'{"companyName": ', "application/json", 400, "invalid_json", []),
        (b"", "application/json", 400, "invalid_json", []),
        (b"[]", "application/json", 400, "invalid_json", []),
        (b"{}", "application/json", 422, "validation_failed",
         ["companyName", "country"]),
        (json.dumps({"companyName": "  ", "country": "US"}).encode(),
         "application/json", 422, "validation_failed", ["companyName"]),
        (json.dumps({"companyName": TOO_LONG, "country": "US"}).encode(),
         "application/json", 422, "validation_failed", ["companyName"]),
        (json.dumps({"companyName": "A", "country": "USA"}).encode(),
         "application/json; charset=utf-8", 422, "validation_failed", ["country"]),
        (json.dumps({"companyName": "A", "country": 1}).encode(),
         "application/json", 422, "validation_failed", ["country"]),
        (json.dumps(FLORES | {"dunsNumber": "12345"}).encode(),
         "application/json", 422, "validation_failed", ["dunsNumber"]),
        (json.dumps(FLORES | {"dunsNumber": 123456789}).encode(),
         "application/json", 422, "validation_failed", ["dunsNumber"]),
        (json.dumps(FLORES | {"taxId": "!!"}).encode(),
         "application/json", 422, "validation_failed", ["taxId"]),
        (json.dumps({"companyName": "A" * 70_000, "country": "US"}).encode(),
         "application/json", 413, "payload_too_large", []),
    ],
)  # fmt: skip
def test_bad_input_is_a_problem_and_runs_no_check(
    bureau: CreditBureau,
    client: httpx.Client,
    content: bytes,
    content_type: str | None,
    status: int,
    code: str,
    fields: list[str],
) -> None:
    checks = len(bureau.checks)
    headers = {"Content-Type": content_type} if content_type else {}

    body = _problem(client.post(CHECKS, content=content, headers=headers), status, code)

    assert [error["field"] for error in body.get("errors", [])] == fields
    assert all(error["message"] for error in body.get("errors", []))
    assert len(bureau.checks) == checks


@pytest.mark.parametrize(
    ("method", "path", "status", "code", "allow"),
    [
        ("GET", "/", 404, "not_found", None),
        ("GET", "/v2/credit-checks", 404, "not_found", None),
        ("GET", f"{CHECKS}/a/b", 404, "not_found", None),
        ("GET", CHECKS, 405, "method_not_allowed", "POST"),
        ("DELETE", f"{CHECKS}/chk_x", 405, "method_not_allowed", "GET"),
        ("GET", f"{CHECKS}/chk_unknown", 404, "check_not_found", None),
        ("POST", "/v1/openapi.json", 405, "method_not_allowed", "GET"),
    ],
)
def test_unknown_paths_and_methods(
    client: httpx.Client,
    method: str,
    path: str,
    status: int,
    code: str,
    allow: str | None,
) -> None:
    response = client.request(method, path)

    _problem(response, status, code)
    assert response.headers.get("allow") == allow


def test_the_openapi_description_needs_no_key(
    sandbox: Sandbox, bureau: CreditBureau
) -> None:
    with _client(sandbox) as http:
        response = http.get("/v1/openapi.json")

    assert response.status_code == 200
    spec = response.json()
    assert spec["openapi"] == "3.0.3"
    assert spec["servers"] == [{"url": bureau.url}]
    assert set(spec["paths"]) == {CHECKS, f"{CHECKS}/{{checkId}}"}
    scheme = spec["components"]["securitySchemes"]["apiKey"]
    assert (scheme["in"], scheme["name"]) == ("header", "X-Api-Key")


# --- idempotency -------------------------------------------------------------------


def test_a_retried_idempotency_key_answers_the_same_check(
    bureau: CreditBureau, client: httpx.Client
) -> None:
    headers = {"Idempotency-Key": "account-001-check-1"}
    first = client.post(CHECKS, json=FLORES, headers=headers)
    checks = len(bureau.checks)

    again = client.post(CHECKS, json=FLORES, headers=headers)

    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(bureau.checks) == checks


def test_without_a_key_a_retry_runs_another_check(client: httpx.Client) -> None:
    first = client.post(CHECKS, json=FLORES).json()
    second = client.post(CHECKS, json=FLORES).json()

    assert first["checkId"] != second["checkId"]
    assert first["score"] == second["score"]


def test_a_key_reused_with_another_body_is_422(client: httpx.Client) -> None:
    headers = {"Idempotency-Key": "reused-key"}
    assert client.post(CHECKS, json=FLORES, headers=headers).status_code == 200

    other = {"companyName": "Sharp Inc", "country": "US"}
    _problem(
        client.post(CHECKS, json=other, headers=headers), 422, "idempotency_key_reused"
    )


@pytest.mark.parametrize("key", ["", "k" * 256, "tab\there"])
def test_a_bad_idempotency_key_is_400(client: httpx.Client, key: str) -> None:
    response = client.post(CHECKS, json=FLORES, headers={"Idempotency-Key": key})

    _problem(response, 400, "invalid_idempotency_key")


def test_a_key_is_forgotten_after_24_simulated_hours(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    headers = {"Idempotency-Key": "remembered-for-a-day"}
    first = client.post(CHECKS, json=FLORES, headers=headers).json()

    sandbox.clock.advance(hours=23)
    assert client.post(CHECKS, json=FLORES, headers=headers).json() == first
    sandbox.clock.advance(hours=1)
    later = client.post(CHECKS, json=FLORES, headers=headers)

    assert later.json()["checkId"] != first["checkId"]
    assert "idempotent-replayed" not in later.headers


def test_a_timed_out_check_was_run_and_a_retry_with_its_key_gets_it(
    bureau: CreditBureau, client: httpx.Client
) -> None:
    bureau.timeout_next()
    headers = {"Idempotency-Key": "retry-after-timeout"}

    slow = client.post(CHECKS, json=FLORES, headers=headers)
    retry = client.post(CHECKS, json=FLORES, headers=headers)

    assert int(slow.headers[LATENCY_HEADER]) == TIMEOUT_LATENCY_MS > 120_000
    assert slow.json()["checkId"] in bureau.checks
    assert retry.json()["checkId"] == slow.json()["checkId"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.headers[LATENCY_HEADER] == "0"


# --- simulated latency -------------------------------------------------------------


def test_the_latency_header_is_the_callout_runtimes_contract() -> None:
    callout = pytest.importorskip("sfsandbox.apex.callout")

    assert callout.SIMULATED_LATENCY_HEADER == LATENCY_HEADER


def test_every_answer_carries_its_simulated_latency(
    bureau: CreditBureau, client: httpx.Client
) -> None:
    assert client.post(CHECKS, json=FLORES).headers[LATENCY_HEADER] == "0"

    bureau.set_latency(250)
    envelope = _envelope("<av:VerifyAddress/>")

    assert client.post(CHECKS, json=FLORES).headers[LATENCY_HEADER] == "250"
    assert client.get(f"{CHECKS}/chk_none").headers[LATENCY_HEADER] == "250"
    assert client.post(SOAP, content=envelope).headers[LATENCY_HEADER] == "250"
    # The documents carry none, and take no fault.
    assert client.get("/v1/openapi.json").headers[LATENCY_HEADER] == "0"


def test_a_latency_range_draws_the_same_sequence_each_time(
    bureau: CreditBureau, client: httpx.Client
) -> None:
    def draws() -> list[int]:
        bureau.set_latency((50, 400))
        return [
            int(client.post(CHECKS, json=FLORES).headers[LATENCY_HEADER])
            for _ in range(6)
        ]

    first = draws()

    assert first == draws()
    assert all(50 <= ms <= 400 for ms in first)
    assert len(set(first)) > 1


def test_delay_next_adds_to_the_base_latency(
    bureau: CreditBureau, client: httpx.Client
) -> None:
    bureau.set_latency(100)
    bureau.delay_next(2, ms=3_000)

    latencies = [
        client.post(CHECKS, json=FLORES).headers[LATENCY_HEADER] for _ in "abc"
    ]

    assert latencies == ["3100", "3100", "100"]
    assert [e.fault for e in bureau.log] == ["delay 3000 ms", "delay 3000 ms", None]


def test_real_delay_still_answers(bureau: CreditBureau, client: httpx.Client) -> None:
    bureau.real_delay = True
    bureau.set_latency(5)

    response = client.post(CHECKS, json=FLORES)

    assert response.status_code == 200
    assert response.headers[LATENCY_HEADER] == "5"


# --- faults on demand --------------------------------------------------------------


def test_fail_next_answers_500_and_runs_no_check(
    bureau: CreditBureau, client: httpx.Client
) -> None:
    bureau.fail_next(2)
    checks = len(bureau.checks)

    statuses = [client.post(CHECKS, json=FLORES) for _ in range(3)]

    _problem(statuses[0], 500, "internal_error")
    _problem(statuses[1], 500, "internal_error")
    assert statuses[2].status_code == 200
    assert len(bureau.checks) == checks + 1


@pytest.mark.parametrize(
    ("status", "retry_after", "code"),
    [(502, None, "bad_gateway"), (503, 5, "service_unavailable"),
     (504, None, "gateway_timeout"), (400, None, "bad_request")],
)  # fmt: skip
def test_fail_next_with_another_status(
    bureau: CreditBureau,
    client: httpx.Client,
    status: int,
    retry_after: int | None,
    code: str,
) -> None:
    bureau.fail_next(status=status, retry_after=retry_after)

    response = client.post(CHECKS, json=FLORES)

    _problem(response, status, code)
    expected = None if retry_after is None else str(retry_after)
    assert response.headers.get("retry-after") == expected


def test_faults_come_in_the_order_they_were_queued(
    bureau: CreditBureau, client: httpx.Client
) -> None:
    bureau.fail_next()
    bureau.timeout_next()
    bureau.malformed_next(kind="html")
    bureau.rate_limit(retry_after=7)
    assert bureau.faults == (
        "status 500",
        "timeout",
        "malformed (html)",
        "rate limited",
    )

    answers = [client.post(CHECKS, json=FLORES) for _ in range(5)]

    assert [a.status_code for a in answers] == [500, 200, 200, 429, 200]
    assert answers[1].headers[LATENCY_HEADER] == str(TIMEOUT_LATENCY_MS)
    assert answers[2].headers["content-type"].startswith("text/html")
    assert answers[3].headers["retry-after"] == "7"
    _problem(answers[3], 429, "rate_limited")
    assert bureau.faults == ()
    assert [e.fault for e in bureau.log] == [
        "status 500", "timeout", "malformed (html)", "rate limited", None,
    ]  # fmt: skip


def test_a_rate_limit_window_lasts_until_simulated_time_passes(
    sandbox: Sandbox, bureau: CreditBureau, client: httpx.Client
) -> None:
    bureau.rate_limit(retry_after=30, count=None)

    first = client.post(CHECKS, json=FLORES)
    sandbox.clock.advance(seconds=10.5)
    second = client.post(CHECKS, json=FLORES)
    sandbox.clock.advance(seconds=19.5)
    third = client.post(CHECKS, json=FLORES)

    assert (first.status_code, first.headers["retry-after"]) == (429, "30")
    assert (second.status_code, second.headers["retry-after"]) == (429, "20")
    assert third.status_code == 200


@pytest.mark.parametrize("kind", ["truncated", "html", "content_type"])
def test_malformed_answers_are_spoiled_after_the_work_is_done(
    bureau: CreditBureau, client: httpx.Client, kind: str
) -> None:
    bureau.malformed_next(kind=kind)
    checks = len(bureau.checks)

    response = client.post(CHECKS, json=FLORES)

    assert response.status_code == 200
    assert len(bureau.checks) == checks + 1
    content_type = response.headers["content-type"]
    if kind == "truncated":
        assert content_type == "application/json"
        with pytest.raises(json.JSONDecodeError):
            json.loads(response.text)
    elif kind == "html":
        assert content_type == "text/html; charset=utf-8"
        assert response.text.startswith("<!DOCTYPE html>")
    else:
        assert content_type == "text/plain; charset=utf-8"
        assert json.loads(response.text)["checkId"] in bureau.checks


def test_down_with_503_and_up_again(bureau: CreditBureau, client: httpx.Client) -> None:
    bureau.down()

    _problem(client.post(CHECKS, json=FLORES), 503, "service_unavailable")
    soap = client.post(SOAP, content=_envelope("<av:VerifyAddress/>"))
    assert soap.status_code == 503
    assert _faultcode(soap) == "soapenv:Server"
    assert client.get(f"{SOAP}?wsdl").status_code == 503
    assert [e.fault for e in bureau.log] == ["down"] * 3

    bureau.up()
    assert client.post(CHECKS, json=FLORES).status_code == 200


def test_down_refusing_connections_and_up_again_at_the_same_url(
    bureau: CreditBureau, client: httpx.Client
) -> None:
    url = bureau.url
    bureau.down(mode="refuse")

    with pytest.raises(httpx.ConnectError):
        client.post(CHECKS, json=FLORES)
    assert len(bureau.log) == 0  # nothing reached the bureau

    bureau.up()
    assert bureau.url == url
    assert client.post(CHECKS, json=FLORES).status_code == 200


def test_reset_clears_every_fault(bureau: CreditBureau, client: httpx.Client) -> None:
    bureau.set_latency(900)
    bureau.fail_next(3)
    bureau.rate_limit(count=None)
    bureau.down()

    bureau.reset()

    response = client.post(CHECKS, json=FLORES)
    assert response.status_code == 200
    assert response.headers[LATENCY_HEADER] == "0"
    assert bureau.faults == ()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda b: b.fail_next(status=200), "4xx or 5xx"),
        (lambda b: b.fail_next(0), "at least 1"),
        (lambda b: b.malformed_next(kind="gzip"), "truncated, html, content_type"),
        (lambda b: b.down(mode="slow"), "'503' or 'refuse'"),
        (lambda b: b.set_latency(-1), "negative"),
        (lambda b: b.set_latency((300, 100)), "low <= high"),
        (lambda b: b.delay_next(ms=-5), "negative"),
        (lambda b: b.rate_limit(retry_after=-1), "negative"),
    ],
)
def test_fault_settings_are_checked(bureau: CreditBureau, call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(bureau)
    assert bureau.faults == ()


# --- the wiretap -------------------------------------------------------------------


def test_the_wiretap_records_each_exchange(
    sandbox: Sandbox, bureau: CreditBureau, client: httpx.Client
) -> None:
    start = sandbox.clock.now()
    bureau.set_latency(120)
    check = client.post(
        CHECKS, json=FLORES, headers={"Idempotency-Key": "tap-1"}
    ).json()
    sandbox.clock.advance(minutes=5)
    bureau.fail_next(status=502)
    client.get(f"{CHECKS}/{check['checkId']}")
    client.post(CHECKS, json=FLORES, headers={"Idempotency-Key": "tap-1"})

    first, failed, replay = list(bureau.log)

    assert len(bureau.log) == 3
    assert (first.at, first.method, first.path) == (start, "POST", CHECKS)
    assert (first.status, first.latency_ms, first.fault) == (200, 120, None)
    assert first.idempotency_key == "tap-1" and not first.replayed
    assert json.loads(first.request_body) == FLORES
    assert json.loads(first.response_body) == check
    assert failed.at == start + timedelta(minutes=5)
    assert (failed.method, failed.status, failed.fault) == ("GET", 502, "status 502")
    assert replay.replayed and replay.status == 200
    assert all(bureau.api_key not in repr(e) for e in bureau.log)

    frame = bureau.log.to_frame()
    assert list(frame.columns) == [
        "at", "method", "path", "status", "latency_ms", "fault", "replayed",
    ]  # fmt: skip
    assert frame["status"].tolist() == [200, 502, 200]
    assert frame["fault"].tolist() == ["", "status 502", ""]


# --- SOAP address verification -----------------------------------------------------


def test_the_wsdl_names_the_served_endpoint(
    bureau: CreditBureau, client: httpx.Client
) -> None:
    response = client.get(f"{SOAP}?wsdl")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    assert f'location="{bureau.soap_url}"' in response.text
    assert "SFSANDBOX_SERVICE_URL" not in response.text


def test_zeep_verifies_a_us_address(soap_client: zeep.Client) -> None:
    result = soap_client.service.VerifyAddress(
        street="1698 Camacho Manors Suite 684",
        city="Elliottfort",
        region="ny",
        postalCode="683941234",
        country="us",
    )

    assert result.valid is True
    assert result.confidence == 100
    assert result.messages == []
    address = result.standardizedAddress
    assert address.street == "1698 CAMACHO MNRS STE 684"
    assert (address.city, address.region) == ("ELLIOTTFORT", "NY")
    assert (address.postalCode, address.country) == ("68394-1234", "US")


@pytest.mark.parametrize(
    ("address", "valid", "confidence", "postal_code", "said"),
    [
        ({"street": "10 Downing Street", "city": "London",
          "postalCode": "sw1a2aa", "country": "GB"}, True, 100, "SW1A 2AA", []),
        ({"street": "Main Street", "city": "Springfield", "region": "IL",
          "postalCode": "627", "country": "US"}, False, 0, "627",
         ["postal code", "house or building number"]),
        ({"street": "1 Yonge St", "city": "Toronto", "postalCode": "m5e1w7",
          "country": "CA"}, False, 80, "M5E 1W7", ["province is expected"]),
        ({"street": "5 Rua Augusta", "city": "Sao Paulo", "postalCode": "01305-000",
          "country": "BR"}, True, 70, "01305-000", ["no reference data"]),
        ({"street": "1 Main St", "city": "Nowhere", "region": "ZZ",
          "postalCode": "12345", "country": "US"}, False, 60, "12345",
         ["ZZ is not a state code"]),
    ],
)  # fmt: skip
def test_zeep_gets_a_judgement_for_addresses_that_do_not_check_out(
    soap_client: zeep.Client,
    address: dict[str, str],
    valid: bool,
    confidence: int,
    postal_code: str,
    said: list[str],
) -> None:
    result = soap_client.service.VerifyAddress(**address)

    assert result.valid is valid
    assert result.confidence == confidence
    assert result.standardizedAddress.postalCode == postal_code
    assert len(result.messages) == len(said)
    for message, words in zip(result.messages, said, strict=True):
        assert words in message


@pytest.mark.parametrize(
    ("address", "code", "field", "message"),
    [
        ({"street": "", "city": "X", "postalCode": "1", "country": "US"},
         "REQUIRED_FIELD_MISSING", "street", "street is required"),
        ({"street": "1 A St", "city": "   ", "postalCode": "1", "country": "US"},
         "REQUIRED_FIELD_MISSING", "city", "city is required"),
        ({"street": "1 A St", "city": "X", "postalCode": "1", "country": "USA"},
         "INVALID_COUNTRY", "country", "ISO 3166-1 alpha-2"),
        ({"street": "1" * 201, "city": "X", "postalCode": "1", "country": "US"},
         "FIELD_TOO_LONG", "street", "longer than 200"),
    ],
)  # fmt: skip
def test_bad_input_surfaces_in_zeep_as_a_fault(
    soap_client: zeep.Client,
    address: dict[str, str],
    code: str,
    field: str,
    message: str,
) -> None:
    with pytest.raises(zeep.exceptions.Fault) as raised:
        soap_client.service.VerifyAddress(**address)

    fault = raised.value
    assert fault.code == "soapenv:Client"
    assert message in fault.message
    detail = fault.detail.find(f"{{{NS}}}AddressFault")
    assert detail.findtext(f"{{{NS}}}code") == code
    assert detail.findtext(f"{{{NS}}}field") == field


def test_a_failing_bureau_surfaces_in_zeep_as_a_server_fault(
    bureau: CreditBureau, soap_client: zeep.Client
) -> None:
    bureau.fail_next(status=500)

    with pytest.raises(zeep.exceptions.Fault) as raised:
        soap_client.service.VerifyAddress(
            street="1 Main St", city="X", postalCode="12345", country="US"
        )

    assert raised.value.code == "soapenv:Server"
    assert bureau.log[-1].fault == "status 500"


def _envelope(body: str, namespace: str = SOAP_ENV) -> bytes:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{namespace}" xmlns:av="{NS}">'
        f"<soapenv:Body>{body}</soapenv:Body></soapenv:Envelope>"
    ).encode()


def _faultcode(response: httpx.Response) -> str:
    fault = fromstring(response.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert fault is not None, response.text
    return fault.findtext("faultcode") or ""


ADDRESS = (
    "<av:street>1 Main St</av:street><av:city>X</av:city>"
    "<av:postalCode>12345</av:postalCode>"
)


@pytest.mark.parametrize(
    ("content", "status", "faultcode", "words"),
    [
        (b"", 500, "soapenv:Client", "not well-formed"),
        (b"this is not XML", 500, "soapenv:Client", "not well-formed"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>', 500,
         "soapenv:Client", "DOCTYPE"),
        (_envelope("<av:VerifyAddress/>", "http://www.w3.org/2003/05/soap-envelope"),
         500, "soapenv:VersionMismatch", "SOAP 1.1"),
        (f'<av:VerifyAddress xmlns:av="{NS}"/>'.encode(), 500, "soapenv:Client",
         "SOAP 1.1 Envelope"),
        (_envelope(""), 500, "soapenv:Client", "No operation found"),
        (_envelope("<av:CheckAddress/>"), 500, "soapenv:Client",
         "No operation available"),
        (_envelope(f"<av:VerifyAddress>{ADDRESS}<av:country>US</av:country>"
                   "<av:planet>Earth</av:planet></av:VerifyAddress>"),
         500, "soapenv:Client", "not expected"),
        (_envelope(f"<av:VerifyAddress>{ADDRESS}<av:country>US</av:country>"
                   "<av:country>GB</av:country></av:VerifyAddress>"),
         500, "soapenv:Client", "once each"),
        (_envelope("<av:VerifyAddress><street>1 Main St</street>"
                   "</av:VerifyAddress>"), 500, "soapenv:Client", "not expected"),
        (_envelope(f"<av:VerifyAddress>{ADDRESS}</av:VerifyAddress>"), 500,
         "soapenv:Client", "country is required"),
        (b"<x>" + b"a" * 70_000 + b"</x>", 413, "soapenv:Client", "larger than"),
    ],
)  # fmt: skip
def test_malformed_soap_input_is_a_fault(
    client: httpx.Client, content: bytes, status: int, faultcode: str, words: str
) -> None:
    response = client.post(
        SOAP, content=content, headers={"Content-Type": "text/xml; charset=utf-8"}
    )

    assert response.status_code == status
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert _faultcode(response) == faultcode
    assert words in response.text


def test_the_soap_endpoint_takes_only_post(client: httpx.Client) -> None:
    response = client.get(SOAP)

    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert _faultcode(response) == "soapenv:Client"
