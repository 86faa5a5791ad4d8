"""OAuth 2.0 for the org: connected apps, the token endpoint, and sessions.

The sandbox emulates the client-credentials flow: a connected app's consumer key and
secret buy an access token that runs as the app's integration user. Tokens are made
from the sandbox seed, so a notebook shows the same token on every run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import random
import threading
from dataclasses import dataclass
from urllib.parse import parse_qs

from sfsandbox.org.errors import InvalidSessionId, OAuthError
from sfsandbox.runtime.clock import SimulatedClock

TOKEN_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz._"
CLIENT_CREDENTIALS = "client_credentials"
KNOWN_GRANTS = {
    "password": "the username-password flow",
    "authorization_code": "the web server flow",
    "refresh_token": "refresh tokens",
    "urn:ietf:params:oauth:grant-type:jwt-bearer": "the JWT bearer flow",
    "urn:ietf:params:oauth:grant-type:device_code": "the device flow",
}


@dataclass(frozen=True)
class ConnectedApp:
    """A connected app with the client-credentials flow enabled."""

    name: str
    client_id: str
    client_secret: str
    run_as_user_id: str


@dataclass(frozen=True)
class Session:
    """What an access token stands for."""

    access_token: str
    user_id: str
    app: ConnectedApp
    issued_at_ms: int


class Auth:
    """Issues and checks access tokens for one org."""

    def __init__(self, seed: int, clock: SimulatedClock, org_id: str) -> None:
        self._rng = random.Random(f"sfsandbox-auth-{seed}")
        self.clock = clock
        self.org_id = org_id
        self.apps: dict[str, ConnectedApp] = {}
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def register_app(self, name: str, run_as_user_id: str) -> ConnectedApp:
        """Add a connected app whose tokens run as ``run_as_user_id``."""
        client_id = "3MVG9" + self._random(80)
        secret = "".join(self._rng.choice("0123456789ABCDEF") for _ in range(64))
        app = ConnectedApp(name, client_id, secret, run_as_user_id)
        self.apps[client_id] = app
        return app

    def token(self, form: bytes, authorization: str | None, instance_url: str) -> dict:
        """Answer ``POST /services/oauth2/token`` for a form-encoded body."""
        params = {
            k: v[-1] for k, v in parse_qs(form.decode("utf-8", "replace")).items()
        }
        grant = params.get("grant_type", "")
        if grant in KNOWN_GRANTS:
            raise OAuthError(
                "unsupported_grant_type",
                f"{KNOWN_GRANTS[grant]} is not emulated by sfsandbox; use "
                "grant_type=client_credentials (see 'What the sandbox does not "
                "emulate')",
            )
        if grant != CLIENT_CREDENTIALS:
            raise OAuthError("unsupported_grant_type", "grant type not supported")

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
            raise OAuthError("invalid_client_id", "client identifier invalid")
        if not hmac.compare_digest(secret or "", app.client_secret):
            raise OAuthError("invalid_client", "invalid client credentials")
        return self._issue(app, instance_url)

    def _issue(self, app: ConnectedApp, instance_url: str) -> dict:
        issued_at = self.clock.timestamp_ms()
        access_token = f"{self.org_id[:15]}!AQ{self._random(100)}"
        identity = f"{instance_url}/id/{self.org_id}/{app.run_as_user_id}"
        signature = base64.b64encode(
            hmac.new(
                app.client_secret.encode(),
                f"{identity}{issued_at}".encode(),
                hashlib.sha256,
            ).digest()
        ).decode()
        with self._lock:
            self._sessions[access_token] = Session(
                access_token, app.run_as_user_id, app, issued_at
            )
        return {
            "access_token": access_token,
            "signature": signature,
            "scope": "api",
            "instance_url": instance_url,
            "id": identity,
            "token_type": "Bearer",
            "issued_at": str(issued_at),
            "token_format": "opaque",
        }

    def session(self, authorization: str | None) -> Session:
        """The session for an ``Authorization: Bearer`` (or ``OAuth``) header."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() not in {"bearer", "oauth"}:
            raise InvalidSessionId()
        with self._lock:
            found = self._sessions.get(token.strip())
        if found is None:
            raise InvalidSessionId()
        return found

    def _random(self, length: int) -> str:
        with self._lock:
            return "".join(self._rng.choice(TOKEN_ALPHABET) for _ in range(length))
