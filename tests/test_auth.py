"""Authentication: the JWT bearer flow, session timeouts and the SOAP API's login().

Each failure is checked against the exact body the platform sends; the sources of the
texts are in ``sfsandbox/org/auth.py`` and ``sfsandbox/org/soap.py``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
import zeep
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from defusedxml.ElementTree import fromstring
from simple_salesforce import SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from sfsandbox import Sandbox

API = "/services/data/v62.0"
TOKEN_URL = "/services/oauth2/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SOAP_URL = "/services/Soap/u/62.0"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
PARTNER = "urn:partner.soap.sforce.com"
FAULT_NS = "urn:fault.partner.soap.sforce.com"
INTEGRATION = "integration@sfsandbox.example"
INVALID_LOGIN = "Invalid username, password, security token; or user locked out."
DROP = object()


# --- helpers -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key(sandbox: Sandbox) -> str:
    """The private key whose certificate is registered on the connected app."""
    key_pem, cert_pem = sandbox.org.connected_app_certificate()
    assert "BEGIN PRIVATE KEY" in key_pem and "BEGIN CERTIFICATE" in cert_pem
    return key_pem


@pytest.fixture
def fresh() -> Iterator[Sandbox]:
    """A sandbox of its own, for tests that move the clock."""
    with Sandbox.start(seed=0) as running:
        yield running


def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def assertion(
    sandbox: Sandbox, signing_key: Any, algorithm: str = "RS256", **claims: Any
) -> str:
    """A JWT bearer assertion with good claims, changed by ``claims`` (DROP removes)."""
    now = sandbox.clock.now()
    payload: dict[str, Any] = {
        "iss": sandbox.org.client_id,
        "sub": INTEGRATION,
        "aud": "https://login.salesforce.com",
        "exp": int((now + timedelta(minutes=3)).timestamp()),
    }
    payload.update(claims)
    payload = {k: v for k, v in payload.items() if v is not DROP}
    return jwt.encode(payload, signing_key, algorithm=algorithm)


def jwt_token(sandbox: Sandbox, token_assertion: str) -> httpx.Response:
    return sandbox.org.http.post(
        TOKEN_URL, data={"grant_type": JWT_GRANT, "assertion": token_assertion}
    )


def get_sobjects(sandbox: Sandbox, token: str) -> httpx.Response:
    return sandbox.org.http.get(
        f"{API}/sobjects/", headers={"Authorization": f"Bearer {token}"}
    )


def soap_login(sandbox: Sandbox, username: str, password: str) -> httpx.Response:
    """A login() envelope as simple-salesforce sends it (CallOptions header and all)."""
    envelope = f"""<?xml version="1.0" encoding="utf-8" ?>
<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema"
        xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
        xmlns:env="{SOAP_ENV}" xmlns:urn="{PARTNER}">
    <env:Header>
        <urn:CallOptions><urn:client>sfsandbox-tests</urn:client></urn:CallOptions>
    </env:Header>
    <env:Body>
        <n1:login xmlns:n1="{PARTNER}">
            <n1:username>{username}</n1:username>
            <n1:password>{password}</n1:password>
        </n1:login>
    </env:Body>
