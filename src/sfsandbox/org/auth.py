"""OAuth 2.0 and sessions for the org: connected apps, the token endpoint, logins.

The sandbox emulates two OAuth flows: client credentials (a connected app's consumer key
and secret buy a token that runs as the app's integration user) and the JWT bearer flow
(an RS256 assertion signed with the key of the certificate registered on the connected
app buys a token for the user it names). The SOAP API's ``login()`` (``soap.py``) opens
sessions through the same table, so every session ID works as a REST bearer token.

Sessions end after the org's session timeout without activity, on the simulated clock.
Tokens, passwords and security tokens come from the sandbox seed, so a notebook shows
the same values on every run; certificate keys are made at run time and never stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from sfsandbox.org.errors import InvalidSessionId, OAuthError
from sfsandbox.runtime.clock import SimulatedClock

TOKEN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"
CLIENT_CREDENTIALS = "client_credentials"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
KNOWN_GRANTS = {
    "password": "the username-password flow",
    "authorization_code": "the web server flow",
    "refresh_token": "refresh tokens",
    "urn:ietf:params:oauth:grant-type:saml2-bearer": "the SAML bearer flow",
    "urn:ietf:params:oauth:grant-type:device_code": "the device flow",
}

# The JWT bearer flow's audiences: the login and test login URLs, and (added at run
# time) the org's own My Domain URL. Salesforce Help, "OAuth 2.0 JWT Bearer Flow for
# Server-to-Server Integration" (help.salesforce.com, remoteaccess_oauth_jwt_flow.htm).
LOGIN_AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
# "exp ... within 3 minutes" (same page). No clock-skew allowance is documented, so
# the sandbox allows none: exp must lie in (now, now + 3 min] on the simulated clock.
MAX_ASSERTION_LIFETIME = timedelta(minutes=3)
# The org's session timeout defaults to two hours: Metadata API Developer Guide, "Error
# Handling for Session Expiration" (developer.salesforce.com/docs/platform/api-metadata/
# guide/meta-error-handling-session-exp.html).
DEFAULT_SESSION_TIMEOUT = timedelta(hours=2)

# The token endpoint's error descriptions for the JWT bearer flow, as orgs send them:
# - "invalid assertion": a signature the registered certificate does not verify
#   (github.com/frankkessler/salesforce-laravel-oauth2-rest/issues/68,
#   github.com/forcedotcom/sfdx-travisci/issues/135); also used here, as the plainest
#   answer, for an assertion that is not a JWT, is not RS256, or lacks a claim.
INVALID_ASSERTION = "invalid assertion"
# - "audience is invalid": salesforce.stackexchange.com/questions/184363. (Salesforce
#   Help's "OAuth 2.0 Authorization Errors" shows "Audience validation failed" as an
#   example; orgs are observed to send the shorter text.)
AUDIENCE_INVALID = "audience is invalid"
# - "expired authorization code": an expired exp (salesforce.stackexchange.com/questions
#   /282513 and /18039). An exp too far ahead answers the same here; that case is
#   UNVERIFIED (the question at /282513 sent a millisecond exp, far in the future).
ASSERTION_EXPIRED = "expired authorization code"
# - "user hasn't approved this consumer": the subject is not a user allowed to use the
#   app (salesforce.stackexchange.com/questions/184363, github.com/omniphx/forrest/
#   issues/278). The sandbox pre-authorizes every active user, so it answers this for
#   an unknown or inactive username.
USER_NOT_APPROVED = "user hasn't approved this consumer"
# - invalid_client_id / "client identifier invalid" for an unknown iss
#   (github.com/arthurimirzian/salesforce-jwt-bearer-token-flow/issues/4).
CLIENT_ID_INVALID = "client identifier invalid"

# A user lookup by username: the User row's fields (Id, Username, Name, Email,
# IsActive, ...) or None.
UserLookup = Callable[[str], "dict[str, Any] | None"]


@dataclass(eq=False)
class ConnectedApp:
    """A connected app with client credentials and, once registered, a certificate."""

    name: str
    client_id: str
    client_secret: str
    run_as_user_id: str
    certificate: x509.Certificate | None = field(default=None, repr=False)


@dataclass(frozen=True)
class UserCredentials:
    """What a user logs in with through the SOAP API's ``login()``.

    On the platform the security token is appended to the password when logging in
    from outside the org's trusted IP ranges; loopback is not trusted, so it always is.
    """

    id: str
    username: str
    password: str
    security_token: str

    @property
    def password_and_token(self) -> str:
        """The password with the security token appended, as ``login()`` takes it."""
        return self.password + self.security_token


@dataclass(eq=False)
class Session:
    """What an access token (session ID) stands for, and when it was last used."""

    access_token: str
    user_id: str
    app: ConnectedApp | None  # None for a SOAP login()
    issued_at_ms: int
    last_active: datetime


class Auth:
    """Issues and checks access tokens for one org."""

    def __init__(
        self,
        seed: int,
        clock: SimulatedClock,
        org_id: str,
        find_user: UserLookup | None = None,
    ) -> None:
        self._rng = random.Random(f"sfsandbox-auth-{seed}")
        self._credential_rng = random.Random(f"sfsandbox-credentials-{seed}")
        self.clock = clock
        self.org_id = org_id
        self.find_user: UserLookup = find_user or (lambda username: None)
        self.apps: dict[str, ConnectedApp] = {}
        self._credentials: dict[str, UserCredentials] = {}
        self._sessions: dict[str, Session] = {}
        self.sessions_started = 0  # every login ever, for lab checks and tests
        self._session_timeout = DEFAULT_SESSION_TIMEOUT
        self._lock = threading.Lock()

    # --- set-up --------------------------------------------------------------------

    def register_app(self, name: str, run_as_user_id: str) -> ConnectedApp:
        """Add a connected app whose client-credentials tokens run as a user."""
        client_id = "3MVG9" + self._random(80)
        secret = "".join(self._rng.choice("0123456789ABCDEF") for _ in range(64))
        app = ConnectedApp(name, client_id, secret, run_as_user_id)
        self.apps[client_id] = app
        return app

    def register_certificate(self, app: ConnectedApp, cert_pem: str | bytes) -> None:
        """Upload a certificate to the app ("Use digital signatures"), for JWT bearer.

        Raises ``ValueError`` unless it is a PEM X.509 certificate with an RSA key,
        since the flow takes RS256 signatures only.
        """
        data = cert_pem.encode() if isinstance(cert_pem, str) else cert_pem
        try:
            certificate = x509.load_pem_x509_certificate(data)
        except ValueError as error:
            raise ValueError(f"Not a PEM X.509 certificate: {error}") from None
        if not isinstance(certificate.public_key(), rsa.RSAPublicKey):
            raise ValueError(
                "The certificate's key must be RSA: the JWT bearer flow takes RS256 "
                "signatures only."
            )
        app.certificate = certificate

    def new_certificate(self, app: ConnectedApp) -> tuple[str, str]:
        """Make an RSA key and a self-signed certificate, and register the certificate.

        Returns ``(key_pem, cert_pem)``. The key is new on every call and lives only
        in memory: nothing is written to disk or kept by the sandbox.
        """
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, app.name)])
        now = self.clock.now()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        app.certificate = certificate
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return key_pem, certificate.public_bytes(serialization.Encoding.PEM).decode()

    def set_credentials(self, user_id: str, username: str) -> UserCredentials:
        """Give a user a password and a security token, both from the seed."""
        alphabet = string.ascii_letters + string.digits
        with self._lock:
            password = "".join(self._credential_rng.choice(alphabet) for _ in range(12))
            token = "".join(self._credential_rng.choice(alphabet) for _ in range(25))
            credentials = UserCredentials(user_id, username, password, token)
            self._credentials[username] = credentials
        return credentials

    def credentials(self, username: str) -> UserCredentials | None:
        """The password and security token of ``username``, if it has them."""
        with self._lock:
            return self._credentials.get(username)

    @property
    def session_timeout(self) -> timedelta:
        """How long a session lives without activity (Setup > Session Settings)."""
        return self._session_timeout

    @session_timeout.setter
    def session_timeout(self, value: timedelta) -> None:
        if not isinstance(value, timedelta) or value <= timedelta():
            raise ValueError("The session timeout must be a positive timedelta.")
        self._session_timeout = value

    # --- the token endpoint --------------------------------------------------------

    def token(self, form: bytes, authorization: str | None, instance_url: str) -> dict:
        """Answer ``POST /services/oauth2/token`` for a form-encoded body."""
        params = {
            k: v[-1] for k, v in parse_qs(form.decode("utf-8", "replace")).items()
        }
        grant = params.get("grant_type", "")
        if grant == CLIENT_CREDENTIALS:
            return self._client_credentials(params, authorization, instance_url)
        if grant == JWT_BEARER:
            return self._jwt_bearer(params.get("assertion", ""), instance_url)
        if grant in KNOWN_GRANTS:
            raise OAuthError(
                "unsupported_grant_type",
                f"{KNOWN_GRANTS[grant]} is not emulated by sfsandbox; use "
                "grant_type=client_credentials or the JWT bearer flow (see 'What the "
                "sandbox does not emulate')",
            )
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def _client_credentials(
        self, params: dict[str, str], authorization: str | None, instance_url: str
    ) -> dict:
        client_id, secret = params.get("client_id"), params.get("client_secret")
        if authorization and authorization.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(authorization[6:]).decode("utf-8")
                client_id, _, secret = decoded.partition(":")
            except ValueError:
                raise OAuthError(
                    "invalid_client", "invalid client credentials"
                ) from None
        app = self.apps.get(client_id or "")
        if app is None:
            raise OAuthError("invalid_client_id", CLIENT_ID_INVALID)
        if not hmac.compare_digest(secret or "", app.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")

        session = self.start_session(app.run_as_user_id, app)
        identity = f"{instance_url}/id/{self.org_id}/{app.run_as_user_id}"
        signature = base64.b64encode(
            hmac.new(
                app.client_secret.encode(),
                f"{identity}{session.issued_at_ms}".encode(),
                hashlib.sha256,
            ).digest()
        ).decode()
        return {
            "access_token": session.access_token,
            "signature": signature,
            "scope": "api",
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": str(session.issued_at_ms),
            "token_format": "opaque",
        }

    def _jwt_bearer(self, assertion: str, instance_url: str) -> dict:
        """The JWT bearer flow: check the assertion, then open a session for its user.

        The checks run in this order: a readable RS256 JWT, a known issuer, a valid
        signature, the audience, the expiry, the subject. The platform's own order is
        not documented; this one never tells a forger which claims would pass.
        """
        try:
            header = jwt.get_unverified_header(assertion)
            claims = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", INVALID_ASSERTION) from None
        if header.get("alg") != "RS256":
            raise OAuthError("invalid_grant", INVALID_ASSERTION)

        issuer = claims.get("iss")
        app = self.apps.get(issuer) if isinstance(issuer, str) else None
        if app is None:
            raise OAuthError("invalid_client_id", CLIENT_ID_INVALID)
        if app.certificate is None:
            raise OAuthError("invalid_grant", INVALID_ASSERTION)
        try:
            jwt.PyJWS().decode(
                assertion, key=app.certificate.public_key(), algorithms=["RS256"]
            )
        except jwt.PyJWTError:
            raise OAuthError("invalid_grant", INVALID_ASSERTION) from None

        if claims.get("aud") not in (*LOGIN_AUDIENCES, instance_url):
            raise OAuthError("invalid_grant", AUDIENCE_INVALID)
        expires = _numeric_date(claims.get("exp"))
        if expires is None:
            raise OAuthError("invalid_grant", INVALID_ASSERTION)
        now = self.clock.now().timestamp()
        if not now < expires <= now + MAX_ASSERTION_LIFETIME.total_seconds():
            raise OAuthError("invalid_grant", ASSERTION_EXPIRED)

        # "prn" is the older name of "sub"; when both are sent, prn wins (Salesforce
        # knowledge article 000204593, "OAuth 2.0 JWT Bearer Token Support Expands").
        subject = claims.get("prn") or claims.get("sub")
        user = self.find_user(subject) if isinstance(subject, str) else None
        if user is None or not user.get("IsActive"):
            raise OAuthError("invalid_grant", USER_NOT_APPROVED)

        session = self.start_session(user["Id"], app)
        return {
            "access_token": session.access_token,
            "scope": "api",
            "instance_url": instance_url,
            "id": f"{instance_url}/id/{self.org_id}/{user['Id']}",
            "token_type": "Bearer",
        }

    # --- sessions ------------------------------------------------------------------

    def start_session(self, user_id: str, app: ConnectedApp | None) -> Session:
        """Open a session for a user; its access token is also a SOAP session ID."""
        now = self.clock.now()
        access_token = f"{self.org_id[:15]}!AQ{self._random(100)}"
        session = Session(access_token, user_id, app, int(now.timestamp() * 1000), now)
        with self._lock:
            self._sessions[access_token] = session
            self.sessions_started += 1
        return session

    def session(self, authorization: str | None) -> Session:
        """The live session for an ``Authorization: Bearer`` (or ``OAuth``) header.

        A session ends once it has been idle for the session timeout. Activity counts
        only in the second half of the timeout: "the last active session time value
        isn't updated until halfway through the timeout period" (Salesforce Help,
        "Modify Session Security Settings", quoted at salesforce.stackexchange.com/
        questions/228678); OAuth tokens follow the same timeout (/questions/306455).
        """
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() not in {"bearer", "oauth"}:
            raise InvalidSessionId()
        return self.session_for(token.strip())

    def session_for(self, access_token: str) -> Session:
        """The live session for a bare access token (session ID)."""
        now = self.clock.now()
        with self._lock:
            found = self._sessions.get(access_token)
            if found is None:
                raise InvalidSessionId()
            idle = now - found.last_active
            if idle >= self._session_timeout:
                del self._sessions[access_token]
                raise InvalidSessionId()
            if idle >= self._session_timeout / 2:
                found.last_active = now
        return found

    def _random(self, length: int) -> str:
        with self._lock:
            return "".join(self._rng.choice(TOKEN_ALPHABET) for _ in range(length))


def _numeric_date(value: Any) -> float | None:
    """A JWT NumericDate as seconds, or None; numeric strings count.

    simple-salesforce sends ``exp`` as a string of digits, and orgs accept it.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None