</env:Envelope>"""
    return sandbox.org.http.post(
        SOAP_URL,
        content=envelope.encode(),
        headers={"Content-Type": "text/xml", "SOAPAction": "login"},
    )


def fault(response: httpx.Response) -> dict[str, str | None]:
    """The parts of a SOAP fault answer."""
    assert response.headers["content-type"].startswith("text/xml")
    node = fromstring(response.content).find(f"{{{SOAP_ENV}}}Body/{{{SOAP_ENV}}}Fault")
    assert node is not None, response.text
    detail = node.find("detail")
    parts: dict[str, str | None] = {
        "faultcode": node.findtext("faultcode"),
        "faultstring": node.findtext("faultstring"),
        "type": None,
        "exceptionCode": None,
        "exceptionMessage": None,
    }
    if detail is not None and len(detail):
        api_fault = detail[0]
        parts["type"] = api_fault.tag
        parts["exceptionCode"] = api_fault.findtext(f"{{{FAULT_NS}}}exceptionCode")
        parts["exceptionMessage"] = api_fault.findtext(
            f"{{{FAULT_NS}}}exceptionMessage"
        )
    return parts


def fingerprint(sandbox: Sandbox) -> str:
    store = sandbox.org.store
    with store.lock:
        dump = "\n".join(store.conn.iterdump())
    return hashlib.sha256(dump.encode()).hexdigest()


# --- the JWT bearer flow -------------------------------------------------------------


def test_jwt_bearer_issues_a_working_token(sandbox: Sandbox, key: str) -> None:
    org = sandbox.org
    response = jwt_token(sandbox, assertion(sandbox, key))

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "scope", "instance_url", "id", "token_type"}
    assert body["token_type"] == "Bearer"
    assert body["instance_url"] == org.instance_url
    assert body["id"] == f"{org.instance_url}/id/{org.org_id}/{org.user_id}"
    assert body["access_token"].startswith(org.org_id[:15] + "!")
    assert get_sobjects(sandbox, body["access_token"]).status_code == 200


@pytest.mark.parametrize("audience", ["https://test.salesforce.com", "instance_url"])
def test_jwt_bearer_takes_the_test_login_and_my_domain_audiences(
    sandbox: Sandbox, key: str, audience: str
) -> None:
    aud = sandbox.org.instance_url if audience == "instance_url" else audience
    response = jwt_token(sandbox, assertion(sandbox, key, aud=aud))
    assert response.status_code == 200, response.text


def test_jwt_bearer_takes_exp_as_a_string_and_at_exactly_three_minutes(
    sandbox: Sandbox, key: str
) -> None:
    # simple-salesforce sends exp as a string of digits, three minutes ahead.
    limit = int((sandbox.clock.now() + timedelta(minutes=3)).timestamp())
    response = jwt_token(sandbox, assertion(sandbox, key, exp=str(limit)))
    assert response.status_code == 200, response.text


def test_jwt_bearer_prefers_prn_to_sub(sandbox: Sandbox, key: str) -> None:
    both = assertion(sandbox, key, sub="nobody@example.com", prn=INTEGRATION)
    assert jwt_token(sandbox, both).status_code == 200


def test_jwt_bearer_runs_as_the_subject(sandbox: Sandbox, key: str) -> None:
    org = sandbox.org
    admin = org.access_token()
    created = org.http.post(
        f"{API}/sobjects/User/",
        json={"Username": "second@sfsandbox.example", "LastName": "Second",
              "Email": "second@sfsandbox.example"},
        headers={"Authorization": f"Bearer {admin}"},
    )  # fmt: skip
    assert created.status_code == 201, created.text

    response = jwt_token(
        sandbox, assertion(sandbox, key, sub="second@sfsandbox.example")
    )

    assert response.status_code == 200, response.text
    assert response.json()["id"].endswith(f"/{created.json()['id']}")


def _expired(s: Sandbox, k: str) -> str:
    return assertion(s, k, exp=int(s.clock.now().timestamp()) - 1)


def _exp_now(s: Sandbox, k: str) -> str:
    return assertion(s, k, exp=int(s.clock.now().timestamp()))


def _too_far(s: Sandbox, k: str) -> str:
    return assertion(s, k, exp=int(s.clock.now().timestamp()) + 181)


def _inactive(s: Sandbox, k: str) -> str:
    admin = s.org.access_token()
    user = {"Username": "retired@sfsandbox.example", "LastName": "Retired",
            "Email": "retired@sfsandbox.example", "IsActive": False}  # fmt: skip
    response = s.org.http.post(
        f"{API}/sobjects/User/", json=user, headers={"Authorization": f"Bearer {admin}"}
    )
    assert response.status_code == 201, response.text
    return assertion(s, k, sub="retired@sfsandbox.example")


def _no_certificate(s: Sandbox, k: str) -> str:
    app = s.org.auth.register_app("No Certificate", s.org.user_id)
    return assertion(s, k, iss=app.client_id)


def _tampered(s: Sandbox, k: str) -> str:
    header, _, signature = assertion(s, k).split(".")
    payload = jwt.utils.base64url_encode(
        json.dumps(
            {
                "iss": s.org.client_id,
                "sub": INTEGRATION,
                "aud": "https://login.salesforce.com",
                "exp": int(s.clock.now().timestamp()) + 60,
            }  # fmt: skip
        ).encode()
    ).decode()
    return f"{header}.{payload}.{signature}"


GRANT = "invalid_grant"
JWT_FAILURES: list[tuple[str, Any, str, str]] = [
    ("expired", _expired, GRANT, "expired authorization code"),
    ("exp equal to now", _exp_now, GRANT, "expired authorization code"),
    ("exp more than 3 minutes ahead", _too_far, GRANT, "expired authorization code"),
    ("no exp", lambda s, k: assertion(s, k, exp=DROP), GRANT, "invalid assertion"),
    ("exp not a number", lambda s, k: assertion(s, k, exp="soon"), GRANT,
     "invalid assertion"),
    ("wrong audience", lambda s, k: assertion(s, k, aud="https://example.com"), GRANT,
     "audience is invalid"),
    ("audience as a list",
     lambda s, k: assertion(s, k, aud=["https://login.salesforce.com"]), GRANT,
     "audience is invalid"),
    ("no audience", lambda s, k: assertion(s, k, aud=DROP), GRANT,
     "audience is invalid"),
    ("unknown issuer", lambda s, k: assertion(s, k, iss="3MVG9nope"),
     "invalid_client_id", "client identifier invalid"),
    ("no issuer", lambda s, k: assertion(s, k, iss=DROP), "invalid_client_id",
     "client identifier invalid"),
    ("unknown subject", lambda s, k: assertion(s, k, sub="nobody@example.com"), GRANT,
     "user hasn't approved this consumer"),
    ("no subject", lambda s, k: assertion(s, k, sub=DROP), GRANT,
     "user hasn't approved this consumer"),
    ("inactive subject", _inactive, GRANT, "user hasn't approved this consumer"),
    ("signed with another key", lambda s, k: assertion(s, other_key()), GRANT,
     "invalid assertion"),
    ("claims changed after signing", _tampered, GRANT, "invalid assertion"),
    ("app without a certificate", _no_certificate, GRANT, "invalid assertion"),
    ("HS256 with the consumer secret",
     lambda s, k: assertion(s, s.org.client_secret, algorithm="HS256"), GRANT,
     "invalid assertion"),
    ("alg none", lambda s, k: assertion(s, None, algorithm="none"), GRANT,
     "invalid assertion"),
    ("RS512", lambda s, k: assertion(s, k, algorithm="RS512"), GRANT,
     "invalid assertion"),
    ("not a JWT", lambda s, k: "not-a-jwt", GRANT, "invalid assertion"),
    ("three garbage parts", lambda s, k: "a.b.c", GRANT, "invalid assertion"),
    ("empty assertion", lambda s, k: "", GRANT, "invalid assertion"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("make", "error", "description"),
    [case[1:] for case in JWT_FAILURES],
    ids=[case[0] for case in JWT_FAILURES],
)
def test_jwt_bearer_failures_answer_the_platform_error(
    sandbox: Sandbox, key: str, make: Any, error: str, description: str
) -> None:
    before = fingerprint(sandbox)
    token_assertion = make(sandbox, key)
    after_setup = fingerprint(sandbox)

    response = jwt_token(sandbox, token_assertion)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/json")
    assert response.json() == {"error": error, "error_description": description}
    assert fingerprint(sandbox) in (before, after_setup)


def test_jwt_bearer_without_an_assertion(sandbox: Sandbox) -> None:
    response = sandbox.org.http.post(TOKEN_URL, data={"grant_type": JWT_GRANT})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_grant",
        "error_description": "invalid assertion",
    }


def test_a_learners_own_certificate_can_be_registered(
    sandbox: Sandbox, key: str
) -> None:
    own_key = other_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Learner")])
    now = sandbox.clock.now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(own_key.public_key())
        .serial_number(1)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(own_key, hashes.SHA256())
    )
    sandbox.org.register_certificate(
        certificate.public_bytes(serialization.Encoding.PEM).decode()
    )
    try:
        assert jwt_token(sandbox, assertion(sandbox, own_key)).status_code == 200
        assert jwt_token(sandbox, assertion(sandbox, key)).status_code == 400
    finally:
        sandbox.org.register_certificate(_certificate_of(sandbox, key))


def _certificate_of(sandbox: Sandbox, key_pem: str) -> bytes:
    private = serialization.load_pem_private_key(key_pem.encode(), password=None)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Course Integration")])
    now = sandbox.clock.now()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())  # type: ignore[arg-type]
        .serial_number(2)
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(private, hashes.SHA256())  # type: ignore[arg-type]
        .public_bytes(serialization.Encoding.PEM)
    )


def test_only_rsa_pem_certificates_register(sandbox: Sandbox) -> None:
    ec_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EC")])
    now = sandbox.clock.now()
    ec_cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ec_key.public_key())
        .serial_number(3)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(ec_key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )
    with pytest.raises(ValueError, match="RSA"):
        sandbox.org.register_certificate(ec_cert)
    with pytest.raises(ValueError, match="PEM"):
        sandbox.org.register_certificate("not a certificate")


# --- session timeout -----------------------------------------------------------------


def _expired_session(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.json() == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    assert response.headers["www-authenticate"] == "Token"


def test_a_token_expires_after_two_idle_hours(fresh: Sandbox) -> None:
    token = fresh.org.access_token()
    fresh.clock.advance(hours=1, minutes=59)
    assert get_sobjects(fresh, token).status_code == 200

    fresh.clock.advance(hours=2)

    _expired_session(get_sobjects(fresh, token))
    _expired_session(get_sobjects(fresh, token))  # still gone
    assert get_sobjects(fresh, fresh.org.access_token()).status_code == 200


def test_use_in_the_second_half_of_the_timeout_extends_the_session(
    fresh: Sandbox,
) -> None:
    token = fresh.org.access_token()
    fresh.clock.advance(minutes=61)
    assert get_sobjects(fresh, token).status_code == 200  # second half: counted

    fresh.clock.advance(minutes=119)  # 3 hours after the token was issued
    assert get_sobjects(fresh, token).status_code == 200

    fresh.clock.advance(hours=2)
    _expired_session(get_sobjects(fresh, token))


def test_use_in_the_first_half_of_the_timeout_does_not_extend_it(
    fresh: Sandbox,
) -> None:
    token = fresh.org.access_token()
    fresh.clock.advance(minutes=30)
    assert get_sobjects(fresh, token).status_code == 200  # first half: not counted

    fresh.clock.advance(minutes=90)

    _expired_session(get_sobjects(fresh, token))


def test_the_session_timeout_is_settable(fresh: Sandbox, key: str) -> None:
    assert fresh.org.session_timeout == timedelta(hours=2)
    fresh.org.session_timeout = timedelta(minutes=15)
    key_pem, _ = fresh.org.connected_app_certificate()
    token = jwt_token(fresh, assertion(fresh, key_pem)).json()["access_token"]

    fresh.clock.advance(minutes=14)
    assert get_sobjects(fresh, token).status_code == 200
    fresh.clock.advance(minutes=15)
    _expired_session(get_sobjects(fresh, token))

    # Re-authenticating after expiry works, with an assertion made for the new time.
    fresh_token = jwt_token(fresh, assertion(fresh, key_pem))
    assert get_sobjects(fresh, fresh_token.json()["access_token"]).status_code == 200


@pytest.mark.parametrize("value", [timedelta(), timedelta(minutes=-5), 900])
def test_the_session_timeout_must_be_a_positive_timedelta(
    fresh: Sandbox, value: Any
) -> None:
    with pytest.raises(ValueError, match="positive"):
        fresh.org.session_timeout = value


def test_a_soap_session_expires_too_and_reports_its_timeout(fresh: Sandbox) -> None:
    user = fresh.org.integration_user
    fresh.org.session_timeout = timedelta(minutes=30)
    response = soap_login(fresh, user.username, user.password_and_token)
    result = fromstring(response.content).find(f".//{{{PARTNER}}}result")
    assert result is not None
    assert result.findtext(
        f"{{{PARTNER}}}userInfo/{{{PARTNER}}}sessionSecondsValid"
    ) == ("1800")
    session_id = result.findtext(f"{{{PARTNER}}}sessionId") or ""

    fresh.clock.advance(minutes=30)

    _expired_session(get_sobjects(fresh, session_id))


# --- SOAP login() --------------------------------------------------------------------


def test_zeep_logs_in_through_the_served_wsdl(sandbox: Sandbox) -> None:
    org = sandbox.org
    user = org.integration_user
    client = zeep.Client(
        org.partner_wsdl_url, transport=zeep.Transport(session=org.requests_session())
    )

    result = client.service.login(user.username, user.password_and_token)

    assert (
        result.serverUrl == f"{org.instance_url}/services/Soap/u/62.0/{org.org_id[:15]}"
    )
    assert result.metadataServerUrl == (
        f"{org.instance_url}/services/Soap/m/62.0/{org.org_id[:15]}"
    )
    assert result.userId == org.user_id
    assert result.passwordExpired is False
    assert result.sandbox is False
    info = result.userInfo
    assert info.userName == user.username
    assert info.userFullName == "Integration User"
    assert info.organizationId == org.org_id
    assert info.profileId.startswith("00e")
    assert info.roleId is None
    assert info.sessionSecondsValid == 7200
    assert get_sobjects(sandbox, result.sessionId).status_code == 200


def test_zeep_gets_a_fault_for_a_wrong_password(sandbox: Sandbox) -> None:
    org = sandbox.org
    client = zeep.Client(
        org.partner_wsdl_url, transport=zeep.Transport(session=org.requests_session())
    )

    with pytest.raises(zeep.exceptions.Fault) as raised:
        client.service.login(org.integration_user.username, "wrong-password")

    assert raised.value.code == "sf:INVALID_LOGIN"
    assert raised.value.message == f"INVALID_LOGIN: {INVALID_LOGIN}"
    detail = raised.value.detail.find(f"{{{FAULT_NS}}}LoginFault")
    assert detail.findtext(f"{{{FAULT_NS}}}exceptionCode") == "INVALID_LOGIN"


def test_a_raw_login_answers_a_login_result(sandbox: Sandbox) -> None:
    org = sandbox.org
    user = org.integration_user
    response = soap_login(sandbox, user.username, user.password_and_token)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    result = fromstring(response.content).find(
        f"{{{SOAP_ENV}}}Body/{{{PARTNER}}}loginResponse/{{{PARTNER}}}result"
    )
    assert result is not None
    assert [child.tag.split("}")[1] for child in result] == [
        "metadataServerUrl", "passwordExpired", "sandbox", "serverUrl", "sessionId",
        "userId", "userInfo",
    ]  # fmt: skip
    assert result.findtext(f"{{{PARTNER}}}userId") == org.user_id


def test_the_integration_user_has_seeded_credentials() -> None:
    first, second = Sandbox(seed=0), Sandbox(seed=0)
    other = Sandbox(seed=1)
    try:
        one, two = first.org.integration_user, second.org.integration_user
        assert one == two
        assert one.username == INTEGRATION
        assert len(one.security_token) == 25 and one.security_token.isalnum()
        assert one.password_and_token == one.password + one.security_token
        assert other.org.integration_user.password != one.password
    finally:
        for each in (first, second, other):
            each.stop()


def test_simple_salesforce_logs_in_through_scratch_url(sandbox: Sandbox) -> None:
    org = sandbox.org
    user = org.integration_user
    host = org.instance_url.removeprefix("https://")

    session_id, instance = SalesforceLogin(
        username=user.username,
        password=user.password,
        security_token=user.security_token,
        scratch_url=org.instance_url,
        session=org.requests_session(),
    )

    assert instance == host
    assert get_sobjects(sandbox, session_id).status_code == 200
    with pytest.raises(SalesforceAuthenticationFailed, match="INVALID_LOGIN"):
        SalesforceLogin(
            username=user.username,
            password="wrong",
            security_token=user.security_token,
            scratch_url=org.instance_url,
            session=org.requests_session(),
        )


def _login_fault(code: str, message: str) -> dict[str, str | None]:
    return {
        "faultcode": f"sf:{code}",
        "faultstring": f"{code}: {message}",
        "type": f"{{{FAULT_NS}}}LoginFault",
        "exceptionCode": code,
        "exceptionMessage": message,
    }


def test_wrong_credentials_answer_invalid_login(sandbox: Sandbox) -> None:
    user = sandbox.org.integration_user
    for username, password in [
        (user.username, "wrong" + user.security_token),
        (user.username, user.security_token),
        ("nobody@sfsandbox.example", user.password_and_token),
        (user.username.upper(), user.password_and_token),
        ("", ""),
    ]:
        response = soap_login(sandbox, username, password)
        assert response.status_code == 500
        assert fault(response) == _login_fault("INVALID_LOGIN", INVALID_LOGIN)


def test_a_password_without_its_token_asks_for_the_token(sandbox: Sandbox) -> None:
    user = sandbox.org.integration_user
    response = soap_login(sandbox, user.username, user.password)

    assert response.status_code == 500
    answer = fault(response)
    assert answer["faultcode"] == "sf:LOGIN_MUST_USE_SECURITY_TOKEN"
    assert answer["exceptionMessage"] is not None
    assert answer["exceptionMessage"].startswith(INVALID_LOGIN + " Are you at a new")
    assert "Reset My Security Token" in answer["exceptionMessage"]


@pytest.mark.parametrize("version", ["31.0", "45.0", "62.0"])
def test_login_works_on_every_served_version(sandbox: Sandbox, version: str) -> None:
    user = sandbox.org.integration_user
    response = sandbox.org.http.post(
        f"/services/Soap/u/{version}",
        content=_envelope(
            f"<login xmlns='{PARTNER}'><username>{user.username}</username>"
            f"<password>{user.password_and_token}</password></login>"
        ),
        headers={"Content-Type": "text/xml", "SOAPAction": '""'},
    )
    assert response.status_code == 200, response.text
    assert f"/services/Soap/u/{version}/" in response.text


def test_the_wsdl_points_at_this_org(sandbox: Sandbox) -> None:
    response = sandbox.org.http.get("/sfsandbox/wsdl/partner.wsdl")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/xml")
    address = fromstring(response.content).find(
        ".//{http://schemas.xmlsoap.org/wsdl/soap/}address"
    )
    assert address is not None
    assert address.get("location") == sandbox.org.soap_url


def test_other_soap_apis_stay_not_emulated(sandbox: Sandbox) -> None:
    response = sandbox.org.http.post(
        "/services/Soap/c/62.0", content=b"<x/>", headers={"Content-Type": "text/xml"}
    )
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == "FUNCTIONALITY_NOT_ENABLED"


# --- SOAP bad input ------------------------------------------------------------------


def _envelope(body: str) -> bytes:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>{body}'
        "</soapenv:Body></soapenv:Envelope>"
    ).encode()


def _unknown(message: str) -> dict[str, str | None]:
    return {
        "faultcode": "UNKNOWN_EXCEPTION",
        "faultstring": f"UNKNOWN_EXCEPTION: {message}",
        "type": f"{{{FAULT_NS}}}UnexpectedErrorFault",
        "exceptionCode": "UNKNOWN_EXCEPTION",
        "exceptionMessage": message,
    }


def _client(message: str) -> dict[str, str | None]:
    return {
        "faultcode": "soapenv:Client",
        "faultstring": message,
        "type": None,
        "exceptionCode": None,
        "exceptionMessage": None,
    }


def _api(code: str, message: str) -> dict[str, str | None]:
    return {
        "faultcode": f"sf:{code}",
        "faultstring": f"{code}: {message}",
        "type": f"{{{FAULT_NS}}}UnexpectedErrorFault",
        "exceptionCode": code,
        "exceptionMessage": message,
    }


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
<soapenv:Body><login xmlns="urn:partner.soap.sforce.com"><username>&lol2;</username>
</login></soapenv:Body></soapenv:Envelope>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE x [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">
<soapenv:Body><login xmlns="urn:partner.soap.sforce.com"><username>&secret;</username>
</login></soapenv:Body></soapenv:Envelope>"""
NO_DTD = "DOCTYPE and entity declarations are not allowed"
SOAP_BAD_INPUT: list[tuple[str, str, str, bytes, int, dict[str, str | None]]] = [
    ("not XML", "POST", SOAP_URL, b"username=a&password=b", 500,
     _unknown("not well-formed (invalid token): line 1, column 8")),
    ("truncated envelope", "POST", SOAP_URL, _envelope("<login>")[:60], 500,
     _unknown("unclosed token: line 1, column 0")),
    ("empty body", "POST", SOAP_URL, b"", 500,
     _unknown("no element found: line 1, column 0")),
    ("billion laughs", "POST", SOAP_URL, BILLION_LAUGHS, 500, _unknown(NO_DTD)),
    ("external entity", "POST", SOAP_URL, EXTERNAL_ENTITY, 500, _unknown(NO_DTD)),
    ("not an envelope", "POST", SOAP_URL, b"<login/>", 500,
     _client("Element login invalid at this location")),
    ("SOAP 1.2 envelope", "POST", SOAP_URL,
     b'<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"/>', 500,
     _client("Element {http://www.w3.org/2003/05/soap-envelope}Envelope invalid at "
             "this location")),
    ("no operation", "POST", SOAP_URL, _envelope(""), 500,
     _client("No operation found in the SOAP Body of the request")),
    ("unknown operation", "POST", SOAP_URL, _envelope(f"<foo xmlns='{PARTNER}'/>"),
     500, _client(f"No operation available for request {{{PARTNER}}}foo, please "
                  "check the WSDL for the service.")),
    ("enterprise namespace", "POST", SOAP_URL,
     _envelope("<login xmlns='urn:enterprise.soap.sforce.com'/>"), 500,
     _client("No operation available for request {urn:enterprise.soap.sforce.com}"
             "login, please check the WSDL for the service.")),
    ("a call not emulated", "POST", SOAP_URL,
     _envelope(f"<query xmlns='{PARTNER}'><queryString>SELECT Id FROM Account"
               "</queryString></query>"), 500,
     _api("FUNCTIONALITY_NOT_ENABLED", "The SOAP API call query() is not emulated by "
          "sfsandbox. See 'What the sandbox does not emulate' in the course book for "
          "what is missing and why.")),
    ("unknown login argument", "POST", SOAP_URL,
     _envelope(f"<login xmlns='{PARTNER}'><user>a</user></login>"), 500,
     _client(f"Element {{{PARTNER}}}user invalid at this location")),
    ("arguments swapped", "POST", SOAP_URL,
     _envelope(f"<login xmlns='{PARTNER}'><password>p</password>"
               "<username>u</username></login>"), 500,
     _login_fault("INVALID_LOGIN", INVALID_LOGIN)),
    ("no arguments", "POST", SOAP_URL, _envelope(f"<login xmlns='{PARTNER}'/>"), 500,
     _login_fault("INVALID_LOGIN", INVALID_LOGIN)),
    ("retired version", "POST", "/services/Soap/u/30.0",
     _envelope(f"<login xmlns='{PARTNER}'/>"), 500,
     _api("UNSUPPORTED_API_VERSION", "Invalid Api version specified on URL")),
    ("version not yet served", "POST", "/services/Soap/u/65.0",
     _envelope(f"<login xmlns='{PARTNER}'/>"), 500,
     _api("UNSUPPORTED_API_VERSION", "Invalid Api version specified on URL")),
    ("not a version", "POST", "/services/Soap/u/latest",
     _envelope(f"<login xmlns='{PARTNER}'/>"), 500,
     _api("UNSUPPORTED_API_VERSION", "Invalid Api version specified on URL")),
    ("GET", "GET", SOAP_URL, b"", 405,
     _client("HTTP Method 'GET' not allowed. Allowed are POST")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "expected"),
    [case[1:] for case in SOAP_BAD_INPUT],
    ids=[case[0] for case in SOAP_BAD_INPUT],
)
def test_soap_bad_input_answers_a_fault_and_changes_nothing(
    sandbox: Sandbox,
    method: str,
    path: str,
    body: bytes,
    status: int,
    expected: dict[str, str | None],
) -> None:
    before = fingerprint(sandbox)
    response = sandbox.org.http.request(
        method, path, content=body, headers={"Content-Type": "text/xml"}
    )

    assert fingerprint(sandbox) == before
    assert response.status_code == status, response.text
    assert fault(response) == expected
    if status == 405:
        assert response.headers["allow"] == "POST"
